//! Stores (R27) and what goes with them.

use std::collections::BTreeSet;

use roster_domain::access::Scope;
use roster_domain::ids::StoreId;
use roster_domain::paging::PageRequest;
use roster_domain::repository::{StoreRepository, UserRepository};
use roster_domain::stores::{NewStore, StorePatch};
use roster_domain::ErrorCode;
use serde_json::json;

use crate::common::backends::TestDatabase;
use crate::common::directory::{
    account_wide, acting, assert_refused, create_store, display_name, grant, group_named, in_store, new_user, revoke,
    sign_up,
};
use crate::common::fixtures::{audit_rows, count, table_counts};

pub async fn r27_stores_are_created_listed_in_pages_and_updated(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    create_store(&store, &globex, "Elsewhere").await;
    let context = acting(&acme.owner);

    let first = store
        .create_store(
            NewStore { account_id: acme.account.id, name: display_name("Shibuya"), is_public: true },
            &context,
        )
        .await
        .unwrap();
    assert!(first.is_public);
    assert_eq!(store.find_store(acme.account.id, first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.find_store(globex.account.id, first.id).await.unwrap(), None);
    let mut created = vec![first.id];
    for name in ["Osaka", "Kyoto", "Nagoya", "Sapporo"] {
        created.push(create_store(&store, &acme, name).await);
    }

    let mut listed = Vec::new();
    let mut sizes = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_stores(acme.account.id, &PageRequest { size: 2, after }).await.unwrap();
        sizes.push(page.items.len());
        listed.extend(page.items.iter().map(|item| item.id));
        after = page.next;
        if after.is_none() {
            break;
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(listed, created);
    let bad = PageRequest { size: 2, after: Some("x".to_owned()) };
    assert_refused(store.list_stores(acme.account.id, &bad).await, ErrorCode::InvalidArgument, "INVALID_FIELD");

    let patch = StorePatch { name: Some(display_name("Shibuya East")), is_public: Some(true) };
    let updated = store.update_store(acme.account.id, first.id, patch, &context).await.unwrap();
    assert_eq!(updated.name.as_str(), "Shibuya East");
    assert_eq!(store.find_store(acme.account.id, first.id).await.unwrap(), Some(updated));
    let events = audit_rows(&store, "store.update").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].changes, json!({ "name": { "before": "Shibuya", "after": "Shibuya East" } }));
    assert_eq!(events[0].target_name.as_deref(), Some("Shibuya East"));
    let events = audit_rows(&store, "store.create").await;
    assert_eq!(events.len(), 6);
    assert_eq!(
        events[1].changes,
        json!({
        "name": { "before": null, "after": "Shibuya" }, "is_public": { "before": null, "after": true } })
    );

    let outcome = store.update_store(globex.account.id, first.id, StorePatch::default(), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "STORE_NOT_FOUND");
    let outcome = store.delete_store(acme.account.id, StoreId::generate(), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "STORE_NOT_FOUND");
}

pub async fn deleting_a_store_removes_its_assignments_and_overrides(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let osaka = create_store(&store, &acme, "Osaka").await;
    let mut user = new_user(acme.account.id, "kenji");
    user.assignments =
        BTreeSet::from([account_wide(manager.id), in_store(manager.id, shibuya), in_store(manager.id, osaka)]);
    user.overrides = BTreeSet::from([
        grant("orders.process", Scope::Store(shibuya)),
        revoke("orders.view", Scope::Store(osaka)),
        revoke("reports.view", Scope::Account),
    ]);
    let kenji = store.create_user(user, &context).await.unwrap().user.id;
    let assignments_before = count(&store, "role_assignments").await;

    store.delete_store(acme.account.id, shibuya, &context).await.unwrap();
    assert_eq!(store.find_store(acme.account.id, shibuya).await.unwrap(), None);
    let profile = store.user_profile(acme.account.id, kenji).await.unwrap().unwrap();
    assert_eq!(profile.assignments, BTreeSet::from([account_wide(manager.id), in_store(manager.id, osaka)]));
    assert_eq!(
        profile.overrides,
        BTreeSet::from([revoke("orders.view", Scope::Store(osaka)), revoke("reports.view", Scope::Account)])
    );
    assert_eq!(count(&store, "role_assignments").await, assignments_before - 1);
    let events = audit_rows(&store, "store.delete").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target_name.as_deref(), Some("Shibuya"));
    assert_eq!(events[0].changes["role_assignments"], json!({ "before": 1, "after": 0 }));
    assert_eq!(events[0].changes["overrides"], json!({ "before": 1, "after": 0 }));

    let before = table_counts(&store).await;
    let outcome = store.delete_store(acme.account.id, shibuya, &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "STORE_NOT_FOUND");
    assert_eq!(table_counts(&store).await, before);
}
