//! Groups (R21–R26): names and former names, the tree, member counts.

use std::collections::BTreeSet;

use roster_domain::groups::{BadgeColour, GroupKey, GroupPatch};
use roster_domain::ids::GroupId;
use roster_domain::repository::{GroupRepository, UserRepository};
use roster_domain::ErrorCode;
use serde_json::json;

use crate::common::backends::TestDatabase;
use crate::common::directory::{
    account_wide, acting, assert_refused, assert_taken, audit_count, create_group, create_store, create_user,
    display_name, group_named, in_store, new_group, permission, sign_up,
};
use crate::common::fixtures::{audit_rows, table_counts};

fn rename(name: &str) -> GroupPatch {
    GroupPatch { name: Some(display_name(name)), ..Default::default() }
}

fn reparent(parent: Option<GroupId>) -> GroupPatch {
    GroupPatch { parent_id: Some(parent), ..Default::default() }
}

pub async fn r25_groups_are_found_by_current_and_former_names(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let sales = create_group(&store, &acme, "Sales", None).await;
    let other = create_group(&store, &acme, "Support", None).await;

    store.update_group(acme.account.id, sales, rename("Revenue"), &context).await.unwrap();
    let renamed = store.update_group(acme.account.id, sales, rename("Income"), &context).await.unwrap();
    assert_eq!(renamed.name.as_str(), "Income");
    assert_eq!(renamed.former_names, ["Sales", "Revenue"], "oldest first");
    for name in ["sales", "REVENUE", "Income", "ｉｎｃｏｍｅ"] {
        let found = store.find_group(acme.account.id, &GroupKey::Name(display_name(name))).await.unwrap();
        assert_eq!(found.as_ref(), Some(&renamed), "{name}");
    }
    assert_eq!(store.find_group(acme.account.id, &GroupKey::Id(sales)).await.unwrap(), Some(renamed.clone()));
    assert_eq!(store.find_group(acme.account.id, &GroupKey::Name(display_name("Nothing"))).await.unwrap(), None);
    // Another account sees none of them.
    let globex = sign_up(&store, "globex").await;
    assert_eq!(store.find_group(globex.account.id, &GroupKey::Id(sales)).await.unwrap(), None);
    assert_eq!(store.find_group(globex.account.id, &GroupKey::Name(display_name("Sales"))).await.unwrap(), None);

    let events = audit_rows(&store, "group.update").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].changes, json!({ "name": { "before": "Revenue", "after": "Income" } }));
    assert_eq!(events[1].target_name.as_deref(), Some("Income"));

    // Current and former names are taken, for new groups and renames alike.
    let before = table_counts(&store).await;
    for name in ["income", "Sales", "revenue"] {
        let outcome = store.create_group(new_group(acme.account.id, name, None), &context).await;
        assert_taken(outcome, "name", "GROUP_NAME_TAKEN");
        assert_taken(
            store.update_group(acme.account.id, other, rename(name), &context).await,
            "name",
            "GROUP_NAME_TAKEN",
        );
    }
    assert_eq!(table_counts(&store).await, before);
    // A group may take back its own former name.
    let back = store.update_group(acme.account.id, sales, rename("Sales"), &context).await.unwrap();
    assert_eq!(back.name.as_str(), "Sales");
    // Another account may use any of them.
    create_group(&store, &globex, "Revenue", None).await;
}

