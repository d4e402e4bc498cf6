//! `principal_access` (R14, R16, R29, R40) and the permissions per scope it
//! shares with `GetEffectivePermissions`.

use std::collections::BTreeSet;

use roster_domain::access::{PermissionsByScope, UserGrants};
use roster_domain::caller::Caller;
use roster_domain::filters::DataFilters;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::presets::PermissionName;
use roster_domain::stores::NewStore;
use roster_domain::ErrorCode;

use super::{account_wide, context, display_name, filters, in_store, Harness};
use crate::service::authorization::permissions_by_scope;

fn permission(name: &str) -> PermissionName {
    PermissionName::parse("permission", name).unwrap()
}

#[tokio::test]
async fn r40_principal_access_has_groups_permissions_per_scope_and_filters() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let new_store = NewStore { account_id: acme.account_id, name: display_name("Shibuya"), is_public: false };
    let shibuya = harness.directory.repository.create_store(new_store, &context()).await.unwrap().id;
    let manager = harness.group(&acme, "Manager").await;
    let team_member = harness.group(&acme, "Team member").await;
    let assignments =
        BTreeSet::from([in_store(manager, shibuya), account_wide(team_member), in_store(team_member, shibuya)]);
    let kenji = harness.create_user(&acme, "kenji", assignments, filters("country", &["US", "JP"])).await;

    let access = harness.directory.principal_access(acme.account_id, kenji).await.unwrap();
    assert_eq!((access.user_id, access.account_id), (kenji, acme.account_id));
    assert_eq!(access.groups, [(manager, "Manager".to_owned()), (team_member, "Team member".to_owned())]);
    assert!(!access.is_owner && !access.is_platform_operator && !access.blocked);
    assert_eq!(access.data_filters.as_map()["country"], ["JP", "US"]);
    // R29: users.view is account-level; orders.view is store-level and held
    // only where the manager assignment reaches.
    assert!(access.permissions.holds(&permission("users.view"), None));
    assert!(access.permissions.holds(&permission("orders.view"), Some(shibuya)));
    assert!(!access.permissions.holds(&permission("orders.view"), None));
    assert!(!access.permissions.holds(&permission("orders.view"), Some(roster_domain::ids::StoreId::generate())));
    assert!(!access.permissions.holds(&permission("stores.create"), None));
    // The same answer GetEffectivePermissions gives.
    let effective = harness.directory.effective_permissions(&Caller::InternalService, acme.account_id, kenji).await;
    assert_eq!(access.permissions, effective.unwrap());

    let owner = harness.directory.principal_access(acme.account_id, acme.owner.id).await.unwrap();
    assert!(owner.is_owner && owner.permissions.is_owner);
    assert_eq!(owner.groups.iter().map(|(_, name)| name.as_str()).collect::<Vec<_>>(), ["Administrator"]);
    assert!(owner.permissions.holds(&permission("users.manage"), None));
    assert!(owner.permissions.holds(&permission("documents.sign"), None), "R6: owner-only acts are the owner's");
    assert_eq!(owner.data_filters, DataFilters::default());
}

#[tokio::test]
async fn r14_a_blocked_user_holds_nothing_but_stays_owner_if_owner() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let manager = harness.group(&acme, "Manager").await;
    let kenji =
        harness.create_user(&acme, "kenji", BTreeSet::from([account_wide(manager)]), filters("country", &["JP"])).await;
    harness.directory.set_user_blocked(&acme.caller, context(), acme.account_id, kenji, true).await.unwrap();

    let access = harness.directory.principal_access(acme.account_id, kenji).await.unwrap();
    assert!(access.blocked);
    assert_eq!(access.permissions, PermissionsByScope::none());
    assert_eq!(access.groups.len(), 1, "the groups still show");

    // The owner cannot be blocked (R5); the rule still keeps the flag.
    let snapshot = harness.directory.repository.access_snapshot(acme.account_id).await.unwrap();
    let grants = UserGrants { is_owner: true, assignments: vec![account_wide(manager)], overrides: Vec::new() };
    let blocked_owner = permissions_by_scope(&snapshot, &grants, true);
    assert_eq!(blocked_owner, PermissionsByScope { is_owner: true, ..PermissionsByScope::none() });
}

#[tokio::test]
async fn r40_a_user_or_account_that_is_gone_is_user_not_found() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let globex = harness.sign_up("globex").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let not_found = |outcome: Result<_, roster_domain::DomainError>| {
        let error = outcome.expect_err("not found");
        (error.code(), error.reason())
    };
    let expected = (ErrorCode::NotFound, "USER_NOT_FOUND");
    assert_eq!(not_found(harness.directory.principal_access(acme.account_id, UserId::generate()).await), expected);
    assert_eq!(not_found(harness.directory.principal_access(globex.account_id, kenji).await), expected);
    assert_eq!(not_found(harness.directory.principal_access(AccountId::generate(), kenji).await), expected);
    harness.directory.delete_user(&acme.caller, context(), acme.account_id, kenji).await.unwrap();
    assert_eq!(not_found(harness.directory.principal_access(acme.account_id, kenji).await), expected);
}
