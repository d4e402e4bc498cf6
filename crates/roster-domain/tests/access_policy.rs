//! The administration policy over the shipped presets (R5–R8, R31–R33).

mod support;

use std::collections::BTreeSet;

use roster_domain::access::policy::{
    check_assign_role, check_block_user, check_define_group, check_delete_user, check_edit_user, check_manage_user,
    check_outranks, check_override, check_unassign_role,
};
use roster_domain::access::{GroupNode, GroupTree, OverrideEffect, RoleAssignment, Scope};
use roster_domain::ids::GroupId;
use roster_domain::{DomainError, ErrorCode};
use support::{grants, override_of, owner_grants, permission, Fixture, Person};

/// The code and stable reason of a refusal.
fn refusal(result: Result<(), DomainError>) -> (ErrorCode, &'static str) {
    let error = result.expect_err("the act must be refused");
    (error.code(), error.reason())
}

fn denied(reason: &'static str) -> (ErrorCode, &'static str) {
    (ErrorCode::PermissionDenied, reason)
}

fn precondition(reason: &'static str) -> (ErrorCode, &'static str) {
    (ErrorCode::FailedPrecondition, reason)
}

#[test]
fn r31_a_manager_cannot_manage_a_user_with_stores_they_do_not_hold() {
    let fixture = Fixture::new();
    let [own_store, other_store, _] = fixture.stores;
    let manager = Person::new(&fixture, grants(vec![fixture.role("Manager", Scope::Store(own_store))]));
    let actor = manager.actor(&fixture);
    let local = Person::new(&fixture, grants(vec![fixture.role("Team member", Scope::Store(own_store))]));
    let shared = Person::new(
        &fixture,
        grants(vec![
            fixture.role("Team member", Scope::Store(own_store)),
            fixture.role("Team member", Scope::Store(other_store)),
        ]),
    );
    let account_wide = Person::new(&fixture, grants(vec![fixture.role("Accountant", Scope::Account)]));
    assert!(check_manage_user(&actor, &local.target()).is_ok());
    assert!(check_delete_user(&actor, &local.target()).is_ok());
    assert_eq!(refusal(check_delete_user(&actor, &shared.target())), denied("STORE_NOT_HELD"));
    assert_eq!(refusal(check_edit_user(&actor, &account_wide.target())), denied("STORE_NOT_HELD"));
    let message = check_block_user(&actor, &shared.target()).unwrap_err().to_string();
    assert!(message.contains("R31"), "{message}");
    // Adding a team member in a store the manager does not hold.
    let in_other_store = fixture.role("Team member", Scope::Store(other_store));
    let result = check_assign_role(&actor, &fixture.catalog, &fixture.tree, fixture.account, &in_other_store);
    assert_eq!(refusal(result), denied("STORE_NOT_HELD"));
    let in_own_store = fixture.role("Team member", Scope::Store(own_store));
    assert!(check_assign_role(&actor, &fixture.catalog, &fixture.tree, fixture.account, &in_own_store).is_ok());
}

#[test]
fn r7_without_users_manage_nobody_is_managed() {
    let fixture = Fixture::new();
    let [store, ..] = fixture.stores;
    let accountant = Person::new(&fixture, grants(vec![fixture.role("Accountant", Scope::Account)]));
    let team_member = Person::new(&fixture, grants(vec![fixture.role("Team member", Scope::Store(store))]));
    let result = check_manage_user(&accountant.actor(&fixture), &team_member.target());
    assert_eq!(refusal(result), denied("MISSING_PERMISSION"));
    let message = check_manage_user(&accountant.actor(&fixture), &team_member.target()).unwrap_err().to_string();
    assert!(message.contains("R7"), "{message}");
}

#[test]
fn r32_cannot_grant_a_group_not_declared_assignable() {
    let fixture = Fixture::new();
    let [store, ..] = fixture.stores;
    let manager = Person::new(&fixture, grants(vec![fixture.role("Manager", Scope::Store(store))]));
    let accountant = fixture.role("Accountant", Scope::Store(store));
    let result =
        check_assign_role(&manager.actor(&fixture), &fixture.catalog, &fixture.tree, fixture.account, &accountant);
    assert_eq!(refusal(result), denied("NOT_ASSIGNABLE"));
    let administrator = Person::new(&fixture, grants(vec![fixture.role("Administrator", Scope::Account)]));
    let superuser = fixture.role("Superuser", Scope::Account);
    let result =
        check_assign_role(&administrator.actor(&fixture), &fixture.catalog, &fixture.tree, fixture.account, &superuser);
    assert_eq!(refusal(result), denied("NOT_ASSIGNABLE"));
    let unknown = RoleAssignment { group_id: GroupId::generate(), scope: Scope::Account };
    let result =
        check_assign_role(&administrator.actor(&fixture), &fixture.catalog, &fixture.tree, fixture.account, &unknown);
    assert_eq!(refusal(result), (ErrorCode::NotFound, "GROUP_NOT_FOUND"));
}

