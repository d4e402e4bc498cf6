//! What a session's user may do (R40), cached per user so that validation
//! does not ask the directory each time, and dropped as soon as the
//! directory says it changed (R38).
//!
//! # Freshness
//!
//! The directory publishes every access change through the broker's
//! `InvalidateAccess`, which goes out on the session store's feed to every
//! replica (Redis pub/sub, or the in-process feed); each replica's feed task
//! calls [`AccessCache::invalidate`]. Three rules keep a stale entry from
//! surviving a change:
//!
//! - A fetch takes a [`FetchTicket`] (the cache epoch and the sequence
//!   number of the last invalidation) *before* asking the directory, and its
//!   answer is only kept if no invalidation of that account happened
//!   meanwhile.
//! - While the feed is down ([`AccessCache::distrust`]) nothing is cached:
//!   every validation asks the directory, since no invalidation could arrive.
//! - Entries also age out after a time-to-live, a safety net for a change
//!   whose notification never left the directory. Past half of it, an entry
//!   still answers but is fetched again in the background, so a user
//!   validated steadily never waits for the directory. That refresh is
//!   conditional: it sends the account's access version the entry is as of,
//!   and when nothing moved since, the directory answers "unchanged" for the
//!   cost of one version read and the entry lives on (under a ticket, like
//!   any fetch). Without it, entries filled together (10,000 sessions
//!   validated in the same minute) all came due together and made the
//!   directory re-read every user's rows at once, during a login storm
//!   (issue 6, scenario 3).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use roster_domain::access::PermissionsByScope;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::DomainError;

/// A user's access as the directory resolved it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalAccess {
    pub group_ids: Vec<String>,
    pub group_names: Vec<String>,
    pub is_owner: bool,
    pub is_platform_operator: bool,
    /// A blocked user holds nothing (R14); their sessions are revoked too.
    pub blocked: bool,
    pub permissions: PermissionsByScope,
    /// R16: field -> allowed values.
    pub data_filters: BTreeMap<String, Vec<String>>,
}

/// An answer of the directory, with the account's access version it is
/// as of (`None`: the directory did not say, and such an answer is never
/// confirmed as unchanged, only fetched again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedAccess {
    pub access: PrincipalAccess,
    pub version: Option<i64>,
}

/// What a fetch answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The user or the account no longer exists.
    Gone,
    /// Only in answer to a held version: the account's access has not
    /// moved since it.
    Unchanged,
    /// The user's access now.
    Current(VersionedAccess),
}

/// Where access comes from: the directory.
#[async_trait]
pub trait AccessSource: Send + Sync + Debug {
    /// The user's access, or, with `held` (the version of an answer the
    /// caller holds), [`Fetched::Unchanged`] when the account's access has
    /// not moved since.
    async fn principal_access(
        &self,
        account_id: AccountId,
        user_id: UserId,
        held: Option<i64>,
    ) -> Result<Fetched, DomainError>;
}

/// Taken before a fetch; the fetched answer is kept only if the account's
/// access did not change since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchTicket {
    epoch: u64,
    sequence: u64,
}

/// Inserts between two sweeps of aged-out entries.
const INSERTS_BETWEEN_SWEEPS: usize = 4096;

#[derive(Debug)]
struct CachedAccess {
    access: Arc<PrincipalAccess>,
    /// The account's access version the answer is as of.
    version: Option<i64>,
    fetched_at: Instant,
    /// A background refresh of this entry is running (see [`AccessCache::get`]).
    refreshing: AtomicBool,
}

#[derive(Debug, Default)]
struct AccountEntries {
    /// The sequence number of the account's last invalidation.
    invalidated_at: u64,
    users: HashMap<UserId, CachedAccess>,
    /// The distinct answers the account's users hold, at most
    /// [`DISTINCT_ACCESS_PER_ACCOUNT`]: users with the same access (most
    /// users of a group, with no overrides) share one copy instead of each
    /// holding every permission name (issue 6, scenario 6: the broker's
    /// memory at 100,000 sessions). Dropped with the account's entries.
    distinct: Vec<Arc<PrincipalAccess>>,
}

