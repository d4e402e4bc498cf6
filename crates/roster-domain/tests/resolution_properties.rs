//! Property tests: `resolve` agrees with a naive reference evaluator that
//! applies the CONTRACT of `access::resolve` literally, one query at a time,
//! on random group forests, catalogs, billing levels, assignments and
//! overrides; `reach` agrees with `holds`; and the listable
//! `PermissionsByScope` the broker checks with answers as `holds` does.

use std::collections::BTreeSet;

use proptest::prelude::*;
use roster_domain::access::{
    holds_one, resolve, AccountFacts, EffectivePermissions, GroupNode, GroupTree, OverrideEffect, PermissionCatalog,
    PermissionOverride, PermissionsByScope, RoleAssignment, Scope, StoreReach, UserGrants,
};
use roster_domain::account::BillingLevel;
use roster_domain::ids::{GroupId, StoreId};
use roster_domain::presets::{PermissionName, PermissionSpec, ScopeLevel};
use uuid::Uuid;

const CATALOG_SIZE: usize = 8;
/// Two more names that groups and overrides may carry but the catalog lacks.
const NAME_POOL: usize = CATALOG_SIZE + 2;
const STORE_POOL: u128 = 4;
const MAX_GROUPS: usize = 12;

fn permission_name(index: usize) -> PermissionName {
    let prefix = if index < CATALOG_SIZE { "perm" } else { "unknown" };
    PermissionName::parse("permission", &format!("{prefix}.p{index}")).unwrap()
}

fn group_id(index: usize) -> GroupId {
    GroupId::from_uuid(Uuid::from_u128(1_000 + index as u128))
}

/// Store index `STORE_POOL` is never named by anything: a store created later.
fn store_id(index: u128) -> StoreId {
    StoreId::from_uuid(Uuid::from_u128(2_000 + index))
}

fn scope_of(store: Option<u128>) -> Scope {
    store.map_or(Scope::Account, |index| Scope::Store(store_id(index)))
}

#[derive(Debug, Clone)]
struct RandomPermission {
    level: ScopeLevel,
    billing: bool,
    owner_only: bool,
}

#[derive(Debug, Clone)]
struct RandomGroup {
    /// Taken modulo the group's index: parents come first, so no cycles.
    parent: Option<usize>,
    permissions: Vec<usize>,
}

#[derive(Debug, Clone)]
struct World {
    catalog: Vec<RandomPermission>,
    groups: Vec<RandomGroup>,
    billing_store: bool,
    is_platform: bool,
    is_owner: bool,
    /// Group index (may point past the tree: a deleted group), store.
    assignments: Vec<(usize, Option<u128>)>,
    /// Permission index, revoke?, store.
    overrides: Vec<(usize, bool, Option<u128>)>,
}

fn random_permission() -> impl Strategy<Value = RandomPermission> {
    let level =
        prop_oneof![4 => Just(ScopeLevel::Account), 5 => Just(ScopeLevel::Store), 1 => Just(ScopeLevel::Platform)];
    (level, prop::bool::weighted(0.25), prop::bool::weighted(0.15))
        .prop_map(|(level, billing, owner_only)| RandomPermission { level, billing, owner_only })
}

fn random_group() -> impl Strategy<Value = RandomGroup> {
    (prop::option::weighted(0.7, 0..MAX_GROUPS), prop::collection::vec(0..NAME_POOL, 0..4))
        .prop_map(|(parent, permissions)| RandomGroup { parent, permissions })
}

fn random_store() -> impl Strategy<Value = Option<u128>> {
    prop::option::weighted(0.6, 0..STORE_POOL)
}

fn random_world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(random_permission(), CATALOG_SIZE),
        prop::collection::vec(random_group(), 1..=MAX_GROUPS),
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.15),
        prop::collection::vec((0..MAX_GROUPS + 1, random_store()), 0..5),
        prop::collection::vec((0..NAME_POOL, any::<bool>(), random_store()), 0..6),
    )
        .prop_map(|(catalog, groups, billing_store, is_platform, is_owner, assignments, overrides)| World {
            catalog,
            groups,
            billing_store,
            is_platform,
            is_owner,
            assignments,
            overrides,
        })
}

