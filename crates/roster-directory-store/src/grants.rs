//! Role assignment and override rows (R24, R28): writing them, reading them
//! for many users at once, and how the audit log shows them.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use roster_domain::access::{PermissionOverride, RoleAssignment};
use roster_domain::ids::UserId;
use roster_domain::DomainError;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::convert::{assignment_from_row, override_from_row, user_id_from};
use crate::entity::{role_assignments, user_permission_overrides};
use crate::error::{failed_or_missing, user_not_found};

/// A role assignment row of `user_id` in `account_id`.
pub(crate) fn assignment_row(
    account_id: &str,
    user_id: &str,
    assignment: &RoleAssignment,
    now: DateTime<Utc>,
) -> role_assignments::ActiveModel {
    role_assignments::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        account_id: Set(account_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        group_id: Set(assignment.group_id.to_string()),
        store_id: Set(assignment.scope.store().map(|store_id| store_id.to_string())),
        scope_key: Set(assignment.scope.key()),
        created_at: Set(now),
    }
}

/// Inserts `assignments` for a user (foreign keys hold them to the account).
pub(crate) async fn insert_assignments(
    connection: &impl ConnectionTrait,
    account_id: &str,
    user_id: &str,
    assignments: &BTreeSet<RoleAssignment>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    if assignments.is_empty() {
        return Ok(());
    }
    let rows = assignments.iter().map(|assignment| assignment_row(account_id, user_id, assignment, now));
    role_assignments::Entity::insert_many(rows)
        .exec_without_returning(connection)
        .await
        .map_err(failed_or_missing("assigning roles", user_not_found))?;
    Ok(())
}

/// Replaces a user's overrides with `overrides`.
pub(crate) async fn replace_overrides(
    connection: &impl ConnectionTrait,
    user_id: &str,
    overrides: &BTreeSet<PermissionOverride>,
) -> Result<(), DomainError> {
    user_permission_overrides::Entity::delete_many()
        .filter(user_permission_overrides::Column::UserId.eq(user_id))
        .exec(connection)
        .await
        .map_err(failed_or_missing("removing overrides", user_not_found))?;
    insert_overrides(connection, user_id, overrides).await
}

/// Writes overrides of a user who has none yet (a new user).
pub(crate) async fn insert_overrides(
    connection: &impl ConnectionTrait,
    user_id: &str,
    overrides: &BTreeSet<PermissionOverride>,
) -> Result<(), DomainError> {
    if overrides.is_empty() {
        return Ok(());
    }
    let rows = overrides.iter().map(|entry| user_permission_overrides::ActiveModel {
        user_id: Set(user_id.to_owned()),
        permission_name: Set(entry.permission.as_str().to_owned()),
        effect: Set(entry.effect.as_str().to_owned()),
        scope_key: Set(entry.scope.key()),
    });
    user_permission_overrides::Entity::insert_many(rows)
        .exec_without_returning(connection)
        .await
        .map_err(failed_or_missing("writing overrides", user_not_found))?;
    Ok(())
}

/// Assignments and overrides of each of `user_ids`, two queries however
/// many users.
#[derive(Debug, Default)]
pub(crate) struct GrantsByUser {
    pub assignments: HashMap<UserId, BTreeSet<RoleAssignment>>,
    pub overrides: HashMap<UserId, BTreeSet<PermissionOverride>>,
}

/// Loads [`GrantsByUser`] for `user_ids`.
pub(crate) async fn load_grants(
    connection: &impl ConnectionTrait,
    user_ids: &[String],
) -> Result<GrantsByUser, DomainError> {
    let mut grants = GrantsByUser::default();
    if user_ids.is_empty() {
        return Ok(grants);
    }
    let assignment_rows = role_assignments::Entity::find()
        .filter(role_assignments::Column::UserId.is_in(user_ids.iter().cloned()))
        .order_by_asc(role_assignments::Column::Id)
        .all(connection)
        .await
        .map_err(crate::error::failed("loading role assignments"))?;
    for row in &assignment_rows {
        let user_id = user_id_from("role_assignments", "user_id", &row.user_id)?;
        grants.assignments.entry(user_id).or_default().insert(assignment_from_row(row)?);
    }
    let override_rows = user_permission_overrides::Entity::find()
        .filter(user_permission_overrides::Column::UserId.is_in(user_ids.iter().cloned()))
        .all(connection)
        .await
        .map_err(crate::error::failed("loading permission overrides"))?;
    for row in &override_rows {
        let user_id = user_id_from("user_permission_overrides", "user_id", &row.user_id)?;
        grants.overrides.entry(user_id).or_default().insert(override_from_row(row)?);
    }
    Ok(grants)
}

/// How the audit log shows an assignment.
pub(crate) fn assignment_json(assignment: &RoleAssignment, group_name: Option<&str>) -> Value {
    match group_name {
        Some(name) => json!({ "group_id": assignment.group_id, "group_name": name, "scope": assignment.scope.key() }),
        None => json!({ "group_id": assignment.group_id, "scope": assignment.scope.key() }),
    }
}

/// How the audit log shows a set of overrides.
pub(crate) fn overrides_json(overrides: &BTreeSet<PermissionOverride>) -> Value {
    Value::Array(
        overrides
            .iter()
            .map(|entry| {
                json!({ "permission": entry.permission.as_str(), "effect": entry.effect.as_str(), "scope": entry.scope.key() })
            })
            .collect(),
    )
}
