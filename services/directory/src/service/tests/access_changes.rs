//! R38: every committed change that alters what `principal_access` answers
//! tells the broker, once, after the commit: about the users it concerns, or
//! the whole account; changes that alter nobody's access tell it nothing;
//! and a broker that is down or stalled never fails the change.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use roster_domain::access::{OverrideEffect, PermissionOverride, Scope};
use roster_domain::account::BillingLevel;
use roster_domain::caller::Caller;
use roster_domain::filters::DataFilters;
use roster_domain::groups::{BadgeColour, GroupPatch};
use roster_domain::names::{EmailAddress, LoginName};
use roster_domain::presets::{PermissionName, PermissionSpec, ScopeLevel};
use roster_domain::repository::AccountPatch;
use roster_domain::stores::StorePatch;
use roster_domain::users::UserPatch;

use super::{account_wide, context, display_name, filters, BrokerCall, BrokerMode, Harness, Tenant};
use crate::service::groups::DefineGroup;
use crate::service::permissions::Registration;
use crate::service::stores::CreateStore;
use crate::service::users::CopyUser;

fn permission(name: &str) -> PermissionName {
    PermissionName::parse("permission", name).unwrap()
}

fn whole_account(tenant: &Tenant) -> BrokerCall {
    BrokerCall::Invalidate(tenant.account_id, Vec::new())
}

fn users(tenant: &Tenant, users: &[roster_domain::ids::UserId]) -> BrokerCall {
    BrokerCall::Invalidate(tenant.account_id, users.to_vec())
}

#[tokio::test]
async fn r38_role_changes_invalidate_the_user_when_something_changed() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    assert!(harness.broker_calls().is_empty(), "a new user has no session to tell about");
    let manager = account_wide(harness.group(&acme, "Manager").await);
    let directory = &harness.directory;

    directory.assign_role(&acme.caller, context(), acme.account_id, kenji, manager).await.unwrap();
    assert_eq!(harness.broker_calls(), [users(&acme, &[kenji])]);
    directory.assign_role(&acme.caller, context(), acme.account_id, kenji, manager).await.unwrap();
    assert!(harness.broker_calls().is_empty(), "assigning what is there changes nothing");
    assert!(directory.unassign_role(&acme.caller, context(), acme.account_id, kenji, manager).await.unwrap());
    assert_eq!(harness.broker_calls(), [users(&acme, &[kenji])]);
    assert!(!directory.unassign_role(&acme.caller, context(), acme.account_id, kenji, manager).await.unwrap());
    assert!(harness.broker_calls().is_empty());
}

#[tokio::test]
async fn r38_user_updates_invalidate_on_overrides_and_filters_only() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let update =
        |patch: UserPatch| harness.directory.update_user(&acme.caller, context(), acme.account_id, kenji, patch);

    let rename = UserPatch {
        display_name: Some(display_name("Kenji Sato")),
        email: Some(EmailAddress::parse("email", "sato@example.com").unwrap()),
        ..UserPatch::default()
    };
    update(rename).await.unwrap();
    assert!(harness.broker_calls().is_empty(), "names and emails are no one's access");
    let filtered = UserPatch { data_filters: Some(filters("country", &["JP"])), ..UserPatch::default() };
    update(filtered.clone()).await.unwrap();
    assert_eq!(harness.broker_calls(), [users(&acme, &[kenji])]);
    update(filtered).await.unwrap();
    assert!(harness.broker_calls().is_empty(), "the same filters again change nothing");
    let grant = PermissionOverride {
        permission: permission("reports.view"),
        effect: OverrideEffect::Grant,
        scope: Scope::Account,
    };
    let overridden = UserPatch { overrides: Some(BTreeSet::from([grant])), ..UserPatch::default() };
    update(overridden).await.unwrap();
    assert_eq!(harness.broker_calls(), [users(&acme, &[kenji])]);
}

