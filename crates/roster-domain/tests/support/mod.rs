//! A realistic account built from the shipped presets: the catalog, the
//! default group tree with generated ids, three stores, and helpers to give
//! users roles.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};

use roster_domain::access::policy::Actor;
use roster_domain::access::{
    resolve, AccountFacts, EffectivePermissions, GroupNode, GroupTree, OverrideEffect, PermissionCatalog,
    PermissionOverride, RoleAssignment, Scope, UserGrants,
};
use roster_domain::account::BillingLevel;
use roster_domain::ids::{GroupId, StoreId, UserId};
use roster_domain::presets::{PermissionName, Presets};

/// One tenant account seeded from `presets/commerce.toml`.
pub struct Fixture {
    pub catalog: PermissionCatalog,
    pub tree: GroupTree,
    pub group_ids: HashMap<String, GroupId>,
    pub stores: [StoreId; 3],
    pub account: AccountFacts,
}

impl Fixture {
    /// A tenant account billed at account level.
    pub fn new() -> Self {
        Self::with_account(AccountFacts { billing_level: BillingLevel::Account, is_platform: false })
    }

    pub fn with_account(account: AccountFacts) -> Self {
        let presets = Presets::builtin();
        let group_ids: HashMap<String, GroupId> =
            presets.groups.iter().map(|group| (group.name.clone(), GroupId::generate())).collect();
        let nodes = presets.groups.iter().map(|group| GroupNode {
            id: group_ids[&group.name],
            name: group.name.clone(),
            parent_id: group.parent.as_ref().map(|parent| group_ids[parent]),
            is_template: group.template,
            permissions: group.permissions.iter().cloned().collect(),
            assignable: group.assignable.iter().map(|name| group_ids[name]).collect(),
        });
        Self {
            catalog: PermissionCatalog::new(presets.permissions),
            tree: GroupTree::new(nodes),
            group_ids,
            stores: [StoreId::generate(), StoreId::generate(), StoreId::generate()],
            account,
        }
    }

    pub fn group(&self, name: &str) -> GroupId {
        self.group_ids[name]
    }

    pub fn role(&self, group: &str, scope: Scope) -> RoleAssignment {
        RoleAssignment { group_id: self.group(group), scope }
    }

    pub fn resolve(&self, grants: &UserGrants) -> EffectivePermissions {
        resolve(&self.catalog, &self.tree, grants, self.account)
    }
}

/// A permission name from the catalog.
pub fn permission(name: &str) -> PermissionName {
    PermissionName::parse("permission", name).unwrap()
}

pub fn grants(assignments: Vec<RoleAssignment>) -> UserGrants {
    UserGrants { is_owner: false, assignments, overrides: Vec::new() }
}

pub fn owner_grants(fixture: &Fixture) -> UserGrants {
    UserGrants {
        is_owner: true,
        assignments: vec![fixture.role("Administrator", Scope::Account)],
        overrides: Vec::new(),
    }
}

pub fn override_of(name: &str, effect: OverrideEffect, scope: Scope) -> PermissionOverride {
    PermissionOverride { permission: permission(name), effect, scope }
}

/// A user with grants, resolved, ready to act or be acted on.
pub struct Person {
    pub user_id: UserId,
    pub grants: UserGrants,
    pub permissions: EffectivePermissions,
    pub assignments: BTreeSet<RoleAssignment>,
}

impl Person {
    pub fn new(fixture: &Fixture, grants: UserGrants) -> Self {
        let permissions = fixture.resolve(&grants);
        let assignments = grants.assignments.iter().copied().collect();
        Self { user_id: UserId::generate(), grants, permissions, assignments }
    }

    pub fn actor<'a>(&'a self, fixture: &Fixture) -> Actor<'a> {
        Actor::new(self.user_id, &self.grants, &self.permissions, &fixture.tree)
    }

    pub fn target(&self) -> roster_domain::access::policy::TargetUser<'_> {
        roster_domain::access::policy::TargetUser {
            user_id: self.user_id,
            is_owner: self.grants.is_owner,
            assignments: &self.assignments,
        }
    }
}
