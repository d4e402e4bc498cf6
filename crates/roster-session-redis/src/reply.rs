//! Reading the replies of the session scripts back into domain types.
//!
//! Every reply is a list of strings whose first element says what it is (see
//! the Lua files). Anything else is `Corrupt`; error messages name fields,
//! never their values, since a value may be a token hash or a payload.

use chrono::{DateTime, Utc};
use redis::{FromRedisValue, Value};
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_session_core::{ActiveSession, CredentialKey, EndReason, SessionStoreError, Validation};

fn corrupt(what: impl Into<String>) -> SessionStoreError {
    SessionStoreError::Corrupt(what.into())
}

/// The reply as a list of strings.
pub(crate) fn strings(value: Value) -> Result<Vec<String>, SessionStoreError> {
    // The parsing error would quote the reply, payloads included: drop it.
    Vec::<String>::from_redis_value(value).map_err(|_| corrupt("session script reply is not a list of strings"))
}

/// What `open` did to the credential's previous live session.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Opened {
    /// The previous live session, ended now (replaced or, if its time had
    /// passed, expired).
    pub(crate) previous: Option<SessionId>,
    /// The previous session if it was replaced (R36), not expired.
    pub(crate) replaced: Option<SessionId>,
}

/// One `GET` reply of a `:current` key; `None` when the key does not exist.
pub(crate) fn record(value: Value) -> Result<Option<String>, SessionStoreError> {
    // The parsing error would quote the value, payloads included: drop it.
    Option::<String>::from_redis_value(value).map_err(|_| corrupt("a live session record is unreadable"))
}

/// `open`'s reply.
pub(crate) fn opened(reply: Vec<String>) -> Result<Opened, SessionStoreError> {
    match reply.as_slice() {
        [status] if status == "opened" => Ok(Opened { previous: None, replaced: None }),
        [status, session_id, how] if status == "opened" => {
            let previous = session_id_of(session_id)?;
            match EndReason::parse_stored(how) {
                Some(EndReason::Replaced) => Ok(Opened { previous: Some(previous), replaced: Some(previous) }),
                Some(EndReason::Expired) => Ok(Opened { previous: Some(previous), replaced: None }),
                _ => Err(corrupt("the open script ended a session for an unexpected reason")),
            }
        }
        _ => Err(corrupt("unexpected reply from the open script")),
    }
}

/// `revoke_session`'s reply: the session as it was, when it was live.
pub(crate) fn revoked_session(reply: Vec<String>) -> Result<Option<ActiveSession>, SessionStoreError> {
    let mut parts = reply.into_iter();
    match parts.next().as_deref() {
        Some("active") => Ok(Some(active_session(parts)?)),
        Some("expired" | "none") => Ok(None),
        _ => Err(corrupt("unexpected reply from the revoke_session script")),
    }
}

/// `revoke_credential`'s reply: the session it ended, if one was live.
pub(crate) fn revoked(reply: Vec<String>) -> Result<Vec<SessionId>, SessionStoreError> {
    match reply.as_slice() {
        [status] if status == "revoked" => Ok(Vec::new()),
        [status, session_id] if status == "revoked" => Ok(vec![session_id_of(session_id)?]),
        _ => Err(corrupt("unexpected reply from the revoke script")),
    }
}

/// The reply of `validate` and `logout`.
pub(crate) fn validation(reply: Vec<String>) -> Result<Validation, SessionStoreError> {
    let mut parts = reply.into_iter();
    match parts.next().as_deref() {
        Some("active") => Ok(Validation::Active(active_session(parts)?)),
        Some("ended") => {
            let reason = parts.next().ok_or_else(|| corrupt("tombstone without a reason"))?;
            let reason = EndReason::parse_stored(&reason).ok_or_else(|| corrupt("tombstone with an unknown reason"))?;
            Ok(Validation::Ended(reason))
        }
        Some("unknown") => Ok(Validation::Unknown),
        Some("corrupt") => Err(corrupt("live session with unreadable times")),
        _ => Err(corrupt("unexpected reply from a session script")),
    }
}

/// The live session record that follows `active` in a reply.
fn active_session(mut parts: impl Iterator<Item = String>) -> Result<ActiveSession, SessionStoreError> {
    let record = parts.next().ok_or_else(|| corrupt("live session reply without its record"))?;
    if parts.next().is_some() {
        return Err(corrupt("live session reply with more than its record"));
    }
    session_of_record(&record)
}