#[tokio::test]
async fn r38_block_unblock_and_delete_invalidate_the_user() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let directory = &harness.directory;
    let block = |blocked: bool| directory.set_user_blocked(&acme.caller, context(), acme.account_id, kenji, blocked);

    block(true).await.unwrap();
    assert_eq!(
        harness.broker_calls(),
        [users(&acme, &[kenji]), BrokerCall::Revoke(acme.account_id, kenji, "user_blocked".to_owned())]
    );
    block(true).await.unwrap();
    let calls = harness.broker_calls();
    assert!(!calls.contains(&users(&acme, &[kenji])), "already blocked: {calls:?}");
    block(false).await.unwrap();
    assert_eq!(harness.broker_calls(), [users(&acme, &[kenji])]);
    directory.delete_user(&acme.caller, context(), acme.account_id, kenji).await.unwrap();
    assert_eq!(
        harness.broker_calls(),
        [users(&acme, &[kenji]), BrokerCall::Revoke(acme.account_id, kenji, "user_deleted".to_owned())]
    );
}

#[tokio::test]
async fn r38_copies_and_new_users_tell_the_broker_nothing() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let manager = account_wide(harness.group(&acme, "Manager").await);
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::from([manager]), filters("country", &["JP"])).await;
    let copy = CopyUser {
        source_user_id: kenji,
        login_name: LoginName::parse("login_name", "mary").unwrap(),
        email: EmailAddress::parse("email", "mary@example.com").unwrap(),
        display_name: display_name("Mary"),
    };
    harness.directory.copy_user(&acme.caller, context(), acme.account_id, copy).await.unwrap();
    assert!(harness.broker_calls().is_empty());
}

#[tokio::test]
async fn r38_group_changes_invalidate_the_whole_account() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let directory = &harness.directory;
    let define = DefineGroup {
        name: display_name("Night shift"),
        parent_id: Some(harness.group(&acme, "Operator Root").await),
        is_template: false,
        badge_colour: BadgeColour::parse("badge_colour", "#112233").unwrap(),
        permissions: BTreeSet::from([permission("orders.view")]),
        assignable: BTreeSet::new(),
    };
    let group = directory.create_group(&acme.caller, context(), acme.account_id, define).await.unwrap().group.id;
    assert!(harness.broker_calls().is_empty(), "a new group has no members");
    let update = |patch: GroupPatch| directory.update_group(&acme.caller, context(), acme.account_id, group, patch);

    let recolour = GroupPatch {
        badge_colour: Some(BadgeColour::parse("badge_colour", "#445566").unwrap()),
        ..GroupPatch::default()
    };
    update(recolour).await.unwrap();
    assert!(harness.broker_calls().is_empty(), "a badge colour is no one's access");
    let regrant =
        GroupPatch { permissions: Some(BTreeSet::from([permission("orders.process")])), ..GroupPatch::default() };
    update(regrant.clone()).await.unwrap();
    assert_eq!(harness.broker_calls(), [whole_account(&acme)]);
    update(regrant).await.unwrap();
    assert!(harness.broker_calls().is_empty(), "the same permissions again change nothing");
    update(GroupPatch { name: Some(display_name("Late shift")), ..GroupPatch::default() }).await.unwrap();
    assert_eq!(harness.broker_calls(), [whole_account(&acme)], "principals carry group names");
    update(GroupPatch { parent_id: Some(None), ..GroupPatch::default() }).await.unwrap();
    assert_eq!(harness.broker_calls(), [whole_account(&acme)]);
    directory.delete_group(&acme.caller, context(), acme.account_id, group).await.unwrap();
    assert_eq!(harness.broker_calls(), [whole_account(&acme)]);
}

#[tokio::test]
async fn r38_deleting_a_store_invalidates_the_whole_account() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let directory = &harness.directory;
    let request = CreateStore { name: display_name("Shibuya"), is_public: false };
    let store_id = directory.create_store(&acme.caller, context(), acme.account_id, request).await.unwrap().id;
    let rename = StorePatch { name: Some(display_name("Shibuya East")), is_public: Some(true) };
    directory.update_store(&acme.caller, context(), acme.account_id, store_id, rename).await.unwrap();
    assert!(harness.broker_calls().is_empty());
    directory.delete_store(&acme.caller, context(), acme.account_id, store_id).await.unwrap();
    assert_eq!(harness.broker_calls(), [whole_account(&acme)]);
}

