//! Checks, inside a write transaction, that what a change refers to exists
//! in the same account: groups, stores and catalog permissions. The schema's
//! composite foreign keys hold the same facts; checking first gives the
//! caller a `NOT_FOUND` naming the missing thing instead of a bare
//! constraint failure.

use std::collections::{BTreeSet, HashMap};

use roster_domain::access::{OverrideEffect, PermissionOverride, RoleAssignment};
use roster_domain::ids::{GroupId, StoreId};
use roster_domain::presets::PermissionName;
use roster_domain::DomainError;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::entity::{groups, permissions, stores};
use crate::error::{failed, group_not_found, permission_not_found, store_not_found};

/// The names of `group_ids`, all groups of `account_id`; `NOT_FOUND`
/// (`GROUP_NOT_FOUND`) if one is not.
pub(crate) async fn groups_of_account(
    connection: &impl ConnectionTrait,
    account_id: &str,
    group_ids: impl IntoIterator<Item = GroupId>,
) -> Result<HashMap<GroupId, String>, DomainError> {
    let wanted: BTreeSet<GroupId> = group_ids.into_iter().collect();
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(String, String)> = groups::Entity::find()
        .select_only()
        .column(groups::Column::Id)
        .column(groups::Column::Name)
        .filter(groups::Column::AccountId.eq(account_id))
        .filter(groups::Column::Id.is_in(wanted.iter().map(ToString::to_string)))
        .into_tuple()
        .all(connection)
        .await
        .map_err(failed("checking groups"))?;
    let names: HashMap<String, String> = found.into_iter().collect();
    wanted
        .into_iter()
        .map(|group_id| {
            names.get(&group_id.to_string()).map(|name| (group_id, name.clone())).ok_or_else(group_not_found)
        })
        .collect()
}

/// `NOT_FOUND` (`STORE_NOT_FOUND`) unless every store is of `account_id`.
pub(crate) async fn check_stores_of_account(
    connection: &impl ConnectionTrait,
    account_id: &str,
    store_ids: impl IntoIterator<Item = StoreId>,
) -> Result<(), DomainError> {
    let wanted: BTreeSet<String> = store_ids.into_iter().map(|store_id| store_id.to_string()).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let found: Vec<String> = stores::Entity::find()
        .select_only()
        .column(stores::Column::Id)
        .filter(stores::Column::AccountId.eq(account_id))
        .filter(stores::Column::Id.is_in(wanted.iter().cloned()))
        .into_tuple()
        .all(connection)
        .await
        .map_err(failed("checking stores"))?;
    if found.len() != wanted.len() {
        return Err(store_not_found());
    }
    Ok(())
}

/// `NOT_FOUND` (`PERMISSION_NOT_FOUND`) unless every permission is in the
/// catalog; `FAILED_PRECONDITION` (R6, `OWNER_ONLY_PERMISSION`) when one of
/// `granted` is owner-only: those never pass through a group or override.
pub(crate) async fn check_permissions(
    connection: &impl ConnectionTrait,
    named: &BTreeSet<&PermissionName>,
    granted: &BTreeSet<&PermissionName>,
) -> Result<(), DomainError> {
    if named.is_empty() {
        return Ok(());
    }
    let found: Vec<(String, bool)> = permissions::Entity::find()
        .select_only()
        .column(permissions::Column::Name)
        .column(permissions::Column::OwnerOnly)
        .filter(permissions::Column::Name.is_in(named.iter().map(|name| name.as_str())))
        .into_tuple()
        .all(connection)
        .await
        .map_err(failed("checking permissions"))?;
    if found.len() != named.len() {
        return Err(permission_not_found());
    }
    if let Some((name, _)) =
        found.iter().find(|(name, owner_only)| *owner_only && granted.iter().any(|granted| granted.as_str() == name))
    {
        return Err(DomainError::FailedPrecondition {
            rule: "R6",
            reason: "OWNER_ONLY_PERMISSION",
            message: format!("{name} belongs to the account owner and cannot be granted"),
        });
    }
    Ok(())
}

/// Checks everything a user's assignments and overrides refer to; returns
/// the assigned groups' names.
pub(crate) async fn check_user_grants<'a>(
    connection: &impl ConnectionTrait,
    account_id: &str,
    assignments: impl IntoIterator<Item = &'a RoleAssignment>,
    overrides: impl IntoIterator<Item = &'a PermissionOverride>,
) -> Result<HashMap<GroupId, String>, DomainError> {
    let assignments: Vec<&RoleAssignment> = assignments.into_iter().collect();
    let overrides: Vec<&PermissionOverride> = overrides.into_iter().collect();
    let group_names =
        groups_of_account(connection, account_id, assignments.iter().map(|assignment| assignment.group_id)).await?;
    let scoped_stores = assignments
        .iter()
        .map(|assignment| assignment.scope)
        .chain(overrides.iter().map(|entry| entry.scope))
        .filter_map(|scope| scope.store());
    check_stores_of_account(connection, account_id, scoped_stores).await?;
    let named: BTreeSet<&PermissionName> = overrides.iter().map(|entry| &entry.permission).collect();
    let granted: BTreeSet<&PermissionName> =
        overrides.iter().filter(|entry| entry.effect == OverrideEffect::Grant).map(|entry| &entry.permission).collect();
    check_permissions(connection, &named, &granted).await?;
    Ok(group_names)
}