#[test]
fn r32_cannot_grant_a_group_holding_permissions_the_actor_lacks() {
    let fixture = Fixture::new();
    let [store, other_store, _] = fixture.stores;
    let mut restricted = grants(vec![fixture.role("Administrator", Scope::Account)]);
    restricted.overrides = vec![override_of("orders.view", OverrideEffect::Revoke, Scope::Store(store))];
    let administrator = Person::new(&fixture, restricted);
    let actor = administrator.actor(&fixture);
    let manager_here = fixture.role("Manager", Scope::Store(store));
    let error = check_assign_role(&actor, &fixture.catalog, &fixture.tree, fixture.account, &manager_here).unwrap_err();
    assert_eq!((error.code(), error.reason()), denied("ESCALATION"));
    assert!(error.to_string().contains("R32: cannot grant group Manager: it holds orders.view"), "{error}");
    let manager_there = fixture.role("Manager", Scope::Store(other_store));
    assert!(check_assign_role(&actor, &fixture.catalog, &fixture.tree, fixture.account, &manager_there).is_ok());
    // Account-wide, the group would hold orders.view in the revoked store too.
    let manager_everywhere = fixture.role("Manager", Scope::Account);
    let result = check_assign_role(&actor, &fixture.catalog, &fixture.tree, fixture.account, &manager_everywhere);
    assert_eq!(refusal(result), denied("ESCALATION"));
    // The same holds for single permissions, granted or removed.
    let manager = Person::new(&fixture, grants(vec![fixture.role("Manager", Scope::Store(store))]));
    for effect in [OverrideEffect::Grant, OverrideEffect::Revoke] {
        let process = override_of("orders.process", effect, Scope::Store(store));
        let result = check_override(&manager.actor(&fixture), &fixture.catalog, fixture.account, &process);
        assert_eq!(refusal(result), denied("ESCALATION"));
    }
    let view = override_of("orders.view", OverrideEffect::Revoke, Scope::Store(store));
    assert!(check_override(&manager.actor(&fixture), &fixture.catalog, fixture.account, &view).is_ok());
}

#[test]
fn r32_self_escalation_is_impossible() {
    let fixture = Fixture::new();
    let [store, ..] = fixture.stores;
    // A group whose members may hand out Accountant, which Manager may not.
    let team_lead = GroupNode {
        id: GroupId::generate(),
        name: "Team lead".to_owned(),
        parent_id: Some(fixture.group("Operator Root")),
        is_template: false,
        permissions: BTreeSet::from([permission("transactions.view")]),
        assignable: BTreeSet::from([fixture.group("Accountant")]),
    };
    let nodes = fixture.tree.nodes().cloned().map(|mut node| {
        if node.name == "Manager" {
            node.assignable.insert(team_lead.id);
        }
        node
    });
    let tree = GroupTree::new(nodes.chain([team_lead.clone()]));
    let manager = Person::new(&fixture, grants(vec![fixture.role("Manager", Scope::Store(store))]));
    let actor =
        roster_domain::access::policy::Actor::new(manager.user_id, &manager.grants, &manager.permissions, &tree);
    let administrator_for_self = fixture.role("Administrator", Scope::Store(store));
    let result = check_assign_role(&actor, &fixture.catalog, &tree, fixture.account, &administrator_for_self);
    assert_eq!(refusal(result), denied("NOT_ASSIGNABLE"));
    let team_lead_for_self = RoleAssignment { group_id: team_lead.id, scope: Scope::Store(store) };
    let error = check_assign_role(&actor, &fixture.catalog, &tree, fixture.account, &team_lead_for_self).unwrap_err();
    assert_eq!((error.code(), error.reason()), denied("ESCALATION"));
    assert!(error.to_string().contains("hand out"), "{error}");
    // Nor can an administrator define a group handing out Superuser, or holding stores.create.
    let administrator = Person::new(&fixture, grants(vec![fixture.role("Administrator", Scope::Account)]));
    let actor = administrator.actor(&fixture);
    let define = |permissions: &[&str], assignable: &[&str]| {
        let permissions = permissions.iter().map(|name| permission(name)).collect();
        let assignable = assignable.iter().map(|name| fixture.group(name)).collect();
        let parent = Some(fixture.group("Operator Root"));
        check_define_group(&actor, &fixture.catalog, &fixture.tree, fixture.account, &permissions, parent, &assignable)
    };
    assert!(define(&["orders.view"], &["Team member"]).is_ok());
    assert_eq!(refusal(define(&[], &["Superuser"])), denied("ESCALATION"));
    assert_eq!(refusal(define(&["stores.create"], &[])), denied("ESCALATION"));
}

