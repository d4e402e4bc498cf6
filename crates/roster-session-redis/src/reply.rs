//! Reading the replies of the session scripts back into domain types.
//!
//! Every reply is a list of strings whose first element says what it is (see
//! the Lua files). Anything else is `Corrupt`; error messages name fields,
//! never their values, since a value may be a token hash or a payload.

use redis::{FromRedisValue, Value};
use roster_domain::ids::SessionId;
use roster_session_core::{ActiveSession, EndReason, SessionStoreError, Validation};

use crate::record::session_of_record;

fn corrupt(what: impl Into<String>) -> SessionStoreError {
    SessionStoreError::Corrupt(what.into())
}

/// The reply as a list of byte strings (a live session record is binary).
pub(crate) fn parts(value: Value) -> Result<Vec<Vec<u8>>, SessionStoreError> {
    // The parsing error would quote the reply, payloads included: drop it.
    Vec::<Vec<u8>>::from_redis_value(value).map_err(|_| corrupt("session script reply is not a list of strings"))
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
pub(crate) fn record(value: Value) -> Result<Option<Vec<u8>>, SessionStoreError> {
    // The parsing error would quote the value, payloads included: drop it.
    Option::<Vec<u8>>::from_redis_value(value).map_err(|_| corrupt("a live session record is unreadable"))
}

/// `open`'s reply.
pub(crate) fn opened(reply: Vec<Vec<u8>>) -> Result<Opened, SessionStoreError> {
    match reply.as_slice() {
        [status] if status == b"opened" => Ok(Opened { previous: None, replaced: None }),
        [status, session_id, how] if status == b"opened" => {
            let previous = session_id_of(session_id)?;
            match std::str::from_utf8(how).ok().and_then(EndReason::parse_stored) {
                Some(EndReason::Replaced) => Ok(Opened { previous: Some(previous), replaced: Some(previous) }),
                Some(EndReason::Expired) => Ok(Opened { previous: Some(previous), replaced: None }),
                _ => Err(corrupt("the open script ended a session for an unexpected reason")),
            }
        }
        _ => Err(corrupt("unexpected reply from the open script")),
    }
}

/// `revoke_session`'s reply: the session as it was, when it was live.
pub(crate) fn revoked_session(reply: Vec<Vec<u8>>) -> Result<Option<ActiveSession>, SessionStoreError> {
    let mut parts = reply.into_iter();
    match parts.next().as_deref() {
        Some(b"active") => Ok(Some(active_session(parts)?)),
        Some(b"expired" | b"none") => Ok(None),
        _ => Err(corrupt("unexpected reply from the revoke_session script")),
    }
}

/// `revoke_credential`'s reply: the session it ended, if one was live.
pub(crate) fn revoked(reply: Vec<Vec<u8>>) -> Result<Vec<SessionId>, SessionStoreError> {
    match reply.as_slice() {
        [status] if status == b"revoked" => Ok(Vec::new()),
        [status, session_id] if status == b"revoked" => Ok(vec![session_id_of(session_id)?]),
        _ => Err(corrupt("unexpected reply from the revoke script")),
    }
}

/// The reply of `validate` and `logout`.
pub(crate) fn validation(reply: Vec<Vec<u8>>) -> Result<Validation, SessionStoreError> {
    let mut parts = reply.into_iter();
    match parts.next().as_deref() {
        Some(b"active") => Ok(Validation::Active(active_session(parts)?)),
        Some(b"ended") => {
            let reason = parts.next().ok_or_else(|| corrupt("tombstone without a reason"))?;
            let reason = std::str::from_utf8(&reason)
                .ok()
                .and_then(EndReason::parse_stored)
                .ok_or_else(|| corrupt("tombstone with an unknown reason"))?;
            Ok(Validation::Ended(reason))
        }
        Some(b"unknown") => Ok(Validation::Unknown),
        Some(b"corrupt") => Err(corrupt("live session with unreadable times")),
        _ => Err(corrupt("unexpected reply from a session script")),
    }
}

/// The live session record that follows `active` in a reply.
fn active_session(mut parts: impl Iterator<Item = Vec<u8>>) -> Result<ActiveSession, SessionStoreError> {
    let record = parts.next().ok_or_else(|| corrupt("live session reply without its record"))?;
    if parts.next().is_some() {
        return Err(corrupt("live session reply with more than its record"));
    }
    session_of_record(&record)
}

fn session_id_of(text: &[u8]) -> Result<SessionId, SessionStoreError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| SessionId::parse("session_id", text).ok())
        .ok_or_else(|| corrupt("stored session_id is not a uuid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|part| part.as_bytes().to_vec()).collect()
    }

    #[test]
    fn open_replies_say_whether_the_previous_session_was_replaced() {
        let previous = SessionId::generate();
        let id = previous.to_string();
        assert_eq!(opened(reply(&["opened"])).unwrap(), Opened { previous: None, replaced: None });
        let replaced = opened(reply(&["opened", &id, "replaced"])).unwrap();
        assert_eq!(replaced, Opened { previous: Some(previous), replaced: Some(previous) });
        let expired = opened(reply(&["opened", &id, "expired"])).unwrap();
        assert_eq!(expired, Opened { previous: Some(previous), replaced: None });
    }

    #[test]
    fn tombstone_reasons_read_back() {
        for reason in [EndReason::Replaced, EndReason::LoggedOut, EndReason::Expired, EndReason::Revoked] {
            assert_eq!(validation(reply(&["ended", reason.as_str()])).unwrap(), Validation::Ended(reason));
        }
    }

    #[test]
    fn malformed_replies_are_corrupt_and_never_quote_values() {
        let secret = "payload-secret";
        let text_record = format!("a|b|c|d|1|2|3|4|5|6|7|{secret}");
        let mut compact_record = vec![2u8; 40];
        compact_record.extend_from_slice(secret.as_bytes());
        let replies = [
            reply(&["ended", secret]),
            reply(&["active", "payload", secret]),
            reply(&["active", &text_record]),
            vec![b"active".to_vec(), compact_record],
            vec![b"active".to_vec(), vec![0xff, 0xfe, b'|']],
            reply(&["active"]),
            reply(&[secret]),
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
        let bad_id = reply(&["opened", "not-a-uuid", "replaced"]);
        assert!(matches!(opened(bad_id), Err(SessionStoreError::Corrupt(_))));
        let bad_reason = reply(&["opened", &SessionId::generate().to_string(), "logged_out"]);
        assert!(matches!(opened(bad_reason), Err(SessionStoreError::Corrupt(_))));
        assert!(matches!(revoked_session(reply(&["gone"])), Err(SessionStoreError::Corrupt(_))));
        assert!(matches!(revoked(reply(&["nope"])), Err(SessionStoreError::Corrupt(_))));
    }
}
