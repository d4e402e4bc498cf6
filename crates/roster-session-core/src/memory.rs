//! The in-process [`SessionStore`]: the embedded default when no Redis is
//! configured, and the reference the conformance suite is written against.
//!
//! One `std::sync::Mutex` guards a map from credential slot tag to that
//! credential's slot (its live session and the tombstones of its ended
//! sessions), and two indexes: account → tags of its credentials with a live
//! session (for listing) and session id → tag (for revoking one session).
//! Every operation is a short, synchronous critical section, so the lock is
//! never held across an `.await` and each operation is atomic, which is what
//! makes racing opens leave exactly one live session (R36). Feed messages
//! are sent under the same lock, so the feed's order is the order the
//! changes were applied in; the feed never breaks in process, so it never
//! carries `FeedLost` or `FeedRestored`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use roster_domain::ids::{AccountId, SessionId, UserId};
use tokio::sync::broadcast;

use crate::model::{reasons, ActiveSession, EndReason, FeedMessage, NewSession, SessionEvent, SessionPage, Validation};
use crate::store::{SessionStore, SessionStoreError};
use crate::token::{CredentialKey, SessionToken, TokenHash};

/// Feed messages a subscriber may fall behind by before it lags
/// (`RecvError::Lagged`).
pub const FEED_CAPACITY: usize = 4096;

/// A [`SessionStore`] that keeps everything in this process's memory.
///
/// Memory stays bounded: a tombstone is kept until its session's absolute
/// expiry and pruned lazily after it, on the credential's next `open` and by
/// a sweep over all credentials that runs once every so many opens (its cost
/// amortised over those opens). Index entries go when their session ends,
/// and the sweep drops those of sessions nobody ended before they could be
/// forgotten.
pub struct InMemorySessionStore {
    state: Mutex<StoreState>,
    feed: broadcast::Sender<FeedMessage>,
}

impl Default for InMemorySessionStore {
    fn default() -> Self {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Self { state: Mutex::default(), feed }
    }
}

#[derive(Default)]
struct StoreState {
    slots: HashMap<String, CredentialSlot>,
    /// Tags of each account's credentials that have a live session, ordered
    /// as listings page through them.
    account_tags: HashMap<AccountId, BTreeSet<String>>,
    /// The tag of each live session.
    live_session_tags: HashMap<SessionId, String>,
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
        has_expired_at(&self.session, now)
    }

    fn tombstone(&self, reason: EndReason) -> Tombstone {
        Tombstone { reason, keep_until: self.session.absolute_expires_at }
    }
}

fn has_expired_at(session: &ActiveSession, now: DateTime<Utc>) -> bool {
    now >= session.idle_expires_at || now >= session.absolute_expires_at
}

struct Tombstone {
    reason: EndReason,
    /// The ended session's absolute expiry; the tombstone may go after it.
    keep_until: DateTime<Utc>,
}

/// A session that was live until just now, and why it ended.
struct EndedSession {
    /// As it was before it ended.
    session: ActiveSession,
    reason: EndReason,
}

impl EndedSession {
    /// The feed's report of this end; `revocation_reason` is the reason text
    /// of a revocation, `replaced_by` the successor of a replaced session.
    fn event(&self, now: DateTime<Utc>, revocation_reason: &str, replaced_by: Option<SessionId>) -> SessionEvent {
        let reason = match self.reason {
            EndReason::Replaced => reasons::REPLACED,
            EndReason::LoggedOut => reasons::LOGGED_OUT,
            EndReason::Expired => reasons::EXPIRED,
            EndReason::Revoked => revocation_reason,
        };
        SessionEvent {
            kind: self.reason,
            session_id: self.session.session_id,
            account_id: self.session.credential.account_id,
            user_id: self.session.credential.user_id,
            reason: reason.to_owned(),
            occurred_at: now,
            replaced_by: replaced_by.filter(|_| self.reason == EndReason::Replaced),
        }
    }
}

