//! The permission catalog (R20) and what authorization reads.

use std::collections::BTreeSet;

use roster_domain::access::Scope;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::presets::{PermissionSpec, ScopeLevel};
use roster_domain::repository::{AccessRepository, PermissionRepository, UserRepository};
use roster_domain::ErrorCode;
use serde_json::json;

use crate::common::backends::TestDatabase;
use crate::common::directory::{
    account_wide, acting, assert_refused, audit_count, create_store, create_user, grant, group_named, in_store,
    permission, sign_up,
};
use crate::common::fixtures::{audit_rows, presets, table_counts};

fn spec(name: &str, description: &str, scope: ScopeLevel) -> PermissionSpec {
    PermissionSpec {
        name: permission(name),
        description: description.to_owned(),
        scope,
        billing: false,
        owner_only: false,
    }
}

pub async fn r20_register_permissions_adds_entries_and_rewords_descriptions(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let catalog = store.list_permissions().await.unwrap();
    assert_eq!(catalog.len(), presets().permissions.len());

    let refund = spec("orders.refund", "Refund orders", ScopeLevel::Store);
    let export = spec("reports.export", "Export reports", ScopeLevel::Account);
    let added =
        store.register_permissions(vec![export.clone(), refund.clone()], "orders-service", &context).await.unwrap();
    assert_eq!(added, [permission("orders.refund"), permission("reports.export")], "the names added, sorted");
    let catalog = store.list_permissions().await.unwrap();
    assert_eq!(catalog.len(), presets().permissions.len() + 2);
    assert!(catalog.contains(&refund) && catalog.contains(&export));
    let events = audit_rows(&store, "permission.register").await;
    assert_eq!(events.len(), 1, "one event per call");
    assert_eq!(events[0].target_name.as_deref(), Some("orders-service"));
    assert_eq!(events[0].account_id, None);
    assert_eq!(
        events[0].changes["orders.refund"],
        json!({ "before": null, "after": { "description": "Refund orders", "scope": "store", "billing": false, "owner_only": false } })
    );

    // The same registration again changes nothing; a new wording is kept.
    let added =
        store.register_permissions(vec![refund.clone(), export.clone()], "orders-service", &context).await.unwrap();
    assert!(added.is_empty());
    assert_eq!(audit_rows(&store, "permission.register").await.len(), 1);
    let reworded = spec("orders.refund", "Refund paid orders", ScopeLevel::Store);
    let added = store.register_permissions(vec![reworded.clone()], "orders-service", &context).await.unwrap();
    assert!(added.is_empty(), "a new wording adds nothing");
    assert!(store.list_permissions().await.unwrap().contains(&reworded));
    let events = audit_rows(&store, "permission.register").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].changes["orders.refund"]["after"]["description"], json!("Refund paid orders"));
    assert_eq!(events[1].changes.as_object().unwrap().len(), 1);
}

pub async fn r20_redefining_a_permission_writes_nothing(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let before = table_counts(&store).await;

    let fresh = spec("orders.refund", "Refund orders", ScopeLevel::Store);
    let redefined = spec("orders.view", "View orders", ScopeLevel::Account);
    let outcome = store.register_permissions(vec![fresh.clone(), redefined], "orders-service", &context).await;
    assert_refused(outcome, ErrorCode::FailedPrecondition, "PERMISSION_REDEFINED");
    let mut owner_only = spec("users.manage", "Edit users", ScopeLevel::Account);
    owner_only.owner_only = true;
    let outcome = store.register_permissions(vec![owner_only], "orders-service", &context).await;
    assert_refused(outcome, ErrorCode::FailedPrecondition, "PERMISSION_REDEFINED");
    let mut billing = spec("orders.refund", "Refund orders", ScopeLevel::Store);
    billing.billing = true;
    let outcome = store.register_permissions(vec![fresh.clone(), billing], "orders-service", &context).await;
    assert_refused(outcome, ErrorCode::FailedPrecondition, "PERMISSION_REDEFINED");

    assert_eq!(table_counts(&store).await, before, "nothing written, not even the new entry or an event");
    assert!(!store.list_permissions().await.unwrap().iter().any(|entry| entry.name.as_str() == "orders.refund"));
    let stored = store.list_permissions().await.unwrap();
    let view = stored.iter().find(|entry| entry.name.as_str() == "orders.view").unwrap();
    assert_eq!(view.scope, ScopeLevel::Store);
}