/// Distinct answers remembered per account for sharing (see
/// [`AccountEntries::distinct`]); beyond it an answer is kept unshared.
const DISTINCT_ACCESS_PER_ACCOUNT: usize = 64;

impl AccountEntries {
    /// `access`, or an equal answer already held, to keep instead.
    fn shared(&mut self, access: Arc<PrincipalAccess>) -> Arc<PrincipalAccess> {
        if let Some(held) = self.distinct.iter().find(|held| ***held == *access) {
            return Arc::clone(held);
        }
        if self.distinct.len() < DISTINCT_ACCESS_PER_ACCOUNT {
            self.distinct.push(Arc::clone(&access));
        }
        access
    }
}

#[derive(Debug)]
struct CacheState {
    /// Whether invalidations can arrive (the feed is up).
    trusted: bool,
    /// Bumped whenever everything is dropped; old tickets stop matching.
    epoch: u64,
    /// Counts invalidations.
    sequence: u64,
    /// Tickets older than this are never kept (see the sweep).
    floor: u64,
    accounts: HashMap<AccountId, AccountEntries>,
    inserts_since_sweep: usize,
}

impl CacheState {
    /// Whether an answer fetched under `ticket` may be kept: the feed is up,
    /// nothing was dropped wholesale since, and the ticket is not older than
    /// the last sweep.
    fn valid(&self, ticket: FetchTicket) -> bool {
        self.trusted && self.epoch == ticket.epoch && ticket.sequence >= self.floor
    }
}

/// A cached answer, and whether (and from which version) the caller should
/// refresh it.
struct Hit {
    access: Arc<PrincipalAccess>,
    refresh: bool,
    version: Option<i64>,
}

/// Per-user access, shared by every request of one broker replica.
#[derive(Debug)]
pub struct AccessCache {
    /// Itself, for the background refreshes it starts.
    me: Weak<AccessCache>,
    source: Arc<dyn AccessSource>,
    time_to_live: Duration,
    state: RwLock<CacheState>,
}

impl AccessCache {
    /// A cache that trusts its feed from the start (the in-process store's
    /// feed cannot fail; a Redis feed reports `FeedLost` if it does).
    pub fn new(source: Arc<dyn AccessSource>, time_to_live: Duration) -> Arc<Self> {
        let state = CacheState {
            trusted: true,
            epoch: 0,
            sequence: 0,
            floor: 0,
            accounts: HashMap::new(),
            inserts_since_sweep: 0,
        };
        Arc::new_cyclic(|me| Self { me: me.clone(), source, time_to_live, state: RwLock::new(state) })
    }