pub async fn r23_list_groups_counts_direct_and_total_members(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let root = create_group(&store, &acme, "Root", None).await;
    let child = create_group(&store, &acme, "Child", Some(root)).await;
    let grandchild = create_group(&store, &acme, "Grandchild", Some(child)).await;
    let empty = create_group(&store, &acme, "Empty", Some(root)).await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let ann = create_user(&store, &acme, "ann").await;
    let bob = create_user(&store, &acme, "bob").await;
    let cy = create_user(&store, &acme, "cy").await;
    let assign = |user, assignment| {
        let store = store.clone();
        let context = context.clone();
        async move { store.assign_role(acme.account.id, user, assignment, &context).await.unwrap() }
    };
    assign(ann, account_wide(root)).await;
    assign(bob, account_wide(child)).await;
    assign(bob, in_store(child, shibuya)).await;
    assign(cy, in_store(grandchild, shibuya)).await;
    assign(ann, account_wide(grandchild)).await;

    let listed = store.list_groups(acme.account.id).await.unwrap();
    let counts = |group_id: GroupId| {
        let entry = listed.iter().find(|entry| entry.group.id == group_id).unwrap();
        (entry.direct_members, entry.total_members)
    };
    assert_eq!(counts(root), (1, 3), "ann; and bob, cy below");
    assert_eq!(counts(child), (1, 3), "bob once for two scopes; cy and ann below");
    assert_eq!(counts(grandchild), (2, 2));
    assert_eq!(counts(empty), (0, 0));
    let administrator = group_named(&store, acme.account.id, "Administrator").await;
    assert_eq!(counts(administrator.id), (1, 1), "the owner");
    let administrator_root = listed.iter().find(|entry| entry.group.name.as_str() == "Administrator Root").unwrap();
    assert_eq!((administrator_root.direct_members, administrator_root.total_members), (0, 1));
    assert_eq!(listed.len(), 14, "10 seeded groups and 4 new ones");
    let globex = sign_up(&store, "globex").await;
    assert_eq!(store.list_groups(globex.account.id).await.unwrap().len(), 10);
}

pub async fn r21_a_parent_that_would_close_a_cycle_is_refused(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let root = create_group(&store, &acme, "Root", None).await;
    let child = create_group(&store, &acme, "Child", Some(root)).await;
    let grandchild = create_group(&store, &acme, "Grandchild", Some(child)).await;
    let globex = sign_up(&store, "globex").await;
    let foreign = group_named(&store, globex.account.id, "Manager").await;

    let before = table_counts(&store).await;
    for (group, parent) in [(root, grandchild), (root, child), (child, child), (child, grandchild)] {
        let outcome = store.update_group(acme.account.id, group, reparent(Some(parent)), &context).await;
        let error = assert_refused(outcome, ErrorCode::InvalidArgument, "GROUP_CYCLE");
        assert_eq!(error.field_violations()[0].field, "parent_id");
    }
    let outcome = store.update_group(acme.account.id, root, reparent(Some(foreign.id)), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "GROUP_NOT_FOUND");
    let outcome = store.update_group(acme.account.id, GroupId::generate(), rename("X"), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "GROUP_NOT_FOUND");
    assert_eq!(table_counts(&store).await, before, "refusals write nothing");

    // Legal moves: the grandchild becomes a root, then the root its child.
    let moved = store.update_group(acme.account.id, grandchild, reparent(None), &context).await.unwrap();
    assert_eq!(moved.parent_id, None);
    let moved = store.update_group(acme.account.id, root, reparent(Some(grandchild)), &context).await.unwrap();
    assert_eq!(moved.parent_id, Some(grandchild));
    let events = audit_rows(&store, "group.update").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].changes, json!({ "parent_id": { "before": null, "after": grandchild.to_string() } }));
}

pub async fn r21_a_group_in_use_is_not_deleted(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let parent = create_group(&store, &acme, "Parent", None).await;
    let child = create_group(&store, &acme, "Child", Some(parent)).await;
    let kenji = create_user(&store, &acme, "kenji").await;
    store.assign_role(acme.account.id, kenji, account_wide(child), &context).await.unwrap();
    let renamed = store.update_group(acme.account.id, child, rename("Kid"), &context).await.unwrap();

    let before = table_counts(&store).await;
    let error = assert_refused(
        store.delete_group(acme.account.id, parent, &context).await,
        ErrorCode::FailedPrecondition,
        "GROUP_IN_USE",
    );
    assert!(error.to_string().contains("sub-groups"), "{error}");
    let error = assert_refused(
        store.delete_group(acme.account.id, child, &context).await,
        ErrorCode::FailedPrecondition,
        "GROUP_IN_USE",
    );
    assert!(error.to_string().contains("members"), "{error}");
    assert_eq!(table_counts(&store).await, before);

    store.delete_user(acme.account.id, kenji, &context).await.unwrap();
    store.delete_group(acme.account.id, child, &context).await.unwrap();
    store.delete_group(acme.account.id, parent, &context).await.unwrap();
    assert_eq!(store.find_group(acme.account.id, &GroupKey::Id(child)).await.unwrap(), None);
    assert_eq!(store.find_group(acme.account.id, &GroupKey::Name(display_name("Child"))).await.unwrap(), None);
    let events = audit_rows(&store, "group.delete").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].target_id.as_deref(), Some(child.to_string().as_str()));
    assert_eq!(events[0].target_name.as_deref(), Some(renamed.name.as_str()));
    // The names of a deleted group are free again.
    create_group(&store, &acme, "Child", None).await;
    let outcome = store.delete_group(acme.account.id, child, &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "GROUP_NOT_FOUND");
}

