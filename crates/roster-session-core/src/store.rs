//! The contract every session store fulfils. [`crate::conformance`] checks
//! it against each implementation.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_domain::ids::SessionId;
use roster_domain::DomainError;

use roster_domain::ids::{AccountId, UserId};
use tokio::sync::broadcast;

use crate::model::{ActiveSession, FeedMessage, NewSession, SessionPage, Validation};
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
    /// credential's previous live session with [`crate::EndReason::Replaced`]
    /// (or `Expired` if its time had passed) and publishes that end on the
    /// feed. Of any number of racing opens for one credential, exactly one
    /// token is live afterwards. Returns the id of the session it replaced.
    async fn open(&self, token: &SessionToken, session: NewSession) -> Result<Option<SessionId>, SessionStoreError>;

    /// Looks the token up at `now`. A live session whose idle or absolute
    /// expiry has passed is ended as `Expired`; otherwise its idle expiry
    /// slides to `now + idle_timeout` (capped at the absolute expiry) and
    /// `last_used_at` becomes `now`. An expiry found here is published.
    async fn validate(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError>;

    /// Ends the token's session as `LoggedOut`. Returns what the token was
    /// before: `Active` (now ended, and published), or the reason it was
    /// already dead.
    async fn logout(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError>;

    /// Ends the credential's live session, if any, as `Revoked` (published
    /// with `reason`); returns the ended session ids.
    async fn revoke_credential(
        &self,
        credential: &CredentialKey,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, SessionStoreError>;

    /// Ends the live session `session_id` as `Revoked` (published with
    /// `reason`) and returns it as it was; `None` when no live session has
    /// that id (never issued, already ended, or its time passed: a session
    /// found expired is ended as `Expired` instead, and published so).
    async fn revoke_session(
        &self,
        session_id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError>;

    /// The live session `session_id` at `now`, as it is; `None` when no
    /// live session has that id (or its time has passed). Read-only: the
    /// idle timer does not move, nothing ends.
    async fn find_session(
        &self,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError>;

    /// The live sessions of `account_id` (of `user_id` only, when given) at
    /// `now`, ordered by credential tag, at most `limit`, starting after
    /// `cursor` (a page's `next_cursor`). Sessions whose time has passed are
    /// left out (not ended). Read-only: idle timers do not move.
    async fn list_sessions(
        &self,
        account_id: AccountId,
        user_id: Option<UserId>,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<SessionPage, SessionStoreError>;

    /// Publishes [`FeedMessage::AccessChanged`] to every replica's feed,
    /// this one included.
    async fn publish_access_change(&self, account_id: AccountId, user_ids: &[UserId]) -> Result<(), SessionStoreError>;

    /// A receiver of the feed: every session end and access change of every
    /// replica sharing this store, in the store's order, from now on (a
    /// feed that delivers asynchronously may also hand out what was
    /// published just before). A
    /// receiver that lags loses messages (`RecvError::Lagged`) and must treat
    /// that like [`FeedMessage::FeedLost`] followed by `FeedRestored`.
    fn subscribe(&self) -> broadcast::Receiver<FeedMessage>;

    /// `Unavailable` when the backing store cannot be reached.
    async fn ping(&self) -> Result<(), SessionStoreError>;
}
