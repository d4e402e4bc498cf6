//! The in-process [`SessionStore`]: the embedded default when no Redis is
//! configured, and the reference the conformance suite is written against.
//!
//! One `std::sync::Mutex` guards a map from credential slot tag to that
//! credential's slot (its live session and the tombstones of its ended
//! sessions). Every operation is a short, synchronous critical section, so
//! the lock is never held across an `.await` and each operation is atomic,
//! which is what makes racing opens leave exactly one live session (R36).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use roster_domain::ids::SessionId;

use crate::model::{ActiveSession, EndReason, NewSession, Validation};
use crate::store::{SessionStore, SessionStoreError};
use crate::token::{CredentialKey, SessionToken, TokenHash};

/// A [`SessionStore`] that keeps everything in this process's memory.
///
/// Memory stays bounded: a tombstone is kept until its session's absolute
/// expiry and pruned lazily after it, on the credential's next `open` and by
/// a sweep over all credentials that runs once every so many opens (its cost
/// amortised over those opens).
#[derive(Default)]
pub struct InMemorySessionStore {
    state: Mutex<StoreState>,
}

#[derive(Default)]
struct StoreState {
    slots: HashMap<String, CredentialSlot>,
    opens_since_sweep: usize,
}

/// Opens between two sweeps of all slots, at least; the sweep also waits for
/// as many opens as there are slots, so its cost per open stays constant.
const MINIMUM_OPENS_BETWEEN_SWEEPS: usize = 1024;

#[derive(Default)]
struct CredentialSlot {
    live: Option<LiveSession>,
    ended: HashMap<TokenHash, Tombstone>,
}

struct LiveSession {
    token_hash: TokenHash,
    session: ActiveSession,
    idle_timeout: Duration,
}

impl LiveSession {
    fn has_expired_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.session.idle_expires_at || now >= self.session.absolute_expires_at
    }

    fn tombstone(&self, reason: EndReason) -> Tombstone {
        Tombstone { reason, keep_until: self.session.absolute_expires_at }
    }
}

struct Tombstone {
    reason: EndReason,
    /// The ended session's absolute expiry; the tombstone may go after it.
    keep_until: DateTime<Utc>,
}

impl CredentialSlot {
    /// Ends the live session, if any, with `reason` — or with `Expired` when
    /// it had already expired at `now`. Returns the ended session's id only
    /// when it was still live, i.e. when it really ended for `reason`.
    fn end_live_session(&mut self, reason: EndReason, now: DateTime<Utc>) -> Option<SessionId> {
        let live = self.live.take()?;
        let (reason, ended_while_live) = match live.has_expired_at(now) {
            true => (EndReason::Expired, None),
            false => (reason, Some(live.session.session_id)),
        };
        self.ended.insert(live.token_hash.clone(), live.tombstone(reason));
        ended_while_live
    }

    fn prune_tombstones(&mut self, now: DateTime<Utc>) {
        self.ended.retain(|_, tombstone| tombstone.keep_until > now);
    }

    /// A live session the store may forget: past its absolute expiry, after
    /// which nobody needs to be told it expired.
    fn drop_forgettable_live_session(&mut self, now: DateTime<Utc>) {
        if self.live.as_ref().is_some_and(|live| live.session.absolute_expires_at <= now) {
            self.live = None;
        }
    }

    fn is_empty(&self) -> bool {
        self.live.is_none() && self.ended.is_empty()
    }

    /// What `token_hash` is at `now`, ending the live session as `Expired`
    /// when its time has passed.
    fn look_up(&mut self, token_hash: &TokenHash, now: DateTime<Utc>) -> Lookup {
        match &self.live {
            Some(live) if &live.token_hash == token_hash && live.has_expired_at(now) => {
                self.end_live_session(EndReason::Expired, now);
                return Lookup::Dead(Validation::Ended(EndReason::Expired));
            }
            Some(live) if &live.token_hash == token_hash => return Lookup::Live,
            _ => {}
        }
        match self.ended.get(token_hash) {
            Some(tombstone) => Lookup::Dead(Validation::Ended(tombstone.reason)),
            None => Lookup::Dead(Validation::Unknown),
        }
    }
}

enum Lookup {
    /// The token is the slot's live session, unexpired at `now`.
    Live,
    /// The answer for a token that is not live.
    Dead(Validation),
}

impl InMemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, StoreState> {
        // A panic while holding the lock cannot leave a slot half-written in
        // a way later operations misread (every mutation is a single insert,
        // take or retain), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Numbers of credential slots, live sessions and tombstones.
    fn counts(&self) -> (usize, usize, usize) {
        let state = self.lock();
        let live = state.slots.values().filter(|slot| slot.live.is_some()).count();
        let tombstones = state.slots.values().map(|slot| slot.ended.len()).sum();
        (state.slots.len(), live, tombstones)
    }
}

impl StoreState {
    fn sweep_if_due(&mut self, now: DateTime<Utc>) {
        self.opens_since_sweep += 1;
        if self.opens_since_sweep < MINIMUM_OPENS_BETWEEN_SWEEPS.max(self.slots.len()) {
            return;
        }
        self.opens_since_sweep = 0;
        self.slots.retain(|_, slot| {
            slot.prune_tombstones(now);
            slot.drop_forgettable_live_session(now);
            !slot.is_empty()
        });
    }
}

