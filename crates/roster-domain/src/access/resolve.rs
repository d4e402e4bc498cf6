//! Effective permissions (R21, R24, R28, R29, R30, R34).
//!
//! CONTRACT:
//! * The owner holds every catalog permission everywhere, owner-only ones
//!   included (R2, R6); platform-level ones only in the platform account.
//!   Overrides do not touch the owner (R5: nobody demotes the owner).
//! * Each assignment contributes the permissions of its group and every
//!   ancestor (R21). Owner-only permissions (R6) are never contributed by a
//!   group or an override; platform-level ones only in the platform account,
//!   where they behave like account-level ones.
//! * An account-level permission (per `catalog.level`, which applies R30)
//!   contributed by any assignment, whatever its scope, holds account-wide
//!   (R29: a manager of one store may list every team member).
//! * A store-level permission holds in every store when contributed by an
//!   account-scoped assignment (R28), else only in the assignment's store.
//! * Overrides: a grant adds the permission at its scope (an account-scoped
//!   grant of a store-level permission: every store; a grant of an
//!   account-level permission: account-wide, whatever its scope); a revoke
//!   removes it at its scope (account-scoped: everywhere; store-scoped: in
//!   that store only); a revoke wins over any grant (R24). An account-level
//!   permission has no per-store holes, so a revoke of one in any scope
//!   removes it (fail closed).
//! * Permissions missing from the catalog never hold.

use std::collections::{BTreeMap, BTreeSet};

use super::{GroupTree, OverrideEffect, PermissionCatalog, Scope, UserGrants};
use crate::account::BillingLevel;
use crate::ids::{GroupId, StoreId};
use crate::presets::{PermissionName, ScopeLevel};

/// Facts about the account the permissions are resolved in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFacts {
    pub billing_level: BillingLevel,
    pub is_platform: bool,
}

/// Where a permission holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReach {
    /// Nowhere.
    Nowhere,
    /// In these stores only.
    Stores(BTreeSet<StoreId>),
    /// Account-wide, or in every store.
    Everywhere,
}

/// One user's resolved permissions. Every question is answered with a few
/// ordered-set lookups: [`EffectivePermissions::holds`] runs on every
/// sensitive action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectivePermissions {
    owner: bool,
    /// Account-level permissions (and platform-level ones in the platform
    /// account) held.
    account_wide: BTreeSet<PermissionName>,
    /// Store-level permissions held in every store, except the stores listed
    /// for them in `excluded`.
    every_store: BTreeSet<PermissionName>,
    /// Store-level permissions held in one store (beyond `every_store`).
    per_store: BTreeMap<StoreId, BTreeSet<PermissionName>>,
    /// Holes that store-scoped revokes carve in `every_store`; only
    /// permissions of `every_store`, never an empty set.
    excluded: BTreeMap<PermissionName, BTreeSet<StoreId>>,
    /// Stores named by an assignment or an override.
    named_stores: BTreeSet<StoreId>,
}

impl EffectivePermissions {
    /// Whether these are the account owner's permissions (R2).
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// Whether `permission` holds: account-level ones ignore `store`;
    /// store-level ones hold in `Some(store)`, or with `None` only if they
    /// hold in every store. Unknown permissions never hold.
    pub fn holds(&self, permission: &PermissionName, store: Option<StoreId>) -> bool {
        if self.account_wide.contains(permission) {
            return true;
        }
        let Some(store) = store else {
            return self.every_store.contains(permission) && !self.excluded.contains_key(permission);
        };
        if self.per_store.get(&store).is_some_and(|permissions| permissions.contains(permission)) {
            return true;
        }
        self.every_store.contains(permission) && !self.is_excluded(permission, store)
    }

    /// Where `permission` holds. A store-level permission held in every
    /// store but a few (an account-wide grant with store-scoped revokes)
    /// cannot be told as `Everywhere`; it reaches `Stores` of the named
    /// stores where it holds, and [`Self::excluded_stores`] lists the holes.
    /// `holds` is the authority for stores not named.
    pub fn reach(&self, permission: &PermissionName) -> StoreReach {
        if self.account_wide.contains(permission) {
            return StoreReach::Everywhere;
        }
        if self.every_store.contains(permission) {
            let Some(holes) = self.excluded.get(permission) else { return StoreReach::Everywhere };
            return StoreReach::Stores(self.named_stores.difference(holes).copied().collect());
        }
        let stores: BTreeSet<StoreId> = self
            .per_store
            .iter()
            .filter(|(_, permissions)| permissions.contains(permission))
            .map(|(store_id, _)| *store_id)
            .collect();
        if stores.is_empty() {
            return StoreReach::Nowhere;
        }
        StoreReach::Stores(stores)
    }

    /// The stores where a store-level permission otherwise held in every
    /// store has been revoked (R24); empty in every other case.
    pub fn excluded_stores(&self, permission: &PermissionName) -> BTreeSet<StoreId> {
        self.excluded.get(permission).cloned().unwrap_or_default()
    }

