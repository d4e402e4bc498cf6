//! The administration policy (R5, R6, R7, R8, R31, R32, R33): who may manage
//! whom, and hand out what. Every check returns `Ok(())` or the error the
//! caller sees, citing the rule.
//!
//! CONTRACT: see each function. "The actor holds a group in a scope" means:
//! for every permission the group has, its own and inherited (R21), except
//! owner-only ones (never granted, R6) and platform-level ones outside the
//! platform account (never held there), the actor's permissions hold it in
//! that scope. A permission missing from the catalog is never held, so a
//! group carrying one cannot be handed out (fail closed).

use std::collections::BTreeSet;

use super::resolve::{AccountFacts, StoreReach};
use super::{
    EffectivePermissions, GroupTree, PermissionCatalog, PermissionOverride, RoleAssignment, Scope, UserGrants,
};
use crate::error::{DomainError, FieldViolation};
use crate::ids::{GroupId, StoreId, UserId};
use crate::presets::{PermissionName, ScopeLevel};

/// The permission that manages users (R7).
pub const USERS_MANAGE: &str = "users.manage";
/// The permission that invites users by email (R19).
pub const USERS_INVITE: &str = "users.invite";
/// The permission that manages groups.
pub const GROUPS_MANAGE: &str = "groups.manage";

/// The caller of an administrative act, with everything checks need.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub user_id: UserId,
    pub is_owner: bool,
    pub permissions: &'a EffectivePermissions,
    /// R32: the groups the actor's own groups (and their ancestors) declare
    /// assignable; every group of the tree for the owner.
    pub assignable: BTreeSet<GroupId>,
}

impl<'a> Actor<'a> {
    /// The actor `user_id` with `grants`, resolved to `permissions`, in an
    /// account whose groups are `tree`.
    pub fn new(user_id: UserId, grants: &UserGrants, permissions: &'a EffectivePermissions, tree: &GroupTree) -> Self {
        let assignable = if grants.is_owner {
            tree.nodes().map(|node| node.id).collect()
        } else {
            grants.assignments.iter().flat_map(|assignment| tree.inherited_assignable(assignment.group_id)).collect()
        };
        Self { user_id, is_owner: grants.is_owner, permissions, assignable }
    }
}

/// The user an act is about.
#[derive(Debug, Clone)]
pub struct TargetUser<'a> {
    pub user_id: UserId,
    pub is_owner: bool,
    pub assignments: &'a BTreeSet<RoleAssignment>,
}

/// R7, R31: the actor holds `users.manage` in every scope the target's
/// assignments touch: account-wide when the target has an account-scoped
/// assignment or none at all, else in each of the target's stores.
/// `PERMISSION_DENIED`, reason `MISSING_PERMISSION` (R7) or
/// `STORE_NOT_HELD` (R31).
pub fn check_manage_user(actor: &Actor<'_>, target: &TargetUser<'_>) -> Result<(), DomainError> {
    let account_wide =
        target.assignments.is_empty() || target.assignments.iter().any(|assignment| assignment.scope == Scope::Account);
    if account_wide {
        return require_users_manage(actor, None, &format!("manage user {}", target.user_id));
    }
    for store_id in target.assignments.iter().filter_map(|assignment| assignment.scope.store()) {
        require_users_manage(actor, Some(store_id), &format!("manage user {}", target.user_id))?;
    }
    Ok(())
}

/// R19, R31: the actor holds `users.invite` in every scope the invitation's
/// assignments touch (account-wide when one is account-scoped or there are
/// none, else in each store). `PERMISSION_DENIED`, reason
/// `MISSING_PERMISSION` or `STORE_NOT_HELD`. What the assignments hand out
/// is checked separately, as for any grant (R32).
pub fn check_invite_user(actor: &Actor<'_>, assignments: &BTreeSet<RoleAssignment>) -> Result<(), DomainError> {
    let account_wide =
        assignments.is_empty() || assignments.iter().any(|assignment| assignment.scope == Scope::Account);
    if account_wide {
        return require_user_permission(actor, USERS_INVITE, None, "invite users");
    }
    for store_id in assignments.iter().filter_map(|assignment| assignment.scope.store()) {
        require_user_permission(actor, USERS_INVITE, Some(store_id), "invite users")?;
    }
    Ok(())
}

