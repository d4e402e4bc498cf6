//! Users (R7–R17): create, read, update, block, passwords, delete.

use std::collections::{BTreeMap, BTreeSet};

use roster_domain::access::Scope;
use roster_domain::account::UserStatus;
use roster_domain::filters::DataFilters;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountKey, EmailAddress, LoginName};
use roster_domain::network::IpAllowlist;
use roster_domain::password::PasswordHash;
use roster_domain::repository::{AccountRepository, CredentialRepository, UserRepository};
use roster_domain::users::UserPatch;
use roster_domain::ErrorCode;
use serde_json::json;

use crate::common::backends::TestDatabase;
use crate::common::directory::{
    account_wide, acting, assert_refused, assert_taken, audit_count, create_active_user, create_store, create_user,
    grant, group_named, in_store, new_user, revoke, sign_up,
};
use crate::common::fixtures::{audit_rows, count, query, table_counts};

pub async fn r7_create_user_stores_the_profile_and_audits_it(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let team = group_named(&store, acme.account.id, "Team member").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;

    let mut user = new_user(acme.account.id, "Kenji");
    user.must_change_password = true;
    user.ip_allowlist = IpAllowlist::parse("ip_allowlist", &["10.0.0.0/8".to_owned()]).unwrap();
    user.data_filters =
        DataFilters::parse("data_filters", &BTreeMap::from([("country".to_owned(), vec!["JP".to_owned()])])).unwrap();
    user.assignments = BTreeSet::from([account_wide(team.id), in_store(manager.id, shibuya)]);
    user.overrides =
        BTreeSet::from([grant("orders.process", Scope::Store(shibuya)), revoke("users.manage", Scope::Account)]);
    let created = store.create_user(user.clone(), &acting(&acme.owner)).await.unwrap();
    assert_eq!(created.user.status, UserStatus::Invited, "R17: invited until the first login");
    assert!(!created.user.is_owner);
    assert!(created.user.must_change_password);
    assert_eq!(created.assignments, user.assignments);
    assert_eq!(created.overrides, user.overrides);
    assert_eq!(created.last_login_at, None);
    // What was returned is what is stored.
    let read = store.user_profile(acme.account.id, created.user.id).await.unwrap().unwrap();
    assert_eq!(read, created);
    assert_eq!(store.find_user(acme.account.id, created.user.id).await.unwrap().unwrap(), created.user);
    let candidate = store
        .find_login_candidate(&AccountKey::Id(acme.account.id), &LoginName::parse("login", "kenji").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(candidate.ip_allowlist, user.ip_allowlist);
    assert!(candidate.password_hash.is_some());

    let events = audit_rows(&store, "user.create").await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.account_id.as_deref(), Some(acme.account.id.to_string().as_str()));
    assert_eq!(event.target_id.as_deref(), Some(created.user.id.to_string().as_str()));
    assert_eq!(event.target_name.as_deref(), Some("Kenji"));
    assert_eq!(event.actor_name.as_deref(), Some("owner-acme"));
    assert_eq!(event.client_address.as_deref(), Some("198.51.100.7"));
    assert_eq!(event.outcome, "success");
    assert_eq!(event.changes["login_name"], json!({ "before": null, "after": "Kenji" }));
    assert_eq!(event.changes["ip_allowlist"]["after"], json!(["10.0.0.0/8"]));
    assert_eq!(event.changes["assignments"]["after"].as_array().unwrap().len(), 2);
    assert!(!event.changes.to_string().contains("argon2"), "R9: no hash in the audit log");

    // R13: a copy is audited as such.
    let mut copy = user.clone();
    copy.login_name = LoginName::parse("login_name", "kenji2").unwrap();
    copy.email = EmailAddress::parse("email", "kenji2@example.com").unwrap();
    copy.copied_from = Some(created.user.id);
    let copied = store.create_user(copy, &acting(&acme.owner)).await.unwrap();
    assert_eq!(copied.assignments, created.assignments);
    let events = audit_rows(&store, "user.copy").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].changes["copied_from"], json!(created.user.id.to_string()));
}

