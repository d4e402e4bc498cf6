//! What a session store keeps.

use chrono::{DateTime, Duration, Utc};
use roster_domain::ids::{AccountId, SessionId, UserId};

use crate::token::CredentialKey;

/// A session about to be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub session_id: SessionId,
    pub credential: CredentialKey,
    /// The principal snapshot, serialised by the broker; opaque to stores.
    pub payload: String,
    pub client_address: String,
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
    /// Idle timeout (R37): the session dies this long after its last use.
    pub idle_timeout: Duration,
    /// Absolute end of life (R37), whatever the use.
    pub absolute_expires_at: DateTime<Utc>,
}

/// A live session as validation returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub session_id: SessionId,
    pub credential: CredentialKey,
    pub payload: String,
    pub client_address: String,
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// Never later than `absolute_expires_at`.
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
}

/// Why a session is no longer valid. Each has its own answer (R36: replaced
/// is distinct from expired or logged out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// A newer login of the same credential replaced it.
    Replaced,
    /// Its owner logged out.
    LoggedOut,
    /// Idle timeout or absolute lifetime passed.
    Expired,
    /// Ended by an administrator or by the directory (block, delete, ...).
    Revoked,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replaced => "replaced",
            Self::LoggedOut => "logged_out",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse_stored(text: &str) -> Option<Self> {
        match text {
            "replaced" => Some(Self::Replaced),
            "logged_out" => Some(Self::LoggedOut),
            "expired" => Some(Self::Expired),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// The answer of a lookup by token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    Active(ActiveSession),
    Ended(EndReason),
    /// Never issued, or so long dead that no trace is kept.
    Unknown,
}

/// A session that ended, as the event stream reports it (R41).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    pub kind: EndReason,
    pub session_id: SessionId,
    pub account_id: AccountId,
    pub user_id: UserId,
    /// Why, in words: `replaced by a newer login`, `logged out`, `expired`,
    /// or the revoker's reason (`user_blocked`, `administrator`, ...).
    pub reason: String,
    /// The `now` of the operation that ended it.
    pub occurred_at: DateTime<Utc>,
    /// `Replaced` only: the session that replaced it.
    pub replaced_by: Option<SessionId>,
}

/// What the store's feed carries to every broker replica, in the order the
/// store applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedMessage {
    /// A session ended (R41).
    Session(SessionEvent),
    /// The directory says these users' access changed; no user listed:
    /// every user of the account (R38).
    AccessChanged { account_id: AccountId, user_ids: Vec<UserId> },
    /// The feed was interrupted: messages may have been lost since, and
    /// until `FeedRestored` none will arrive. Caches must be dropped and not
    /// trusted meanwhile.
    FeedLost,
    /// The feed works again (after `FeedLost`); messages from before it may
    /// have been lost.
    FeedRestored,
}

/// One page of live sessions, ordered by credential tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    pub sessions: Vec<ActiveSession>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The usual reason texts of session events.
pub mod reasons {
    pub const REPLACED: &str = "replaced by a newer login";
    pub const LOGGED_OUT: &str = "logged out";
    pub const EXPIRED: &str = "expired";
}