pub async fn access_snapshot_reads_the_catalog_the_tree_and_the_anonymous_group(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    sign_up(&store, "globex").await;

    let snapshot = store.access_snapshot(acme.account.id).await.unwrap();
    assert_eq!(snapshot.account, acme.account);
    assert_eq!(snapshot.catalog.iter().count(), presets().permissions.len());
    assert!(snapshot.catalog.is_owner_only(&permission("documents.sign")));
    assert_eq!(snapshot.groups.nodes().count(), 10, "this account's groups only");
    let anonymous = group_named(&store, acme.account.id, "Anonymous").await;
    assert_eq!(snapshot.anonymous_group, Some(anonymous.id));
    let administrator = group_named(&store, acme.account.id, "Administrator").await;
    let node = snapshot.groups.get(administrator.id).unwrap();
    assert_eq!(node.name, "Administrator");
    assert_eq!(node.permissions, administrator.permissions);
    assert_eq!(node.assignable, administrator.assignable);
    assert_eq!(node.parent_id, administrator.parent_id);
    let parent = snapshot.groups.get(administrator.parent_id.unwrap()).unwrap();
    assert!(parent.is_template);
    let inherited = snapshot.groups.inherited_permissions(administrator.id);
    assert!(inherited.is_superset(&parent.permissions) && inherited.is_superset(&node.permissions));

    let outcome = store.access_snapshot(AccountId::generate()).await;
    assert_refused(outcome, ErrorCode::NotFound, "ACCOUNT_NOT_FOUND");
}

pub async fn user_grants_read_the_owner_flag_assignments_and_overrides(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let context = acting(&acme.owner);
    let administrator = group_named(&store, acme.account.id, "Administrator").await;

    let owner = store.user_grants(acme.account.id, acme.owner.id).await.unwrap().unwrap();
    assert!(owner.is_owner);
    assert_eq!(owner.assignments, [crate::common::directory::account_wide(administrator.id)]);
    assert!(owner.overrides.is_empty());

    let manager = group_named(&store, acme.account.id, "Manager").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    store.assign_role(acme.account.id, kenji, in_store(manager.id, shibuya), &context).await.unwrap();
    let patch = roster_domain::users::UserPatch {
        overrides: Some(BTreeSet::from([grant("reports.view", Scope::Store(shibuya))])),
        ..Default::default()
    };
    store.update_user(acme.account.id, kenji, patch, &context).await.unwrap();
    let grants = store.user_grants(acme.account.id, kenji).await.unwrap().unwrap();
    assert!(!grants.is_owner);
    assert_eq!(grants.assignments, [in_store(manager.id, shibuya)]);
    assert_eq!(grants.overrides, [grant("reports.view", Scope::Store(shibuya))]);

    assert_eq!(store.user_grants(globex.account.id, kenji).await.unwrap(), None);
    assert_eq!(store.user_grants(acme.account.id, UserId::generate()).await.unwrap(), None);
    assert_eq!(audit_count(&store).await, 6);
}