#[async_trait]
impl SessionStore for InMemorySessionStore {
    async fn open(&self, token: &SessionToken, session: NewSession) -> Result<Option<SessionId>, SessionStoreError> {
        let now = session.created_at;
        let live = LiveSession {
            token_hash: token.hash(),
            idle_timeout: session.idle_timeout,
            session: ActiveSession {
                session_id: session.session_id,
                credential: session.credential,
                payload: session.payload,
                client_address: session.client_address,
                user_agent: session.user_agent,
                created_at: session.created_at,
                last_used_at: session.created_at,
                idle_expires_at: (session.created_at + session.idle_timeout).min(session.absolute_expires_at),
                absolute_expires_at: session.absolute_expires_at,
            },
        };
        let mut state = self.lock();
        state.sweep_if_due(now);
        let slot = state.slots.entry(token.tag().to_owned()).or_default();
        let replaced = slot.end_live_session(EndReason::Replaced, now);
        slot.prune_tombstones(now);
        slot.live = Some(live);
        Ok(replaced)
    }

    async fn validate(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError> {
        let token_hash = token.hash();
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(token.tag()) else {
            return Ok(Validation::Unknown);
        };
        if let Lookup::Dead(answer) = slot.look_up(&token_hash, now) {
            return Ok(answer);
        }
        let Some(live) = slot.live.as_mut() else {
            return Ok(Validation::Unknown);
        };
        // Never moves backwards: a replica whose clock lags a little must not
        // shorten a session another replica just extended.
        let slid_idle_expiry = (now + live.idle_timeout).min(live.session.absolute_expires_at);
        live.session.idle_expires_at = live.session.idle_expires_at.max(slid_idle_expiry);
        live.session.last_used_at = live.session.last_used_at.max(now);
        Ok(Validation::Active(live.session.clone()))
    }

    async fn logout(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError> {
        let token_hash = token.hash();
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(token.tag()) else {
            return Ok(Validation::Unknown);
        };
        if let Lookup::Dead(answer) = slot.look_up(&token_hash, now) {
            return Ok(answer);
        }
        let Some(live) = slot.live.take() else {
            return Ok(Validation::Unknown);
        };
        slot.ended.insert(live.token_hash.clone(), live.tombstone(EndReason::LoggedOut));
        Ok(Validation::Active(live.session))
    }

    async fn revoke_credential(
        &self,
        credential: &CredentialKey,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, SessionStoreError> {
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(&credential.tag()) else {
            return Ok(Vec::new());
        };
        Ok(slot.end_live_session(EndReason::Revoked, now).into_iter().collect())
    }

    async fn ping(&self) -> Result<(), SessionStoreError> {
        Ok(())
    }
}

impl fmt::Debug for InMemorySessionStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Counts only: tokens, hashes and payloads never reach a log line.
        let (credentials, live_sessions, tombstones) = self.counts();
        formatter
            .debug_struct("InMemorySessionStore")
            .field("credentials", &credentials)
            .field("live_sessions", &live_sessions)
            .field("tombstones", &tombstones)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_domain::ids::{AccountId, UserId};

    /// The same suite every store passes.
    mod conformance {
        use super::InMemorySessionStore;

        crate::session_store_conformance_suite!(|| async { InMemorySessionStore::new() });
    }

    fn new_session(credential: CredentialKey, created_at: DateTime<Utc>) -> NewSession {
        NewSession {
            session_id: SessionId::generate(),
            credential,
            payload: "{\"secret\":\"payload\"}".to_owned(),
            client_address: "192.0.2.1".to_owned(),
            user_agent: "test".to_owned(),
            created_at,
            idle_timeout: Duration::minutes(15),
            absolute_expires_at: created_at + Duration::hours(12),
        }
    }

    #[tokio::test]
    async fn tombstones_are_pruned_after_their_absolute_expiry_so_memory_stays_bounded() {
        let store = InMemorySessionStore::new();
        let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
        let start = DateTime::UNIX_EPOCH;
        for _ in 0..10 {
            store.open(&SessionToken::issue(&credential), new_session(credential, start)).await.unwrap();
        }
        assert_eq!(store.counts(), (1, 1, 9));

        let after_lifetime = start + Duration::hours(13);
        store.open(&SessionToken::issue(&credential), new_session(credential, after_lifetime)).await.unwrap();
        // The session live at `start` is past its absolute expiry too, so it
        // leaves no tombstone either.
        assert_eq!(store.counts(), (1, 1, 0));
    }

    #[tokio::test]
    async fn the_sweep_forgets_credentials_that_never_log_in_again() {
        let store = InMemorySessionStore::new();
        let start = DateTime::UNIX_EPOCH;
        for _ in 0..MINIMUM_OPENS_BETWEEN_SWEEPS - 1 {
            let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
            store.open(&SessionToken::issue(&credential), new_session(credential, start)).await.unwrap();
        }
        let (credentials, _, _) = store.counts();
        assert_eq!(credentials, MINIMUM_OPENS_BETWEEN_SWEEPS - 1);

        let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
        let much_later = start + Duration::days(2);
        store.open(&SessionToken::issue(&credential), new_session(credential, much_later)).await.unwrap();
        assert_eq!(store.counts(), (1, 1, 0));
    }

    #[tokio::test]
    async fn debug_output_shows_counts_but_no_tokens_or_payloads() {
        let store = InMemorySessionStore::new();
        let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
        let token = SessionToken::issue(&credential);
        store.open(&token, new_session(credential, DateTime::UNIX_EPOCH)).await.unwrap();
        let printed = format!("{store:?}");
        assert_eq!(printed, "InMemorySessionStore { credentials: 1, live_sessions: 1, tombstones: 0 }");
        assert!(!printed.contains(token.expose()) && !printed.contains("secret"));
    }
}
