//! Logins (R35, R40): the principal carries the user's access, and a hash
//! weaker than the configured parameters is upgraded at a successful login.

use std::collections::BTreeSet;

use roster_domain::filters::DataFilters;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountKey, LoginName};
use roster_domain::paging::PageRequest;
use roster_domain::password::{Argon2Settings, Password, PasswordHash, PasswordHasher};
use roster_domain::repository::{AuditEvent, AuditFilter};

use super::{account_wide, context, filters, Harness, PASSWORD};
use crate::service::credentials::{LoginCheck, VerifiedPrincipal};

/// What the directory is configured with in the rehash test: the shipped
/// defaults (OWASP's).
const CONFIGURED: Argon2Settings = Argon2Settings { memory_kib: 19_456, iterations: 2, parallelism: 1 };
/// What an older deployment used: less memory, fewer iterations.
const WEAKER: Argon2Settings = Argon2Settings { memory_kib: 8192, iterations: 1, parallelism: 1 };

fn login(account_id: AccountId, login_name: &str, password: &str) -> LoginCheck {
    LoginCheck {
        account: AccountKey::Id(account_id),
        login_name: LoginName::parse("login_name", login_name).unwrap(),
        password: Password::for_verification(password),
        client_address: None,
    }
}

async fn log_in(harness: &Harness, account_id: AccountId, login_name: &str) -> VerifiedPrincipal {
    let check = login(account_id, login_name, PASSWORD);
    harness.directory.verify_credentials(context(), check).await.expect("a successful login")
}

async fn stored_hash(harness: &Harness, account_id: AccountId, login_name: &str) -> PasswordHash {
    let login_name = LoginName::parse("login_name", login_name).unwrap();
    let candidate = harness.directory.repository.find_login_candidate(&AccountKey::Id(account_id), &login_name).await;
    candidate.unwrap().expect("a login").password_hash.expect("a stored hash")
}

async fn events(harness: &Harness, account_id: AccountId, action: &str) -> Vec<AuditEvent> {
    let filter = AuditFilter { action: Some(action.to_owned()), ..AuditFilter::default() };
    let page = PageRequest { size: 100, after: None };
    harness.directory.repository.list_audit_events(Some(account_id), &filter, &page).await.unwrap().items
}

/// Gives `user_id` a hash made with [`WEAKER`] parameters, as an older
/// deployment would have stored it.
async fn store_weak_hash(harness: &Harness, account_id: AccountId, user_id: UserId) -> PasswordHash {
    let weak = PasswordHasher::new(WEAKER).unwrap().hash_blocking(&Password::for_verification(PASSWORD)).unwrap();
    let repository = &harness.directory.repository;
    repository.set_password(account_id, user_id, weak.clone(), false, &context()).await.unwrap();
    weak
}

#[tokio::test]
async fn r40_a_login_returns_the_access_get_principal_access_returns() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let manager = harness.group(&acme, "Manager").await;
    let assignments = BTreeSet::from([account_wide(manager)]);
    let kenji = harness.create_user(&acme, "kenji", assignments, filters("country", &["JP"])).await;

    let principal = log_in(&harness, acme.account_id, "kenji").await;
    assert_eq!(principal.user_id, kenji);
    let access = harness.directory.principal_access(acme.account_id, kenji).await.unwrap();
    assert_eq!(principal.access, access);
    assert_eq!(principal.access.groups, principal.groups, "the same groups, in the same order");
    assert!(!principal.access.blocked);
    assert_eq!(principal.access.data_filters, filters("country", &["JP"]));

    let owner = log_in(&harness, acme.account_id, "owner-acme").await;
    assert!(owner.access.is_owner && owner.access.permissions.is_owner);
}

#[tokio::test]
async fn r35_a_weaker_hash_is_replaced_at_the_next_successful_login() {
    assert_eq!(CONFIGURED, Argon2Settings::default());
    let harness = Harness::with_argon2(CONFIGURED).await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let weak = store_weak_hash(&harness, acme.account_id, kenji).await;
    assert_eq!(weak.cost_summary().as_deref(), Some("argon2id v=19 m=8192,t=1,p=1"));

    // A wrong password changes nothing.
    let wrong = login(acme.account_id, "kenji", "not the password at all");
    assert!(harness.directory.verify_credentials(context(), wrong).await.is_err());
    assert!(stored_hash(&harness, acme.account_id, "kenji").await == weak);

    log_in(&harness, acme.account_id, "kenji").await;
    let upgraded = stored_hash(&harness, acme.account_id, "kenji").await;
    assert!(upgraded != weak);
    assert_eq!(upgraded.cost_summary().as_deref(), Some("argon2id v=19 m=19456,t=2,p=1"));
    let configured = PasswordHasher::new(CONFIGURED).unwrap();
    assert!(!configured.needs_rehash(&upgraded));
    assert!(configured.verify_blocking(&Password::for_verification(PASSWORD), Some(&upgraded)));

    let rehashes = events(&harness, acme.account_id, "user.password_rehash").await;
    assert_eq!(rehashes.len(), 1);
    let event = &rehashes[0];
    assert_eq!(event.target_id, Some(kenji.to_string()));
    assert_eq!(event.trace_id, context().trace_id);
    let changes = event.changes.to_string();
    assert!(changes.contains("m=8192,t=1,p=1") && changes.contains("m=19456,t=2,p=1"), "{changes}");
    for secret in [weak.as_phc(), upgraded.as_phc(), PASSWORD] {
        assert!(!changes.contains(secret), "R9: no secret in the audit log");
    }

    // The upgraded hash is current: the next login leaves it alone.
    log_in(&harness, acme.account_id, "kenji").await;
    assert!(stored_hash(&harness, acme.account_id, "kenji").await == upgraded);
    assert_eq!(events(&harness, acme.account_id, "user.password_rehash").await.len(), 1);
    assert_eq!(events(&harness, acme.account_id, "session.login").await.len(), 3);
}

#[tokio::test]
async fn r35_current_hashes_are_never_rewritten() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let before = stored_hash(&harness, acme.account_id, "owner-acme").await;
    log_in(&harness, acme.account_id, "owner-acme").await;
    assert!(stored_hash(&harness, acme.account_id, "owner-acme").await == before);
    assert!(events(&harness, acme.account_id, "user.password_rehash").await.is_empty());
}
