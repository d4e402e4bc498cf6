//! [`AccessFreshness`]: what a directory replica has heard of changes to
//! accounts' access, so that its access cache can answer without asking the
//! database whether anything changed (issue 6).
//!
//! The store pushes what it hears (PostgreSQL notifies every commit that
//! bumps an account's access version) and registers the writes this replica
//! starts itself; the cache takes a [`Watch`] before it reads an account's
//! version, and may serve what it read for as long as
//! [`AccessFreshness::unchanged_since`] that watch says yes:
//!
//! - the replica has been listening the whole time (a lost listener may
//!   have missed changes: every watch taken before it is void);
//! - no change of the account, nor of every account (the catalog), has been
//!   heard since;
//! - no write of the account that this replica started is waiting for its
//!   own notification: a caller who changed something through this replica
//!   sees the change on its next question, exactly.
//!
//! A change made through another replica is seen once its notification
//! arrives, normally within milliseconds of its commit (R38's bound for
//! gateways is one second). A write of this replica is awaited for at most
//! [`OWN_WRITE_LIMIT`]: one that rolled back never notifies.
//!
//! Pure bookkeeping under one mutex; no I/O.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ids::AccountId;

/// How long a write started by this replica is awaited: until then the
/// accounts it writes are asked about exactly (one version read per
/// question). A write still open after this is rare; it is seen once its
/// notification arrives, as another replica's would be.
pub const OWN_WRITE_LIMIT: Duration = Duration::from_secs(30);

/// Accounts whose changes are counted; past it the count starts afresh and
/// every watch is void.
const MAX_COUNTED_ACCOUNTS: usize = 100_000;

/// What was heard when a watch was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    epoch: u64,
    everything: u64,
    account: u64,
}

/// A write this replica started, until its notification arrives.
#[derive(Debug)]
struct OwnWrite {
    tag: String,
    /// `None`: every account's access (a catalog write).
    account: Option<AccountId>,
    started: Instant,
}

#[derive(Debug, Default)]
struct Heard {
    listening: bool,
    /// Moves whenever listening starts or stops: a watch survives neither.
    epoch: u64,
    /// Changes of every account's access heard.
    everything: u64,
    /// Changes heard per account.
    accounts: HashMap<AccountId, u64>,
    own_writes: Vec<OwnWrite>,
    next_tag: u64,
}

impl Heard {
    fn forget_old_writes(&mut self, now: Instant) {
        self.own_writes.retain(|write| now.saturating_duration_since(write.started) < OWN_WRITE_LIMIT);
    }

    fn awaiting_own_write(&self, account_id: AccountId, now: Instant) -> bool {
        self.own_writes.iter().any(|write| {
            write.account.is_none_or(|account| account == account_id)
                && now.saturating_duration_since(write.started) < OWN_WRITE_LIMIT
        })
    }

    fn watch(&self, account_id: AccountId) -> Watch {
        Watch {
            epoch: self.epoch,
            everything: self.everything,
            account: self.accounts.get(&account_id).copied().unwrap_or(0),
        }
    }
}

/// Shared by the store that hears changes and the cache that asks; see the
/// module's documentation.
#[derive(Debug)]
pub struct AccessFreshness {
    /// Names this replica's writes apart from every other replica's.
    replica: String,
    heard: Mutex<Heard>,
}

impl Default for AccessFreshness {
    fn default() -> Self {
        Self::new()
    }
}

impl AccessFreshness {
    /// Not listening yet: every question reads the version until
    /// [`Self::listening`].
    pub fn new() -> Self {
        Self { replica: uuid::Uuid::new_v4().simple().to_string(), heard: Mutex::default() }
    }

    fn heard(&self) -> std::sync::MutexGuard<'_, Heard> {
        self.heard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every change committed from now on will be heard.
    pub fn listening(&self) {
        let mut heard = self.heard();
        heard.listening = true;
        heard.epoch += 1;
    }

    /// Changes may go unheard (the listener lost its connection): every
    /// watch is void.
    pub fn deaf(&self) {
        let mut heard = self.heard();
        heard.listening = false;
        heard.epoch += 1;
    }

    pub fn is_listening(&self) -> bool {
        self.heard().listening
    }

    /// Registers a write this replica starts, of `account` (`None`: every
    /// account's access); the tag goes with the write to the database and
    /// comes back in its notification ([`Self::changed`]).
    pub fn own_write(&self, account: Option<AccountId>) -> String {
        self.own_write_at(account, Instant::now())
    }

    fn own_write_at(&self, account: Option<AccountId>, now: Instant) -> String {
        let mut heard = self.heard();
        heard.forget_old_writes(now);
        heard.next_tag += 1;
        let tag = format!("{}-{}", self.replica, heard.next_tag);
        heard.own_writes.push(OwnWrite { tag: tag.clone(), account, started: now });
        tag
    }

    /// A committed change of `account`'s access (`None`: of every
    /// account's), made by the write tagged `tag` (empty when the writer
    /// gave none).
    pub fn changed(&self, account: Option<AccountId>, tag: &str) {
        let mut heard = self.heard();
        if let Some(position) = heard.own_writes.iter().position(|write| !tag.is_empty() && write.tag == tag) {
            let write = heard.own_writes.swap_remove(position);
            if write.account.is_none() {
                // A catalog write notifies once per account; the first
                // notification ends the wait for all of them.
                heard.everything += 1;
            }
        }
        match account {
            None => heard.everything += 1,
            Some(account) => {
                if heard.accounts.len() >= MAX_COUNTED_ACCOUNTS && !heard.accounts.contains_key(&account) {
                    heard.accounts.clear();
                    heard.epoch += 1;
                }
                *heard.accounts.entry(account).or_insert(0) += 1;
            }
        }
    }