#[test]
fn r5_the_owner_cannot_be_deleted_blocked_or_demoted() {
    let fixture = Fixture::new();
    let owner = Person::new(&fixture, owner_grants(&fixture));
    let superuser = Person::new(&fixture, grants(vec![fixture.role("Superuser", Scope::Account)]));
    let actor = superuser.actor(&fixture);
    assert_eq!(refusal(check_delete_user(&actor, &owner.target())), precondition("OWNER_PROTECTED"));
    assert_eq!(refusal(check_block_user(&actor, &owner.target())), precondition("OWNER_PROTECTED"));
    let owner_role = fixture.role("Administrator", Scope::Account);
    let result =
        check_unassign_role(&actor, &owner.target(), &fixture.catalog, &fixture.tree, fixture.account, &owner_role);
    assert_eq!(refusal(result), precondition("OWNER_PROTECTED"));
    assert_eq!(refusal(check_edit_user(&actor, &owner.target())), denied("OWNER_ONLY"));
    // Not even the owner deletes or blocks the owner; they edit themselves freely.
    let owner_actor = owner.actor(&fixture);
    assert_eq!(refusal(check_delete_user(&owner_actor, &owner.target())), precondition("OWNER_PROTECTED"));
    assert!(check_edit_user(&owner_actor, &owner.target()).is_ok());
    let message = check_delete_user(&actor, &owner.target()).unwrap_err().to_string();
    assert!(message.starts_with("R5: "), "{message}");
}

#[test]
fn r8_nobody_deletes_themselves() {
    let fixture = Fixture::new();
    let administrator = Person::new(&fixture, grants(vec![fixture.role("Administrator", Scope::Account)]));
    let actor = administrator.actor(&fixture);
    assert_eq!(refusal(check_delete_user(&actor, &administrator.target())), precondition("SELF_DELETE"));
    assert_eq!(refusal(check_block_user(&actor, &administrator.target())), precondition("SELF_BLOCK"));
    assert!(check_edit_user(&actor, &administrator.target()).is_ok(), "own profile fields stay editable");
}

#[test]
fn r33_superuser_reaches_every_store_and_can_assign_administrators() {
    let fixture = Fixture::new();
    let superuser = Person::new(&fixture, grants(vec![fixture.role("Superuser", Scope::Account)]));
    assert!(superuser.permissions.holds(&permission("stores.create"), None));
    assert!(superuser.permissions.holds(&permission("stores.manage"), None));
    assert!(superuser.permissions.holds(&permission("orders.view"), Some(roster_domain::ids::StoreId::generate())));
    let actor = superuser.actor(&fixture);
    for scope in [Scope::Account, Scope::Store(fixture.stores[0])] {
        let administrator = fixture.role("Administrator", scope);
        assert!(check_assign_role(&actor, &fixture.catalog, &fixture.tree, fixture.account, &administrator).is_ok());
    }
    let administrator = Person::new(&fixture, grants(vec![fixture.role("Administrator", Scope::Account)]));
    assert!(!administrator.permissions.holds(&permission("stores.create"), None));
    assert!(check_delete_user(&actor, &administrator.target()).is_ok());
}

