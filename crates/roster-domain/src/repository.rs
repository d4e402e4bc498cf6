//! Storage, as the domain needs it: small capability traits (lldap style)
//! combined into one [`DirectoryRepository`]. The SeaORM crate implements
//! them; services depend only on these traits.
//!
//! Every mutating method writes its audit event in the same transaction as
//! the change (R43): either both commit or neither does.

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use crate::access::{GroupTree, PermissionCatalog, RoleAssignment, UserGrants};
use crate::account::{Account, BillingLevel, NewAccount, NewOwner, User};
use crate::audit::{AuditOutcome, RequestContext};
use crate::error::{DomainError, FieldViolation};
use crate::freshness::AccessFreshness;
use crate::groups::{Group, GroupKey, GroupPatch, GroupWithCounts, NewGroup};
use crate::ids::{AccountId, AuditEventId, GroupId, SessionId, StoreId, UserId};
use crate::lifecycle::{InvitationRepository, MailOutbox, PasswordRepository};
use crate::lockout::{AttemptReservation, LockoutPolicy};
use crate::names::{AccountKey, DisplayName, LoginName};
use crate::network::IpAllowlist;
use crate::paging::{Page, PageRequest};
use crate::password::PasswordHash;
use crate::presets::{PermissionName, PermissionSpec, Presets};
use crate::stores::{NewStore, Store, StorePatch};
use crate::users::{NewUser, UserFilter, UserPatch, UserProfile};

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
    /// `None` while the user has no password yet (verified against the
    /// dummy hash, so the timing says nothing, R39).
    pub password_hash: Option<PasswordHash>,
    /// When the password was set: a temporary one (the user's
    /// `must_change_password`) stops working after the deployment's
    /// validity (R10, R42).
    pub password_set_at: Option<DateTime<Utc>>,
    /// Distinct groups of the user's role assignments.
    pub groups: Vec<GroupMembership>,
    /// R15: where the user may log in from.
    pub ip_allowlist: IpAllowlist,
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

    /// Every account's id, the platform's included, in id order (for a
    /// change that reaches every account, such as a new catalog entry).
    async fn list_account_ids(&self) -> Result<Vec<AccountId>, DomainError>;
}

/// What logins need.
#[async_trait]
pub trait CredentialRepository: Send + Sync {
    /// The user behind `login` in `account` (by the login's normalised key),
    /// with password hash and groups (each once, in the order of their
    /// names); `None` when either does not exist.
    async fn find_login_candidate(
        &self,
        account: &AccountKey,
        login: &LoginName,
    ) -> Result<Option<LoginCandidate>, DomainError>;

    /// Reserves one login attempt of a known user under `policy` (R39),
    /// atomically, so that parallel attempts each see the previous ones
    /// (see [`LockoutPolicy::reserve`]): a running lock answers `Locked`, or
    /// `Settling` while attempts that may still lift it are in flight;
    /// otherwise the attempt is counted as a failure before its password is
    /// checked, and the attempt reaching `policy.max_failures` locks the
    /// credential until `now + policy.lock_for`. An `Allowed` attempt must
    /// end in `record_login` with a success, or in
    /// [`release_login_attempt`](Self::release_login_attempt). `NotFound`
    /// (`USER_NOT_FOUND`) when the user is gone.
    async fn reserve_login_attempt(
        &self,
        account_id: AccountId,
        user_id: UserId,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> Result<AttemptReservation, DomainError>;

    /// An `Allowed` attempt ended without success (refused, wrong password,
    /// or an error): it stays counted and is no longer in flight. One
    /// atomic statement; a user that is gone is not an error.
    async fn release_login_attempt(&self, account_id: AccountId, user_id: UserId) -> Result<(), DomainError>;

    /// Records a login attempt (`session.login` audit event, R43); on success
    /// an `invited` user becomes `active` (R17) and the lockout count and
    /// lock are cleared (R39; the attempt is no longer in flight), in the
    /// same transaction.
    async fn record_login(&self, attempt: &LoginAttempt, context: &RequestContext) -> Result<(), DomainError>;

    /// R35: replaces the user's password hash with `upgraded` (the same
    /// password, stronger parameters) only while the stored hash is still
    /// `verified`, the one the login just checked: a password set meanwhile
    /// wins. Writes `user.password_rehash` (the parameters before and after,
    /// never a hash) in the same transaction. `false`, and nothing written,
    /// when the hash changed or the user is gone.
    async fn upgrade_password_hash(
        &self,
        account_id: AccountId,
        user_id: UserId,
        verified: &PasswordHash,
        upgraded: &PasswordHash,
        context: &RequestContext,
    ) -> Result<bool, DomainError>;
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

/// A partial update of an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub display_name: Option<DisplayName>,
    /// R30.
    pub billing_level: Option<BillingLevel>,
}

/// An ownership change (R3, R4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnershipTransfer {
    pub account_id: AccountId,
    /// The owner the caller saw; the transfer fails with
    /// `FAILED_PRECONDITION` (`OWNER_CHANGED`) if another change got there
    /// first, so two racing transfers cannot both win.
    pub expected_owner: UserId,
    pub new_owner: UserId,
    /// R4: the evidence reference of a forced change (ticket, document id);
    /// `None` for a voluntary transfer.
    pub evidence: Option<String>,
}