    fn write(&self) -> RwLockWriteGuard<'_, CacheState> {
        // A panic while holding the lock leaves only cache entries behind;
        // dropping them all is always safe.
        self.state.write().unwrap_or_else(|poisoned| {
            let mut state = poisoned.into_inner();
            state.accounts.clear();
            state.epoch += 1;
            state
        })
    }

    /// The ticket for a fetch starting now.
    pub fn ticket(&self) -> FetchTicket {
        let state = self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        FetchTicket { epoch: state.epoch, sequence: state.sequence }
    }

    /// Keeps `access` (as of the account's access `version`), fetched under
    /// `ticket`, unless the account's access changed since the ticket was
    /// taken or the feed is down.
    pub fn insert(
        &self,
        ticket: FetchTicket,
        account_id: AccountId,
        user_id: UserId,
        access: Arc<PrincipalAccess>,
        version: Option<i64>,
    ) {
        let mut state = self.write();
        if !state.valid(ticket) {
            return;
        }
        let time_to_live = self.time_to_live;
        state.inserts_since_sweep += 1;
        if state.inserts_since_sweep >= INSERTS_BETWEEN_SWEEPS {
            state.inserts_since_sweep = 0;
            let now = Instant::now();
            for entries in state.accounts.values_mut() {
                entries.users.retain(|_, cached| now.duration_since(cached.fetched_at) < time_to_live);
            }
            state.accounts.retain(|_, entries| !entries.users.is_empty());
            // The forgotten accounts' invalidation times go with them: no
            // ticket from before the sweep is trusted any more.
            state.floor = state.sequence;
        }
        let entries = state.accounts.entry(account_id).or_default();
        if entries.invalidated_at > ticket.sequence {
            return;
        }
        let access = entries.shared(access);
        let cached = CachedAccess { access, version, fetched_at: Instant::now(), refreshing: AtomicBool::new(false) };
        entries.users.insert(user_id, cached);
    }

    /// The directory confirmed, under `ticket`, that the account's access is
    /// still at `version`: the user's entry, if it is still of that version,
    /// lives a new time-to-live, unless an invalidation came since the
    /// ticket (which dropped it anyway) or the feed is down.
    fn extend(&self, ticket: FetchTicket, account_id: AccountId, user_id: UserId, version: i64) {
        let mut state = self.write();
        if !state.valid(ticket) {
            return;
        }
        let Some(entries) = state.accounts.get_mut(&account_id) else {
            return;
        };
        if entries.invalidated_at > ticket.sequence {
            return;
        }
        if let Some(cached) = entries.users.get_mut(&user_id).filter(|cached| cached.version == Some(version)) {
            cached.fetched_at = Instant::now();
            *cached.refreshing.get_mut() = false;
        }
    }

    /// The cached access, if younger than the time-to-live, and whether the
    /// caller should start refreshing it (past half its life, and nobody
    /// refreshing it yet).
    fn cached(&self, account_id: AccountId, user_id: UserId) -> Option<Hit> {
        let state = self.state.read().ok()?;
        if !state.trusted {
            return None;
        }
        let cached = state.accounts.get(&account_id)?.users.get(&user_id)?;
        let age = cached.fetched_at.elapsed();
        if age >= self.time_to_live {
            return None;
        }
        let refresh = age >= self.time_to_live / 2 && !cached.refreshing.swap(true, Ordering::AcqRel);
        Some(Hit { access: cached.access.clone(), refresh, version: cached.version })
    }

    /// Fetches the user's access again in the background and keeps it (under
    /// a ticket, like any fetch), so that a user validated steadily never
    /// waits for the directory when the entry would have expired; a
    /// directory slowed by a login storm then slows no validation (issue 6,
    /// scenario 3).
    ///
    /// `held` is the entry's version: the directory answers "unchanged"
    /// if it is still current, and the entry is extended.
    fn refresh_in_background(&self, account_id: AccountId, user_id: UserId, held: Option<i64>) {
        let Some(cache) = self.me.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            let ticket = cache.ticket();
            match cache.source.principal_access(account_id, user_id, held).await {
                Ok(Fetched::Current(fetched)) => {
                    cache.insert(ticket, account_id, user_id, Arc::new(fetched.access), fetched.version);
                }
                Ok(Fetched::Unchanged) => {
                    if let Some(held) = held {
                        cache.extend(ticket, account_id, user_id, held);
                    }
                }
                // Gone: the next validation asks the directory and hears so.
                Ok(Fetched::Gone) => cache.forget_user(account_id, user_id),
                // The entry stays until its time-to-live; then validation
                // asks the directory itself.
                Err(error) => tracing::debug!(%error, "refreshing a user's cached access failed"),
            }
        });
    }

    fn forget_user(&self, account_id: AccountId, user_id: UserId) {
        let mut state = self.write();
        if let Some(entries) = state.accounts.get_mut(&account_id) {
            entries.users.remove(&user_id);
        }
    }

    /// The user's access: cached, or fetched from the directory (and kept).
    /// `None` when the user or the account is gone. An entry past half its
    /// time-to-live is still answered, and refreshed in the background.
    pub async fn get(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Option<Arc<PrincipalAccess>>, DomainError> {
        if let Some(hit) = self.cached(account_id, user_id) {
            if hit.refresh {
                self.refresh_in_background(account_id, user_id, hit.version);
            }
            return Ok(Some(hit.access));
        }
        let ticket = self.ticket();
        match self.source.principal_access(account_id, user_id, None).await? {
            Fetched::Gone => Ok(None),
            Fetched::Unchanged => Err(DomainError::internal(
                "fetching a principal's access",
                "the directory answered unchanged to nothing held",
            )),
            Fetched::Current(fetched) => {
                let access = Arc::new(fetched.access);
                self.insert(ticket, account_id, user_id, access.clone(), fetched.version);
                Ok(Some(access))
            }
        }
    }

    /// The account's access changed (R38): every cached entry of it goes,
    /// and fetches in flight will not be kept.
    pub fn invalidate(&self, account_id: AccountId) {
        let mut state = self.write();
        state.sequence += 1;
        let sequence = state.sequence;
        let entries = state.accounts.entry(account_id).or_default();
        entries.invalidated_at = sequence;
        entries.users.clear();
        entries.distinct.clear();
    }

    /// Drops everything (messages may have been lost).
    pub fn clear(&self) {
        let mut state = self.write();
        state.epoch += 1;
        state.accounts.clear();
    }

    /// The feed is down: drop everything, keep nothing until [`Self::trust`].
    pub fn distrust(&self) {
        let mut state = self.write();
        state.trusted = false;
        state.epoch += 1;
        state.accounts.clear();
    }

    /// The feed is back: start caching again, from nothing.
    pub fn trust(&self) {
        let mut state = self.write();
        state.trusted = true;
        state.epoch += 1;
        state.accounts.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;

    /// Counts fetches; answers a fixed access (named after the fetch), or
    /// none, as of `version`; answers "unchanged" to a held version that is
    /// still `version`, as the directory does.
    #[derive(Debug, Default)]
    struct CountingSource {
        /// Whole answers given.
        fetches: AtomicUsize,
        /// The versions asked about, in order (`None`: nothing held).
        held: Mutex<Vec<Option<i64>>>,
        /// The account's access version.
        version: AtomicI64,
        gone: bool,
    }

    #[async_trait]
    impl AccessSource for CountingSource {
        async fn principal_access(
            &self,
            _account_id: AccountId,
            _user_id: UserId,
            held: Option<i64>,
        ) -> Result<Fetched, DomainError> {
            self.held.lock().unwrap().push(held);
            if self.gone {
                return Ok(Fetched::Gone);
            }
            let version = self.version.load(Ordering::SeqCst);
            if held == Some(version) {
                return Ok(Fetched::Unchanged);
            }
            let fetches = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            let access =
                PrincipalAccess { group_names: vec![format!("fetch {fetches}")], ..PrincipalAccess::default() };
            Ok(Fetched::Current(VersionedAccess { access, version: Some(version) }))
        }
    }

    impl CountingSource {
        fn asked(&self) -> Vec<Option<i64>> {
            self.held.lock().unwrap().clone()
        }
    }

    fn cache(source: &Arc<CountingSource>) -> Arc<AccessCache> {
        AccessCache::new(source.clone(), Duration::from_secs(60))
    }

    fn fetches(source: &CountingSource) -> usize {
        source.fetches.load(Ordering::SeqCst)
    }

    /// Waits, at most 2 s, until the source has been asked `times` times
    /// (a background refresh runs in a task of its own).
    async fn asked_times(source: &CountingSource, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while source.asked().len() < times && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_second_validation_is_answered_from_the_cache() {
        let source = Arc::new(CountingSource::default());
        let cache = cache(&source);
        let (account, user) = (AccountId::generate(), UserId::generate());
        let first = cache.get(account, user).await.unwrap().unwrap();
        let second = cache.get(account, user).await.unwrap().unwrap();
        assert_eq!(first, second);
        assert_eq!(fetches(&source), 1);
    }

    /// Users with equal access share one copy; a different answer is kept
    /// as it is; an invalidation forgets what was shared.
    #[test]
    fn users_with_equal_access_share_one_copy_of_it() {
        let cache = cache(&Arc::new(CountingSource::default()));
        let account = AccountId::generate();
        let users: Vec<UserId> = (0..3).map(|_| UserId::generate()).collect();
        let access =
            |group: &str| Arc::new(PrincipalAccess { group_names: vec![group.to_owned()], ..Default::default() });
        let held = |user: UserId| cache.cached(account, user).unwrap().access;
        cache.insert(cache.ticket(), account, users[0], access("staff"), None);
        cache.insert(cache.ticket(), account, users[1], access("staff"), None);
        cache.insert(cache.ticket(), account, users[2], access("managers"), None);
        assert!(Arc::ptr_eq(&held(users[0]), &held(users[1])), "equal answers share one copy");
        assert!(!Arc::ptr_eq(&held(users[0]), &held(users[2])));
        assert_eq!(held(users[2]).group_names, ["managers"]);
        let before = held(users[0]);
        cache.invalidate(account);
        cache.insert(cache.ticket(), account, users[0], access("staff"), None);
        assert!(!Arc::ptr_eq(&held(users[0]), &before), "nothing shared survives an invalidation");
    }

    #[tokio::test]
    async fn r38_an_invalidation_makes_the_next_validation_fetch_again() {
        let source = Arc::new(CountingSource::default());
        let cache = cache(&source);
        let (account, user) = (AccountId::generate(), UserId::generate());
        let other_account = AccountId::generate();
        cache.get(account, user).await.unwrap();
        cache.get(other_account, user).await.unwrap();
        cache.invalidate(account);
        let after = cache.get(account, user).await.unwrap().unwrap();
        assert_eq!(after.group_names, vec!["fetch 3".to_owned()]);
        // Other accounts keep their entries.
        cache.get(other_account, user).await.unwrap();
        assert_eq!(fetches(&source), 3);
    }

    #[test]
    fn r38_an_answer_fetched_across_an_invalidation_is_not_kept() {
        let source = Arc::new(CountingSource::default());
        let cache = cache(&source);
        let (account, user) = (AccountId::generate(), UserId::generate());
        let ticket = cache.ticket();
        cache.invalidate(account);
        cache.insert(ticket, account, user, Arc::new(PrincipalAccess::default()), Some(0));
        assert!(cache.cached(account, user).is_none());
        // Another account's answer from the same time is kept.
        let other_account = AccountId::generate();
        cache.insert(ticket, other_account, user, Arc::new(PrincipalAccess::default()), Some(0));
        assert!(cache.cached(other_account, user).is_some());
        // A ticket taken after the invalidation is kept.
        let ticket = cache.ticket();
        cache.insert(ticket, account, user, Arc::new(PrincipalAccess::default()), Some(0));
        assert!(cache.cached(account, user).is_some());
    }

    #[tokio::test]
    async fn nothing_is_kept_while_the_feed_is_down() {
        let source = Arc::new(CountingSource::default());
        let cache = cache(&source);
        let (account, user) = (AccountId::generate(), UserId::generate());
        cache.get(account, user).await.unwrap();
        cache.distrust();
        cache.get(account, user).await.unwrap();
        cache.get(account, user).await.unwrap();
        assert_eq!(fetches(&source), 3);
        cache.trust();
        cache.get(account, user).await.unwrap();
        cache.get(account, user).await.unwrap();
        assert_eq!(fetches(&source), 4);
    }

    #[test]
    fn a_ticket_from_before_a_clear_is_not_kept() {
        let source = Arc::new(CountingSource::default());
        let cache = cache(&source);
        let (account, user) = (AccountId::generate(), UserId::generate());
        let ticket = cache.ticket();
        cache.clear();
        cache.insert(ticket, account, user, Arc::new(PrincipalAccess::default()), Some(0));
        assert!(cache.cached(account, user).is_none());
    }

    #[tokio::test]
    async fn entries_age_out_after_their_time_to_live() {
        let source = Arc::new(CountingSource::default());
        let cache = AccessCache::new(source.clone(), Duration::ZERO);
        let (account, user) = (AccountId::generate(), UserId::generate());
        cache.get(account, user).await.unwrap();
        cache.get(account, user).await.unwrap();
        assert_eq!(fetches(&source), 2);
    }

    /// Past half its life, an entry still answers and is fetched again in
    /// the background, once, sending the version it is as of; a change
    /// whose notification never came (the version moved) brings the whole
    /// new answer.
    #[tokio::test]
    async fn past_half_its_life_an_entry_still_answers_and_is_refreshed_once_in_the_background() {
        let source = Arc::new(CountingSource::default());
        let cache = AccessCache::new(source.clone(), Duration::from_millis(400));
        let (account, user) = (AccountId::generate(), UserId::generate());
        let first = cache.get(account, user).await.unwrap().unwrap();
        assert_eq!(fetches(&source), 1);
        source.version.store(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(220)).await;

        // Past half of 400 ms: answered from the entry at once, several
        // times, with one refresh started behind.
        for _ in 0..3 {
            assert_eq!(cache.get(account, user).await.unwrap().unwrap(), first);
        }
        asked_times(&source, 2).await;
        assert_eq!(fetches(&source), 2, "exactly one background refresh");
        assert_eq!(source.asked(), [None, Some(0)], "the refresh sent the version the entry is as of");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refreshed = cache.get(account, user).await.unwrap().unwrap();
        assert_eq!(refreshed.group_names, vec!["fetch 2".to_owned()], "the refreshed answer is kept");
        assert_eq!(fetches(&source), 2, "and answered without another fetch");
    }

    /// Issue 6, scenario 3: when the account's access did not move, the
    /// refresh costs no whole answer, and the entry lives a new
    /// time-to-live.
    #[tokio::test]
    async fn a_refresh_answered_unchanged_keeps_the_entry_for_another_time_to_live() {
        let source = Arc::new(CountingSource::default());
        let cache = AccessCache::new(source.clone(), Duration::from_millis(400));
        let (account, user) = (AccountId::generate(), UserId::generate());
        let first = cache.get(account, user).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(220)).await;
        assert_eq!(cache.get(account, user).await.unwrap().unwrap(), first);
        asked_times(&source, 2).await;
        assert_eq!(source.asked(), [None, Some(0)]);
        // Past the first answer's time-to-live: still the entry, extended.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let later = cache.get(account, user).await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&later, &first), "the entry was kept, not fetched again");
        assert_eq!(fetches(&source), 1, "no whole answer since the first");
    }

    fn fetched_at(cache: &AccessCache, account: AccountId, user: UserId) -> Instant {
        cache.state.read().unwrap().accounts[&account].users[&user].fetched_at
    }

    /// An "unchanged" extends only an entry of the version it confirms, and
    /// only under a ticket no invalidation has passed (R38).
    #[test]
    fn an_unchanged_answer_extends_only_the_entry_of_its_version_under_a_valid_ticket() {
        let cache = cache(&Arc::new(CountingSource::default()));
        let (account, user) = (AccountId::generate(), UserId::generate());
        let access = Arc::new(PrincipalAccess::default());
        cache.insert(cache.ticket(), account, user, Arc::clone(&access), Some(3));
        let inserted = fetched_at(&cache, account, user);
        std::thread::sleep(Duration::from_millis(5));
        cache.extend(cache.ticket(), account, user, 4);
        assert_eq!(fetched_at(&cache, account, user), inserted, "another version confirms nothing");

        let before_invalidation = cache.ticket();
        cache.invalidate(account);
        cache.insert(cache.ticket(), account, user, Arc::clone(&access), Some(3));
        let inserted = fetched_at(&cache, account, user);
        std::thread::sleep(Duration::from_millis(5));
        cache.extend(before_invalidation, account, user, 3);
        assert_eq!(
            fetched_at(&cache, account, user),
            inserted,
            "a ticket from before an invalidation confirms nothing"
        );

        cache.extend(cache.ticket(), account, user, 3);
        assert!(fetched_at(&cache, account, user) > inserted, "a current ticket of the same version extends it");

        // An entry of unknown version is never extended.
        let other = UserId::generate();
        cache.insert(cache.ticket(), account, other, Arc::clone(&access), None);
        let inserted = fetched_at(&cache, account, other);
        std::thread::sleep(Duration::from_millis(5));
        cache.extend(cache.ticket(), account, other, 3);
        assert_eq!(fetched_at(&cache, account, other), inserted);
    }

    #[tokio::test]
    async fn a_user_that_is_gone_has_no_access_and_nothing_is_kept() {
        let source = Arc::new(CountingSource { gone: true, ..CountingSource::default() });
        let cache = cache(&source);
        let (account, user) = (AccountId::generate(), UserId::generate());
        assert!(cache.get(account, user).await.unwrap().is_none());
        assert!(cache.get(account, user).await.unwrap().is_none());
        assert_eq!(source.asked(), [None, None], "asked each time, nothing held");
    }
}
