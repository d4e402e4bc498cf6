//! The live session record kept at `<prefix>{<tag>}:current`, written and
//! read in Rust (the scripts only read its bookkeeping fields and rewrite
//! its two sliding times; see `lua/prelude.lua`).
//!
//! Two formats are read: the compact one written now, and the text one of
//! the layout before, so that sessions opened before an upgrade stay valid
//! until they end. Only the compact one is written.

use chrono::{DateTime, Utc};
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_session_core::{ActiveSession, CredentialKey, NewSession, SessionStoreError, SessionToken};
use uuid::Uuid;

/// The first byte of a compact record. A text record starts with a hex digit.
const COMPACT: u8 = 2;
/// Bytes of the token's SHA-256 a compact record keeps (see lib.rs: 128 bits
/// of a hash of 256 random bits).
pub(crate) const TOKEN_PREFIX_BYTES: usize = 16;
/// Where the fields of a compact record start (0-based).
const HASH_AT: usize = 1;
const SESSION_ID_AT: usize = HASH_AT + TOKEN_PREFIX_BYTES;
const ACCOUNT_ID_AT: usize = SESSION_ID_AT + 16;
const USER_ID_AT: usize = ACCOUNT_ID_AT + 16;
const TIMES_AT: usize = USER_ID_AT + 16;
const IDLE_TIMEOUT_AT: usize = TIMES_AT + 4 * TIME_BYTES;
const LENGTHS_AT: usize = IDLE_TIMEOUT_AT + 4;
const FIXED_LENGTH: usize = LENGTHS_AT + 4;
/// A time is a signed 48-bit count of milliseconds since the epoch (±4,000
/// years).
const TIME_BYTES: usize = 6;
const TIME_LIMIT: i64 = 1 << 47;

fn corrupt(what: impl Into<String>) -> SessionStoreError {
    SessionStoreError::Corrupt(what.into())
}

/// A session the compact record cannot hold: never happens with the
/// broker's settings and inputs (its bounds are far beyond them).
fn unstorable(what: &str) -> SessionStoreError {
    corrupt(format!("a session cannot be stored: {what}"))
}

/// The first 16 bytes of the token's SHA-256: what a compact record keeps.
pub(crate) fn token_prefix(token: &SessionToken) -> Vec<u8> {
    let hash = token.hash();
    let digits = hash.as_str().as_bytes();
    let nibble = |digit: u8| match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => unreachable!("a token hash is hex"),
    };
    digits.chunks(2).take(TOKEN_PREFIX_BYTES).map(|pair| nibble(pair[0]) << 4 | nibble(pair[1])).collect()
}

/// The compact record of a new session of `token`.
pub(crate) fn compact_record(token: &SessionToken, session: &NewSession) -> Result<Vec<u8>, SessionStoreError> {
    let created_at = session.created_at.timestamp_millis();
    let absolute_expires_at = session.absolute_expires_at.timestamp_millis();
    let idle_expires_at = (created_at + session.idle_timeout.num_milliseconds()).min(absolute_expires_at);
    let idle_timeout = u32::try_from(session.idle_timeout.num_milliseconds())
        .map_err(|_| unstorable("an idle timeout must be 0 to 49 days"))?;
    let too_long = |name: &str| unstorable(&format!("a session's {name} is over 65,535 bytes"));
    let client_address_length = u16::try_from(session.client_address.len()).map_err(|_| too_long("client address"))?;
    let user_agent_length = u16::try_from(session.user_agent.len()).map_err(|_| too_long("user agent"))?;
    let times = [created_at, created_at, idle_expires_at, absolute_expires_at];
    if times.iter().any(|time| !(-TIME_LIMIT..TIME_LIMIT).contains(time)) {
        return Err(unstorable("a session time is out of the stored range"));
    }

    let free_text = session.client_address.len() + session.user_agent.len() + session.payload.len();
    let mut record = Vec::with_capacity(FIXED_LENGTH + free_text);
    record.push(COMPACT);
    record.extend_from_slice(&token_prefix(token));
    record.extend_from_slice(session.session_id.as_uuid().as_bytes());
    record.extend_from_slice(session.credential.account_id.as_uuid().as_bytes());
    record.extend_from_slice(session.credential.user_id.as_uuid().as_bytes());
    for time in times {
        record.extend_from_slice(&time.to_be_bytes()[8 - TIME_BYTES..]);
    }
    record.extend_from_slice(&idle_timeout.to_be_bytes());
    record.extend_from_slice(&client_address_length.to_be_bytes());
    record.extend_from_slice(&user_agent_length.to_be_bytes());
    record.extend_from_slice(session.client_address.as_bytes());
    record.extend_from_slice(session.user_agent.as_bytes());
    record.extend_from_slice(session.payload.as_bytes());
    debug_assert_eq!(record.len(), FIXED_LENGTH + free_text);
    Ok(record)
}