pub async fn r12_create_user_refuses_a_taken_login_or_email_naming_the_field(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    create_user(&store, &acme, "kenji").await;
    let before = table_counts(&store).await;

    let mut same_login = new_user(acme.account.id, "ＫＥＮＪＩ");
    same_login.email = EmailAddress::parse("email", "other@example.com").unwrap();
    assert_taken(store.create_user(same_login, &acting(&acme.owner)).await, "login_name", "LOGIN_NAME_TAKEN");
    let mut same_email = new_user(acme.account.id, "kenji-two");
    same_email.email = EmailAddress::parse("email", "KENJI@example.com").unwrap();
    assert_taken(store.create_user(same_email, &acting(&acme.owner)).await, "email", "EMAIL_TAKEN");
    assert_eq!(table_counts(&store).await, before, "a refused user writes nothing, audit event included");

    // Another account may have its own kenji.
    let globex = sign_up(&store, "globex").await;
    create_user(&store, &globex, "kenji").await;
}

pub async fn create_user_refuses_groups_stores_and_permissions_it_cannot_find(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let foreign_group = group_named(&store, globex.account.id, "Manager").await;
    let foreign_store = create_store(&store, &globex, "Osaka").await;
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let before = table_counts(&store).await;

    let mut user = new_user(acme.account.id, "pat");
    user.assignments = BTreeSet::from([account_wide(foreign_group.id)]);
    assert_refused(store.create_user(user, &acting(&acme.owner)).await, ErrorCode::NotFound, "GROUP_NOT_FOUND");
    let mut user = new_user(acme.account.id, "pat");
    user.assignments = BTreeSet::from([in_store(manager.id, foreign_store)]);
    assert_refused(store.create_user(user, &acting(&acme.owner)).await, ErrorCode::NotFound, "STORE_NOT_FOUND");
    let mut user = new_user(acme.account.id, "pat");
    user.overrides = BTreeSet::from([grant("orders.process", Scope::Store(foreign_store))]);
    assert_refused(store.create_user(user, &acting(&acme.owner)).await, ErrorCode::NotFound, "STORE_NOT_FOUND");
    let mut user = new_user(acme.account.id, "pat");
    user.overrides = BTreeSet::from([grant("nothing.here", Scope::Account)]);
    assert_refused(store.create_user(user, &acting(&acme.owner)).await, ErrorCode::NotFound, "PERMISSION_NOT_FOUND");
    let user = new_user(AccountId::generate(), "pat");
    assert_refused(store.create_user(user, &acting(&acme.owner)).await, ErrorCode::NotFound, "ACCOUNT_NOT_FOUND");
    assert_eq!(table_counts(&store).await, before);
}

pub async fn r14_block_and_unblock_restore_the_previous_status(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let invited = create_user(&store, &acme, "invited").await;
    let active = create_active_user(&store, &acme, "active").await;
    let context = acting(&acme.owner);

    for (user_id, status) in [(invited, UserStatus::Invited), (active, UserStatus::Active)] {
        let blocked = store.set_user_blocked(acme.account.id, user_id, true, &context).await.unwrap();
        assert_eq!(blocked.status, UserStatus::Blocked);
        // Blocking twice changes nothing and writes nothing.
        let events = audit_count(&store).await;
        store.set_user_blocked(acme.account.id, user_id, true, &context).await.unwrap();
        assert_eq!(audit_count(&store).await, events);
        let unblocked = store.set_user_blocked(acme.account.id, user_id, false, &context).await.unwrap();
        assert_eq!(unblocked.status, status);
        assert_eq!(store.find_user(acme.account.id, user_id).await.unwrap().unwrap().status, status);
    }
    let blocks = audit_rows(&store, "user.block").await;
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].changes, json!({ "status": { "before": "invited", "after": "blocked" } }));
    let unblocks = audit_rows(&store, "user.unblock").await;
    assert_eq!(unblocks[1].changes, json!({ "status": { "before": "blocked", "after": "active" } }));
    assert_eq!(unblocks[1].target_name.as_deref(), Some("active"));

    // R5: nobody blocks the owner.
    let events = audit_count(&store).await;
    let outcome = store.set_user_blocked(acme.account.id, acme.owner.id, true, &context).await;
    assert_refused(outcome, ErrorCode::FailedPrecondition, "OWNER_PROTECTED");
    assert_eq!(audit_count(&store).await, events);
    let outcome = store.set_user_blocked(acme.account.id, UserId::generate(), true, &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "USER_NOT_FOUND");
}