/// R5, R8: nobody deletes the owner (`FAILED_PRECONDITION`, rule R5,
/// `OWNER_PROTECTED`); nobody deletes themselves (rule R8, `SELF_DELETE`);
/// then `check_manage_user`.
pub fn check_delete_user(actor: &Actor<'_>, target: &TargetUser<'_>) -> Result<(), DomainError> {
    if target.is_owner {
        return Err(owner_protected("the owner cannot be deleted; transfer ownership first"));
    }
    if actor.user_id == target.user_id {
        return Err(DomainError::FailedPrecondition {
            rule: "R8",
            reason: "SELF_DELETE",
            message: "a user cannot delete themselves".to_owned(),
        });
    }
    check_manage_user(actor, target)
}

/// R5: nobody blocks the owner (`OWNER_PROTECTED`); nobody blocks
/// themselves (`SELF_BLOCK`, rule R5's spirit: a lock-out); then
/// `check_manage_user`.
pub fn check_block_user(actor: &Actor<'_>, target: &TargetUser<'_>) -> Result<(), DomainError> {
    if target.is_owner {
        return Err(owner_protected("the owner cannot be blocked"));
    }
    if actor.user_id == target.user_id {
        return Err(DomainError::FailedPrecondition {
            rule: "R5",
            reason: "SELF_BLOCK",
            message: "a user cannot block themselves".to_owned(),
        });
    }
    check_manage_user(actor, target)
}

/// R6: only the owner edits the owner's own details (`PERMISSION_DENIED`,
/// rule R6, `OWNER_ONLY`); a user may edit their own profile fields; else
/// `check_manage_user`.
pub fn check_edit_user(actor: &Actor<'_>, target: &TargetUser<'_>) -> Result<(), DomainError> {
    if target.is_owner && !actor.is_owner {
        return Err(DomainError::permission_denied("OWNER_ONLY", "R6: only the owner edits the owner's details"));
    }
    if actor.user_id == target.user_id {
        return Ok(());
    }
    check_manage_user(actor, target)
}

/// R32 (assign): the group exists in the tree (`NOT_FOUND`,
/// `GROUP_NOT_FOUND`); the actor holds `users.manage` in the assignment's
/// scope (R7/R31, checked first so that a manager hears about the store they
/// lack); the group is in `actor.assignable` (`NOT_ASSIGNABLE`); its own
/// `inherited_assignable` set is a subset of `actor.assignable` (no
/// self-escalation through a group's powers, `ESCALATION`); the actor holds
/// every permission of the group (inherited) in the assignment's scope
/// (`ESCALATION`). All `PERMISSION_DENIED` with rule R32 (or R7/R31 for
/// users.manage). Whether the actor may manage the target user at all is
/// `check_manage_user`'s question.
pub fn check_assign_role(
    actor: &Actor<'_>,
    catalog: &PermissionCatalog,
    tree: &GroupTree,
    account: AccountFacts,
    assignment: &RoleAssignment,
) -> Result<(), DomainError> {
    let Some(group) = tree.get(assignment.group_id) else { return Err(group_not_found()) };
    let scope = assignment.scope;
    require_users_manage(actor, scope.store(), &format!("assign roles in {scope}"))?;
    if !actor.assignable.contains(&group.id) {
        return Err(DomainError::permission_denied(
            "NOT_ASSIGNABLE",
            format!("R32: cannot grant group {}: your groups do not declare it assignable", group.name),
        ));
    }
    if !tree.inherited_assignable(group.id).is_subset(&actor.assignable) {
        return Err(DomainError::permission_denied(
            "ESCALATION",
            format!("R32: cannot grant group {}: it may hand out groups that you may not", group.name),
        ));
    }
    for permission in tree.inherited_permissions(group.id) {
        if conferred(catalog, account, &permission) && !actor.permissions.holds(&permission, scope.store()) {
            return Err(DomainError::permission_denied(
                "ESCALATION",
                format!(
                    "R32: cannot grant group {}: it holds {permission} which you do not hold in {scope}",
                    group.name
                ),
            ));
        }
    }
    Ok(())
}

