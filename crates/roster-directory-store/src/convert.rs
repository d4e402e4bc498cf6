//! Rows to domain types and back, by hand, in one place. A stored value that
//! no longer parses is an internal error naming the column, never a panic.

use std::collections::BTreeSet;

use chrono::{DateTime, SubsecRound, Utc};
use roster_domain::access::{OverrideEffect, PermissionOverride, RoleAssignment, Scope};
use roster_domain::account::{Account, BillingLevel, User, UserStatus};
use roster_domain::audit::AuditOutcome;
use roster_domain::filters::DataFilters;
use roster_domain::groups::{BadgeColour, Group};
use roster_domain::ids::{AccountId, AuditEventId, GroupId, StoreId, UserId};
use roster_domain::names::{AccountSlug, DisplayName, EmailAddress, LoginName};
use roster_domain::network::IpAllowlist;
use roster_domain::password::PasswordHash;
use roster_domain::presets::{PermissionName, PermissionSpec, ScopeLevel};
use roster_domain::repository::{AuditEvent, GroupMembership};
use roster_domain::stores::Store;
use roster_domain::DomainError;
use uuid::Uuid;

use crate::entity::{
    accounts, audit_events, groups, permissions, role_assignments, stores, user_permission_overrides, users,
};
use crate::error::corrupt_row;

/// Both backends keep microseconds; values handed back to callers are
/// truncated the same way so that they equal what a later read returns.
pub(crate) fn storable_time(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}

fn parse_uuid(table: &'static str, column: &str, text: &str) -> Result<Uuid, DomainError> {
    Uuid::parse_str(text).map_err(|error| corrupt_row(table, column, error))
}

fn parse_display_name(table: &'static str, column: &str, text: &str) -> Result<DisplayName, DomainError> {
    DisplayName::parse(column, text).map_err(|violation| corrupt_row(table, column, violation))
}