/// A live session record (format in lib.rs) read back.
pub(crate) fn session_of_record(record: &str) -> Result<ActiveSession, SessionStoreError> {
    let mut fields = record.splitn(12, '|');
    let mut take = |name: &'static str| fields.next().ok_or_else(|| corrupt(format!("live session lacks {name}")));
    let _token_hash = take("token_hash")?;
    let session_id = session_id_of(take("session_id")?)?;
    let account_id = AccountId::parse("account_id", take("account_id")?)
        .map_err(|_| corrupt("live session has an unreadable account_id"))?;
    let user_id =
        UserId::parse("user_id", take("user_id")?).map_err(|_| corrupt("live session has an unreadable user_id"))?;
    let created_at = time_of("created_at", take("created_at")?)?;
    let last_used_at = time_of("last_used_at", take("last_used_at")?)?;
    let idle_expires_at = time_of("idle_expires_at", take("idle_expires_at")?)?;
    let absolute_expires_at = time_of("absolute_expires_at", take("absolute_expires_at")?)?;
    let _idle_timeout = take("idle_timeout")?;
    let length_of = |text: &str, name: &'static str| {
        text.parse::<usize>().map_err(|_| corrupt(format!("live session has an unreadable {name} length")))
    };
    let client_address_length = length_of(take("client_address")?, "client_address")?;
    let user_agent_length = length_of(take("user_agent")?, "user_agent")?;
    let rest = take("payload")?;
    let split = |text: &'static str| corrupt(format!("live session has a truncated {text}"));
    let client_address = rest.get(..client_address_length).ok_or_else(|| split("client_address"))?;
    let rest = &rest[client_address_length..];
    let user_agent = rest.get(..user_agent_length).ok_or_else(|| split("user_agent"))?;
    let payload = &rest[user_agent_length..];
    Ok(ActiveSession {
        session_id,
        credential: CredentialKey::new(account_id, user_id),
        payload: payload.to_owned(),
        client_address: client_address.to_owned(),
        user_agent: user_agent.to_owned(),
        created_at,
        last_used_at,
        idle_expires_at,
        absolute_expires_at,
    })
}

fn session_id_of(text: &str) -> Result<SessionId, SessionStoreError> {
    SessionId::parse("session_id", text).map_err(|_| corrupt("stored session_id is not a uuid"))
}

fn time_of(name: &'static str, text: &str) -> Result<DateTime<Utc>, SessionStoreError> {
    text.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| corrupt(format!("live session has an unreadable {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_replies_say_whether_the_previous_session_was_replaced() {
        let previous = SessionId::generate();
        assert_eq!(opened(vec!["opened".into()]).unwrap(), Opened { previous: None, replaced: None });
        let replaced = opened(vec!["opened".into(), previous.to_string(), "replaced".into()]).unwrap();
        assert_eq!(replaced, Opened { previous: Some(previous), replaced: Some(previous) });
        let expired = opened(vec!["opened".into(), previous.to_string(), "expired".into()]).unwrap();
        assert_eq!(expired, Opened { previous: Some(previous), replaced: None });
    }

    #[test]
    fn records_read_back_whatever_their_free_text_holds() {
        let (session_id, account_id, user_id) = (SessionId::generate(), AccountId::generate(), UserId::generate());
        let record = format!(
            "{}|{session_id}|{account_id}|{user_id}|1000|2000|3000|4000|900000|3|9|a|bUA|é|x|y{{\"s\":\"a|b\"}}",
            "f".repeat(64)
        );
        let session = session_of_record(&record).unwrap();
        assert_eq!(session.session_id, session_id);
        assert_eq!(session.credential, CredentialKey::new(account_id, user_id));
        assert_eq!((session.client_address.as_str(), session.user_agent.as_str()), ("a|b", "UA|é|x|y"));
        assert_eq!(session.payload, r#"{"s":"a|b"}"#);
        assert_eq!(session.created_at.timestamp_millis(), 1000);
        assert_eq!(session.last_used_at.timestamp_millis(), 2000);
        assert_eq!(session.idle_expires_at.timestamp_millis(), 3000);
        assert_eq!(session.absolute_expires_at.timestamp_millis(), 4000);
        let truncated = record.replace("|3|9|", "|3|90|");
        assert!(matches!(session_of_record(&truncated), Err(SessionStoreError::Corrupt(_))));
    }

    #[test]
    fn tombstone_reasons_read_back() {
        for reason in [EndReason::Replaced, EndReason::LoggedOut, EndReason::Expired, EndReason::Revoked] {
            let reply = vec!["ended".to_owned(), reason.as_str().to_owned()];
            assert_eq!(validation(reply).unwrap(), Validation::Ended(reason));
        }
    }

    #[test]
    fn malformed_replies_are_corrupt_and_never_quote_values() {
        let secret = "payload-secret";
        let replies = [
            vec!["ended".to_owned(), secret.to_owned()],
            vec!["active".to_owned(), "payload".to_owned(), secret.to_owned()],
            vec!["active".to_owned(), format!("a|b|c|d|1|2|3|4|5|6|7|{secret}")],
            vec!["active".to_owned()],
            vec![secret.to_owned()],
            vec![],
        ];
        for reply in replies {
            match validation(reply) {
                Err(SessionStoreError::Corrupt(message)) => {
                    assert!(!message.contains(secret), "{message}")
                }
                other => panic!("expected corrupt, got {other:?}"),
            }
        }
        let bad_id = vec!["opened".into(), "not-a-uuid".into(), "replaced".into()];
        assert!(matches!(opened(bad_id), Err(SessionStoreError::Corrupt(_))));
        let bad_reason = vec!["opened".into(), SessionId::generate().to_string(), "logged_out".into()];
        assert!(matches!(opened(bad_reason), Err(SessionStoreError::Corrupt(_))));
        assert!(matches!(revoked_session(vec!["gone".into()]), Err(SessionStoreError::Corrupt(_))));
        assert!(matches!(revoked(vec!["nope".into()]), Err(SessionStoreError::Corrupt(_))));
    }
}