    /// Account-level permissions held.
    pub fn account_permissions(&self) -> BTreeSet<PermissionName> {
        self.account_wide.clone()
    }

    /// Store-level permissions held in every store.
    pub fn every_store_permissions(&self) -> BTreeSet<PermissionName> {
        self.every_store.iter().filter(|permission| !self.excluded.contains_key(*permission)).cloned().collect()
    }

    /// Store-level permissions held in `store`.
    pub fn store_permissions(&self, store: StoreId) -> BTreeSet<PermissionName> {
        let everywhere = self.every_store.iter().filter(|permission| !self.is_excluded(permission, store));
        everywhere.chain(self.per_store.get(&store).into_iter().flatten()).cloned().collect()
    }

    /// Store-level permissions held in any store that no assignment or
    /// override names (holes are always in named stores).
    pub fn unnamed_store_permissions(&self) -> BTreeSet<PermissionName> {
        self.every_store.clone()
    }

    /// Stores named by an assignment or override (for listing per-store
    /// permissions).
    pub fn named_stores(&self) -> BTreeSet<StoreId> {
        self.named_stores.clone()
    }

    fn is_excluded(&self, permission: &PermissionName, store: StoreId) -> bool {
        self.excluded.get(permission).is_some_and(|holes| holes.contains(&store))
    }

    fn grant(&mut self, reach: GrantedReach, permission: PermissionName, scope: Scope) {
        match (reach, scope) {
            (GrantedReach::AccountWide, _) => {
                self.account_wide.insert(permission);
            }
            (GrantedReach::PerStore, Scope::Account) => {
                self.every_store.insert(permission);
            }
            (GrantedReach::PerStore, Scope::Store(store_id)) => {
                self.per_store.entry(store_id).or_default().insert(permission);
            }
        }
    }

    fn revoke(&mut self, reach: GrantedReach, permission: &PermissionName, scope: Scope) {
        match (reach, scope) {
            (GrantedReach::AccountWide, _) => {
                self.account_wide.remove(permission);
            }
            (GrantedReach::PerStore, Scope::Account) => {
                self.every_store.remove(permission);
                self.excluded.remove(permission);
                for permissions in self.per_store.values_mut() {
                    permissions.remove(permission);
                }
            }
            (GrantedReach::PerStore, Scope::Store(store_id)) => {
                if let Some(permissions) = self.per_store.get_mut(&store_id) {
                    permissions.remove(permission);
                }
                if self.every_store.contains(permission) {
                    self.excluded.entry(permission.clone()).or_default().insert(store_id);
                }
            }
        }
    }
}

/// How a permission granted by a group or an override holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantedReach {
    AccountWide,
    PerStore,
}

/// Where `permission` holds when a group or an override grants it; `None`
/// when it cannot be granted at all: unknown, owner-only (R6), or
/// platform-level outside the platform account.
fn granted_reach(
    catalog: &PermissionCatalog,
    account: AccountFacts,
    permission: &PermissionName,
) -> Option<GrantedReach> {
    if catalog.is_owner_only(permission) {
        return None;
    }
    match catalog.level(permission, account.billing_level)? {
        ScopeLevel::Account => Some(GrantedReach::AccountWide),
        ScopeLevel::Store => Some(GrantedReach::PerStore),
        ScopeLevel::Platform if account.is_platform => Some(GrantedReach::AccountWide),
        ScopeLevel::Platform => None,
    }
}

/// R2, R6: every catalog permission, everywhere; platform-level ones only in
/// the platform account.
fn owner_permissions(catalog: &PermissionCatalog, account: AccountFacts) -> EffectivePermissions {
    let mut resolved = EffectivePermissions { owner: true, ..EffectivePermissions::default() };
    for spec in catalog.iter() {
        match catalog.level(&spec.name, account.billing_level) {
            Some(ScopeLevel::Account) => resolved.grant(GrantedReach::AccountWide, spec.name.clone(), Scope::Account),
            Some(ScopeLevel::Store) => resolved.grant(GrantedReach::PerStore, spec.name.clone(), Scope::Account),
            Some(ScopeLevel::Platform) if account.is_platform => {
                resolved.grant(GrantedReach::AccountWide, spec.name.clone(), Scope::Account)
            }
            Some(ScopeLevel::Platform) | None => {}
        }
    }
    resolved
}

