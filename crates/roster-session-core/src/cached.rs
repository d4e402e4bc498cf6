//! A validation cache in front of a shared session store (issue 6): a
//! replica answers most validations of a live session from memory, with no
//! round trip to the store, and still never answers for a session that
//! ended.
//!
//! # Why it stays correct
//!
//! - **Ends.** Every session end is published on the store's feed by the
//!   same atomic step that ends it (R41), and every replica follows the
//!   feed: the entry of that credential goes as soon as the message arrives
//!   (Redis pushes it before the ending call even returns). An end made
//!   through *this* replica (login, logout, revocation) drops the entry
//!   before the call returns, without waiting for the feed.
//! - **Races.** A validation takes a [`Ticket`] before it asks the store and
//!   keeps the answer only if no end of a credential in the same shard was
//!   seen since, so an answer read just before an end can never be cached
//!   after it.
//! - **A feed that may have lost messages** ([`FeedMessage::FeedLost`], a
//!   lagging receiver) empties the cache, and nothing is answered from
//!   memory until the feed is back; answers read before it came back are
//!   not kept. The Redis feed pings its connection, so a silent partition is
//!   found within a few seconds.
//! - **Sliding (R37).** An entry answers only while the store itself would
//!   not write: until the last recorded use plus 1/100 of the idle timeout
//!   (the Redis store's coalescing step), and never past either expiry. The
//!   next validation after that goes to the store, which slides the idle
//!   expiry and refreshes the entry. So the idle expiry lags the exact one
//!   by at most the step, as it already did without the cache.
//! - **Only live sessions** are cached; unknown, ended and corrupt answers
//!   always come from the store.
//!
//! The cache holds at most `capacity` sessions; beyond that, validations of
//! further sessions go to the store every time.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_domain::ids::{AccountId, SessionId, UserId};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::model::{ActiveSession, FeedMessage, NewSession, SessionPage, Validation};
use crate::store::{SessionStore, SessionStoreError};
use crate::token::{CredentialKey, SessionToken};

/// Shards of the cache: validations of different credentials rarely wait
/// on one lock.
const SHARDS: usize = 64;

/// The fraction of the idle timeout an entry may answer for after the last
/// recorded use (the Redis store writes the slide once it moves this much).
const SLIDE_STEP_DIVISOR: i32 = 100;

/// A validation's place in the order of ends: taken before asking the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

struct Entry {
    /// The token's SHA-256 (compared as bytes: no hex on the hot path).
    token_digest: [u8; 32],
    session: ActiveSession,
    /// The entry answers for instants before this one only.
    fresh_until: DateTime<Utc>,
}

#[derive(Default)]
struct Shard {
    /// By credential tag: one live session per credential (R36).
    entries: HashMap<String, Entry>,
    /// The sequence number of the last end seen in this shard.
    ended_at: u64,
}

/// The in-memory part: entries, the order of ends, and trust in the feed.
pub struct ValidationCache {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    /// Counts ends (and feed losses); tickets are values of it.
    sequence: AtomicU64,
    /// Answers read with a ticket older than this are never kept.
    floor: AtomicU64,
    /// Whether the feed can be relied on to report ends.
    trusted: AtomicBool,
    capacity_per_shard: usize,
}

impl ValidationCache {
    /// An empty cache for at most `capacity` sessions, trusting its feed.
    pub fn new(capacity: usize) -> Self {
        let shards = (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect();
        Self {
            shards,
            hasher: RandomState::new(),
            sequence: AtomicU64::new(0),
            floor: AtomicU64::new(0),
            trusted: AtomicBool::new(true),
            capacity_per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, tag: &str) -> &RwLock<Shard> {
        &self.shards[(self.hasher.hash_one(tag) as usize) % SHARDS]
    }

    fn read(&self, tag: &str) -> RwLockReadGuard<'_, Shard> {
        // A panic under the lock leaves only cache entries: still readable.
        self.shard(tag).read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self, tag: &str) -> RwLockWriteGuard<'_, Shard> {
        self.shard(tag).write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live session of `token` at `now`, if the cache can vouch for it.
    pub fn lookup(&self, token: &SessionToken, now: DateTime<Utc>) -> Option<ActiveSession> {
        if !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let digest = token.digest();
        let shard = self.read(token.tag());
        let entry = shard.entries.get(token.tag())?;
        (entry.token_digest == digest && now < entry.fresh_until && now >= entry.session.last_used_at)
            .then(|| entry.session.clone())
    }

    /// Taken before asking the store.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.sequence.load(Ordering::SeqCst))
    }