pub async fn r9_set_password_never_writes_the_hash_into_the_audit_log(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g";

    let user = store
        .set_password(
            acme.account.id,
            kenji,
            PasswordHash::from_stored(new_hash.to_owned()),
            true,
            &acting(&acme.owner),
        )
        .await
        .unwrap();
    assert!(user.must_change_password);
    let candidate = store
        .find_login_candidate(&AccountKey::Id(acme.account.id), &LoginName::parse("login", "kenji").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(candidate.password_hash.unwrap().as_phc(), new_hash);

    let events = audit_rows(&store, "user.set_password").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].changes,
        json!({ "password": "changed", "must_change_password": { "before": false, "after": true } })
    );
    let everything = query(&store, "SELECT changes FROM audit_events").await;
    for row in everything {
        let changes: String = row.try_get("", "changes").unwrap();
        assert!(!changes.contains("argon2"), "R9: {changes}");
    }
}

pub async fn update_user_audits_before_and_after_of_changed_fields_only(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    create_user(&store, &acme, "mary").await;
    let context = acting(&acme.owner);

    let patch = UserPatch {
        email: Some(EmailAddress::parse("email", "kenji.sato@example.com").unwrap()),
        display_name: Some(crate::common::directory::display_name("User kenji")),
        ip_allowlist: Some(IpAllowlist::parse("ip_allowlist", &["192.0.2.0/24".to_owned()]).unwrap()),
        data_filters: None,
        overrides: Some(BTreeSet::from([grant("orders.process", Scope::Account)])),
    };
    let updated = store.update_user(acme.account.id, kenji, patch, &context).await.unwrap();
    assert_eq!(updated.user.email.as_str(), "kenji.sato@example.com");
    assert_eq!(updated.overrides, BTreeSet::from([grant("orders.process", Scope::Account)]));
    assert_eq!(store.user_profile(acme.account.id, kenji).await.unwrap().unwrap(), updated);

    let events = audit_rows(&store, "user.update").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target_name.as_deref(), Some("kenji"));
    assert_eq!(
        events[0].changes,
        json!({
            "email": { "before": "kenji@example.com", "after": "kenji.sato@example.com" },
            "ip_allowlist": { "before": ["*"], "after": ["192.0.2.0/24"] },
            "overrides": { "before": [], "after": [{ "permission": "orders.process", "effect": "grant", "scope": "account" }] },
        }),
        "the unchanged display name is not recorded"
    );

    // A patch that changes nothing writes nothing; neither do refusals.
    let globex = sign_up(&store, "globex").await;
    let before = table_counts(&store).await;
    let unchanged = store.update_user(acme.account.id, kenji, UserPatch::default(), &context).await.unwrap();
    assert_eq!(unchanged, updated);
    let taken =
        UserPatch { email: Some(EmailAddress::parse("email", "MARY@example.com").unwrap()), ..Default::default() };
    assert_taken(store.update_user(acme.account.id, kenji, taken, &context).await, "email", "EMAIL_TAKEN");
    let outcome = store.update_user(globex.account.id, kenji, UserPatch::default(), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "USER_NOT_FOUND");
    let bad_override =
        UserPatch { overrides: Some(BTreeSet::from([grant("nothing.here", Scope::Account)])), ..Default::default() };
    let outcome = store.update_user(acme.account.id, kenji, bad_override, &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "PERMISSION_NOT_FOUND");
    let owner_only =
        UserPatch { overrides: Some(BTreeSet::from([grant("documents.sign", Scope::Account)])), ..Default::default() };
    let outcome = store.update_user(acme.account.id, kenji, owner_only, &context).await;
    assert_refused(outcome, ErrorCode::FailedPrecondition, "OWNER_ONLY_PERMISSION");
    assert_eq!(table_counts(&store).await, before);
    assert_eq!(store.user_profile(acme.account.id, kenji).await.unwrap().unwrap(), updated);
}