/// R32 for acting on an existing user (edit, block, delete, set a password,
/// change roles): the actor must outrank the target, i.e. could have granted
/// every one of the target's role assignments (`check_assign_role` for each).
/// Without this, a manager could take over a store-scoped administrator by
/// resetting their password. Acting on oneself is left to the other checks.
pub fn check_outranks(
    actor: &Actor<'_>,
    target: &TargetUser<'_>,
    catalog: &PermissionCatalog,
    tree: &GroupTree,
    account: AccountFacts,
) -> Result<(), DomainError> {
    if actor.is_owner || actor.user_id == target.user_id {
        return Ok(());
    }
    for assignment in target.assignments {
        check_assign_role(actor, catalog, tree, account, assignment).map_err(|refusal| match refusal {
            DomainError::PermissionDenied { reason, message } => DomainError::PermissionDenied {
                reason,
                message: format!("R32: you may only manage users whose roles you could grant; {message}"),
            },
            other => other,
        })?;
    }
    Ok(())
}

/// R32 (unassign) with the same conditions as assigning, and R5: only the
/// owner may remove the owner's own roles (`FAILED_PRECONDITION`, rule R5,
/// `OWNER_PROTECTED`).
pub fn check_unassign_role(
    actor: &Actor<'_>,
    target: &TargetUser<'_>,
    catalog: &PermissionCatalog,
    tree: &GroupTree,
    account: AccountFacts,
    assignment: &RoleAssignment,
) -> Result<(), DomainError> {
    if target.is_owner && !actor.is_owner {
        return Err(owner_protected("only the owner may remove the owner's roles"));
    }
    check_assign_role(actor, catalog, tree, account, assignment)
}

/// R6, R32 for an override: the permission is in the catalog
/// (`INVALID_ARGUMENT` on `overrides.permission`, reason
/// `UNKNOWN_PERMISSION`), not owner-only (`FAILED_PRECONDITION`, rule R6,
/// `OWNER_ONLY_PERMISSION`: nobody can grant it, not even the owner), the
/// actor holds `users.manage` in the override's scope (R7/R31), and holds
/// the permission there (`ESCALATION`, R32), for a grant and a revoke alike.
pub fn check_override(
    actor: &Actor<'_>,
    catalog: &PermissionCatalog,
    account: AccountFacts,
    permission_override: &PermissionOverride,
) -> Result<(), DomainError> {
    let permission = &permission_override.permission;
    if !catalog.contains(permission) {
        return Err(unknown_permissions("overrides.permission", [permission]));
    }
    if catalog.is_owner_only(permission) {
        return Err(owner_only_permission(permission));
    }
    let scope = permission_override.scope;
    require_users_manage(actor, scope.store(), &format!("change permission overrides in {scope}"))?;
    if !conferred(catalog, account, permission) {
        return Err(DomainError::permission_denied(
            "ESCALATION",
            format!("R32: {permission} is a platform permission; it holds only in the platform account"),
        ));
    }
    if !actor.permissions.holds(permission, scope.store()) {
        let effect = permission_override.effect.as_str();
        return Err(DomainError::permission_denied(
            "ESCALATION",
            format!("R32: cannot {effect} {permission}: you do not hold it in {scope}"),
        ));
    }
    Ok(())
}

