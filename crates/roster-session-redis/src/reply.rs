//! Reading the replies of the session scripts back into domain types.
//!
//! Every reply is a list of strings whose first element says what it is (see
//! the Lua files). Anything else is `Corrupt`; error messages name fields,
//! never their values, since a value may be a token hash or a payload.

use std::collections::HashMap;

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

/// One `HGETALL` reply as a map; empty when the key does not exist.
pub(crate) fn hash(value: Value) -> Result<HashMap<String, String>, SessionStoreError> {
    // The parsing error would quote the values, payloads included: drop it.
    HashMap::<String, String>::from_redis_value(value).map_err(|_| corrupt("a live session hash is unreadable"))
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

/// The live session hash, as `HGETALL` lists it: field, value, field, ...
fn active_session(mut fields: impl Iterator<Item = String>) -> Result<ActiveSession, SessionStoreError> {
    let mut stored = HashMap::new();
    while let Some(name) = fields.next() {
        let value = fields.next().ok_or_else(|| corrupt("live session field without a value"))?;
        stored.insert(name, value);
    }
    session_of_fields(stored)
}

/// The live session hash, read as a map.
pub(crate) fn session_of_fields(mut stored: HashMap<String, String>) -> Result<ActiveSession, SessionStoreError> {
    let mut take =
        |name: &'static str| stored.remove(name).ok_or_else(|| corrupt(format!("live session lacks {name}")));

    let session_id = session_id_of(&take("session_id")?)?;
    let account_id = AccountId::parse("account_id", &take("account_id")?)
        .map_err(|_| corrupt("live session has an unreadable account_id"))?;
    let user_id =
        UserId::parse("user_id", &take("user_id")?).map_err(|_| corrupt("live session has an unreadable user_id"))?;
    Ok(ActiveSession {
        session_id,
        credential: CredentialKey::new(account_id, user_id),
        payload: take("payload")?,
        client_address: take("client_address")?,
        user_agent: take("user_agent")?,
        created_at: time_of("created_at", &take("created_at")?)?,
        last_used_at: time_of("last_used_at", &take("last_used_at")?)?,
        idle_expires_at: time_of("idle_expires_at", &take("idle_expires_at")?)?,
        absolute_expires_at: time_of("absolute_expires_at", &take("absolute_expires_at")?)?,
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
            vec!["active".to_owned(), "payload".to_owned()],
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