impl World {
    fn parent_of(&self, index: usize) -> Option<usize> {
        self.groups[index].parent.filter(|_| index > 0).map(|parent| parent % index)
    }

    fn account(&self) -> AccountFacts {
        let billing_level = if self.billing_store { BillingLevel::Store } else { BillingLevel::Account };
        AccountFacts { billing_level, is_platform: self.is_platform }
    }

    fn build(&self) -> (PermissionCatalog, GroupTree, UserGrants) {
        let catalog = PermissionCatalog::new(self.catalog.iter().enumerate().map(|(index, random)| PermissionSpec {
            name: permission_name(index),
            description: String::new(),
            scope: random.level,
            billing: random.billing,
            owner_only: random.owner_only,
        }));
        let tree = GroupTree::new(self.groups.iter().enumerate().map(|(index, group)| GroupNode {
            id: group_id(index),
            name: format!("group {index}"),
            parent_id: self.parent_of(index).map(group_id),
            is_template: false,
            permissions: group.permissions.iter().map(|&permission| permission_name(permission)).collect(),
            assignable: BTreeSet::new(),
        }));
        let grants = UserGrants {
            is_owner: self.is_owner,
            assignments: self
                .assignments
                .iter()
                .map(|&(group, store)| RoleAssignment { group_id: group_id(group), scope: scope_of(store) })
                .collect(),
            overrides: self
                .overrides
                .iter()
                .map(|&(permission, revoke, store)| PermissionOverride {
                    permission: permission_name(permission),
                    effect: if revoke { OverrideEffect::Revoke } else { OverrideEffect::Grant },
                    scope: scope_of(store),
                })
                .collect(),
        };
        (catalog, tree, grants)
    }

    /// Every permission index reachable by walking up from group `index`.
    fn group_and_ancestor_permissions(&self, index: usize) -> Vec<usize> {
        let mut collected = Vec::new();
        let mut current = Some(index);
        while let Some(group) = current {
            if group >= self.groups.len() {
                break;
            }
            collected.extend(self.groups[group].permissions.iter().copied());
            current = self.parent_of(group);
        }
        collected
    }

    /// The reference: whether permission `index` holds in `store` (`None`:
    /// account-wide, or in every store), by the CONTRACT's words.
    fn reference_holds(&self, index: usize, store: Option<u128>) -> bool {
        // Unknown permissions never hold.
        let Some(spec) = self.catalog.get(index) else { return false };
        // R30: billing permissions take the account's billing level.
        let level = match (spec.billing, self.billing_store) {
            (true, true) => ScopeLevel::Store,
            (true, false) => ScopeLevel::Account,
            (false, _) => spec.level,
        };
        // Platform-level permissions exist only in the platform account.
        if level == ScopeLevel::Platform && !self.is_platform {
            return false;
        }
        // R2: the owner holds everything, everywhere.
        if self.is_owner {
            return true;
        }
        // R6: owner-only permissions are never granted to anyone else.
        if spec.owner_only {
            return false;
        }
        let account_level = level != ScopeLevel::Store;
        // R24: a revoke wins over every grant.
        for &(permission, revoke, revoke_store) in &self.overrides {
            if permission != index || !revoke {
                continue;
            }
            if account_level || revoke_store.is_none() || revoke_store == store || store.is_none() {
                return false;
            }
        }
        // Every source of a grant: each assignment's group chain, each granting override.
        let mut grant_scopes: Vec<Option<u128>> = Vec::new();
        for &(group, assignment_store) in &self.assignments {
            if self.group_and_ancestor_permissions(group).contains(&index) {
                grant_scopes.push(assignment_store);
            }
        }
        for &(permission, revoke, grant_store) in &self.overrides {
            if permission == index && !revoke {
                grant_scopes.push(grant_store);
            }
        }
        // R29: an account-level permission from any source holds account-wide.
        if account_level {
            return !grant_scopes.is_empty();
        }
        // R28: a store-level permission from an account-wide source holds in every store.
        grant_scopes.iter().any(|&grant_store| grant_store.is_none() || (store.is_some() && grant_store == store))
    }
}

