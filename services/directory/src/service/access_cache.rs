//! A per-replica cache of each account's access facts (issue 6): the access
//! snapshot (catalog and group tree, R21) and users' grants (R24, R28) and
//! blocked flags (R14), so that `CheckPermission` and every administrative
//! call cost at most one primary-key read instead of reloading the
//! account's whole group tree.
//!
//! Exactness rests on `accounts.access_version`
//! ([`roster_domain::repository::AccessRepository::access_version`]): every
//! write that can change these facts bumps it in its own transaction, on
//! whichever replica it runs. An entry is served only if it was filled under
//! the version last read, and facts are always read after the version they
//! are labelled with (or in the same statement, as a login's are:
//! [`AccessCache::account_at`]), so they are never older than it.
//!
//! When is the version read?
//! - On SQLite (one process), and on PostgreSQL whenever the store is not
//!   listening for changes: by every question. A question then waits for
//!   the next read of the version that *starts after it arrived*; every
//!   question that arrived while one read was in flight shares the read
//!   that follows it ([`VersionReads`]). Such a read sees every commit made
//!   before the question, so a change committed before a question is seen
//!   by it, as if there were no cache.
//! - On PostgreSQL, while the store listens: every bump is notified at
//!   commit ([`AccessFreshness`]), and an entry confirmed by a version read
//!   is served without reading again until a change of the account (or of
//!   the catalog) is heard, this replica starts a write of the account, or
//!   the listener loses its connection. A change made through this replica
//!   is therefore seen by every question that starts after it returns, as
//!   before; one made through another replica is seen once its
//!   notification arrives, normally milliseconds after its commit (R38
//!   bounds gateways at one second). This is what lets a warm question cost
//!   no database round trip at all.
//!
//! Users' facts are fetched one user at a time on a miss. An account whose
//! entry misses [`FILL_AFTER_MISSES`] times (a gateway asking about many
//! users) is then filled whole in the background, in one pass
//! ([`roster_domain::repository::AccessRepository::all_user_access`], at most [`FILL_AT_MOST`] users;
//! one fill at a time per replica), so that its questions stop costing a
//! round trip each. The fill's facts are read after the entry's version,
//! as every fetch is, so the entry stays exact. A new version starts a new
//! entry, empty again.
//!
//! Bounds: at most [`MAX_ACCOUNTS`] accounts and [`MAX_USERS_PER_ACCOUNT`]
//! users' grants per account (a full map is emptied, not grown); resolved
//! permissions are not kept (`resolve` is cheap next to their size).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::watch;

use roster_domain::access::UserGrants;
use roster_domain::freshness::{AccessFreshness, Watch};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::repository::{AccessSnapshot, DirectoryRepository};
use roster_domain::DomainError;

/// Accounts whose snapshot is kept.
pub const MAX_ACCOUNTS: usize = 1_024;
/// Users whose grants are kept, per account.
pub const MAX_USERS_PER_ACCOUNT: usize = 250_000;
/// Misses of one entry after which the whole account is loaded.
pub const FILL_AFTER_MISSES: usize = 1_000;
/// Accounts of more users than this are never loaded whole (a filled map
/// leaves room for users added after the fill).
pub const FILL_AT_MOST: u64 = 200_000;

/// One user's access facts.
#[derive(Debug)]
pub struct CachedUser {
    pub grants: UserGrants,
    pub blocked: bool,
}

/// One account's access facts as of one access version.
#[derive(Debug)]
pub struct CachedAccount {
    version: i64,
    pub snapshot: Arc<AccessSnapshot>,
    users: Mutex<HashMap<UserId, Arc<CachedUser>>>,
    /// Users fetched one at a time since the entry was made.
    misses: AtomicUsize,
    fill_after: usize,
    /// One fill at a time per replica.
    fills: Arc<tokio::sync::Semaphore>,
}

