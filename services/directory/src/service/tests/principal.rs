//! `principal_access` (R14, R16, R29, R40) and the permissions per scope it
//! shares with `GetEffectivePermissions`.

use std::collections::BTreeSet;

use roster_domain::access::{OverrideEffect, PermissionOverride, PermissionsByScope, Scope, UserGrants};
use roster_domain::account::BillingLevel;
use roster_domain::caller::Caller;
use roster_domain::filters::DataFilters;
use roster_domain::groups::GroupPatch;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::presets::{PermissionName, PermissionSpec, ScopeLevel};
use roster_domain::repository::AccountPatch;
use roster_domain::stores::NewStore;
use roster_domain::users::UserPatch;
use roster_domain::ErrorCode;

use super::{account_wide, context, display_name, filters, in_store, Harness, Tenant};
use crate::service::authorization::permissions_by_scope;
use crate::service::permissions::Registration;
use crate::service::principal::{AccessAnswer, PrincipalAccess};
use crate::service::Directory;

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

/// The current answer to a holder of `held`, which must have moved on.
async fn moved(harness: &Harness, tenant: &Tenant, user: UserId, held: i64, change: &str) -> PrincipalAccess {
    match harness.directory.principal_access_since(tenant.account_id, user, Some(held)).await.unwrap() {
        AccessAnswer::Current(access) => {
            assert!(access.access_version > held, "{change}: the version moved on from {held}");
            let fresh = harness.directory.principal_access(tenant.account_id, user).await.unwrap();
            assert_eq!(access, fresh, "{change}: the whole answer, as an unconditional one");
            access
        }
        unchanged => panic!("{change}: a change of the user's access answered {unchanged:?}"),
    }
}

async fn unchanged(harness: &Harness, tenant: &Tenant, user: UserId, held: i64) -> bool {
    let answer = harness.directory.principal_access_since(tenant.account_id, user, Some(held)).await.unwrap();
    answer == AccessAnswer::Unchanged { access_version: held }
}

/// Issue 6, R38: a conditional fetch answers "unchanged" while the account's
/// access version is the one held, and the whole new answer after every kind
/// of change that alters what `principal_access` says; on both backends and
/// through another replica (the version is read, not remembered).
async fn a_held_version_is_unchanged_until_the_access_changes(harness: &Harness, other: &Directory) {
    let acme = harness.sign_up("acme").await;
    let directory = &harness.directory;
    let manager = harness.group(&acme, "Manager").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let first = directory.principal_access(acme.account_id, kenji).await.unwrap();
    assert!(unchanged(harness, &acme, kenji, first.access_version).await);
    assert!(unchanged(harness, &acme, kenji, first.access_version).await, "and again");
    match directory.principal_access_since(acme.account_id, kenji, Some(first.access_version - 1)).await.unwrap() {
        AccessAnswer::Current(access) => assert_eq!(access, first),
        answer => panic!("an older version held is answered whole: {answer:?}"),
    }
    // New users change nobody's access: the version stays, caches stay warm.
    harness.create_user(&acme, "mary", BTreeSet::from([account_wide(manager)]), DataFilters::default()).await;
    assert!(unchanged(harness, &acme, kenji, first.access_version).await);

    other.assign_role(&acme.caller, context(), acme.account_id, kenji, account_wide(manager)).await.unwrap();
    let access = moved(harness, &acme, kenji, first.access_version, "a role assigned through another replica").await;
    assert_eq!(access.groups, [(manager, "Manager".to_owned())]);
    assert!(unchanged(harness, &acme, kenji, access.access_version).await);

    let patch = UserPatch { data_filters: Some(filters("country", &["JP"])), ..UserPatch::default() };
    directory.update_user(&acme.caller, context(), acme.account_id, kenji, patch).await.unwrap();
    let access = moved(harness, &acme, kenji, access.access_version, "R16 data filters").await;
    assert_eq!(access.data_filters.as_map()["country"], ["JP"]);

    let grant = PermissionOverride {
        permission: permission("reports.view"),
        effect: OverrideEffect::Grant,
        scope: Scope::Account,
    };
    let patch = UserPatch { overrides: Some(BTreeSet::from([grant])), ..UserPatch::default() };
    directory.update_user(&acme.caller, context(), acme.account_id, kenji, patch).await.unwrap();
    let access = moved(harness, &acme, kenji, access.access_version, "a permission override").await;
    assert!(access.permissions.holds(&permission("reports.view"), None));

    let rename = GroupPatch { name: Some(display_name("Shift lead")), ..GroupPatch::default() };
    other.update_group(&acme.caller, context(), acme.account_id, manager, rename).await.unwrap();
    let access = moved(harness, &acme, kenji, access.access_version, "a group renamed").await;
    assert_eq!(access.groups, [(manager, "Shift lead".to_owned())]);

    let billing = AccountPatch { display_name: None, billing_level: Some(BillingLevel::Store) };
    directory.update_account(&acme.caller, context(), acme.account_id, billing).await.unwrap();
    let access = moved(harness, &acme, kenji, access.access_version, "R30 the billing level").await;

    let registration = Registration {
        service_name: display_name("orders-service"),
        permissions: vec![PermissionSpec {
            name: permission("orders.refund"),
            description: "Refund orders".to_owned(),
            scope: ScopeLevel::Store,
            billing: false,
            owner_only: false,
        }],
    };
    other.register_permissions(&Caller::InternalService, context(), registration).await.unwrap();
    let access = moved(harness, &acme, kenji, access.access_version, "a new catalog entry").await;

    directory.set_user_blocked(&acme.caller, context(), acme.account_id, kenji, true).await.unwrap();
    let access = moved(harness, &acme, kenji, access.access_version, "R14 a block").await;
    assert!(access.blocked && access.permissions == PermissionsByScope::none());

    other.delete_user(&acme.caller, context(), acme.account_id, kenji).await.unwrap();
    let error = directory.principal_access_since(acme.account_id, kenji, Some(access.access_version)).await;
    assert_eq!(error.map_err(|error| error.reason()), Err("USER_NOT_FOUND"), "a deletion moves the version too");
}