/// Administrative changes to accounts (R3, R4, R30).
#[async_trait]
pub trait AccountAdministration: Send + Sync {
    /// `account.update` audit event with before/after of changed fields.
    async fn update_account(
        &self,
        account_id: AccountId,
        patch: AccountPatch,
        context: &RequestContext,
    ) -> Result<Account, DomainError>;

    /// Moves ownership in one transaction, checking inside it that
    /// `expected_owner` is still the owner and that the new owner is an
    /// `active` user of the same account (`FAILED_PRECONDITION`, reason
    /// `NEW_OWNER_NOT_ACTIVE`, rule R3). The previous owner stays a regular
    /// user. Audit: `account.transfer_ownership`, or
    /// `account.force_transfer_ownership` with the evidence (R4).
    async fn transfer_ownership(
        &self,
        transfer: OwnershipTransfer,
        context: &RequestContext,
    ) -> Result<Account, DomainError>;
}

/// Everything authorization needs about one account, read together.
#[derive(Debug, Clone)]
pub struct AccessSnapshot {
    pub account: Account,
    pub catalog: PermissionCatalog,
    pub groups: GroupTree,
    /// The account's `Anonymous` group, if it has one (R34).
    pub anonymous_group: Option<GroupId>,
}

/// One user's access facts, as [`AccessRepository::all_user_access`]
/// answers them.
#[derive(Debug, Clone)]
pub struct UserAccessFacts {
    pub user_id: UserId,
    pub grants: UserGrants,
    /// R14: a blocked user holds nothing.
    pub blocked: bool,
}

/// What a user's access rests on besides the account's snapshot: their
/// grants, whether they are blocked (R14), and their data filters (R16),
/// with the account's access version read in the same snapshot
/// ([`AccessRepository::access_version`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalFacts {
    pub grants: UserGrants,
    pub blocked: bool,
    pub data_filters: crate::filters::DataFilters,
    /// The account's access version as of these facts: a label for them,
    /// and for a snapshot read after it, without reading the version
    /// again (issue 6, scenario 2: one statement fewer per login).
    pub access_version: i64,
}

/// Reads for authorization (hot path: keep them to a query or two).
#[async_trait]
pub trait AccessRepository: Send + Sync {
    /// `NotFound` (`ACCOUNT_NOT_FOUND`) for an unknown account.
    async fn access_snapshot(&self, account_id: AccountId) -> Result<AccessSnapshot, DomainError>;

    /// A user's owner flag, assignments and overrides; `None` for a user not
    /// of this account.
    async fn user_grants(&self, account_id: AccountId, user_id: UserId) -> Result<Option<UserGrants>, DomainError>;

