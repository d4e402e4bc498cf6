//! What logins read and write (R17, R43).

use roster_directory_store::SeaDirectoryStore;
use roster_domain::account::UserStatus;
use roster_domain::audit::AuditOutcome;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountKey, AccountSlug, LoginName};
use roster_domain::paging::PageRequest;
use roster_domain::repository::{
    AccountRepository, AuditFilter, AuditRepository, CredentialRepository, GroupMembership, LoginAttempt,
    LoginCandidate,
};

use crate::common::backends::TestDatabase;
use crate::common::fixtures::{
    audit_rows, context, count, in_transaction, insert_user, new_account, presets, query, FAKE_HASH,
};

fn login(text: &str) -> LoginName {
    LoginName::parse("login_name", text).unwrap()
}

pub async fn find_login_candidate_uses_the_normalised_login(database: TestDatabase) {
    let store = database.store;
    let (acme, owner) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    store.create_account(new_account("globex", "mary", "mary@example.com"), &presets(), &context()).await.unwrap();

    let by_slug = AccountKey::Slug(AccountSlug::parse("slug", "acme").unwrap());
    for offered in ["JOHN", "john", "Ｊｏｈｎ"] {
        let candidate = store.find_login_candidate(&by_slug, &login(offered)).await.unwrap();
        let candidate = candidate.unwrap_or_else(|| panic!("{offered} should find john"));
        assert_eq!(candidate.account, acme);
        assert_eq!(candidate.user, owner);
        assert!(candidate.user.is_owner);
        assert_eq!(candidate.password_hash.as_ref().expect("a stored hash").as_phc(), FAKE_HASH);
        let administrator = candidate.groups.iter().find(|group| group.name == "Administrator").unwrap();
        assert_eq!(
            candidate.groups,
            vec![GroupMembership {
                group_id: administrator.group_id,
                name: "Administrator".into(),
                is_template: false
            }]
        );
        // R9: the candidate prints without its hash.
        assert!(!format!("{candidate:?}").contains(FAKE_HASH));
    }
    let by_id = AccountKey::Id(acme.id);
    assert_eq!(store.find_login_candidate(&by_id, &login("John")).await.unwrap().unwrap().user.id, owner.id);

    // Missing login, missing account, and a login of another account.
    assert!(store.find_login_candidate(&by_slug, &login("nobody")).await.unwrap().is_none());
    assert!(store.find_login_candidate(&by_slug, &login("mary")).await.unwrap().is_none());
    let unknown = AccountKey::Slug(AccountSlug::parse("slug", "initech").unwrap());
    assert!(store.find_login_candidate(&unknown, &login("john")).await.unwrap().is_none());
    let unknown = AccountKey::Id(AccountId::generate());
    assert!(store.find_login_candidate(&unknown, &login("john")).await.unwrap().is_none());

    // A user without assignments has no groups; one with several scopes of
    // one group lists it once.
    let pat = insert_user(&store, acme.id, "pat", "pat@example.com", "active").await;
    let candidate = store.find_login_candidate(&by_slug, &login("pat")).await.unwrap().unwrap();
    assert_eq!(candidate.user.id, pat);
    assert!(!candidate.user.is_owner);
    assert!(candidate.groups.is_empty());

    let manager = group_id_named(&store, acme.id, "Manager").await;
    let store_id = uuid::Uuid::now_v7();
    in_transaction(
        &store,
        &[
            format!(
                "INSERT INTO stores (id, account_id, name, is_public, created_at, updated_at) \
                 VALUES ('{store_id}', '{}', 'Shibuya', FALSE, {AT}, {AT})",
                acme.id
            ),
            assignment_insert(acme.id, pat, &manager, None),
            assignment_insert(acme.id, pat, &manager, Some(&store_id.to_string())),
        ],
    )
    .await
    .unwrap_or_else(|(step, error)| panic!("assigning pat ({step}): {error}"));
    let candidate = store.find_login_candidate(&by_slug, &login("pat")).await.unwrap().unwrap();
    assert_eq!(group_names(&candidate), ["Manager"]);

    // Several groups come in the order of their names, whatever the order
    // of the assignments.
    let accountant = group_id_named(&store, acme.id, "Accountant").await;
    in_transaction(&store, &[assignment_insert(acme.id, pat, &accountant, None)])
        .await
        .unwrap_or_else(|(step, error)| panic!("assigning pat ({step}): {error}"));
    let candidate = store.find_login_candidate(&by_slug, &login("pat")).await.unwrap().unwrap();
    assert_eq!(group_names(&candidate), ["Accountant", "Manager"]);
    assert_eq!(candidate.user.id, pat, "one user, however many rows the groups make");
}