/// A live session record, of either format, read back.
pub(crate) fn session_of_record(record: &[u8]) -> Result<ActiveSession, SessionStoreError> {
    match record.first() {
        Some(&COMPACT) => session_of_compact_record(record),
        _ => {
            let text = std::str::from_utf8(record).map_err(|_| corrupt("a live session record is unreadable"))?;
            session_of_text_record(text)
        }
    }
}

fn session_of_compact_record(record: &[u8]) -> Result<ActiveSession, SessionStoreError> {
    if record.len() < FIXED_LENGTH {
        return Err(corrupt("live session record is truncated"));
    }
    let uuid_at = |at: usize| Uuid::from_slice(&record[at..at + 16]).expect("16 bytes are a uuid");
    let time_at = |name: &'static str, at: usize| {
        let mut bytes = [0u8; 8];
        bytes[8 - TIME_BYTES..].copy_from_slice(&record[at..at + TIME_BYTES]);
        // Sign-extends the 48-bit value.
        let millis = i64::from_be_bytes(bytes) << 16 >> 16;
        DateTime::from_timestamp_millis(millis).ok_or_else(|| corrupt(format!("live session has an unreadable {name}")))
    };
    let length_at = |at: usize| usize::from(u16::from_be_bytes([record[at], record[at + 1]]));
    let client_address_length = length_at(LENGTHS_AT);
    let user_agent_length = length_at(LENGTHS_AT + 2);
    let free_text = std::str::from_utf8(&record[FIXED_LENGTH..])
        .map_err(|_| corrupt("live session has unreadable client address, user agent or payload"))?;
    let (client_address, user_agent, payload) = split_free_text(free_text, client_address_length, user_agent_length)?;
    Ok(ActiveSession {
        session_id: SessionId::from_uuid(uuid_at(SESSION_ID_AT)),
        credential: CredentialKey::new(
            AccountId::from_uuid(uuid_at(ACCOUNT_ID_AT)),
            UserId::from_uuid(uuid_at(USER_ID_AT)),
        ),
        payload: payload.to_owned(),
        client_address: client_address.to_owned(),
        user_agent: user_agent.to_owned(),
        created_at: time_at("created_at", TIMES_AT)?,
        last_used_at: time_at("last_used_at", TIMES_AT + TIME_BYTES)?,
        idle_expires_at: time_at("idle_expires_at", TIMES_AT + 2 * TIME_BYTES)?,
        absolute_expires_at: time_at("absolute_expires_at", TIMES_AT + 3 * TIME_BYTES)?,
    })
}

/// Client address, user agent and payload, stored back to back.
fn split_free_text(
    text: &str,
    client_address_length: usize,
    user_agent_length: usize,
) -> Result<(&str, &str, &str), SessionStoreError> {
    let split = |name: &'static str| corrupt(format!("live session has a truncated {name}"));
    let client_address = text.get(..client_address_length).ok_or_else(|| split("client_address"))?;
    let rest = &text[client_address_length..];
    let user_agent = rest.get(..user_agent_length).ok_or_else(|| split("user_agent"))?;
    Ok((client_address, user_agent, &rest[user_agent_length..]))
}