pub async fn r8_delete_user_removes_grants_and_keeps_the_audit_trail(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let mut user = new_user(acme.account.id, "kenji");
    user.assignments = BTreeSet::from([account_wide(manager.id), in_store(manager.id, shibuya)]);
    user.overrides = BTreeSet::from([revoke("orders.process", Scope::Account)]);
    let kenji = store.create_user(user, &acting(&acme.owner)).await.unwrap().user;

    let deleted = store.delete_user(acme.account.id, kenji.id, &acting(&acme.owner)).await.unwrap();
    assert_eq!(deleted, kenji);
    assert_eq!(store.find_user(acme.account.id, kenji.id).await.unwrap(), None);
    let leftovers = query(
        &store,
        &format!(
            "SELECT (SELECT COUNT(*) FROM role_assignments WHERE user_id = '{0}') \
             + (SELECT COUNT(*) FROM user_permission_overrides WHERE user_id = '{0}') AS n",
            kenji.id
        ),
    )
    .await;
    assert_eq!(leftovers[0].try_get::<i64>("", "n").unwrap(), 0);
    let events = audit_rows(&store, "user.delete").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target_id.as_deref(), Some(kenji.id.to_string().as_str()));
    assert_eq!(events[0].target_name.as_deref(), Some("kenji"));
    let outcome = store.delete_user(acme.account.id, kenji.id, &acting(&acme.owner)).await;
    assert_refused(outcome, ErrorCode::NotFound, "USER_NOT_FOUND");

    // R5: the owner stays, and the refusal writes nothing.
    let before = table_counts(&store).await;
    let outcome = store.delete_user(acme.account.id, acme.owner.id, &acting(&acme.owner)).await;
    assert_refused(outcome, ErrorCode::FailedPrecondition, "OWNER_PROTECTED");
    assert_eq!(table_counts(&store).await, before);
    assert_eq!(count(&store, "users").await, 1);
}

pub async fn r28_assign_and_unassign_are_idempotent(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let context = acting(&acme.owner);
    let assignment = in_store(manager.id, shibuya);

    assert!(store.assign_role(acme.account.id, kenji, assignment, &context).await.unwrap());
    assert!(!store.assign_role(acme.account.id, kenji, assignment, &context).await.unwrap());
    let profile = store.user_profile(acme.account.id, kenji).await.unwrap().unwrap();
    assert_eq!(profile.assignments, BTreeSet::from([assignment]));
    let events = audit_rows(&store, "role.assign").await;
    assert_eq!(events.len(), 1, "a no-op writes no event");
    assert_eq!(
        events[0].changes,
        json!({ "assignment": { "before": null, "after": {
            "group_id": manager.id.to_string(), "group_name": "Manager", "scope": shibuya.to_string() } } })
    );

    assert!(store.unassign_role(acme.account.id, kenji, assignment, &context).await.unwrap());
    assert!(!store.unassign_role(acme.account.id, kenji, assignment, &context).await.unwrap());
    assert_eq!(audit_rows(&store, "role.unassign").await.len(), 1);
    assert!(store.user_profile(acme.account.id, kenji).await.unwrap().unwrap().assignments.is_empty());

    let foreign_group = group_named(&store, globex.account.id, "Manager").await;
    let foreign_store = create_store(&store, &globex, "Osaka").await;
    let before = table_counts(&store).await;
    let outcome = store.assign_role(acme.account.id, kenji, account_wide(foreign_group.id), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "GROUP_NOT_FOUND");
    let outcome = store.assign_role(acme.account.id, kenji, in_store(manager.id, foreign_store), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "STORE_NOT_FOUND");
    let outcome = store.assign_role(globex.account.id, kenji, account_wide(foreign_group.id), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "USER_NOT_FOUND");
    assert_eq!(table_counts(&store).await, before);
}