/// When the rows written straight into the database were made.
const AT: &str = "'2025-01-01T00:00:00+00:00'";

/// The id of the seeded group `name` of `account_id`.
async fn group_id_named(store: &SeaDirectoryStore, account_id: AccountId, name: &str) -> String {
    let rows =
        query(store, &format!("SELECT id FROM \"groups\" WHERE account_id = '{account_id}' AND name = '{name}'")).await;
    rows[0].try_get("", "id").unwrap()
}

/// An INSERT of a role assignment: account-wide, or in `store_id`.
fn assignment_insert(account_id: AccountId, user_id: UserId, group_id: &str, store_id: Option<&str>) -> String {
    let (store_column, scope_key) = match store_id {
        Some(store_id) => (format!("'{store_id}'"), store_id.to_owned()),
        None => ("NULL".to_owned(), "account".to_owned()),
    };
    format!(
        "INSERT INTO role_assignments (id, account_id, user_id, group_id, store_id, scope_key, created_at) \
         VALUES ('{}', '{account_id}', '{user_id}', '{group_id}', {store_column}, '{scope_key}', {AT})",
        uuid::Uuid::now_v7()
    )
}

fn group_names(candidate: &LoginCandidate) -> Vec<&str> {
    candidate.groups.iter().map(|group| group.name.as_str()).collect()
}

async fn last_login_at_is_set(database: &TestDatabase, user: impl std::fmt::Display) -> bool {
    let rows = query(
        &database.store,
        &format!("SELECT last_login_at IS NOT NULL AS logged_in FROM users WHERE id = '{user}'"),
    )
    .await;
    rows[0].try_get::<bool>("", "logged_in").unwrap()
}

pub async fn record_login_success_activates_an_invited_user(database: TestDatabase) {
    let store = database.store.clone();
    let (acme, _) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    let invited = insert_user(&store, acme.id, "Pat", "pat@example.com", "invited").await;
    assert_eq!(store.find_user(acme.id, invited).await.unwrap().unwrap().status, UserStatus::Invited);

    let attempt = LoginAttempt {
        account_id: Some(acme.id),
        user_id: Some(invited),
        login_name: "Pat".into(),
        outcome: AuditOutcome::Success,
        reason: None,
    };
    store.record_login(&attempt, &context()).await.unwrap();

    let user = store.find_user(acme.id, invited).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Active, "R17: invited until the first successful login");
    assert!(last_login_at_is_set(&database, invited).await);
    let events = audit_rows(&store, "session.login").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, "success");
    assert_eq!(events[0].account_id.as_deref(), Some(acme.id.to_string().as_str()));
    assert_eq!(events[0].target_id.as_deref(), Some(invited.to_string().as_str()));
    assert_eq!(events[0].target_name.as_deref(), Some("Pat"));
    assert_eq!(events[0].changes["login_name"], "Pat");
    assert_eq!(events[0].changes["status"]["before"], "invited");
    assert_eq!(events[0].changes["status"]["after"], "active");

    // A second success changes no status and says so.
    store.record_login(&attempt, &context()).await.unwrap();
    let events = audit_rows(&store, "session.login").await;
    assert_eq!(events.len(), 2);
    assert!(events[1].changes.get("status").is_none());
    assert_eq!(store.find_user(acme.id, invited).await.unwrap().unwrap().status, UserStatus::Active);
}