    /// What has been heard of `account_id` so far, to take before reading
    /// its version; `None` when nothing read now could be trusted later
    /// (not listening, or a write of this replica is awaited).
    pub fn watch(&self, account_id: AccountId) -> Option<Watch> {
        self.watch_at(account_id, Instant::now())
    }

    fn watch_at(&self, account_id: AccountId, now: Instant) -> Option<Watch> {
        let heard = self.heard();
        (heard.listening && !heard.awaiting_own_write(account_id, now)).then(|| heard.watch(account_id))
    }

    /// Whether nothing that could change `account_id`'s access has happened
    /// since `watch` was taken (see the module's documentation).
    pub fn unchanged_since(&self, account_id: AccountId, watch: Watch) -> bool {
        self.unchanged_since_at(account_id, watch, Instant::now())
    }

    fn unchanged_since_at(&self, account_id: AccountId, watch: Watch, now: Instant) -> bool {
        let heard = self.heard();
        heard.listening && heard.watch(account_id) == watch && !heard.awaiting_own_write(account_id, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening() -> AccessFreshness {
        let freshness = AccessFreshness::new();
        freshness.listening();
        freshness
    }

    #[test]
    fn nothing_is_trusted_before_listening_starts() {
        let freshness = AccessFreshness::new();
        assert_eq!(freshness.watch(AccountId::generate()), None);
    }

    #[test]
    fn a_watch_holds_until_a_change_of_its_account_or_of_every_account_is_heard() {
        let freshness = listening();
        let (acme, globex) = (AccountId::generate(), AccountId::generate());
        let watch = freshness.watch(acme).unwrap();
        assert!(freshness.unchanged_since(acme, watch));
        freshness.changed(Some(globex), "");
        assert!(freshness.unchanged_since(acme, watch), "another account's change");
        freshness.changed(Some(acme), "");
        assert!(!freshness.unchanged_since(acme, watch));

        let watch = freshness.watch(acme).unwrap();
        freshness.changed(None, "");
        assert!(!freshness.unchanged_since(acme, watch), "a change of every account's access");
    }

    #[test]
    fn a_lost_listener_voids_every_watch_even_after_it_listens_again() {
        let freshness = listening();
        let acme = AccountId::generate();
        let watch = freshness.watch(acme).unwrap();
        freshness.deaf();
        assert!(!freshness.unchanged_since(acme, watch));
        assert_eq!(freshness.watch(acme), None);
        freshness.listening();
        assert!(!freshness.unchanged_since(acme, watch), "changes may have been missed meanwhile");
        let again = freshness.watch(acme).unwrap();
        assert!(freshness.unchanged_since(acme, again));
    }

    #[test]
    fn an_own_write_is_awaited_until_its_notification_arrives() {
        let freshness = listening();
        let (acme, globex) = (AccountId::generate(), AccountId::generate());
        let watch = freshness.watch(acme).unwrap();
        let other = freshness.watch(globex).unwrap();
        let tag = freshness.own_write(Some(acme));
        assert!(!freshness.unchanged_since(acme, watch), "committed or not, it may have changed");
        assert_eq!(freshness.watch(acme), None, "nothing read meanwhile is trusted");
        assert!(freshness.unchanged_since(globex, other), "other accounts are not written");
        // Another replica's notification does not end the wait.
        freshness.changed(Some(acme), "elsewhere-1");
        assert_eq!(freshness.watch(acme), None);
        freshness.changed(Some(acme), &tag);
        let after = freshness.watch(acme).unwrap();
        assert!(freshness.unchanged_since(acme, after));
        assert!(!freshness.unchanged_since(acme, watch));
    }

    #[test]
    fn an_own_catalog_write_is_awaited_for_every_account_and_ends_with_its_first_notification() {
        let freshness = listening();
        let (acme, globex) = (AccountId::generate(), AccountId::generate());
        let watch = freshness.watch(globex).unwrap();
        let tag = freshness.own_write(None);
        assert_eq!(freshness.watch(acme), None);
        assert_eq!(freshness.watch(globex), None);
        freshness.changed(Some(acme), &tag);
        assert!(freshness.watch(globex).is_some());
        assert!(!freshness.unchanged_since(globex, watch), "globex's own notification may not be in yet");
    }

    #[test]
    fn an_own_write_that_never_notifies_is_awaited_for_a_bounded_time() {
        let freshness = listening();
        let acme = AccountId::generate();
        let started = Instant::now();
        freshness.own_write_at(Some(acme), started);
        assert_eq!(freshness.watch_at(acme, started + OWN_WRITE_LIMIT / 2), None);
        let later = started + OWN_WRITE_LIMIT;
        let watch = freshness.watch_at(acme, later).expect("a rolled-back write is no longer awaited");
        assert!(freshness.unchanged_since_at(acme, watch, later));
    }

    #[test]
    fn tags_differ_between_writes_and_between_replicas() {
        let (first, second) = (listening(), listening());
        let tags = [first.own_write(None), first.own_write(None), second.own_write(None)];
        assert_ne!(tags[0], tags[1]);
        assert_ne!(tags[0], tags[2]);
    }
}