/// R6, R32 for defining a group (create, or the new state of an update):
/// the actor holds `groups.manage` (`MISSING_PERMISSION`); `parent` and every
/// `assignable` group exist (`NOT_FOUND`); every permission is in the catalog
/// (`UNKNOWN_PERMISSION` on field `permissions`); none is owner-only
/// (`FAILED_PRECONDITION`, R6); the actor holds (with `store = None`) every
/// permission the group would have, its own plus those inherited from
/// `parent` (`ESCALATION`); `assignable` is a subset of `actor.assignable`
/// (`ESCALATION`).
pub fn check_define_group(
    actor: &Actor<'_>,
    catalog: &PermissionCatalog,
    tree: &GroupTree,
    account: AccountFacts,
    permissions: &BTreeSet<PermissionName>,
    parent: Option<GroupId>,
    assignable: &BTreeSet<GroupId>,
) -> Result<(), DomainError> {
    let groups_manage = PermissionName::parse("permission", GROUPS_MANAGE).expect("groups.manage is a valid name");
    if !actor.permissions.holds(&groups_manage, None) {
        return Err(DomainError::permission_denied(
            "MISSING_PERMISSION",
            format!("R32: defining groups needs {GROUPS_MANAGE}, which you do not hold"),
        ));
    }
    if parent.is_some_and(|parent_id| !tree.contains(parent_id)) {
        return Err(group_not_found());
    }
    if assignable.iter().any(|group_id| !tree.contains(*group_id)) {
        return Err(group_not_found());
    }
    let unknown: Vec<&PermissionName> = permissions.iter().filter(|permission| !catalog.contains(permission)).collect();
    if !unknown.is_empty() {
        return Err(unknown_permissions("permissions", unknown));
    }
    if let Some(permission) = permissions.iter().find(|permission| catalog.is_owner_only(permission)) {
        return Err(owner_only_permission(permission));
    }
    let inherited = parent.map(|parent_id| tree.inherited_permissions(parent_id)).unwrap_or_default();
    let would_have =
        permissions.iter().chain(inherited.iter().filter(|permission| conferred(catalog, account, permission)));
    for permission in would_have {
        if !actor.permissions.holds(permission, None) {
            return Err(DomainError::permission_denied(
                "ESCALATION",
                format!("R32: cannot define a group holding {permission}: you do not hold it account-wide"),
            ));
        }
    }
    if !assignable.is_subset(&actor.assignable) {
        return Err(DomainError::permission_denied(
            "ESCALATION",
            "R32: cannot define a group that may hand out groups you may not",
        ));
    }
    Ok(())
}

/// Whether a group holding `permission` would confer anything that the
/// actor must hold too: owner-only permissions are never granted (R6) and
/// platform-level ones never hold outside the platform account. Unknown
/// permissions count, and fail the check (fail closed).
fn conferred(catalog: &PermissionCatalog, account: AccountFacts, permission: &PermissionName) -> bool {
    if catalog.is_owner_only(permission) {
        return false;
    }
    account.is_platform || catalog.level(permission, account.billing_level) != Some(ScopeLevel::Platform)
}

/// R7, R31: `users.manage` in `store` (`None`: account-wide). An actor who
/// holds it nowhere lacks it (R7); one who holds it in other stores lacks
/// the store (R31).
fn require_users_manage(actor: &Actor<'_>, store: Option<StoreId>, act: &str) -> Result<(), DomainError> {
    require_user_permission(actor, USERS_MANAGE, store, act)
}

/// `permission` (`users.manage`, `users.invite`) held in `store`, or
/// account-wide for `None`.
fn require_user_permission(
    actor: &Actor<'_>,
    permission: &'static str,
    store: Option<StoreId>,
    act: &str,
) -> Result<(), DomainError> {
    let name = PermissionName::parse("permission", permission).expect("a valid built-in permission name");
    if actor.permissions.holds(&name, store) {
        return Ok(());
    }
    let rule = if permission == USERS_INVITE { "R19" } else { "R7" };
    if actor.permissions.reach(&name) == StoreReach::Nowhere {
        return Err(DomainError::permission_denied(
            "MISSING_PERMISSION",
            format!("{rule}: cannot {act}: you do not hold {permission}"),
        ));
    }
    let where_missing = match store {
        Some(store_id) => format!("store {store_id}"),
        None => "every store".to_owned(),
    };
    Err(DomainError::permission_denied(
        "STORE_NOT_HELD",
        format!("R31: cannot {act}: you do not hold {permission} in {where_missing}"),
    ))
}

fn owner_protected(message: &str) -> DomainError {
    DomainError::FailedPrecondition { rule: "R5", reason: "OWNER_PROTECTED", message: message.to_owned() }
}

fn owner_only_permission(permission: &PermissionName) -> DomainError {
    DomainError::FailedPrecondition {
        rule: "R6",
        reason: "OWNER_ONLY_PERMISSION",
        message: format!("{permission} is owner-only and cannot be granted to anyone"),
    }
}

fn group_not_found() -> DomainError {
    DomainError::NotFound { entity: "group", reason: "GROUP_NOT_FOUND" }
}

fn unknown_permissions<'p>(field: &str, permissions: impl IntoIterator<Item = &'p PermissionName>) -> DomainError {
    let violations = permissions
        .into_iter()
        .map(|permission| FieldViolation::new(field, format!("unknown permission {permission}")))
        .collect();
    DomainError::InvalidArgument { reason: "UNKNOWN_PERMISSION", violations }
}