#[tokio::test]
async fn issue6_r38_a_held_access_version_is_unchanged_until_the_access_changes_on_sqlite() {
    let harness = Harness::start().await;
    let other = harness.replica();
    a_held_version_is_unchanged_until_the_access_changes(&harness, &other).await;
}

#[tokio::test]
async fn issue6_r38_a_held_access_version_is_unchanged_until_the_access_changes_on_postgres() {
    let (harness, url) = Harness::on_postgres().await;
    let other = harness.replica_on(&url).await;
    a_held_version_is_unchanged_until_the_access_changes(&harness, &other).await;
}

/// Issue 6, R38, R40: `principal_access` (a login's) reads the account's
/// access version in the same statement as the user's facts, and still
/// serves no cached group tree older than that version: a rename through
/// another replica shows at once, with the old version's entry warm here
/// whether or not its notification was heard yet.
async fn principal_access_is_exact_with_a_warm_entry(harness: &Harness, other: &Directory) {
    let acme = harness.sign_up("acme").await;
    let manager = harness.group(&acme, "Manager").await;
    let kenji =
        harness.create_user(&acme, "kenji", BTreeSet::from([account_wide(manager)]), DataFilters::default()).await;
    let warm = harness.directory.principal_access(acme.account_id, kenji).await.unwrap();
    assert_eq!(harness.directory.principal_access(acme.account_id, kenji).await.unwrap(), warm, "served warm");
    let rename = GroupPatch { name: Some(display_name("Shift lead")), ..GroupPatch::default() };
    other.update_group(&acme.caller, context(), acme.account_id, manager, rename).await.unwrap();

    let access = harness.directory.principal_access(acme.account_id, kenji).await.unwrap();
    assert_eq!(access.groups, [(manager, "Shift lead".to_owned())], "the group tree of the new version");
    assert!(access.access_version > warm.access_version);
    assert!(unchanged(harness, &acme, kenji, access.access_version).await, "labelled with the current version");
}

#[tokio::test]
async fn issue6_r40_principal_access_is_exact_with_a_warm_entry_on_sqlite() {
    let harness = Harness::start().await;
    let other = harness.replica();
    principal_access_is_exact_with_a_warm_entry(&harness, &other).await;
}

#[tokio::test]
async fn issue6_r40_principal_access_is_exact_with_a_warm_entry_on_postgres() {
    let (harness, url) = Harness::on_postgres().await;
    let other = harness.replica_on(&url).await;
    principal_access_is_exact_with_a_warm_entry(&harness, &other).await;
}

/// An ownership transfer (R3) moves the version for the former owner too.
#[tokio::test]
async fn r3_an_ownership_transfer_moves_a_held_version() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    // R3: only an active user can take over; a login activates.
    harness.log_in(&acme, "kenji").await;
    let before = harness.directory.principal_access(acme.account_id, acme.owner.id).await.unwrap();
    assert!(unchanged(&harness, &acme, acme.owner.id, before.access_version).await, "a login changes no access");
    harness.directory.transfer_ownership(&acme.caller, context(), acme.account_id, kenji).await.unwrap();
    let former = moved(&harness, &acme, acme.owner.id, before.access_version, "an ownership transfer").await;
    assert!(!former.is_owner && !former.permissions.is_owner);
}
