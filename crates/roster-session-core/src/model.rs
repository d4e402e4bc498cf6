//! What a session store keeps.

use chrono::{DateTime, Duration, Utc};
use roster_domain::ids::SessionId;

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
