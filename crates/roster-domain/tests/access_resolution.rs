//! Effective permissions over the shipped presets (R2, R6, R21, R24, R28,
//! R29, R30, R34).

mod support;

use std::collections::BTreeSet;

use roster_domain::access::{anonymous_holds, AccountFacts, GroupNode, GroupTree, OverrideEffect, Scope, StoreReach};
use roster_domain::access::{resolve, UserGrants};
use roster_domain::account::BillingLevel;
use roster_domain::ids::{GroupId, StoreId};
use support::{grants, override_of, owner_grants, permission, Fixture};

#[test]
fn r21_a_group_inherits_its_ancestors_permissions() {
    let fixture = Fixture::new();
    let [store, ..] = fixture.stores;
    let manager = fixture.resolve(&grants(vec![fixture.role("Manager", Scope::Store(store))]));
    // Manager's own permission, and Operator Root's.
    assert!(manager.holds(&permission("orders.view"), Some(store)));
    assert!(manager.holds(&permission("products.view"), Some(store)));
    assert!(manager.holds(&permission("stores.view"), None));
    let administrator = fixture.resolve(&grants(vec![fixture.role("Administrator", Scope::Account)]));
    // Administrator declares no permission of its own: all come from Administrator Root.
    assert!(administrator.holds(&permission("audit.view"), None));
    assert!(administrator.holds(&permission("customers.manage"), None));
    assert!(!administrator.holds(&permission("stores.create"), None), "stores.create belongs to Superuser only");
}

#[test]
fn r24_a_revoke_wins_over_every_grant() {
    let fixture = Fixture::new();
    let [revoked_store, other_store, _] = fixture.stores;
    let mut user = grants(vec![
        fixture.role("Administrator", Scope::Account),
        fixture.role("Manager", Scope::Store(revoked_store)),
    ]);
    user.overrides = vec![
        override_of("orders.view", OverrideEffect::Grant, Scope::Store(revoked_store)),
        override_of("orders.view", OverrideEffect::Revoke, Scope::Store(revoked_store)),
        override_of("audit.view", OverrideEffect::Grant, Scope::Account),
        override_of("audit.view", OverrideEffect::Revoke, Scope::Account),
        override_of("customers.view", OverrideEffect::Revoke, Scope::Account),
    ];
    let resolved = fixture.resolve(&user);
    let orders_view = permission("orders.view");
    assert!(!resolved.holds(&orders_view, Some(revoked_store)));
    assert!(resolved.holds(&orders_view, Some(other_store)));
    assert!(!resolved.holds(&orders_view, None), "not held in every store any more");
    assert!(resolved.holds(&orders_view, Some(StoreId::generate())), "a store created later is covered");
    assert_eq!(resolved.excluded_stores(&orders_view), BTreeSet::from([revoked_store]));
    assert_eq!(resolved.reach(&orders_view), StoreReach::Stores(BTreeSet::new()));
    assert!(!resolved.holds(&permission("audit.view"), None));
    for store in fixture.stores {
        assert!(!resolved.holds(&permission("customers.view"), Some(store)));
        assert!(!resolved.store_permissions(store).contains(&permission("customers.view")));
    }
    assert_eq!(resolved.reach(&permission("customers.view")), StoreReach::Nowhere);
}

#[test]
fn r24_a_store_scoped_revoke_of_an_account_level_permission_removes_it() {
    let fixture = Fixture::new();
    let mut user = grants(vec![fixture.role("Manager", Scope::Store(fixture.stores[0]))]);
    user.overrides = vec![override_of("users.view", OverrideEffect::Revoke, Scope::Store(fixture.stores[1]))];
    let resolved = fixture.resolve(&user);
    assert!(!resolved.holds(&permission("users.view"), None), "an account-level permission has no per-store holes");
    assert!(!resolved.holds(&permission("users.view"), Some(fixture.stores[0])));
}