/// Resolves one user's permissions.
pub fn resolve(
    catalog: &PermissionCatalog,
    tree: &GroupTree,
    grants: &UserGrants,
    account: AccountFacts,
) -> EffectivePermissions {
    let assigned_stores = grants.assignments.iter().filter_map(|assignment| assignment.scope.store());
    let overridden_stores = grants.overrides.iter().filter_map(|permission_override| permission_override.scope.store());
    let named_stores: BTreeSet<StoreId> = assigned_stores.chain(overridden_stores).collect();
    if grants.is_owner {
        return EffectivePermissions { named_stores, ..owner_permissions(catalog, account) };
    }
    let mut resolved = EffectivePermissions { named_stores, ..EffectivePermissions::default() };
    for assignment in &grants.assignments {
        for permission in tree.ancestors(assignment.group_id).flat_map(|node| &node.permissions) {
            if let Some(reach) = granted_reach(catalog, account, permission) {
                resolved.grant(reach, permission.clone(), assignment.scope);
            }
        }
    }
    let (revokes, grants_added): (Vec<_>, Vec<_>) =
        grants.overrides.iter().partition(|permission_override| permission_override.effect == OverrideEffect::Revoke);
    for permission_override in grants_added {
        if let Some(reach) = granted_reach(catalog, account, &permission_override.permission) {
            resolved.grant(reach, permission_override.permission.clone(), permission_override.scope);
        }
    }
    // R24: revokes last, so that a removal wins over every grant.
    for permission_override in revokes {
        if let Some(reach) = granted_reach(catalog, account, &permission_override.permission) {
            resolved.revoke(reach, &permission_override.permission, permission_override.scope);
        }
    }
    resolved.per_store.retain(|_, permissions| !permissions.is_empty());
    resolved
}

/// Whether one user holds one permission: exactly what
/// `resolve(..).holds(permission, store)` answers (the property test holds
/// them together), without building every permission of the user. This is
/// `CheckPermission`'s path (issue 6): a walk up the tree from each
/// assignment looking for one name, and a pass over the overrides.
pub fn holds_one(
    catalog: &PermissionCatalog,
    tree: &GroupTree,
    grants: &UserGrants,
    account: AccountFacts,
    permission: &PermissionName,
    store: Option<StoreId>,
) -> bool {
    if grants.is_owner {
        // R2, R6: every catalog permission, platform ones only in the
        // platform account.
        return match catalog.level(permission, account.billing_level) {
            Some(ScopeLevel::Account | ScopeLevel::Store) => true,
            Some(ScopeLevel::Platform) => account.is_platform,
            None => false,
        };
    }
    let Some(reach) = granted_reach(catalog, account, permission) else { return false };
    let overrides = grants.overrides.iter().filter(|entry| &entry.permission == permission);
    let mut granted_account_wide = false;
    let mut granted_somewhere = false;
    let mut granted_in_store = false;
    let mut revoked_account_wide = false;
    let mut revoked_in_store = false;
    let mut revoked_in_some_store = false;
    for entry in overrides {
        let in_asked_store = store.is_some() && entry.scope.store() == store;
        granted_somewhere |= entry.effect == OverrideEffect::Grant;
        match (entry.effect, entry.scope) {
            (OverrideEffect::Grant, Scope::Account) => granted_account_wide = true,
            (OverrideEffect::Grant, Scope::Store(_)) => granted_in_store |= in_asked_store,
            (OverrideEffect::Revoke, Scope::Account) => revoked_account_wide = true,
            (OverrideEffect::Revoke, Scope::Store(_)) => {
                revoked_in_some_store = true;
                revoked_in_store |= in_asked_store;
            }
        }
    }
    if revoked_account_wide {
        return false;
    }
    let contributes = |group_id: GroupId| tree.ancestors(group_id).any(|node| node.permissions.contains(permission));
    match reach {
        // Held account-wide from any assignment or grant, whatever its
        // scope; a revoke in any scope removes it (fail closed).
        GrantedReach::AccountWide => {
            if revoked_in_some_store {
                return false;
            }
            granted_somewhere || grants.assignments.iter().any(|assignment| contributes(assignment.group_id))
        }
        // R28, R29: in every store from account-wide grants, in one store
        // from that store's; without a store, only if held in every store
        // with no store revoked.
        GrantedReach::PerStore => {
            if store.is_none() && revoked_in_some_store {
                return false;
            }
            if revoked_in_store {
                return false;
            }
            if granted_account_wide || granted_in_store {
                return true;
            }
            grants.assignments.iter().any(|assignment| {
                let covers = match assignment.scope {
                    Scope::Account => true,
                    Scope::Store(assigned) => store == Some(assigned),
                };
                covers && contributes(assignment.group_id)
            })
        }
    }
}

/// R34: whether an anonymous principal holds `permission` in a store: only
/// store-level permissions of the Anonymous group (and its ancestors), only
/// in public stores.
pub fn anonymous_holds(
    catalog: &PermissionCatalog,
    tree: &GroupTree,
    anonymous_group: Option<GroupId>,
    account: AccountFacts,
    permission: &PermissionName,
    store_is_public: bool,
) -> bool {
    let Some(anonymous_group) = anonymous_group else { return false };
    if !store_is_public || granted_reach(catalog, account, permission) != Some(GrantedReach::PerStore) {
        return false;
    }
    tree.ancestry(anonymous_group)
        .into_iter()
        .filter_map(|group_id| tree.get(group_id))
        .any(|group| group.permissions.contains(permission))
}
