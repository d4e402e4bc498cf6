//! What a user may do now (R16, R29, R40), as the session broker caches it
//! per user: groups, permissions per scope, data filters. One code path for
//! `GetPrincipalAccess` and the principal a login returns, so the broker
//! sees the same answer either way.

use std::collections::BTreeSet;
use std::sync::Arc;

use roster_domain::access::{GroupTree, PermissionsByScope, RoleAssignment};
use roster_domain::filters::DataFilters;
use roster_domain::ids::{AccountId, GroupId, UserId};
use roster_domain::names::DisplayName;
use roster_domain::repository::PrincipalFacts;
use roster_domain::{DomainError, ErrorCode};

use super::access_cache::{CachedAccount, Currency};
use super::authorization::permissions_by_scope;
use super::Directory;

/// One user's access, read from the directory's own database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalAccess {
    pub user_id: UserId,
    pub account_id: AccountId,
    /// Distinct groups of the user's assignments, in name order.
    pub groups: Vec<(GroupId, String)>,
    pub is_owner: bool,
    pub is_platform_operator: bool,
    /// R14: a blocked user holds nothing (their sessions are revoked too).
    pub blocked: bool,
    pub permissions: PermissionsByScope,
    pub data_filters: DataFilters,
    /// The account's access version this answer is as of: read before the
    /// user's facts, so they are never older than it (a later answer to a
    /// holder of this version may call it unchanged only if nothing moved).
    pub access_version: i64,
}

/// What a conditional fetch answers ([`Directory::principal_access_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessAnswer {
    /// The account's access has not changed since the version the caller
    /// holds: what it holds is still the user's access.
    Unchanged { access_version: i64 },
    /// The user's access now.
    Current(PrincipalAccess),
}

fn user_not_found() -> DomainError {
    DomainError::NotFound { entity: "user", reason: "USER_NOT_FOUND" }
}

/// The user's groups, named from the tree, each once however many scopes
/// hold it, in the order logins list them (by name key, then id).
fn groups_of(assignments: &[RoleAssignment], tree: &GroupTree) -> Vec<(GroupId, String)> {
    let ids: BTreeSet<GroupId> = assignments.iter().map(|assignment| assignment.group_id).collect();
    let mut groups: Vec<(String, GroupId, String)> = ids
        .into_iter()
        .filter_map(|group_id| tree.get(group_id).map(|node| (group_id, node.name.clone())))
        .map(|(group_id, name)| {
            let key = DisplayName::parse("name", &name).map_or_else(|_| name.to_lowercase(), |parsed| parsed.key());
            (key, group_id, name)
        })
        .collect();
    groups.sort();
    groups.into_iter().map(|(_, group_id, name)| (group_id, name)).collect()
}

impl Directory {
    /// R40: `user_id`'s access now. Callers are Roster's own services (the
    /// gRPC adapter requires the internal credential). `NotFound`
    /// (`USER_NOT_FOUND`) when the user or their account is gone.
    pub async fn principal_access(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<PrincipalAccess, DomainError> {
        // Taken before the facts' read, which reads the access version too:
        // one statement for what used to be a version read and a facts read
        // (issue 6, scenario 2), as exact, since that read starts after the
        // question arrived.
        let watch = self.access.watch(account_id);
        let facts = self.repository.principal_facts(account_id, user_id).await?.ok_or_else(user_not_found)?;
        let account = self
            .access
            .account_at(&self.repository, account_id, facts.access_version, watch)
            .await
            .map_err(account_gone)?;
        // Labelled with the version the facts were read at; the snapshot
        // was loaded after it.
        let snapshot = &account.snapshot;
        let PrincipalFacts { grants, blocked, data_filters, access_version } = facts;
        Ok(PrincipalAccess {
            user_id,
            account_id,
            groups: groups_of(&grants.assignments, &snapshot.groups),
            is_owner: grants.is_owner,
            is_platform_operator: snapshot.account.is_platform,
            blocked,
            permissions: permissions_by_scope(snapshot, &grants, blocked),
            data_filters,
            access_version,
        })
    }

    /// R40, conditionally: [`AccessAnswer::Unchanged`] when `held` (the
    /// `access_version` of an earlier answer) is still the account's access
    /// version, without reading the user's rows; the user's access otherwise
    /// (issue 6, scenario 3: the broker's refresh of its cached access, every
    /// half time-to-live per user, then costs one shared version read).
    ///
    /// Sound because every write that can change an answer (groups,
    /// assignments, overrides, data filters, a block or deletion, the owner,
    /// the billing level, the catalog) moves the version in its own
    /// transaction, and the version is always read before the facts it
    /// labels or in the same statement (so a label is never newer than its
    /// facts).
    pub async fn principal_access_since(
        &self,
        account_id: AccountId,
        user_id: UserId,
        held: Option<i64>,
    ) -> Result<AccessAnswer, DomainError> {
        if let Some(held) = held {
            let account = self.access_entry(account_id).await?;
            if held == account.version() {
                // Nothing moved since the holder's answer, whose facts were
                // read at or after this version: not even the user's
                // deletion, which moves it too.
                return Ok(AccessAnswer::Unchanged { access_version: held });
            }
        }
        self.principal_access(account_id, user_id).await.map(AccessAnswer::Current)
    }

    /// The account's catalog and group tree from the access cache: one
    /// (shared) version read instead of reloading them for every login and
    /// every access fetch of the broker (issue 6, scenarios 2 and 3); as
    /// current as a fresh load (see `access_cache`). An unknown account is
    /// `USER_NOT_FOUND`, as its users are.
    async fn access_entry(&self, account_id: AccountId) -> Result<Arc<CachedAccount>, DomainError> {
        self.access.account(&self.repository, account_id, Currency::Exact).await.map_err(account_gone)
    }
}

/// An unknown account is `USER_NOT_FOUND`, as its users are.
fn account_gone(error: DomainError) -> DomainError {
    match error.code() {
        ErrorCode::NotFound => user_not_found(),
        _ => error,
    }
}