#[tokio::test]
async fn r38_r30_an_account_update_invalidates_on_the_billing_level_only() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let update =
        |patch: AccountPatch| harness.directory.update_account(&acme.caller, context(), acme.account_id, patch);
    update(AccountPatch { display_name: Some(display_name("Acme Corporation")), billing_level: None }).await.unwrap();
    assert!(harness.broker_calls().is_empty());
    update(AccountPatch { display_name: None, billing_level: Some(BillingLevel::Account) }).await.unwrap();
    assert!(harness.broker_calls().is_empty(), "the level it already has");
    update(AccountPatch { display_name: None, billing_level: Some(BillingLevel::Store) }).await.unwrap();
    assert_eq!(harness.broker_calls(), [whole_account(&acme)]);
}

#[tokio::test]
async fn r38_an_ownership_transfer_invalidates_both_owners() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    // R3: only an active user can take over; a login activates.
    harness.log_in(&acme, "kenji").await;
    harness.broker_calls();

    let before = harness.directory.principal_access(acme.account_id, acme.owner.id).await.unwrap();
    assert!(before.is_owner && before.permissions.is_owner);

    harness.directory.transfer_ownership(&acme.caller, context(), acme.account_id, kenji).await.unwrap();
    let calls = harness.broker_calls();
    assert_eq!(calls[0], users(&acme, &[acme.owner.id, kenji]));
    assert_eq!(calls.len(), 3, "then both users' sessions end: {calls:?}");
    // R3, R40: what the broker fetches next names the new owner, although
    // the account's snapshot was cached before the transfer.
    let former = harness.directory.principal_access(acme.account_id, acme.owner.id).await.unwrap();
    let owner = harness.directory.principal_access(acme.account_id, kenji).await.unwrap();
    assert!(!former.is_owner && !former.permissions.is_owner);
    assert!(owner.is_owner && owner.permissions.is_owner);
}

#[tokio::test]
async fn r38_new_catalog_entries_invalidate_every_account() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let globex = harness.sign_up("globex").await;
    let register = |description: &str| Registration {
        service_name: display_name("orders-service"),
        permissions: vec![PermissionSpec {
            name: permission("orders.refund"),
            description: description.to_owned(),
            scope: ScopeLevel::Store,
            billing: false,
            owner_only: false,
        }],
    };
    let directory = &harness.directory;
    directory.register_permissions(&Caller::InternalService, context(), register("Refund orders")).await.unwrap();
    let mut calls = harness.broker_calls();
    calls.sort_by_key(|call| format!("{call:?}"));
    let mut expected = vec![whole_account(&acme), whole_account(&globex)];
    expected.sort_by_key(|call| format!("{call:?}"));
    assert_eq!(calls, expected, "the owners hold the whole catalog");

    directory.register_permissions(&Caller::InternalService, context(), register("Refund orders")).await.unwrap();
    directory.register_permissions(&Caller::InternalService, context(), register("Refund paid orders")).await.unwrap();
    assert!(harness.broker_calls().is_empty(), "nothing new, or a new wording, is no one's access");
}

#[tokio::test]
async fn r38_a_broker_that_is_down_or_stalled_never_fails_the_change() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let manager = account_wide(harness.group(&acme, "Manager").await);
    let directory = &harness.directory;

    harness.set_broker(BrokerMode::Failing);
    directory.assign_role(&acme.caller, context(), acme.account_id, kenji, manager).await.expect("committed anyway");
    harness.set_broker(BrokerMode::Stalled);
    let started = Instant::now();
    assert!(directory.unassign_role(&acme.caller, context(), acme.account_id, kenji, manager).await.unwrap());
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(4), "waited {waited:?} for a stalled broker");
    assert!(harness.broker_calls().is_empty());
    let profile = directory.repository.user_profile(acme.account_id, kenji).await.unwrap().unwrap();
    assert!(profile.assignments.is_empty(), "both changes committed");
}
