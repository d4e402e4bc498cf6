//! What a user may do now (R16, R29, R40), as the session broker caches it
//! per user: groups, permissions per scope, data filters. One code path for
//! `GetPrincipalAccess` and the principal a login returns, so the broker
//! sees the same answer either way.

use std::collections::BTreeSet;
use std::sync::Arc;

use roster_domain::access::{GroupTree, PermissionsByScope, UserGrants};
use roster_domain::account::UserStatus;
use roster_domain::filters::DataFilters;
use roster_domain::ids::{AccountId, GroupId, UserId};
use roster_domain::names::DisplayName;
use roster_domain::users::UserProfile;
use roster_domain::{DomainError, ErrorCode};

use super::access_cache::Currency;
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
}

fn user_not_found() -> DomainError {
    DomainError::NotFound { entity: "user", reason: "USER_NOT_FOUND" }
}

/// The user's groups, named from the tree, each once however many scopes
/// hold it, in the order logins list them (by name key, then id).
fn groups_of(profile: &UserProfile, tree: &GroupTree) -> Vec<(GroupId, String)> {
    let ids: BTreeSet<GroupId> = profile.assignments.iter().map(|assignment| assignment.group_id).collect();
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
        // The account's catalog and group tree from the access cache: one
        // (shared) version read instead of reloading them for every login
        // and every access fetch of the broker (issue 6, scenarios 2 and 3);
        // as current as a fresh load (see `access_cache`).
        let snapshot = async {
            let account = self.access.account(&self.repository, account_id, Currency::Exact).await.map_err(
                |error| match error.code() {
                    ErrorCode::NotFound => user_not_found(),
                    _ => error,
                },
            )?;
            Ok::<_, DomainError>(Arc::clone(&account.snapshot))
        };
        let (snapshot, profile) = futures::try_join!(snapshot, self.repository.user_profile(account_id, user_id))?;
        let profile = profile.ok_or_else(user_not_found)?;
        let grants = UserGrants {
            is_owner: profile.user.is_owner,
            assignments: profile.assignments.iter().copied().collect(),
            overrides: profile.overrides.iter().cloned().collect(),
        };
        let blocked = profile.user.status == UserStatus::Blocked;
        Ok(PrincipalAccess {
            user_id,
            account_id,
            groups: groups_of(&profile, &snapshot.groups),
            is_owner: profile.user.is_owner,
            is_platform_operator: snapshot.account.is_platform,
            blocked,
            permissions: permissions_by_scope(&snapshot, &grants, blocked),
            data_filters: profile.data_filters,
        })
    }
}
