//! A per-replica cache of each account's access facts (issue 6): the access
//! snapshot (catalog and group tree, R21) and users' grants (R24, R28) and
//! blocked flags (R14), so that `CheckPermission` and every administrative
//! call cost one primary-key read instead of reloading the account's whole
//! group tree.
//!
//! Exactness rests on `accounts.access_version`
//! ([`roster_domain::repository::AccessRepository::access_version`]): every
//! write that can change these facts bumps it in its own transaction, on
//! whichever replica it runs. Each question reads the version first; an
//! entry is served only if it was filled under that same version, and
//! facts are always read after the version they are labelled with, so they
//! are never older than it. Nothing is pushed between replicas and nothing
//! waits for a time-to-live: a change committed before a question is seen
//! by it, as if there were no cache.
//!
//! Bounds: at most [`MAX_ACCOUNTS`] accounts and [`MAX_USERS_PER_ACCOUNT`]
//! users' grants per account (a full map is emptied, not grown); resolved
//! permissions are not kept (`resolve` is cheap next to their size).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use roster_domain::access::UserGrants;
use roster_domain::account::UserStatus;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::repository::{AccessSnapshot, DirectoryRepository};
use roster_domain::DomainError;

/// Accounts whose snapshot is kept.
pub const MAX_ACCOUNTS: usize = 1_024;
/// Users whose grants are kept, per account.
pub const MAX_USERS_PER_ACCOUNT: usize = 100_000;

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
}

/// The cache; cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct AccessCache {
    accounts: Arc<Mutex<HashMap<AccountId, Arc<CachedAccount>>>>,
    /// One snapshot load at a time: a version change under load costs one
    /// reload, not one per request in flight.
    loading: Arc<tokio::sync::Mutex<()>>,
}

fn account_not_found() -> DomainError {
    DomainError::NotFound { entity: "account", reason: "ACCOUNT_NOT_FOUND" }
}

impl AccessCache {
    fn current(&self, account_id: AccountId, version: i64) -> Option<Arc<CachedAccount>> {
        let accounts = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        accounts.get(&account_id).filter(|entry| entry.version == version).cloned()
    }

    fn keep(&self, account_id: AccountId, entry: Arc<CachedAccount>) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if accounts.get(&account_id).is_some_and(|kept| kept.version > entry.version) {
            return;
        }
        if accounts.len() >= MAX_ACCOUNTS && !accounts.contains_key(&account_id) {
            accounts.clear();
        }
        accounts.insert(account_id, entry);
    }

    /// The account's facts as of its current access version; `NotFound`
    /// (`ACCOUNT_NOT_FOUND`) for an unknown account.
    pub async fn account(
        &self,
        repository: &dyn DirectoryRepository,
        account_id: AccountId,
    ) -> Result<Arc<CachedAccount>, DomainError> {
        let version = repository.access_version(account_id).await?.ok_or_else(account_not_found)?;
        if let Some(entry) = self.current(account_id, version) {
            return Ok(entry);
        }
        let _loading = self.loading.lock().await;
        if let Some(entry) = self.current(account_id, version) {
            return Ok(entry);
        }
        let snapshot = repository.access_snapshot(account_id).await?;
        let entry = Arc::new(CachedAccount { version, snapshot: Arc::new(snapshot), users: Mutex::default() });
        self.keep(account_id, Arc::clone(&entry));
        Ok(entry)
    }
}

impl CachedAccount {
    /// A user's grants and blocked flag; `None` for a user not of this
    /// account.
    pub async fn user(
        &self,
        repository: &dyn DirectoryRepository,
        user_id: UserId,
    ) -> Result<Option<Arc<CachedUser>>, DomainError> {
        if let Some(user) = self.users.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&user_id) {
            return Ok(Some(Arc::clone(user)));
        }
        let account_id = self.snapshot.account.id;
        let (grants, user) =
            futures::try_join!(repository.user_grants(account_id, user_id), repository.find_user(account_id, user_id))?;
        let (Some(grants), Some(user)) = (grants, user) else { return Ok(None) };
        let cached = Arc::new(CachedUser { grants, blocked: user.status == UserStatus::Blocked });
        let mut users = self.users.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if users.len() >= MAX_USERS_PER_ACCOUNT {
            users.clear();
        }
        users.insert(user_id, Arc::clone(&cached));
        Ok(Some(cached))
    }
}
