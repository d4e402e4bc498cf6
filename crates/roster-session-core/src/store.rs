//! The contract every session store fulfils. [`crate::conformance`] checks
//! it against each implementation.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_domain::ids::SessionId;
use roster_domain::DomainError;

use crate::model::{NewSession, Validation};
use crate::token::{CredentialKey, SessionToken};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// The backing store cannot be reached; the answer is unknown, so the
    /// caller must fail closed.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// Stored data that cannot be read back.
    #[error("session store data is corrupt: {0}")]
    Corrupt(String),
}

impl From<SessionStoreError> for DomainError {
    fn from(error: SessionStoreError) -> Self {
        match error {
            SessionStoreError::Unavailable(_) => DomainError::unavailable("session store", error),
            SessionStoreError::Corrupt(_) => DomainError::internal("reading a session", error),
        }
    }
}

/// Session storage with one live session per credential (R36).
///
/// Time is always passed in (`now`), never read from a clock inside, so
/// tests can move time and every replica agrees.
#[async_trait]
pub trait SessionStore: Send + Sync + Debug {
    /// Opens `session` under `token` and, in the same atomic step, ends the
    /// credential's previous live session with [`crate::EndReason::Replaced`].
    /// Of any number of racing opens for one credential, exactly one token is
    /// live afterwards. Returns the id of the session it replaced.
    async fn open(&self, token: &SessionToken, session: NewSession) -> Result<Option<SessionId>, SessionStoreError>;

    /// Looks the token up at `now`. A live session whose idle or absolute
    /// expiry has passed is ended as `Expired`; otherwise its idle expiry
    /// slides to `now + idle_timeout` (capped at the absolute expiry) and
    /// `last_used_at` becomes `now`.
    async fn validate(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError>;

    /// Ends the token's session as `LoggedOut`. Returns what the token was
    /// before: `Active` (now ended), or the reason it was already dead.
    async fn logout(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError>;

    /// Ends the credential's live session, if any, as `Revoked`; returns the
    /// ended session ids.
    async fn revoke_credential(
        &self,
        credential: &CredentialKey,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, SessionStoreError>;

    /// `Unavailable` when the backing store cannot be reached.
    async fn ping(&self) -> Result<(), SessionStoreError>;
}