    /// [`Self::user_grants`] with the blocked flag, the data filters and the
    /// account's access version, in one read (one statement, so one
    /// snapshot, on both backends): what a
    /// login and the broker's access fetch need of the
    /// user (issue 6, scenarios 2 and 3); `None` for a user not of this
    /// account.
    async fn principal_facts(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Option<PrincipalFacts>, DomainError>;

    /// A number that changes, in the same transaction, with every write
    /// that can change what [`Self::access_snapshot`] or
    /// [`Self::user_grants`] or [`Self::principal_facts`] answer for the account, or whether one of its
    /// users exists or is blocked; `None` for an unknown account. Facts read
    /// after reading version `v` are at least as new as `v`, so a cache that
    /// labels them `v` and serves them only while the version still reads
    /// `v` is never stale (one primary-key read per question, or fewer with
    /// [`Self::access_freshness`]).
    async fn access_version(&self, account_id: AccountId) -> Result<Option<i64>, DomainError>;

    /// Every user of the account with their grants and blocked flag, in
    /// one pass (a few queries, consistent with each other), for a cache
    /// that holds a whole account; `None` for an unknown account or one of
    /// more than `at_most` users (nothing of theirs is loaded then).
    async fn all_user_access(
        &self,
        account_id: AccountId,
        at_most: u64,
    ) -> Result<Option<Vec<UserAccessFacts>>, DomainError>;

    /// What this store hears of committed access changes without being
    /// asked ([`AccessFreshness`]), for a cache to skip
    /// [`Self::access_version`] while nothing changed; `None` when the
    /// backend cannot push changes (SQLite), and every question then reads
    /// the version. The first call starts listening.
    fn access_freshness(&self) -> Option<std::sync::Arc<AccessFreshness>> {
        None
    }
}

/// Users (R7–R17, R24, R28). Every mutation writes its audit event in the
/// same transaction, with before/after of the changed fields and never a
/// password or hash.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// `user.create` (or `user.copy` when `copied_from` is set). Taken login
    /// or email: `AlreadyExists` on `login_name` / `email` (reasons
    /// `LOGIN_NAME_TAKEN`, `EMAIL_TAKEN`). A group or store of another
    /// account: `NotFound` (`GROUP_NOT_FOUND`, `STORE_NOT_FOUND`). New users
    /// are `invited` until their first successful login (R17).
    async fn create_user(&self, user: NewUser, context: &RequestContext) -> Result<UserProfile, DomainError>;

    async fn user_profile(&self, account_id: AccountId, user_id: UserId) -> Result<Option<UserProfile>, DomainError>;

    /// Keyset pagination in id order (ids are time-ordered); the cursor is
    /// the last user id of the page.
    async fn list_users(
        &self,
        account_id: AccountId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserProfile>, DomainError>;

    /// `user.update`. `NotFound` (`USER_NOT_FOUND`) for a user not of this
    /// account; taken email `AlreadyExists` on `email`.
    async fn update_user(
        &self,
        account_id: AccountId,
        user_id: UserId,
        patch: UserPatch,
        context: &RequestContext,
    ) -> Result<UserProfile, DomainError>;

    /// `user.delete` (R8: the audit event keeps id and name). Deleting the
    /// owner is refused by the schema too (R1, R5): `FAILED_PRECONDITION`
    /// `OWNER_PROTECTED`.
    async fn delete_user(
        &self,
        account_id: AccountId,
        user_id: UserId,
        context: &RequestContext,
    ) -> Result<User, DomainError>;

    /// `user.block` / `user.unblock` (R14). Unblocking restores the status
    /// the user had (`active` if they ever logged in, else `invited`).
    async fn set_user_blocked(
        &self,
        account_id: AccountId,
        user_id: UserId,
        blocked: bool,
        context: &RequestContext,
    ) -> Result<User, DomainError>;

    /// `user.set_password` (R9, R10).
    async fn set_password(
        &self,
        account_id: AccountId,
        user_id: UserId,
        password_hash: PasswordHash,
        must_change: bool,
        context: &RequestContext,
    ) -> Result<User, DomainError>;

    /// `role.assign`; assigning what the user already has is a no-op
    /// returning `false` (and writes no event).
    async fn assign_role(
        &self,
        account_id: AccountId,
        user_id: UserId,
        assignment: RoleAssignment,
        context: &RequestContext,
    ) -> Result<bool, DomainError>;

    /// `role.unassign`; `false` (no event) when the user did not have it.
    async fn unassign_role(
        &self,
        account_id: AccountId,
        user_id: UserId,
        assignment: RoleAssignment,
        context: &RequestContext,
    ) -> Result<bool, DomainError>;
}

/// Groups (R21–R26).
#[async_trait]
pub trait GroupRepository: Send + Sync {
    /// `group.create`. Taken name (current or former, R25): `AlreadyExists`
    /// on `name` (`GROUP_NAME_TAKEN`).
    async fn create_group(&self, group: NewGroup, context: &RequestContext) -> Result<Group, DomainError>;