pub async fn r32_groups_keep_their_permissions_and_assignable_groups(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let team = group_named(&store, acme.account.id, "Team member").await;
    let manager = group_named(&store, acme.account.id, "Manager").await;

    let mut leads = new_group(acme.account.id, "Leads", Some(manager.id));
    leads.is_template = true;
    leads.permissions = BTreeSet::from([permission("orders.process"), permission("reports.view")]);
    leads.assignable = BTreeSet::from([team.id]);
    let created = store.create_group(leads, &context).await.unwrap();
    assert_eq!(created.permissions.len(), 2);
    assert_eq!(created.assignable, BTreeSet::from([team.id]));
    assert!(created.is_template);
    assert_eq!(created.badge_colour.as_str(), "#1E88E5");
    assert_eq!(store.find_group(acme.account.id, &GroupKey::Id(created.id)).await.unwrap(), Some(created.clone()));
    let events = audit_rows(&store, "group.create").await;
    assert_eq!(events[0].changes["permissions"]["after"], json!(["orders.process", "reports.view"]));

    let patch = GroupPatch {
        permissions: Some(BTreeSet::from([permission("reports.view")])),
        assignable: Some(BTreeSet::from([team.id, manager.id])),
        badge_colour: Some(BadgeColour::parse("badge_colour", "#000000").unwrap()),
        is_template: Some(false),
        ..Default::default()
    };
    let updated = store.update_group(acme.account.id, created.id, patch, &context).await.unwrap();
    assert_eq!(updated.permissions, BTreeSet::from([permission("reports.view")]));
    assert_eq!(updated.assignable, BTreeSet::from([team.id, manager.id]));
    assert!(!updated.is_template);
    let events = audit_rows(&store, "group.update").await;
    assert_eq!(
        events[0].changes["permissions"],
        json!({ "before": ["orders.process", "reports.view"], "after": ["reports.view"] })
    );

    let globex = sign_up(&store, "globex").await;
    let foreign = group_named(&store, globex.account.id, "Team member").await;
    let events = audit_count(&store).await;
    let mut bad = new_group(acme.account.id, "Bad", None);
    bad.permissions = BTreeSet::from([permission("documents.sign")]);
    assert_refused(store.create_group(bad, &context).await, ErrorCode::FailedPrecondition, "OWNER_ONLY_PERMISSION");
    let mut bad = new_group(acme.account.id, "Bad", None);
    bad.permissions = BTreeSet::from([permission("nothing.here")]);
    assert_refused(store.create_group(bad, &context).await, ErrorCode::NotFound, "PERMISSION_NOT_FOUND");
    let mut bad = new_group(acme.account.id, "Bad", None);
    bad.assignable = BTreeSet::from([foreign.id]);
    assert_refused(store.create_group(bad, &context).await, ErrorCode::NotFound, "GROUP_NOT_FOUND");
    let bad = new_group(acme.account.id, "Bad", Some(foreign.id));
    assert_refused(store.create_group(bad, &context).await, ErrorCode::NotFound, "GROUP_NOT_FOUND");
    let patch = GroupPatch { assignable: Some(BTreeSet::from([foreign.id])), ..Default::default() };
    let outcome = store.update_group(acme.account.id, created.id, patch, &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "GROUP_NOT_FOUND");
    assert_eq!(audit_count(&store).await, events);
    assert_eq!(store.find_group(acme.account.id, &GroupKey::Id(created.id)).await.unwrap(), Some(updated));
}
