//! Sign-up (R2) and account look-ups.

use std::collections::{BTreeMap, BTreeSet};

use roster_domain::account::{BillingLevel, UserStatus};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountKey, AccountSlug, DisplayName};
use roster_domain::repository::{AccountRepository, CredentialRepository};
use roster_domain::DomainError;

use crate::common::backends::TestDatabase;
use crate::common::fixtures::{audit_rows, context, new_account, presets, query, table_counts, FAKE_HASH};

/// The groups of the shipped presets: (name, parent, is_template).
const EXPECTED_GROUPS: &[(&str, Option<&str>, bool)] = &[
    ("Accountant", Some("Operator Root"), false),
    ("Administrator", Some("Administrator Root"), false),
    ("Administrator Root", None, true),
    ("Anonymous", None, false),
    ("Customer", Some("Customer Root"), false),
    ("Customer Root", None, true),
    ("Manager", Some("Operator Root"), false),
    ("Operator Root", None, true),
    ("Superuser", Some("Administrator Root"), false),
    ("Team member", Some("Operator Root"), false),
];

pub async fn sign_up_creates_account_owner_groups_and_one_audit_event(database: TestDatabase) {
    let store = database.store;
    let (account, owner) =
        store.create_account(new_account("acme", "John", "john@example.com"), &presets(), &context()).await.unwrap();

    assert_eq!(account.slug.as_str(), "acme");
    assert_eq!(account.billing_level, BillingLevel::Store);
    assert!(!account.is_platform);
    assert_eq!(account.owner_user_id, owner.id);
    assert_eq!(owner.account_id, account.id);
    assert!(owner.is_owner);
    assert_eq!(owner.status, UserStatus::Active);
    assert!(!owner.must_change_password);
    assert_eq!(owner.login_name.display(), "John");

    // What was returned is what is stored.
    assert_eq!(store.find_account(&AccountKey::Id(account.id)).await.unwrap().as_ref(), Some(&account));
    assert_eq!(store.find_account(&AccountKey::Slug(account.slug.clone())).await.unwrap().as_ref(), Some(&account));
    assert_eq!(store.find_user(account.id, owner.id).await.unwrap().as_ref(), Some(&owner));

    let groups = query(
        &store,
        &format!(
            "SELECT g.name, p.name AS parent_name, g.is_template, g.name_key FROM \"groups\" g \
             LEFT JOIN \"groups\" p ON p.id = g.parent_id WHERE g.account_id = '{}' ORDER BY g.name",
            account.id
        ),
    )
    .await;
    let stored: Vec<(String, Option<String>, bool)> = groups
        .iter()
        .map(|row| {
            let name: String = row.try_get("", "name").unwrap();
            let name_key: String = row.try_get("", "name_key").unwrap();
            assert_eq!(name_key, DisplayName::parse("name", &name).unwrap().key());
            (name, row.try_get("", "parent_name").unwrap(), row.try_get("", "is_template").unwrap())
        })
        .collect();
    let expected: Vec<(String, Option<String>, bool)> = EXPECTED_GROUPS
        .iter()
        .map(|(name, parent, template)| (name.to_string(), parent.map(str::to_owned), *template))
        .collect();
    assert_eq!(stored, expected);
    assert_eq!(stored.len(), presets().groups.len());

    let assignments = query(
        &store,
        &format!(
            "SELECT g.name, ra.scope_key, ra.store_id, ra.account_id FROM role_assignments ra \
             JOIN \"groups\" g ON g.id = ra.group_id WHERE ra.user_id = '{}'",
            owner.id
        ),
    )
    .await;
    assert_eq!(assignments.len(), 1, "the owner holds exactly one assignment");
    assert_eq!(assignments[0].try_get::<String>("", "name").unwrap(), "Administrator");
    assert_eq!(assignments[0].try_get::<String>("", "scope_key").unwrap(), "account");
    assert_eq!(assignments[0].try_get::<Option<String>>("", "store_id").unwrap(), None);
    assert_eq!(assignments[0].try_get::<String>("", "account_id").unwrap(), account.id.to_string());

    let events = audit_rows(&store, "account.create").await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.account_id.as_deref(), Some(account.id.to_string().as_str()));
    assert_eq!(event.target_id.as_deref(), Some(account.id.to_string().as_str()));
    assert_eq!(event.target_name.as_deref(), Some("acme ltd"));
    assert_eq!(event.outcome, "success");
    assert_eq!(event.reason, None);
    assert_eq!(event.actor_name.as_deref(), Some("sign-up form"));
    assert_eq!(event.client_address.as_deref(), Some("192.0.2.10"));
    assert_eq!(event.trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(event.changes["slug"]["after"], "acme");
    assert_eq!(event.changes["billing_level"]["after"], "store");
    assert_eq!(event.changes["owner.login_name"]["after"], "John");
    let printed = event.changes.to_string();
    assert!(!printed.contains("argon2") && !printed.contains(FAKE_HASH), "R9: no hash in the audit log: {printed}");
    assert_eq!(crate::common::fixtures::count(&store, "audit_events").await, 1);

    // The owner's hash is stored as given, for the login check only.
    let login = roster_domain::names::LoginName::parse("login", "john").unwrap();
    let candidate = store.find_login_candidate(&AccountKey::Id(account.id), &login).await.unwrap().unwrap();
    assert_eq!(candidate.password_hash.as_ref().expect("a stored hash").as_phc(), FAKE_HASH);
}