/// What one version read answered, shared by every question it serves.
type VersionRead = Result<Option<i64>, Arc<DomainError>>;

/// One account's version reads: at most one in flight, and at most one
/// batch of questions waiting for the next.
#[derive(Debug, Default)]
struct VersionReads {
    /// The batch waiting for a read that has not started yet; joining it is
    /// safe, since its read will start after the joiner arrived.
    next: Mutex<Option<watch::Receiver<Option<VersionRead>>>>,
    /// Held for the whole of a read.
    reading: tokio::sync::Mutex<()>,
}

impl VersionReads {
    /// The answer of a read (`start()`) that starts after this call began:
    /// the batch waiting for the next read is joined, or a new one opened.
    /// The read runs in a task of its own, so a question that is cancelled
    /// does not strand the others waiting on its read.
    async fn read<Start>(self: &Arc<Self>, start: Start) -> Result<Option<i64>, DomainError>
    where
        Start: FnOnce() -> BoxFuture<'static, Result<Option<i64>, DomainError>> + Send + 'static,
    {
        let mut answer = {
            let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match next.as_ref() {
                Some(batch) => batch.clone(),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    *next = Some(receiver.clone());
                    let reads = Arc::clone(self);
                    tokio::spawn(async move {
                        let _reading = reads.reading.lock().await;
                        // From here on, newcomers wait for the read after this one.
                        reads.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
                        let read = start().await.map_err(Arc::new);
                        sender.send_replace(Some(read));
                    });
                    receiver
                }
            }
        };
        let read = answer
            .wait_for(Option::is_some)
            .await
            .map_err(|_| DomainError::internal("reading the access version", "the version read was dropped"))?
            .clone();
        match read {
            Some(read) => read.map_err(shared_error),
            None => Err(DomainError::internal("reading the access version", "no answer")),
        }
    }
}

/// How current an answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Currency {
    /// Every change committed before the question, through any replica: a
    /// version read that starts after the question arrived (shared). For
    /// administrative calls, and the access the broker caches (R38).
    Exact,
    /// Every change made through this replica before the question; another
    /// replica's once its notification is heard (PostgreSQL), and until
    /// then no database round trip. For `CheckPermission` and
    /// `GetEffectivePermissions`, asked on every request of a gateway or
    /// service. Without notifications (SQLite, a lost listener), as
    /// [`Currency::Exact`].
    Heard,
}

/// An account's entry, and what had been heard of the account's changes
/// before the version read that last confirmed it (`None`: not trusted
/// without reading the version again).
#[derive(Debug)]
struct Kept {
    entry: Arc<CachedAccount>,
    trusted: Option<Watch>,
}

/// The cache; cloning shares it.
#[derive(Debug, Clone)]
pub struct AccessCache {
    accounts: Arc<Mutex<HashMap<AccountId, Kept>>>,
    /// What the store hears of committed changes (PostgreSQL); `None`: every
    /// question reads the version.
    freshness: Option<Arc<AccessFreshness>>,
    /// Coalesced reads of each account's access version.
    versions: Arc<Mutex<HashMap<AccountId, Arc<VersionReads>>>>,
    /// One snapshot load at a time: a version change under load costs one
    /// reload, not one per request in flight.
    loading: Arc<tokio::sync::Mutex<()>>,
    /// Misses after which an entry is filled whole.
    fill_after: usize,
    fills: Arc<tokio::sync::Semaphore>,
}

/// A failed version read, for each question it served: unavailable stays
/// unavailable (the caller may retry); anything else is internal. The cause
/// is kept for the logs.
fn shared_error(error: Arc<DomainError>) -> DomainError {
    let dependency = match &*error {
        DomainError::Unavailable { dependency, .. } => Some(*dependency),
        _ => None,
    };
    match dependency {
        Some(dependency) => DomainError::unavailable(dependency, error),
        None => DomainError::internal("reading the access version", error),
    }
}