#[test]
fn r28_an_account_wide_assignment_reaches_every_store() {
    let fixture = Fixture::new();
    let administrator = fixture.resolve(&grants(vec![fixture.role("Administrator", Scope::Account)]));
    let orders_view = permission("orders.view");
    assert_eq!(administrator.reach(&orders_view), StoreReach::Everywhere);
    assert!(administrator.holds(&orders_view, None));
    for store in fixture.stores.into_iter().chain([StoreId::generate()]) {
        assert!(administrator.holds(&orders_view, Some(store)));
        assert!(administrator.store_permissions(store).contains(&orders_view));
    }
    assert!(administrator.every_store_permissions().contains(&orders_view));
    assert!(administrator.named_stores().is_empty());
}

#[test]
fn r29_store_level_permissions_hold_only_in_assigned_stores_account_level_everywhere() {
    let fixture = Fixture::new();
    let [own_store, other_store, _] = fixture.stores;
    let manager = fixture.resolve(&grants(vec![fixture.role("Manager", Scope::Store(own_store))]));
    let orders_view = permission("orders.view");
    assert!(manager.holds(&orders_view, Some(own_store)));
    assert!(!manager.holds(&orders_view, Some(other_store)));
    assert!(!manager.holds(&orders_view, None));
    assert_eq!(manager.reach(&orders_view), StoreReach::Stores(BTreeSet::from([own_store])));
    // A manager lists every team member and every store name.
    for account_level in ["users.view", "stores.view"] {
        assert!(manager.holds(&permission(account_level), None));
        assert!(manager.holds(&permission(account_level), Some(other_store)));
        assert!(manager.account_permissions().contains(&permission(account_level)));
        assert_eq!(manager.reach(&permission(account_level)), StoreReach::Everywhere);
    }
    assert!(!manager.store_permissions(own_store).contains(&permission("users.view")), "store listing is store-level");
    assert!(manager.store_permissions(own_store).contains(&orders_view));
    assert!(manager.store_permissions(other_store).is_empty());
    assert_eq!(manager.named_stores(), BTreeSet::from([own_store]));
}

#[test]
fn r30_billing_permissions_follow_the_billing_level() {
    let [store_billed, account_billed] = [BillingLevel::Store, BillingLevel::Account]
        .map(|billing_level| Fixture::with_account(AccountFacts { billing_level, is_platform: false }));
    for (fixture, account_level) in [(&account_billed, true), (&store_billed, false)] {
        let [own_store, other_store, _] = fixture.stores;
        let accountant = fixture.resolve(&grants(vec![fixture.role("Accountant", Scope::Store(own_store))]));
        for billing in ["invoices.view", "payouts.view", "bank_accounts.view"] {
            assert!(accountant.holds(&permission(billing), Some(own_store)));
            assert_eq!(accountant.holds(&permission(billing), Some(other_store)), account_level, "{billing}");
            assert_eq!(accountant.holds(&permission(billing), None), account_level, "{billing}");
        }
        // Not a billing permission: store-level whatever the billing level.
        assert!(!accountant.holds(&permission("transactions.view"), Some(other_store)));
    }
}

#[test]
fn r34_anonymous_only_in_public_stores() {
    let fixture = Fixture::new();
    let anonymous = Some(fixture.group("Anonymous"));
    let holds = |name: &str, public: bool| {
        anonymous_holds(&fixture.catalog, &fixture.tree, anonymous, fixture.account, &permission(name), public)
    };
    assert!(holds("storefront.browse", true));
    assert!(!holds("storefront.browse", false));
    assert!(!holds("storefront.order", true), "ordering needs registration");
    assert!(!holds("users.view", true));
    let no_anonymous_group = |public| {
        anonymous_holds(
            &fixture.catalog,
            &fixture.tree,
            None,
            fixture.account,
            &permission("storefront.browse"),
            public,
        )
    };
    assert!(!no_anonymous_group(true));
}