/// An `accounts` row as a domain [`Account`].
pub(crate) fn account_from_row(row: accounts::Model) -> Result<Account, DomainError> {
    const TABLE: &str = "accounts";
    Ok(Account {
        id: AccountId::from_uuid(parse_uuid(TABLE, "id", &row.id)?),
        slug: AccountSlug::parse_any("slug", &row.slug).map_err(|violation| corrupt_row(TABLE, "slug", violation))?,
        display_name: parse_display_name(TABLE, "display_name", &row.display_name)?,
        owner_user_id: UserId::from_uuid(parse_uuid(TABLE, "owner_user_id", &row.owner_user_id)?),
        billing_level: BillingLevel::parse_stored(&row.billing_level)
            .ok_or_else(|| corrupt_row(TABLE, "billing_level", &row.billing_level))?,
        is_platform: row.is_platform,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A stored `users.status`.
pub(crate) fn user_status_from(status: &str) -> Result<UserStatus, DomainError> {
    UserStatus::parse_stored(status).ok_or_else(|| corrupt_row("users", "status", status))
}

/// A `users` row as a domain [`User`]; `owner_user_id` is its account's
/// owner. The password hash stays behind (see [`password_hash_from_row`]).
pub(crate) fn user_from_row(row: &users::Model, owner_user_id: UserId) -> Result<User, DomainError> {
    const TABLE: &str = "users";
    let id = UserId::from_uuid(parse_uuid(TABLE, "id", &row.id)?);
    Ok(User {
        id,
        account_id: AccountId::from_uuid(parse_uuid(TABLE, "account_id", &row.account_id)?),
        login_name: LoginName::from_stored(row.login_name.clone(), row.login_key.clone()),
        email: EmailAddress::parse("email", &row.email).map_err(|violation| corrupt_row(TABLE, "email", violation))?,
        display_name: parse_display_name(TABLE, "display_name", &row.display_name)?,
        status: user_status_from(&row.status)?,
        is_owner: id == owner_user_id,
        must_change_password: row.must_change_password,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The stored hash; `None` for a user without a password yet.
pub(crate) fn password_hash_from_row(row: &users::Model) -> Option<PasswordHash> {
    row.password_hash.clone().filter(|phc| !phc.is_empty()).map(PasswordHash::from_stored)
}

/// The `users.ip_allowlist` JSON column (a list of strings, R15).
pub(crate) fn ip_allowlist_from_row(row: &users::Model) -> Result<IpAllowlist, DomainError> {
    serde_json::from_str(&row.ip_allowlist).map_err(|error| corrupt_row("users", "ip_allowlist", error))
}

/// A `groups` row as the login check needs it.
pub(crate) fn membership_from_row(row: groups::Model) -> Result<GroupMembership, DomainError> {
    Ok(GroupMembership {
        group_id: GroupId::from_uuid(parse_uuid("groups", "id", &row.id)?),
        name: row.name,
        is_template: row.is_template,
    })
}

/// The `users.data_filters` JSON column (an object of value lists, R16).
pub(crate) fn data_filters_from_row(row: &users::Model) -> Result<DataFilters, DomainError> {
    data_filters_from_text(&row.data_filters)
}

/// A user's `data_filters` column.
pub(crate) fn data_filters_from_text(text: &str) -> Result<DataFilters, DomainError> {
    serde_json::from_str(text).map_err(|error| corrupt_row("users", "data_filters", error))
}

/// A value for a JSON text column.
pub(crate) fn json_text(value: &impl serde::Serialize) -> Result<String, DomainError> {
    serde_json::to_string(value).map_err(|error| DomainError::internal("encoding a json column", error))
}

/// A stored id column.
pub(crate) fn account_id_from(table: &'static str, column: &str, text: &str) -> Result<AccountId, DomainError> {
    parse_uuid(table, column, text).map(AccountId::from_uuid)
}

/// A stored id column.
pub(crate) fn user_id_from(table: &'static str, column: &str, text: &str) -> Result<UserId, DomainError> {
    parse_uuid(table, column, text).map(UserId::from_uuid)
}

/// A stored id column.
pub(crate) fn group_id_from(table: &'static str, column: &str, text: &str) -> Result<GroupId, DomainError> {
    parse_uuid(table, column, text).map(GroupId::from_uuid)
}

/// A stored permission name.
pub(crate) fn permission_name_from(
    table: &'static str,
    column: &str,
    text: &str,
) -> Result<PermissionName, DomainError> {
    PermissionName::parse(column, text).map_err(|violation| corrupt_row(table, column, violation))
}

/// A stored `scope_key`: `account` or a store id.
pub(crate) fn scope_from_key(table: &'static str, key: &str) -> Result<Scope, DomainError> {
    Scope::parse("scope_key", key).map_err(|violation| corrupt_row(table, "scope_key", violation))
}

/// A `role_assignments` row as a domain [`RoleAssignment`].
pub(crate) fn assignment_from_row(row: &role_assignments::Model) -> Result<RoleAssignment, DomainError> {
    assignment_from_columns(&row.group_id, &row.scope_key)
}

/// A role assignment from its `group_id` and `scope_key` columns.
pub(crate) fn assignment_from_columns(group_id: &str, scope_key: &str) -> Result<RoleAssignment, DomainError> {
    const TABLE: &str = "role_assignments";
    Ok(RoleAssignment {
        group_id: group_id_from(TABLE, "group_id", group_id)?,
        scope: scope_from_key(TABLE, scope_key)?,
    })
}

/// A `user_permission_overrides` row as a domain [`PermissionOverride`].
pub(crate) fn override_from_row(row: &user_permission_overrides::Model) -> Result<PermissionOverride, DomainError> {
    override_from_columns(&row.permission_name, &row.effect, &row.scope_key)
}

/// An override from its `permission_name`, `effect` and `scope_key` columns.
pub(crate) fn override_from_columns(
    permission_name: &str,
    effect: &str,
    scope_key: &str,
) -> Result<PermissionOverride, DomainError> {
    const TABLE: &str = "user_permission_overrides";
    Ok(PermissionOverride {
        permission: permission_name_from(TABLE, "permission_name", permission_name)?,
        effect: OverrideEffect::parse_stored(effect).ok_or_else(|| corrupt_row(TABLE, "effect", effect))?,
        scope: scope_from_key(TABLE, scope_key)?,
    })
}

/// A `permissions` row as a catalog entry.
pub(crate) fn permission_spec_from_row(row: permissions::Model) -> Result<PermissionSpec, DomainError> {
    const TABLE: &str = "permissions";
    Ok(PermissionSpec {
        name: permission_name_from(TABLE, "name", &row.name)?,
        scope: ScopeLevel::parse_stored(&row.scope_level)
            .ok_or_else(|| corrupt_row(TABLE, "scope_level", &row.scope_level))?,
        description: row.description,
        billing: row.billing,
        owner_only: row.owner_only,
    })
}

/// A `stores` row as a domain [`Store`].
pub(crate) fn store_from_row(row: stores::Model) -> Result<Store, DomainError> {
    const TABLE: &str = "stores";
    Ok(Store {
        id: StoreId::from_uuid(parse_uuid(TABLE, "id", &row.id)?),
        account_id: AccountId::from_uuid(parse_uuid(TABLE, "account_id", &row.account_id)?),
        name: parse_display_name(TABLE, "name", &row.name)?,
        is_public: row.is_public,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A `groups` row with its former names (oldest first), own permissions and
/// assignable groups, as a domain [`Group`].
pub(crate) fn group_from_row(
    row: groups::Model,
    former_names: Vec<String>,
    permissions: BTreeSet<PermissionName>,
    assignable: BTreeSet<GroupId>,
) -> Result<Group, DomainError> {
    const TABLE: &str = "groups";
    Ok(Group {
        id: group_id_from(TABLE, "id", &row.id)?,
        account_id: AccountId::from_uuid(parse_uuid(TABLE, "account_id", &row.account_id)?),
        name: parse_display_name(TABLE, "name", &row.name)?,
        former_names,
        parent_id: row.parent_id.as_deref().map(|parent| group_id_from(TABLE, "parent_id", parent)).transpose()?,
        is_template: row.is_template,
        badge_colour: BadgeColour::parse("badge_colour", &row.badge_colour)
            .map_err(|violation| corrupt_row(TABLE, "badge_colour", violation))?,
        permissions,
        assignable,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn outcome_from_stored(text: &str) -> Option<AuditOutcome> {
    match text {
        "success" => Some(AuditOutcome::Success),
        "failure" => Some(AuditOutcome::Failure),
        "denied" => Some(AuditOutcome::Denied),
        _ => None,
    }
}

/// An `audit_events` row as a domain [`AuditEvent`].
pub(crate) fn audit_event_from_row(row: audit_events::Model) -> Result<AuditEvent, DomainError> {
    const TABLE: &str = "audit_events";
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(parse_uuid(TABLE, "id", &row.id)?),
        account_id: row
            .account_id
            .as_deref()
            .map(|id| parse_uuid(TABLE, "account_id", id).map(AccountId::from_uuid))
            .transpose()?,
        occurred_at: row.occurred_at,
        actor_id: row.actor_id.as_deref().map(|id| user_id_from(TABLE, "actor_id", id)).transpose()?,
        actor_name: row.actor_name,
        action: row.action,
        target_type: row.target_type,
        target_id: row.target_id,
        target_name: row.target_name,
        changes: serde_json::from_str(&row.changes).map_err(|error| corrupt_row(TABLE, "changes", error))?,
        client_address: row.client_address,
        user_agent: row.user_agent,
        trace_id: row.trace_id,
        outcome: outcome_from_stored(&row.outcome).ok_or_else(|| corrupt_row(TABLE, "outcome", &row.outcome))?,
        reason: row.reason,
    })
}