impl CredentialSlot {
    /// Ends the live session, if any, with `reason` — or with `Expired` when
    /// it had already expired at `now`.
    fn end_live_session(&mut self, reason: EndReason, now: DateTime<Utc>) -> Option<EndedSession> {
        let live = self.live.take()?;
        let reason = if live.has_expired_at(now) { EndReason::Expired } else { reason };
        self.ended.insert(live.token_hash.clone(), live.tombstone(reason));
        Some(EndedSession { session: live.session, reason })
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

    fn live_session_id(&self) -> Option<SessionId> {
        self.live.as_ref().map(|live| live.session.session_id)
    }

    /// What `token_hash` is at `now`, ending the live session as `Expired`
    /// when its time has passed.
    fn look_up(&mut self, token_hash: &TokenHash, now: DateTime<Utc>) -> Lookup {
        match &self.live {
            Some(live) if &live.token_hash == token_hash && live.has_expired_at(now) => {
                return match self.end_live_session(EndReason::Expired, now) {
                    Some(ended) => Lookup::JustExpired(ended),
                    None => Lookup::Dead(Validation::Unknown),
                };
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
    /// The token was the live session, and has just been found expired.
    JustExpired(EndedSession),
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
        // take or retain; an index entry left behind is pruned when found
        // stale), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Numbers of credential slots, live sessions and tombstones.
    fn counts(&self) -> (usize, usize, usize) {
        let state = self.lock();
        let live = state.slots.values().filter(|slot| slot.live.is_some()).count();
        let tombstones = state.slots.values().map(|slot| slot.ended.len()).sum();
        (state.slots.len(), live, tombstones)
    }

    /// Sends `message` to every subscriber. Called with the lock held, so
    /// the feed's order is the order of the changes.
    fn publish(&self, _held: &MutexGuard<'_, StoreState>, message: FeedMessage) {
        // An error only means nobody subscribes right now.
        let _ = self.feed.send(message);
    }

    /// Drops the indexes' entries for a session that ended and reports the
    /// end on the feed.
    fn record_end(
        &self,
        state: &mut MutexGuard<'_, StoreState>,
        ended: &EndedSession,
        now: DateTime<Utc>,
        revocation_reason: &str,
        replaced_by: Option<SessionId>,
    ) {
        state.forget_live_session(&ended.session);
        let event = ended.event(now, revocation_reason, replaced_by);
        self.publish(state, FeedMessage::Session(event));
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
        let slots = &self.slots;
        let has_live_session = |tag: &str| slots.get(tag).is_some_and(|slot| slot.live.is_some());
        self.account_tags.retain(|_, tags| {
            tags.retain(|tag| has_live_session(tag));
            !tags.is_empty()
        });
        self.live_session_tags
            .retain(|session_id, tag| slots.get(tag).and_then(CredentialSlot::live_session_id) == Some(*session_id));
    }

    fn index_live_session(&mut self, session: &ActiveSession, tag: &str) {
        self.account_tags.entry(session.credential.account_id).or_default().insert(tag.to_owned());
        self.live_session_tags.insert(session.session_id, tag.to_owned());
    }

    fn forget_live_session(&mut self, session: &ActiveSession) {
        self.live_session_tags.remove(&session.session_id);
        let account_id = session.credential.account_id;
        if let Some(tags) = self.account_tags.get_mut(&account_id) {
            tags.remove(&session.credential.tag());
            if tags.is_empty() {
                self.account_tags.remove(&account_id);
            }
        }
    }

    /// The live session of credential `tag`, if it belongs to `account_id`
    /// (and `user_id`, when given) and its time has not passed at `now`.
    fn listable(
        &self,
        tag: &str,
        account_id: AccountId,
        user_id: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Option<&ActiveSession> {
        let session = &self.slots.get(tag)?.live.as_ref()?.session;
        let belongs = session.credential.account_id == account_id
            && user_id.is_none_or(|user_id| session.credential.user_id == user_id);
        (belongs && !has_expired_at(session, now)).then_some(session)
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
        let tag = token.tag();
        let mut state = self.lock();
        state.sweep_if_due(now);
        let slot = state.slots.entry(tag.to_owned()).or_default();
        let ended = slot.end_live_session(EndReason::Replaced, now);
        slot.prune_tombstones(now);
        let new_session = live.session.clone();
        slot.live = Some(live);
        let mut replaced = None;
        if let Some(ended) = ended {
            self.record_end(&mut state, &ended, now, "", Some(new_session.session_id));
            replaced = (ended.reason == EndReason::Replaced).then_some(ended.session.session_id);
        }
        state.index_live_session(&new_session, tag);
        Ok(replaced)
    }

    async fn validate(&self, token: &SessionToken, now: DateTime<Utc>) -> Result<Validation, SessionStoreError> {
        let token_hash = token.hash();
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(token.tag()) else {
            return Ok(Validation::Unknown);
        };
        let live = match slot.look_up(&token_hash, now) {
            Lookup::Dead(answer) => return Ok(answer),
            Lookup::JustExpired(ended) => {
                self.record_end(&mut state, &ended, now, "", None);
                return Ok(Validation::Ended(EndReason::Expired));
            }
            Lookup::Live => slot.live.as_mut(),
        };
        let Some(live) = live else {
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
        let ended = match slot.look_up(&token_hash, now) {
            Lookup::Dead(answer) => return Ok(answer),
            Lookup::JustExpired(ended) => ended,
            Lookup::Live => match slot.end_live_session(EndReason::LoggedOut, now) {
                Some(ended) => ended,
                None => return Ok(Validation::Unknown),
            },
        };
        self.record_end(&mut state, &ended, now, "", None);
        match ended.reason {
            EndReason::LoggedOut => Ok(Validation::Active(ended.session)),
            other => Ok(Validation::Ended(other)),
        }
    }

    async fn revoke_credential(
        &self,
        credential: &CredentialKey,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, SessionStoreError> {
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(&credential.tag()) else {
            return Ok(Vec::new());
        };
        let Some(ended) = slot.end_live_session(EndReason::Revoked, now) else {
            return Ok(Vec::new());
        };
        self.record_end(&mut state, &ended, now, reason, None);
        Ok((ended.reason == EndReason::Revoked).then_some(ended.session.session_id).into_iter().collect())
    }

    async fn revoke_session(
        &self,
        session_id: SessionId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError> {
        let mut state = self.lock();
        let Some(tag) = state.live_session_tags.get(&session_id).cloned() else {
            return Ok(None);
        };
        let slot = state.slots.get_mut(&tag).filter(|slot| slot.live_session_id() == Some(session_id));
        let Some(ended) = slot.and_then(|slot| slot.end_live_session(EndReason::Revoked, now)) else {
            // A stale entry (cannot happen while the index is kept exact).
            state.live_session_tags.remove(&session_id);
            return Ok(None);
        };
        self.record_end(&mut state, &ended, now, reason, None);
        Ok((ended.reason == EndReason::Revoked).then_some(ended.session))
    }

    async fn find_session(
        &self,
        session_id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveSession>, SessionStoreError> {
        let state = self.lock();
        let Some(tag) = state.live_session_tags.get(&session_id) else {
            return Ok(None);
        };
        let live = state.slots.get(tag).and_then(|slot| slot.live.as_ref());
        let session = live.map(|live| &live.session).filter(|session| session.session_id == session_id);
        Ok(session.filter(|session| !has_expired_at(session, now)).cloned())
    }

    async fn list_sessions(
        &self,
        account_id: AccountId,
        user_id: Option<UserId>,
        cursor: Option<&str>,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<SessionPage, SessionStoreError> {
        let limit = limit.clamp(1, usize::MAX - 1);
        let after = cursor.map_or(Bound::Unbounded, Bound::Excluded);
        let state = self.lock();
        let user_tag = user_id.map(|user_id| CredentialKey::new(account_id, user_id).tag());
        let candidates: Box<dyn Iterator<Item = &str>> = match &user_tag {
            Some(tag) => {
                Box::new(std::iter::once(tag.as_str()).filter(|tag| cursor.is_none_or(|cursor| *tag > cursor)))
            }
            None => match state.account_tags.get(&account_id) {
                Some(tags) => Box::new(tags.range::<str, _>((after, Bound::Unbounded)).map(String::as_str)),
                None => Box::new(std::iter::empty()),
            },
        };
        // One more than asked for tells whether another page follows.
        let mut sessions: Vec<ActiveSession> = candidates
            .filter_map(|tag| state.listable(tag, account_id, user_id, now))
            .take(limit + 1)
            .cloned()
            .collect();
        let next_cursor = match sessions.len() > limit {
            true => {
                sessions.truncate(limit);
                sessions.last().map(|session| session.credential.tag())
            }
            false => None,
        };
        Ok(SessionPage { sessions, next_cursor })
    }

    async fn publish_access_change(&self, account_id: AccountId, user_ids: &[UserId]) -> Result<(), SessionStoreError> {
        let state = self.lock();
        self.publish(&state, FeedMessage::AccessChanged { account_id, user_ids: user_ids.to_vec() });
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<FeedMessage> {
        self.feed.subscribe()
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
mod tests;