/// Issue 6, R14, R16: in one read, what `user_grants` answers (two
/// assignments and two overrides, ordered as it orders them), the blocked
/// flag, the data filters and the account's access version, which moves
/// with them; nothing for a user of another account or an unknown one.
pub async fn principal_facts_read_grants_the_blocked_flag_data_filters_and_access_version(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let context = acting(&acme.owner);
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    let accountant = group_named(&store, acme.account.id, "Accountant").await;
    store.assign_role(acme.account.id, kenji, in_store(manager.id, shibuya), &context).await.unwrap();
    store.assign_role(acme.account.id, kenji, account_wide(accountant.id), &context).await.unwrap();
    let filters: roster_domain::filters::DataFilters =
        serde_json::from_value(json!({ "country": ["JP", "US"] })).unwrap();
    let overrides = BTreeSet::from([grant("reports.view", Scope::Store(shibuya)), grant("users.view", Scope::Account)]);
    let patch = roster_domain::users::UserPatch {
        overrides: Some(overrides.clone()),
        data_filters: Some(filters.clone()),
        ..Default::default()
    };
    store.update_user(acme.account.id, kenji, patch, &context).await.unwrap();

    let facts = store.principal_facts(acme.account.id, kenji).await.unwrap().unwrap();
    assert_eq!(Some(facts.grants.clone()), store.user_grants(acme.account.id, kenji).await.unwrap());
    assert!(!facts.grants.is_owner && !facts.blocked);
    let assignments = BTreeSet::from([in_store(manager.id, shibuya), account_wide(accountant.id)]);
    assert_eq!(facts.grants.assignments, assignments.into_iter().collect::<Vec<_>>());
    assert_eq!(facts.grants.overrides, overrides.into_iter().collect::<Vec<_>>());
    assert_eq!(facts.data_filters, filters);
    let version = store.access_version(acme.account.id).await.unwrap();
    assert_eq!(Some(facts.access_version), version, "the version the facts were read at");

    store.set_user_blocked(acme.account.id, kenji, true, &context).await.unwrap();
    let blocked = store.principal_facts(acme.account.id, kenji).await.unwrap().unwrap();
    assert!(blocked.blocked, "R14");
    assert!(blocked.access_version > facts.access_version, "a block moves the version read with the facts");
    assert_eq!(Some(blocked.access_version), store.access_version(acme.account.id).await.unwrap());
    let owner = store.principal_facts(acme.account.id, acme.owner.id).await.unwrap().unwrap();
    assert!(owner.grants.is_owner && !owner.blocked);
    assert_eq!(owner.data_filters, roster_domain::filters::DataFilters::default());

    assert_eq!(store.principal_facts(globex.account.id, kenji).await.unwrap(), None, "another account's user");
    assert_eq!(store.principal_facts(acme.account.id, UserId::generate()).await.unwrap(), None);
}

/// Issue 6: the whole account in one pass answers, user by user, what
/// `user_grants` answers, with R14's blocked flag; nothing for an unknown
/// account or one larger than asked.
pub async fn all_user_access_answers_what_user_grants_answers_for_every_user(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let context = acting(&acme.owner);
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    let mika = create_user(&store, &acme, "mika").await;
    let taro = create_user(&store, &acme, "taro").await;
    create_user(&store, &globex, "someone-else").await;
    store.assign_role(acme.account.id, kenji, in_store(manager.id, shibuya), &context).await.unwrap();
    store
        .assign_role(acme.account.id, kenji, crate::common::directory::account_wide(manager.id), &context)
        .await
        .unwrap();
    let patch = roster_domain::users::UserPatch {
        overrides: Some(BTreeSet::from([
            grant("reports.view", Scope::Store(shibuya)),
            crate::common::directory::revoke("users.view", Scope::Account),
        ])),
        ..Default::default()
    };
    store.update_user(acme.account.id, mika, patch, &context).await.unwrap();
    store.set_user_blocked(acme.account.id, taro, true, &context).await.unwrap();

    let all = store.all_user_access(acme.account.id, 10).await.unwrap().expect("four users, at most ten asked");
    let mut seen: Vec<UserId> = all.iter().map(|facts| facts.user_id).collect();
    seen.sort();
    let mut expected = vec![acme.owner.id, kenji, mika, taro];
    expected.sort();
    assert_eq!(seen, expected, "every user of acme, and only them");
    for facts in &all {
        let mut grants = facts.grants.clone();
        grants.assignments.sort();
        grants.overrides.sort();
        let mut one = store.user_grants(acme.account.id, facts.user_id).await.unwrap().unwrap();
        one.assignments.sort();
        one.overrides.sort();
        assert_eq!(grants, one, "user {}", facts.user_id);
        assert_eq!(facts.blocked, facts.user_id == taro, "R14: only taro is blocked");
    }
    assert!(all.iter().any(|facts| facts.grants.is_owner && facts.user_id == acme.owner.id));
    assert!(store.all_user_access(acme.account.id, 3).await.unwrap().is_none(), "more users than asked");
    assert!(store.all_user_access(AccountId::generate(), 10).await.unwrap().is_none(), "an unknown account");
}