    /// By id, or by a current or former name (R25).
    async fn find_group(&self, account_id: AccountId, key: &GroupKey) -> Result<Option<Group>, DomainError>;

    /// Every group of the account with its member counts (R23).
    async fn list_groups(&self, account_id: AccountId) -> Result<Vec<GroupWithCounts>, DomainError>;

    /// `group.update`; a rename keeps the former name (R25). A parent that
    /// would close a cycle: `INVALID_ARGUMENT` on `parent_id`
    /// (`GROUP_CYCLE`), checked inside the transaction.
    async fn update_group(
        &self,
        account_id: AccountId,
        group_id: GroupId,
        patch: GroupPatch,
        context: &RequestContext,
    ) -> Result<Group, DomainError>;

    /// `group.delete`; refused while it has members or sub-groups
    /// (`FAILED_PRECONDITION`, `GROUP_IN_USE`), checked inside the
    /// transaction.
    async fn delete_group(
        &self,
        account_id: AccountId,
        group_id: GroupId,
        context: &RequestContext,
    ) -> Result<(), DomainError>;
}

/// Stores (R27).
#[async_trait]
pub trait StoreRepository: Send + Sync {
    /// `store.create`.
    async fn create_store(&self, store: NewStore, context: &RequestContext) -> Result<Store, DomainError>;

    async fn find_store(&self, account_id: AccountId, store_id: StoreId) -> Result<Option<Store>, DomainError>;

    /// Keyset pagination in id order.
    async fn list_stores(&self, account_id: AccountId, page: &PageRequest) -> Result<Page<Store>, DomainError>;

    /// `store.update`.
    async fn update_store(
        &self,
        account_id: AccountId,
        store_id: StoreId,
        patch: StorePatch,
        context: &RequestContext,
    ) -> Result<Store, DomainError>;

    /// `store.delete`; the role assignments and overrides scoped to it go
    /// with it, in the same transaction.
    async fn delete_store(
        &self,
        account_id: AccountId,
        store_id: StoreId,
        context: &RequestContext,
    ) -> Result<(), DomainError>;
}

/// The permission catalog (R20).
#[async_trait]
pub trait PermissionRepository: Send + Sync {
    /// Adds new permissions and updates descriptions of existing ones
    /// (`permission.register`, one event per call). Changing the scope level,
    /// billing or owner-only flag of an existing permission is refused
    /// (`FAILED_PRECONDITION`, `PERMISSION_REDEFINED`). Returns the names
    /// added now, sorted (a new entry changes what owners, and groups that
    /// named it already, hold; a reworded one changes nobody's access).
    async fn register_permissions(
        &self,
        permissions: Vec<PermissionSpec>,
        registered_by: &str,
        context: &RequestContext,
    ) -> Result<Vec<PermissionName>, DomainError>;

    async fn list_permissions(&self) -> Result<Vec<PermissionSpec>, DomainError>;
}

/// One stored audit event (R43).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub account_id: Option<AccountId>,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<UserId>,
    pub actor_name: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub target_name: Option<String>,
    pub changes: serde_json::Value,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub trace_id: Option<String>,
    pub outcome: AuditOutcome,
    pub reason: Option<String>,
}

/// `ListAuditEvents` filters (R44); all present ones must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor_id: Option<UserId>,
    /// Exact action (`user.delete`).
    pub action: Option<String>,
    pub target_id: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

/// A denied administrative call, to be audited (R43).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedCall {
    pub account_id: Option<AccountId>,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<String>,
    pub reason: &'static str,
}