#[test]
fn r6_owner_only_permissions_cannot_be_handed_out_even_by_the_owner() {
    let fixture = Fixture::new();
    let owner = Person::new(&fixture, owner_grants(&fixture));
    let actor = owner.actor(&fixture);
    let sign = override_of("documents.sign", OverrideEffect::Grant, Scope::Account);
    let result = check_override(&actor, &fixture.catalog, fixture.account, &sign);
    assert_eq!(refusal(result), precondition("OWNER_ONLY_PERMISSION"));
    let permissions = BTreeSet::from([permission("documents.sign")]);
    let result = check_define_group(
        &actor,
        &fixture.catalog,
        &fixture.tree,
        fixture.account,
        &permissions,
        None,
        &BTreeSet::new(),
    );
    assert_eq!(refusal(result), precondition("OWNER_ONLY_PERMISSION"));
}

#[test]
fn unknown_permissions_are_named_in_field_violations() {
    let fixture = Fixture::new();
    let owner = Person::new(&fixture, owner_grants(&fixture));
    let actor = owner.actor(&fixture);
    let unknown = override_of("ghost.power", OverrideEffect::Grant, Scope::Account);
    let error = check_override(&actor, &fixture.catalog, fixture.account, &unknown).unwrap_err();
    assert_eq!(error.reason(), "UNKNOWN_PERMISSION");
    assert_eq!(error.field_violations()[0].field, "overrides.permission");
    let permissions = BTreeSet::from([permission("ghost.power"), permission("orders.view")]);
    let error = check_define_group(
        &actor,
        &fixture.catalog,
        &fixture.tree,
        fixture.account,
        &permissions,
        None,
        &BTreeSet::new(),
    )
    .unwrap_err();
    assert_eq!(error.reason(), "UNKNOWN_PERMISSION");
    assert_eq!(error.field_violations().len(), 1);
    assert_eq!(error.field_violations()[0].field, "permissions");
}

#[test]
fn the_owner_may_assign_every_group() {
    let fixture = Fixture::new();
    let owner = Person::new(&fixture, owner_grants(&fixture));
    let actor = owner.actor(&fixture);
    assert_eq!(actor.assignable.len(), fixture.tree.nodes().count());
    for node in fixture.tree.nodes() {
        let assignment = RoleAssignment { group_id: node.id, scope: Scope::Account };
        let result = check_assign_role(&actor, &fixture.catalog, &fixture.tree, fixture.account, &assignment);
        assert!(result.is_ok(), "{}: {result:?}", node.name);
    }
    let manager = Person::new(&fixture, grants(vec![fixture.role("Manager", Scope::Store(fixture.stores[0]))]));
    assert_eq!(manager.actor(&fixture).assignable, BTreeSet::from([fixture.group("Team member")]));
}

#[test]
fn groups_manage_is_needed_to_define_groups() {
    let fixture = Fixture::new();
    let manager = Person::new(&fixture, grants(vec![fixture.role("Manager", Scope::Account)]));
    let result = check_define_group(
        &manager.actor(&fixture),
        &fixture.catalog,
        &fixture.tree,
        fixture.account,
        &BTreeSet::new(),
        None,
        &BTreeSet::new(),
    );
    assert_eq!(refusal(result), denied("MISSING_PERMISSION"));
}

#[test]
fn r32_a_manager_cannot_manage_a_user_whose_roles_outrank_theirs() {
    let fixture = Fixture::new();
    let [store_a, _, _] = fixture.stores;
    let manager = Person::new(&fixture, grants(vec![fixture.role("Manager", Scope::Store(store_a))]));
    let actor = manager.actor(&fixture);
    let store_administrator = Person::new(&fixture, grants(vec![fixture.role("Administrator", Scope::Store(store_a))]));
    let team_member = Person::new(&fixture, grants(vec![fixture.role("Team member", Scope::Store(store_a))]));
    // users.manage in store A alone would let the manager reset an administrator's password.
    assert!(check_manage_user(&actor, &store_administrator.target()).is_ok());
    let refused =
        check_outranks(&actor, &store_administrator.target(), &fixture.catalog, &fixture.tree, fixture.account);
    assert_eq!(refusal(refused), denied("NOT_ASSIGNABLE"));
    assert!(check_outranks(&actor, &team_member.target(), &fixture.catalog, &fixture.tree, fixture.account).is_ok());
    let owner = Person::new(&fixture, owner_grants(&fixture));
    let owner_actor = owner.actor(&fixture);
    assert!(check_outranks(
        &owner_actor,
        &store_administrator.target(),
        &fixture.catalog,
        &fixture.tree,
        fixture.account
    )
    .is_ok());
}