pub async fn sign_up_seeds_the_catalog_group_permissions_and_assignable_lists(database: TestDatabase) {
    let store = database.store;
    let presets = presets();
    let (account, _) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets, &context()).await.unwrap();

    let catalog = query(&store, "SELECT name, scope_level, billing, owner_only FROM permissions ORDER BY name").await;
    assert_eq!(catalog.len(), presets.permissions.len());
    for row in &catalog {
        let name: String = row.try_get("", "name").unwrap();
        let spec = presets.permissions.iter().find(|spec| spec.name.as_str() == name).unwrap();
        assert_eq!(row.try_get::<String>("", "scope_level").unwrap(), spec.scope.as_str());
        assert_eq!(row.try_get::<bool>("", "billing").unwrap(), spec.billing, "{name}");
        assert_eq!(row.try_get::<bool>("", "owner_only").unwrap(), spec.owner_only, "{name}");
    }

    let grants = query(
        &store,
        &format!(
            "SELECT g.name, gp.permission_name FROM group_permissions gp JOIN \"groups\" g ON g.id = gp.group_id \
             WHERE g.account_id = '{}'",
            account.id
        ),
    )
    .await;
    let mut stored: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in &grants {
        stored.entry(row.try_get("", "name").unwrap()).or_default().insert(row.try_get("", "permission_name").unwrap());
    }
    for group in &presets.groups {
        let expected: BTreeSet<String> = group.permissions.iter().map(|permission| permission.to_string()).collect();
        assert_eq!(stored.remove(&group.name).unwrap_or_default(), expected, "permissions of {}", group.name);
    }
    assert!(stored.is_empty(), "unexpected grants: {stored:?}");

    let assignable = query(
        &store,
        &format!(
            "SELECT g.name, a.name AS assignable FROM group_assignable ga JOIN \"groups\" g ON g.id = ga.group_id \
             JOIN \"groups\" a ON a.id = ga.assignable_group_id WHERE g.account_id = '{}' AND a.account_id = '{}'",
            account.id, account.id
        ),
    )
    .await;
    let mut stored: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in &assignable {
        stored.entry(row.try_get("", "name").unwrap()).or_default().insert(row.try_get("", "assignable").unwrap());
    }
    for group in &presets.groups {
        let expected: BTreeSet<String> = group.assignable.iter().cloned().collect();
        assert_eq!(stored.remove(&group.name).unwrap_or_default(), expected, "assignable of {}", group.name);
    }

    // A second account reuses the catalog and gets groups of its own.
    store.create_account(new_account("globex", "john", "john@example.com"), &presets, &context()).await.unwrap();
    assert_eq!(crate::common::fixtures::count(&store, "permissions").await, presets.permissions.len() as i64);
    assert_eq!(crate::common::fixtures::count(&store, "\"groups\"").await, 2 * presets.groups.len() as i64);
}

fn assert_slug_taken(error: DomainError) {
    match error {
        DomainError::AlreadyExists { entity, field, reason } => {
            assert_eq!((entity, field, reason), ("account", "slug", "ACCOUNT_SLUG_TAKEN"));
        }
        other => panic!("expected AlreadyExists on slug, got {other:?}"),
    }
}

pub async fn duplicate_slug_is_already_exists_on_field_slug(database: TestDatabase) {
    let store = database.store;
    store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    let error = store
        .create_account(new_account("ACME", "mary", "mary@example.com"), &presets(), &context())
        .await
        .unwrap_err();
    assert_slug_taken(error);
}

pub async fn failed_sign_up_leaves_no_partial_rows(database: TestDatabase) {
    let store = database.store;
    store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    let before = table_counts(&store).await;

    // The slug is taken: the catalog, account, owner and groups were all
    // written before the account insert failed, and must all be gone.
    let error = store
        .create_account(new_account("acme", "other", "other@example.com"), &presets(), &context())
        .await
        .unwrap_err();
    assert_slug_taken(error);
    assert_eq!(table_counts(&store).await, before);

    // The store still works afterwards (no connection left mid-transaction).
    store.create_account(new_account("globex", "other", "other@example.com"), &presets(), &context()).await.unwrap();
    let after: Vec<i64> = table_counts(&store).await.into_iter().map(|(_, count)| count).collect();
    assert_eq!(after[0], 2, "accounts");
}

pub async fn find_account_and_find_user_answer_none_for_strangers(database: TestDatabase) {
    let store = database.store;
    let (acme, acme_owner) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    let (globex, _) =
        store.create_account(new_account("globex", "mary", "mary@example.com"), &presets(), &context()).await.unwrap();

    assert_eq!(store.find_account(&AccountKey::Id(AccountId::generate())).await.unwrap(), None);
    let unknown_slug = AccountKey::Slug(AccountSlug::parse("slug", "initech").unwrap());
    assert_eq!(store.find_account(&unknown_slug).await.unwrap(), None);
    assert_eq!(store.find_user(acme.id, UserId::generate()).await.unwrap(), None);
    // A user is found only in their own account.
    assert_eq!(store.find_user(globex.id, acme_owner.id).await.unwrap(), None);
    assert_eq!(store.find_user(AccountId::generate(), acme_owner.id).await.unwrap(), None);
}

pub async fn list_account_ids_lists_every_account_in_id_order(database: TestDatabase) {
    let store = database.store;
    assert!(store.list_account_ids().await.unwrap().is_empty());
    let mut expected = Vec::new();
    for (slug, login) in [("acme", "john"), ("globex", "mary"), ("initech", "peter")] {
        let email = format!("{login}@example.com");
        let (account, _) =
            store.create_account(new_account(slug, login, &email), &presets(), &context()).await.unwrap();
        expected.push(account.id);
    }
    expected.sort();
    assert_eq!(store.list_account_ids().await.unwrap(), expected);
}