/// Every store query: account-wide, the pool, and a store nothing names.
fn store_queries() -> impl Iterator<Item = Option<u128>> {
    std::iter::once(None).chain((0..=STORE_POOL).map(Some))
}

fn holds(resolved: &EffectivePermissions, index: usize, store: Option<u128>) -> bool {
    resolved.holds(&permission_name(index), store.map(store_id))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn resolve_agrees_with_the_naive_reference(world in random_world()) {
        let (catalog, tree, grants) = world.build();
        let resolved = resolve(&catalog, &tree, &grants, world.account());
        prop_assert_eq!(resolved.is_owner(), world.is_owner);
        for index in 0..NAME_POOL {
            for store in store_queries() {
                prop_assert_eq!(
                    holds(&resolved, index, store),
                    world.reference_holds(index, store),
                    "permission {} in store {:?}", permission_name(index), store
                );
            }
        }
    }

    #[test]
    fn reach_and_listings_agree_with_holds(world in random_world()) {
        let (catalog, tree, grants) = world.build();
        let resolved = resolve(&catalog, &tree, &grants, world.account());
        let named = resolved.named_stores();
        let unnamed = store_id(STORE_POOL);
        prop_assert!(!named.contains(&unnamed));
        for index in 0..NAME_POOL {
            let permission = permission_name(index);
            let excluded = resolved.excluded_stores(&permission);
            let in_store = |store: StoreId| resolved.holds(&permission, Some(store));
            match resolved.reach(&permission) {
                StoreReach::Everywhere => {
                    prop_assert!(resolved.holds(&permission, None));
                    prop_assert!(excluded.is_empty());
                    for store in (0..=STORE_POOL).map(store_id) {
                        prop_assert!(in_store(store));
                    }
                }
                StoreReach::Nowhere => {
                    prop_assert!(!resolved.holds(&permission, None));
                    for store in (0..=STORE_POOL).map(store_id) {
                        prop_assert!(!in_store(store));
                    }
                }
                StoreReach::Stores(stores) => {
                    prop_assert!(!resolved.holds(&permission, None));
                    prop_assert!(stores.is_subset(&named));
                    for store in &named {
                        prop_assert_eq!(in_store(*store), stores.contains(store));
                    }
                    // A store nothing names is held only through an every-store grant with holes.
                    prop_assert_eq!(in_store(unnamed), !excluded.is_empty());
                    for store in &excluded {
                        prop_assert!(!in_store(*store));
                    }
                }
            }
            // The listings say the same as `holds`.
            let listed_everywhere = resolved.account_permissions().contains(&permission)
                || resolved.every_store_permissions().contains(&permission);
            prop_assert_eq!(listed_everywhere, resolved.holds(&permission, None));
            for store in (0..=STORE_POOL).map(store_id) {
                let listed = resolved.account_permissions().contains(&permission)
                    || resolved.store_permissions(store).contains(&permission);
                prop_assert_eq!(listed, in_store(store));
            }
        }
    }

    #[test]
    fn holds_one_answers_as_resolve_does(world in random_world()) {
        let (catalog, tree, grants) = world.build();
        let resolved = resolve(&catalog, &tree, &grants, world.account());
        for index in 0..NAME_POOL {
            for store in store_queries() {
                let permission = permission_name(index);
                prop_assert_eq!(
                    holds_one(&catalog, &tree, &grants, world.account(), &permission, store.map(store_id)),
                    holds(&resolved, index, store),
                    "permission {} in store {:?}", permission, store
                );
            }
        }
    }

    #[test]
    fn r40_permissions_by_scope_answer_as_resolve_does(world in random_world()) {
        let (catalog, tree, grants) = world.build();
        let resolved = resolve(&catalog, &tree, &grants, world.account());
        let by_scope = PermissionsByScope::from(&resolved);
        prop_assert_eq!(by_scope.is_owner, resolved.is_owner());
        for index in 0..NAME_POOL {
            for store in store_queries() {
                let permission = permission_name(index);
                prop_assert_eq!(
                    by_scope.holds(&permission, store.map(store_id)),
                    holds(&resolved, index, store),
                    "permission {} in store {:?}", permission, store
                );
            }
        }
    }
}