pub async fn record_login_failure_only_writes_an_audit_row(database: TestDatabase) {
    let store = database.store.clone();
    let (acme, _) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    let invited = insert_user(&store, acme.id, "pat", "pat@example.com", "invited").await;
    let before = store.find_user(acme.id, invited).await.unwrap().unwrap();

    let wrong_password = LoginAttempt {
        account_id: Some(acme.id),
        user_id: Some(invited),
        login_name: "pat".into(),
        outcome: AuditOutcome::Failure,
        reason: Some("WRONG_PASSWORD"),
    };
    store.record_login(&wrong_password, &context()).await.unwrap();
    let unknown_login = LoginAttempt {
        account_id: None,
        user_id: None,
        login_name: "mallory".into(),
        outcome: AuditOutcome::Failure,
        reason: Some("UNKNOWN_LOGIN"),
    };
    store.record_login(&unknown_login, &context()).await.unwrap();

    assert_eq!(store.find_user(acme.id, invited).await.unwrap().unwrap(), before, "a failure changes nothing");
    assert!(!last_login_at_is_set(&database, invited).await);
    let events = audit_rows(&store, "session.login").await;
    assert_eq!(events.len(), 2);
    let failed = events.iter().find(|event| event.reason.as_deref() == Some("WRONG_PASSWORD")).unwrap();
    assert_eq!(failed.outcome, "failure");
    assert_eq!(failed.target_id.as_deref(), Some(invited.to_string().as_str()));
    assert_eq!(failed.changes, serde_json::json!({ "login_name": "pat" }));
    let unknown = events.iter().find(|event| event.reason.as_deref() == Some("UNKNOWN_LOGIN")).unwrap();
    assert_eq!(unknown.account_id, None);
    assert_eq!(unknown.target_id, None);
    assert_eq!(unknown.target_name.as_deref(), Some("mallory"));
    // Sign-up's event plus the two login events: nothing else was written.
    assert_eq!(count(&store, "audit_events").await, 3);
}

/// R43: a success's event carries the request's facts, whichever way the
/// backend writes it (one statement on PostgreSQL, a transaction on
/// SQLite); an active user's row changes only in its login columns; a user
/// deleted while the password was checked still gets the event.
pub async fn record_login_success_audits_the_request_and_touches_only_the_login_columns(database: TestDatabase) {
    let store = database.store.clone();
    let (acme, _) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    let sam = insert_user(&store, acme.id, "Sam", "sam@example.com", "active").await;
    let before = store.find_user(acme.id, sam).await.unwrap().unwrap();
    let success = LoginAttempt {
        account_id: Some(acme.id),
        user_id: Some(sam),
        login_name: "Sam".into(),
        outcome: AuditOutcome::Success,
        reason: None,
    };
    store.record_login(&success, &context()).await.unwrap();

    assert_eq!(store.find_user(acme.id, sam).await.unwrap().unwrap(), before, "status and updated_at stay");
    assert!(last_login_at_is_set(&database, sam).await);
    let filter = AuditFilter { action: Some("session.login".to_owned()), ..AuditFilter::default() };
    let page = PageRequest { size: 10, after: None };
    let events = store.list_audit_events(Some(acme.id), &filter, &page).await.unwrap().items;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    let expected = context();
    assert_eq!(event.account_id, Some(acme.id));
    assert_eq!((event.actor_id, event.actor_name.as_deref()), (None, expected.actor_name.as_deref()));
    assert_eq!((event.target_type.as_str(), event.target_id.as_deref()), ("user", Some(sam.to_string().as_str())));
    assert_eq!(event.target_name.as_deref(), Some("Sam"));
    assert_eq!(event.changes, serde_json::json!({ "login_name": "Sam" }));
    assert_eq!(event.client_address, expected.client_address);
    assert_eq!(event.user_agent, expected.user_agent);
    assert_eq!(event.trace_id, expected.trace_id);
    assert_eq!((event.outcome, event.reason.as_deref()), (AuditOutcome::Success, None));

    let deleted = UserId::generate();
    let gone = LoginAttempt { user_id: Some(deleted), login_name: "gone".into(), ..success };
    let users = count(&store, "users").await;
    store.record_login(&gone, &context()).await.unwrap();
    let events = store.list_audit_events(Some(acme.id), &filter, &page).await.unwrap().items;
    let event =
        events.iter().find(|event| event.target_id == Some(deleted.to_string())).expect("the deleted user's event");
    assert_eq!(event.changes, serde_json::json!({ "login_name": "gone" }));
    assert_eq!(count(&store, "users").await, users, "no row appears for a deleted user");
}