/// The action of a session audit event: `session.` and a lowercase name
/// (`session.replaced`, `session.revoke`, `session.list`), so the broker can
/// only ever write events about sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuditAction(String);

impl SessionAuditAction {
    /// A newer login of the same credential evicted the session (R36).
    pub const REPLACED: &'static str = "session.replaced";
    /// An administrator or the directory ended sessions (R38).
    pub const REVOKE: &'static str = "session.revoke";
    const MAX_LEN: usize = 64;

    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let text = text.trim();
        let name_ok = text.strip_prefix("session.").is_some_and(|name| {
            !name.is_empty()
                && name.split('.').all(|part| {
                    !part.is_empty() && part.chars().all(|character| character.is_ascii_lowercase() || character == '_')
                })
        });
        if !name_ok || text.len() > Self::MAX_LEN {
            return Err(FieldViolation::new(
                field,
                "must be session.<name> in lowercase (session.replaced, session.revoke, ...), at most 64 characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the session broker did to a session, or refused to do (R36, R38,
/// R43), to be audited as an event on the session (`target_type`
/// `session`, target id the session id, target name the user's login name
/// while the user exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAuditEvent {
    /// `None` only for a refusal that concerned no account.
    pub account_id: Option<AccountId>,
    pub action: SessionAuditAction,
    /// The user whose session it is.
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    /// `Success` or `Denied`.
    pub outcome: AuditOutcome,
    /// Why (`replaced by a newer login`, `user_blocked`, a denial reason).
    pub reason: Option<String>,
    /// For an eviction: the session that replaced this one.
    pub replaced_by_session_id: Option<SessionId>,
    /// Who acted (none for the broker itself), and the end user's address,
    /// agent and trace, as the broker saw them.
    pub context: RequestContext,
    /// When the broker acted; `None`: now.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// The audit log: append-only (R44).
#[async_trait]
pub trait AuditRepository: Send + Sync {
    /// Writes a `denied` event.
    async fn record_denied(&self, denied: &DeniedCall, context: &RequestContext) -> Result<(), DomainError>;

    /// Writes one event per session event, all in one transaction (R43):
    /// changes `{"user_id": .., "replaced_by_session_id": ..}`.
    async fn record_session_events(
        &self,
        events: &[SessionAuditEvent],
        mails: &[(AccountId, crate::mail::OutgoingMail)],
    ) -> Result<(), DomainError>;

    /// Newest first; keyset pagination on id (the cursor is the last event
    /// id of the page). `account_id = None` lists platform-wide (operators).
    async fn list_audit_events(
        &self,
        account_id: Option<AccountId>,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, DomainError>;
}

/// All of the directory's storage.
pub trait DirectoryRepository:
    AccountRepository
    + AccountAdministration
    + CredentialRepository
    + PlatformRepository
    + AccessRepository
    + UserRepository
    + GroupRepository
    + StoreRepository
    + PermissionRepository
    + AuditRepository
    + InvitationRepository
    + PasswordRepository
    + MailOutbox
    + StorageHealth
{
}

impl<T> DirectoryRepository for T where
    T: AccountRepository
        + AccountAdministration
        + CredentialRepository
        + PlatformRepository
        + AccessRepository
        + UserRepository
        + GroupRepository
        + StoreRepository
        + PermissionRepository
        + AuditRepository
        + InvitationRepository
        + PasswordRepository
        + MailOutbox
        + StorageHealth
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r43_session_audit_actions_are_about_sessions_only() {
        for action in ["session.replaced", "session.revoke", "session.list", "session.watch_events", " session.list "] {
            assert_eq!(SessionAuditAction::parse("action", action).unwrap().as_str(), action.trim());
        }
        for action in ["", "session.", "session", "user.delete", "Session.list", "session..x", "session.list!"] {
            let violation = SessionAuditAction::parse("events[0].action", action).unwrap_err();
            assert_eq!(violation.field, "events[0].action", "{action:?}");
        }
        let long = format!("session.{}", "a".repeat(60));
        assert!(SessionAuditAction::parse("action", &long).is_err());
    }
}