fn account_not_found() -> DomainError {
    DomainError::NotFound { entity: "account", reason: "ACCOUNT_NOT_FOUND" }
}

impl Default for AccessCache {
    fn default() -> Self {
        Self {
            accounts: Arc::default(),
            freshness: None,
            versions: Arc::default(),
            loading: Arc::default(),
            fill_after: FILL_AFTER_MISSES,
            fills: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }
}

impl AccessCache {
    /// The same cache, filling an account whole after `misses` misses.
    pub fn filling_after(mut self, misses: usize) -> Self {
        self.fill_after = misses;
        self
    }

    /// A cache that trusts what it holds, without reading the version, for
    /// as long as `freshness` has heard nothing of the account (see the
    /// module's documentation); with `None`, every question reads it.
    pub fn new(freshness: Option<Arc<AccessFreshness>>) -> Self {
        Self { freshness, ..Self::default() }
    }

    /// The account's entry, when what has been heard since it was last
    /// confirmed says it is still current.
    fn trusted(&self, account_id: AccountId) -> Option<Arc<CachedAccount>> {
        let freshness = self.freshness.as_ref()?;
        let (entry, watch) = {
            let accounts = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let kept = accounts.get(&account_id)?;
            (Arc::clone(&kept.entry), kept.trusted?)
        };
        freshness.unchanged_since(account_id, watch).then_some(entry)
    }

    /// The entry of `version`, now trusted from `watch` on (taken before
    /// the read of `version` started).
    fn current(&self, account_id: AccountId, version: i64, watch: Option<Watch>) -> Option<Arc<CachedAccount>> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let kept = accounts.get_mut(&account_id).filter(|kept| kept.entry.version == version)?;
        if watch.is_some() {
            kept.trusted = watch;
        }
        Some(Arc::clone(&kept.entry))
    }

    fn keep(&self, account_id: AccountId, entry: Arc<CachedAccount>, watch: Option<Watch>) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if accounts.get(&account_id).is_some_and(|kept| kept.entry.version > entry.version) {
            return;
        }
        if accounts.len() >= MAX_ACCOUNTS && !accounts.contains_key(&account_id) {
            accounts.clear();
        }
        accounts.insert(account_id, Kept { entry, trusted: watch });
    }

    fn version_reads(&self, account_id: AccountId) -> Arc<VersionReads> {
        let mut versions = self.versions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if versions.len() >= MAX_ACCOUNTS && !versions.contains_key(&account_id) {
            // Reads in flight finish on their own; the next ones start anew.
            versions.clear();
        }
        Arc::clone(versions.entry(account_id).or_default())
    }

    /// The account's access version as read by a read that started after
    /// this call began (see the module's documentation); `None` for an
    /// unknown account.
    async fn access_version(
        &self,
        repository: &Arc<dyn DirectoryRepository>,
        account_id: AccountId,
    ) -> Result<Option<i64>, DomainError> {
        let repository = Arc::clone(repository);
        self.version_reads(account_id)
            .read(move || async move { repository.access_version(account_id).await }.boxed())
            .await
    }

    /// The account's facts as current as `currency` asks; `NotFound`
    /// (`ACCOUNT_NOT_FOUND`) for an unknown account.
    pub async fn account(
        &self,
        repository: &Arc<dyn DirectoryRepository>,
        account_id: AccountId,
        currency: Currency,
    ) -> Result<Arc<CachedAccount>, DomainError> {
        if currency == Currency::Heard {
            if let Some(entry) = self.trusted(account_id) {
                return Ok(entry);
            }
        }
        // Taken before the read starts: whatever commits after it is heard.
        let watch = self.watch(account_id);
        let version = self.access_version(repository, account_id).await?.ok_or_else(account_not_found)?;
        self.account_at(repository, account_id, version, watch).await
    }

    /// What has been heard of the account so far, to take before a read of
    /// its access version (as [`Self::account_at`] asks); `None` without
    /// notifications.
    pub fn watch(&self, account_id: AccountId) -> Option<Watch> {
        self.freshness.as_ref().and_then(|freshness| freshness.watch(account_id))
    }

    /// The entry of `version`, an access version the caller read after
    /// taking `watch` ([`Self::watch`]), for instance in the same statement
    /// as a user's facts (`PrincipalFacts::access_version`): as exact as
    /// [`Currency::Exact`] when that read started after the question
    /// arrived, without a version read of its own. The snapshot is loaded
    /// (after `version` was read, so at least as new) when no entry of
    /// `version` is held.
    pub async fn account_at(
        &self,
        repository: &Arc<dyn DirectoryRepository>,
        account_id: AccountId,
        version: i64,
        watch: Option<Watch>,
    ) -> Result<Arc<CachedAccount>, DomainError> {
        if let Some(entry) = self.current(account_id, version, watch) {
            return Ok(entry);
        }
        let _loading = self.loading.lock().await;
        if let Some(entry) = self.current(account_id, version, watch) {
            return Ok(entry);
        }
        let snapshot = repository.access_snapshot(account_id).await?;
        let entry = Arc::new(CachedAccount {
            version,
            snapshot: Arc::new(snapshot),
            users: Mutex::default(),
            misses: AtomicUsize::new(0),
            fill_after: self.fill_after,
            fills: Arc::clone(&self.fills),
        });
        self.keep(account_id, Arc::clone(&entry), watch);
        Ok(entry)
    }
}