#[test]
fn r34_anonymous_holds_no_account_level_permission_even_if_its_group_lists_one() {
    let fixture = Fixture::new();
    let anonymous = GroupNode {
        id: GroupId::generate(),
        name: "Anonymous".to_owned(),
        parent_id: None,
        is_template: false,
        permissions: BTreeSet::from([permission("users.view"), permission("storefront.browse")]),
        assignable: BTreeSet::new(),
    };
    let tree = GroupTree::new([anonymous.clone()]);
    let holds = |name: &str| {
        anonymous_holds(&fixture.catalog, &tree, Some(anonymous.id), fixture.account, &permission(name), true)
    };
    assert!(!holds("users.view"));
    assert!(holds("storefront.browse"));
}

#[test]
fn r6_owner_only_permissions_are_never_granted_by_groups_or_overrides() {
    let fixture = Fixture::new();
    // A tampered group (the preset loader refuses this) and an override both try.
    let tampered = GroupNode {
        id: GroupId::generate(),
        name: "Signers".to_owned(),
        parent_id: Some(fixture.group("Administrator")),
        is_template: false,
        permissions: BTreeSet::from([permission("documents.sign")]),
        assignable: BTreeSet::new(),
    };
    let tree = GroupTree::new(fixture.tree.nodes().cloned().chain([tampered.clone()]));
    let mut user = grants(vec![roster_domain::access::RoleAssignment { group_id: tampered.id, scope: Scope::Account }]);
    user.overrides = vec![override_of("account.manage", OverrideEffect::Grant, Scope::Account)];
    let resolved = resolve(&fixture.catalog, &tree, &user, fixture.account);
    assert!(resolved.holds(&permission("users.manage"), None), "the rest of the group still counts");
    assert!(!resolved.holds(&permission("documents.sign"), None));
    assert!(!resolved.holds(&permission("account.manage"), None));
    let owner = resolve(&fixture.catalog, &tree, &owner_grants(&fixture), fixture.account);
    assert!(owner.holds(&permission("documents.sign"), None));
    assert!(owner.holds(&permission("account.manage"), None));
}

#[test]
fn r2_the_owner_holds_everything() {
    let fixture = Fixture::new();
    let mut owner = owner_grants(&fixture);
    owner.overrides = vec![override_of("orders.view", OverrideEffect::Revoke, Scope::Account)];
    let resolved = fixture.resolve(&owner);
    assert!(resolved.is_owner());
    for spec in fixture.catalog.iter() {
        let platform = spec.name.as_str().starts_with("platform.");
        assert_eq!(resolved.holds(&spec.name, None), !platform, "{}", spec.name);
        assert_eq!(resolved.holds(&spec.name, Some(StoreId::generate())), !platform, "{}", spec.name);
        let expected = if platform { StoreReach::Nowhere } else { StoreReach::Everywhere };
        assert_eq!(resolved.reach(&spec.name), expected, "{}", spec.name);
    }
    assert!(!resolved.holds(&permission("unknown.permission"), None));
}

#[test]
fn platform_permissions_hold_only_in_the_platform_account() {
    let force = permission("platform.ownership.force");
    for is_platform in [false, true] {
        let fixture = Fixture::with_account(AccountFacts { billing_level: BillingLevel::Account, is_platform });
        let owner = fixture.resolve(&owner_grants(&fixture));
        assert_eq!(owner.holds(&force, None), is_platform);
        let mut operator = grants(vec![fixture.role("Administrator", Scope::Account)]);
        operator.overrides = vec![override_of("platform.ownership.force", OverrideEffect::Grant, Scope::Account)];
        let operator = fixture.resolve(&operator);
        assert_eq!(operator.holds(&force, None), is_platform);
        assert_eq!(operator.holds(&force, Some(fixture.stores[0])), is_platform);
    }
}

#[test]
fn nobody_holds_anything_by_default() {
    let fixture = Fixture::new();
    let nobody = fixture.resolve(&UserGrants::default());
    assert!(!nobody.is_owner());
    assert!(!nobody.holds(&permission("storefront.browse"), Some(fixture.stores[0])));
    assert_eq!(nobody, roster_domain::access::EffectivePermissions::default());
}