/// A text record (the layout before the compact one) read back.
fn session_of_text_record(record: &str) -> Result<ActiveSession, SessionStoreError> {
    let mut fields = record.splitn(12, '|');
    let mut take = |name: &'static str| fields.next().ok_or_else(|| corrupt(format!("live session lacks {name}")));
    let _token_hash = take("token_hash")?;
    let session_id =
        SessionId::parse("session_id", take("session_id")?).map_err(|_| corrupt("stored session_id is not a uuid"))?;
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
    let (client_address, user_agent, payload) = split_free_text(rest, client_address_length, user_agent_length)?;
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

fn time_of(name: &'static str, text: &str) -> Result<DateTime<Utc>, SessionStoreError> {
    text.parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| corrupt(format!("live session has an unreadable {name}")))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn new_session(client_address: &str, user_agent: &str, payload: &str) -> (SessionToken, NewSession) {
        let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
        let created_at = DateTime::from_timestamp_millis(1_893_456_000_123).unwrap();
        let session = NewSession {
            session_id: SessionId::generate(),
            credential,
            payload: payload.to_owned(),
            client_address: client_address.to_owned(),
            user_agent: user_agent.to_owned(),
            created_at,
            idle_timeout: Duration::minutes(15),
            absolute_expires_at: created_at + Duration::hours(12),
        };
        (SessionToken::issue(&credential), session)
    }

    #[test]
    fn compact_records_read_back_whatever_their_free_text_holds() {
        let (token, new) = new_session("a|b", "UA|é|x|y", r#"{"s":"a|b"}"#);
        let record = compact_record(&token, &new).unwrap();
        assert_eq!(record.len(), FIXED_LENGTH + 3 + 9 + 11);
        assert_eq!(&record[HASH_AT..SESSION_ID_AT], token_prefix(&token).as_slice());
        let session = session_of_record(&record).unwrap();
        assert_eq!(session.session_id, new.session_id);
        assert_eq!(session.credential, new.credential);
        assert_eq!((session.client_address.as_str(), session.user_agent.as_str()), ("a|b", "UA|é|x|y"));
        assert_eq!(session.payload, r#"{"s":"a|b"}"#);
        assert_eq!(session.created_at, new.created_at);
        assert_eq!(session.last_used_at, new.created_at);
        assert_eq!(session.idle_expires_at, new.created_at + Duration::minutes(15));
        assert_eq!(session.absolute_expires_at, new.absolute_expires_at);

        let mut truncated = record.clone();
        truncated[LENGTHS_AT + 3] = 90;
        assert!(matches!(session_of_record(&truncated), Err(SessionStoreError::Corrupt(_))));
        assert!(matches!(session_of_record(&record[..FIXED_LENGTH - 1]), Err(SessionStoreError::Corrupt(_))));
    }

    #[test]
    fn times_before_the_epoch_read_back() {
        let (token, mut new) = new_session("", "", "");
        new.created_at = DateTime::from_timestamp_millis(-86_400_000).unwrap();
        new.absolute_expires_at = new.created_at + Duration::hours(1);
        let session = session_of_record(&compact_record(&token, &new).unwrap()).unwrap();
        assert_eq!((session.created_at, session.absolute_expires_at), (new.created_at, new.absolute_expires_at));
    }

    #[test]
    fn the_token_prefix_is_the_first_half_of_its_hash() {
        let (token, _) = new_session("", "", "");
        let digits: String = token_prefix(&token).iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(digits, token.hash().as_str()[..32]);
    }

    #[test]
    fn text_records_of_the_layout_before_still_read_back() {
        let (session_id, account_id, user_id) = (SessionId::generate(), AccountId::generate(), UserId::generate());
        let record = format!(
            "{}|{session_id}|{account_id}|{user_id}|1000|2000|3000|4000|900000|3|9|a|bUA|é|x|y{{\"s\":\"a|b\"}}",
            "f".repeat(64)
        );
        let session = session_of_record(record.as_bytes()).unwrap();
        assert_eq!(session.session_id, session_id);
        assert_eq!(session.credential, CredentialKey::new(account_id, user_id));
        assert_eq!((session.client_address.as_str(), session.user_agent.as_str()), ("a|b", "UA|é|x|y"));
        assert_eq!(session.payload, r#"{"s":"a|b"}"#);
        assert_eq!(session.created_at.timestamp_millis(), 1000);
        assert_eq!(session.last_used_at.timestamp_millis(), 2000);
        assert_eq!(session.idle_expires_at.timestamp_millis(), 3000);
        assert_eq!(session.absolute_expires_at.timestamp_millis(), 4000);
        let truncated = record.replace("|3|9|", "|3|90|");
        assert!(matches!(session_of_record(truncated.as_bytes()), Err(SessionStoreError::Corrupt(_))));
    }
}