    /// Keeps what the store answered for `token` under `ticket`, unless an
    /// end of that shard, or a loss of the feed, came after the ticket.
    pub fn keep(&self, token: &SessionToken, session: &ActiveSession, ticket: Ticket) {
        if !self.trusted.load(Ordering::Acquire) || ticket.0 < self.floor.load(Ordering::SeqCst) {
            return;
        }
        let Some(fresh_until) = fresh_until(session) else {
            return;
        };
        let mut shard = self.write(token.tag());
        if shard.ended_at > ticket.0 {
            return;
        }
        if shard.entries.len() >= self.capacity_per_shard && !shard.entries.contains_key(token.tag()) {
            let now = session.last_used_at;
            shard.entries.retain(|_, entry| entry.fresh_until > now);
            if shard.entries.len() >= self.capacity_per_shard {
                return;
            }
        }
        let entry = Entry { token_digest: token.digest(), session: session.clone(), fresh_until };
        shard.entries.insert(token.tag().to_owned(), entry);
    }

    /// The credential's session ended (or may have): its entry goes, and
    /// answers read before now are not kept.
    pub fn forget(&self, tag: &str) {
        let mut shard = self.write(tag);
        shard.entries.remove(tag);
        shard.ended_at = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
    }

    /// The feed may have lost messages: everything goes, and nothing is
    /// answered from memory until [`Self::trust`].
    pub fn distrust(&self) {
        self.trusted.store(false, Ordering::Release);
        self.drop_everything();
    }

    /// The feed works again. Answers read before now are not kept: ends may
    /// have been missed while it was down.
    pub fn trust(&self) {
        self.drop_everything();
        self.trusted.store(true, Ordering::Release);
    }

    fn drop_everything(&self) {
        let floor = self.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        self.floor.store(floor, Ordering::SeqCst);
        for shard in self.shards.iter() {
            let mut shard = shard.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            shard.entries.clear();
            shard.ended_at = floor;
        }
    }

    /// Sessions held now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().unwrap_or_else(|poisoned| poisoned.into_inner()).entries.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one feed message.
    pub fn follow(&self, message: &FeedMessage) {
        match message {
            FeedMessage::Session(event) => self.forget(&CredentialKey::new(event.account_id, event.user_id).tag()),
            FeedMessage::AccessChanged { .. } => {}
            FeedMessage::FeedLost => self.distrust(),
            FeedMessage::FeedRestored => self.trust(),
        }
    }
}

