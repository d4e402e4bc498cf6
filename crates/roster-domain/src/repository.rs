//! Storage, as the domain needs it: small capability traits (lldap style)
//! combined into one [`DirectoryRepository`]. The SeaORM crate implements
//! them; services depend only on these traits.
//!
//! Every mutating method writes its audit event in the same transaction as
//! the change (R43): either both commit or neither does.

use async_trait::async_trait;

use crate::account::{Account, NewAccount, NewOwner, User};
use crate::audit::{AuditOutcome, RequestContext};
use crate::error::DomainError;
use crate::ids::{AccountId, GroupId, UserId};
use crate::names::{AccountKey, LoginName};
use crate::password::PasswordHash;
use crate::presets::Presets;

/// A group a user is assigned to, as the login check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembership {
    pub group_id: GroupId,
    pub name: String,
    pub is_template: bool,
}

/// Everything the credential check needs about one login.
#[derive(Debug, Clone)]
pub struct LoginCandidate {
    pub account: Account,
    pub user: User,
    pub password_hash: PasswordHash,
    /// Distinct groups of the user's role assignments.
    pub groups: Vec<GroupMembership>,
}

/// One login attempt, for the audit log and the invited → active transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    pub account_id: Option<AccountId>,
    pub user_id: Option<UserId>,
    /// The login name as offered (never the password).
    pub login_name: String,
    pub outcome: AuditOutcome,
    /// A stable reason for a failure (`WRONG_PASSWORD`, `USER_BLOCKED`, ...),
    /// recorded in the audit log only: the caller always hears
    /// `INVALID_CREDENTIALS`.
    pub reason: Option<&'static str>,
}

/// Accounts (tenants).
#[async_trait]
pub trait AccountRepository: Send + Sync {
    /// Sign-up (R2): the account, its owner (a user with the owner flag),
    /// the permission catalog entries and default groups of `presets`, the
    /// owner's account-wide assignment to `presets.owner_group`, and the
    /// `account.create` audit event, in one transaction. A taken slug is
    /// `AlreadyExists` on field `slug`.
    async fn create_account(
        &self,
        account: NewAccount,
        presets: &Presets,
        context: &RequestContext,
    ) -> Result<(Account, User), DomainError>;

    /// Looks an account up by id or slug.
    async fn find_account(&self, key: &AccountKey) -> Result<Option<Account>, DomainError>;

    /// One user of an account.
    async fn find_user(&self, account_id: AccountId, user_id: UserId) -> Result<Option<User>, DomainError>;
}

/// What logins need.
#[async_trait]
pub trait CredentialRepository: Send + Sync {
    /// The user behind `login` in `account` (by the login's normalised key),
    /// with password hash and groups; `None` when either does not exist.
    async fn find_login_candidate(
        &self,
        account: &AccountKey,
        login: &LoginName,
    ) -> Result<Option<LoginCandidate>, DomainError>;

    /// Records a login attempt (`session.login` audit event, R43); on success
    /// an `invited` user becomes `active` (R17), in the same transaction.
    async fn record_login(&self, attempt: &LoginAttempt, context: &RequestContext) -> Result<(), DomainError>;
}

/// The platform operators' account.
#[async_trait]
pub trait PlatformRepository: Send + Sync {
    /// Creates the platform account (slug `platform`) with `operator` as its
    /// owner, and the catalog of `presets`, unless it exists. Returns whether
    /// it was created now. Safe when several replicas start at once.
    async fn bootstrap_platform(&self, operator: NewOwner, presets: &Presets) -> Result<bool, DomainError>;
}

/// Liveness of the storage.
#[async_trait]
pub trait StorageHealth: Send + Sync {
    /// `Unavailable` when the database cannot be reached.
    async fn ping(&self) -> Result<(), DomainError>;
}

/// All of the directory's storage.
pub trait DirectoryRepository: AccountRepository + CredentialRepository + PlatformRepository + StorageHealth {}

impl<T> DirectoryRepository for T where T: AccountRepository + CredentialRepository + PlatformRepository + StorageHealth {}