impl CachedAccount {
    /// The access version these facts are as of.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// A user's grants and blocked flag; `None` for a user not of this
    /// account.
    pub async fn user(
        self: &Arc<Self>,
        repository: &Arc<dyn DirectoryRepository>,
        user_id: UserId,
    ) -> Result<Option<Arc<CachedUser>>, DomainError> {
        if let Some(user) = self.users.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&user_id) {
            return Ok(Some(Arc::clone(user)));
        }
        if self.misses.fetch_add(1, Ordering::Relaxed) + 1 == self.fill_after {
            self.fill(repository);
        }
        let account_id = self.snapshot.account.id;
        let Some(facts) = repository.principal_facts(account_id, user_id).await? else { return Ok(None) };
        let cached = Arc::new(CachedUser { grants: facts.grants, blocked: facts.blocked });
        let mut users = self.users.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if users.len() >= MAX_USERS_PER_ACCOUNT {
            users.clear();
        }
        users.insert(user_id, Arc::clone(&cached));
        Ok(Some(cached))
    }

    /// How many users' facts are held.
    pub fn users_held(&self) -> usize {
        self.users.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Loads every user of the account in the background (see the module's
    /// documentation); given up if the entry is dropped (a newer version)
    /// before its turn.
    fn fill(self: &Arc<Self>, repository: &Arc<dyn DirectoryRepository>) {
        let (entry, repository, fills) = (Arc::downgrade(self), Arc::clone(repository), Arc::clone(&self.fills));
        let account_id = self.snapshot.account.id;
        tokio::spawn(async move {
            let Ok(_turn) = fills.acquire().await else { return };
            if entry.strong_count() == 0 {
                return;
            }
            let all = match repository.all_user_access(account_id, FILL_AT_MOST).await {
                Ok(Some(all)) => all,
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(account.id = %account_id, error = %error, "loading every user's access failed; users are fetched one at a time");
                    return;
                }
            };
            let Some(entry) = entry.upgrade() else { return };
            let mut filled: HashMap<UserId, Arc<CachedUser>> = all
                .into_iter()
                .map(|facts| (facts.user_id, Arc::new(CachedUser { grants: facts.grants, blocked: facts.blocked })))
                .collect();
            let mut users = entry.users.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Users fetched meanwhile are as current; they stay.
            filled.extend(users.drain());
            *users = filled;
            tracing::debug!(account.id = %account_id, users = users.len(), "filled an account's access");
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    /// Reads whose answers the test hands out one at a time.
    #[derive(Default)]
    struct Gated {
        started: AtomicUsize,
        gates: Mutex<Vec<oneshot::Sender<Result<Option<i64>, DomainError>>>>,
    }

    impl Gated {
        fn start(self: &Arc<Self>) -> impl FnOnce() -> BoxFuture<'static, Result<Option<i64>, DomainError>> {
            let gated = Arc::clone(self);
            move || {
                let (sender, receiver) = oneshot::channel();
                gated.gates.lock().unwrap().push(sender);
                gated.started.fetch_add(1, Ordering::SeqCst);
                async move { receiver.await.unwrap_or(Ok(None)) }.boxed()
            }
        }

        async fn wait_for_reads(&self, count: usize) {
            while self.started.load(Ordering::SeqCst) < count {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        fn answer(&self, read: Result<Option<i64>, DomainError>) {
            let gate = self.gates.lock().unwrap().remove(0);
            gate.send(read).ok();
        }
    }

    fn ask(reads: &Arc<VersionReads>, gated: &Arc<Gated>) -> tokio::task::JoinHandle<Result<Option<i64>, DomainError>> {
        let (reads, start) = (Arc::clone(reads), gated.start());
        tokio::spawn(async move { reads.read(start).await })
    }

    /// Yields until spawned questions have joined their batch.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn questions_arriving_during_a_read_share_the_next_read_not_that_one() {
        let (reads, gated) = (Arc::new(VersionReads::default()), Arc::new(Gated::default()));
        let first = ask(&reads, &gated);
        gated.wait_for_reads(1).await;
        // These arrive while the first read is in flight: a change committed
        // just before them may be missing from it, so they wait for the next.
        let later: Vec<_> = (0..5).map(|_| ask(&reads, &gated)).collect();
        settle().await;
        assert_eq!(gated.started.load(Ordering::SeqCst), 1, "one read at a time per account");
        gated.answer(Ok(Some(1)));
        assert_eq!(first.await.unwrap().unwrap(), Some(1));
        gated.wait_for_reads(2).await;
        gated.answer(Ok(Some(2)));
        for question in later {
            assert_eq!(question.await.unwrap().unwrap(), Some(2));
        }
        assert_eq!(gated.started.load(Ordering::SeqCst), 2, "five questions, one read");
    }

    #[tokio::test]
    async fn a_failed_read_fails_every_question_it_serves_and_the_next_read_starts_afresh() {
        let (reads, gated) = (Arc::new(VersionReads::default()), Arc::new(Gated::default()));
        let first = ask(&reads, &gated);
        gated.wait_for_reads(1).await;
        gated.answer(Ok(Some(1)));
        first.await.unwrap().unwrap();
        let questions: Vec<_> = (0..3).map(|_| ask(&reads, &gated)).collect();
        gated.wait_for_reads(2).await;
        settle().await;
        gated.answer(Err(DomainError::unavailable("database", "connection refused")));
        for question in questions {
            let error = question.await.unwrap().unwrap_err();
            assert_eq!(error.code(), roster_domain::ErrorCode::Unavailable);
        }
        let after = ask(&reads, &gated);
        gated.wait_for_reads(3).await;
        gated.answer(Ok(Some(4)));
        assert_eq!(after.await.unwrap().unwrap(), Some(4));
    }

    #[tokio::test]
    async fn a_cancelled_question_does_not_strand_the_others_on_its_read() {
        let (reads, gated) = (Arc::new(VersionReads::default()), Arc::new(Gated::default()));
        let opener = ask(&reads, &gated);
        let joiner = ask(&reads, &gated);
        gated.wait_for_reads(1).await;
        opener.abort();
        gated.answer(Ok(Some(7)));
        assert_eq!(joiner.await.unwrap().unwrap(), Some(7));
    }
}