impl fmt::Debug for ValidationCache {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the entries: they hold token hashes and payloads.
        formatter
            .debug_struct("ValidationCache")
            .field("trusted", &self.trusted.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Until when an answer may be repeated without the store: while the store
/// would not write the slide, and before either expiry.
fn fresh_until(session: &ActiveSession) -> Option<DateTime<Utc>> {
    // The idle timeout, or less when the absolute expiry caps the idle one
    // (then the entry is only refreshed sooner).
    let idle = session.idle_expires_at - session.last_used_at;
    if idle <= chrono::Duration::zero() {
        return None;
    }
    let step = idle / SLIDE_STEP_DIVISOR;
    Some((session.last_used_at + step).min(session.idle_expires_at).min(session.absolute_expires_at))
}

/// A [`SessionStore`] that answers repeated validations of live sessions
/// from a [`ValidationCache`] (see the module documentation), and passes
/// everything else to `inner`. Meant for a store shared by several
/// replicas over the network (Redis); the in-process store needs no cache.
pub struct CachedSessionStore<S: ?Sized> {
    inner: Arc<S>,
    cache: Arc<ValidationCache>,
}

impl<S: SessionStore + ?Sized + 'static> CachedSessionStore<S> {
    /// Caches at most `capacity` sessions of `inner`, following its feed
    /// from now on (needs a Tokio runtime).
    pub fn new(inner: Arc<S>, capacity: usize) -> Self {
        let cache = Arc::new(ValidationCache::new(capacity));
        tokio::spawn(follow_feed(inner.subscribe(), Arc::downgrade(&cache)));
        Self { inner, cache }
    }

    /// The cache, for inspection.
    pub fn cache(&self) -> &ValidationCache {
        &self.cache
    }
}

/// Applies the feed to the cache until the cache is dropped or the feed
/// closes.
async fn follow_feed(mut feed: broadcast::Receiver<FeedMessage>, cache: Weak<ValidationCache>) {
    loop {
        let message = feed.recv().await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        match message {
            Ok(message) => cache.follow(&message),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the validation cache missed feed messages: emptied");
                cache.distrust();
                cache.trust();
            }
            Err(RecvError::Closed) => {
                // No end can be heard of any more: never answer from memory.
                cache.distrust();
                return;
            }
        }
    }
}

impl<S: ?Sized> fmt::Debug for CachedSessionStore<S>
where
    S: fmt::Debug,
{
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("CachedSessionStore").field("inner", &self.inner).field("cache", &self.cache).finish()
    }
}

#[async_trait]
impl<S: SessionStore + ?Sized + 'static> SessionStore for CachedSessionStore<S> {
    async fn open(&self, token: &SessionToken, session: NewSession) -> Result<Option<SessionId>, SessionStoreError> {
        let opened = self.inner.open(token, session).await;
        // The previous session of the credential ended (whatever the answer:
        // a failed call may still have been applied).
        self.cache.forget(token.tag());
        opened
    }

    async fn validate(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError> {
        if let Some(session) = self.cache.lookup(token, now) {
            return Ok(Validation::Active(session));
        }
        let ticket = self.cache.ticket();
        let validation = self.inner.validate(token, now).await?;
        if let Validation::Active(session) = &validation {
            self.cache.keep(token, session, ticket);
        }
        Ok(validation)
    }

    async fn logout(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError> {
        self.cache.forget(token.tag());
        let answer = self.inner.logout(token, now).await;
        self.cache.forget(token.tag());
        answer
    }

    async fn revoke_credential(
        &self,
        credential: &CredentialKey,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, SessionStoreError> {
        let tag = credential.tag();
        self.cache.forget(&tag);
        let revoked = self.inner.revoke_credential(credential, reason, now).await;
        self.cache.forget(&tag);
        revoked
    }

    async fn revoke_session(
        &self,
        session_id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError> {
        let revoked = self.inner.revoke_session(session_id, reason, now).await?;
        if let Some(session) = &revoked {
            self.cache.forget(&session.credential.tag());
        }
        Ok(revoked)
    }

    async fn find_session(
        &self,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError> {
        self.inner.find_session(session_id, now).await
    }

    async fn list_sessions(
        &self,
        account_id: AccountId,
        user_id: Option<UserId>,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<SessionPage, SessionStoreError> {
        self.inner.list_sessions(account_id, user_id, cursor, limit, now).await
    }

    async fn publish_access_change(&self, account_id: AccountId, user_ids: &[UserId]) -> Result<(), SessionStoreError> {
        self.inner.publish_access_change(account_id, user_ids).await
    }

    fn subscribe(&self) -> broadcast::Receiver<FeedMessage> {
        self.inner.subscribe()
    }

    async fn ping(&self) -> Result<(), SessionStoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests;
