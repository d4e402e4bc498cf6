//! The platform operators' account, created once at first start.

use roster_domain::names::{AccountKey, AccountSlug, LoginName};
use roster_domain::repository::{AccountRepository, CredentialRepository, PlatformRepository};

use crate::common::backends::TestDatabase;
use crate::common::fixtures::{audit_rows, count, in_transaction, new_owner, presets, query};

pub async fn bootstrap_platform_creates_once(database: TestDatabase) {
    let store = database.store;
    assert!(store.bootstrap_platform(new_owner("operator", "ops@example.com"), &presets()).await.unwrap());
    assert!(!store.bootstrap_platform(new_owner("someone", "else@example.com"), &presets()).await.unwrap());

    let platform = store.find_account(&AccountKey::Slug(AccountSlug::platform())).await.unwrap().unwrap();
    assert!(platform.is_platform);
    assert_eq!(platform.display_name.as_str(), "Roster platform");
    assert_eq!(count(&store, "accounts").await, 1);
    assert_eq!(count(&store, "users").await, 1);
    assert_eq!(count(&store, "permissions").await, presets().permissions.len() as i64);
    let operator = store.find_user(platform.id, platform.owner_user_id).await.unwrap().unwrap();
    assert!(operator.is_owner);
    assert_eq!(operator.login_name.display(), "operator");

    let events = audit_rows(&store, "platform.bootstrap").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target_id.as_deref(), Some(platform.id.to_string().as_str()));
    assert_eq!(events[0].outcome, "success");
}

pub async fn bootstrap_platform_is_safe_when_replicas_race(database: TestDatabase) {
    // Two pools on one database, as two replicas starting together; a few
    // rounds, since who wins (and where the loser notices) varies.
    let first = database.store.clone();
    let second = roster_directory_store::SeaDirectoryStore::connect(&database.url).await.unwrap();
    let presets = presets();
    for round in 1..=3 {
        let (first_created, second_created) = tokio::join!(
            first.bootstrap_platform(new_owner("operator", "ops@example.com"), &presets),
            second.bootstrap_platform(new_owner("operator", "ops@example.com"), &presets),
        );
        let created = [first_created.unwrap(), second_created.unwrap()];
        assert_eq!(created.iter().filter(|created| **created).count(), 1, "round {round}: {created:?}");
        assert_eq!(count(&first, "accounts").await, 1);
        assert_eq!(count(&first, "users").await, 1);
        assert_eq!(audit_rows(&first, "platform.bootstrap").await.len(), round);
        in_transaction(&first, &["DELETE FROM accounts WHERE slug = 'platform'".to_owned()])
            .await
            .unwrap_or_else(|(step, error)| panic!("removing the platform account ({step}): {error}"));
    }
    second.connection().clone().close().await.unwrap();
}

pub async fn platform_operator_is_a_login_candidate(database: TestDatabase) {
    let store = database.store;
    store.bootstrap_platform(new_owner("Operator", "ops@example.com"), &presets()).await.unwrap();
    let login = LoginName::parse("login_name", "OPERATOR").unwrap();
    let candidate =
        store.find_login_candidate(&AccountKey::Slug(AccountSlug::platform()), &login).await.unwrap().unwrap();
    assert!(candidate.account.is_platform);
    assert!(candidate.user.is_owner);
    assert_eq!(candidate.user.login_name.display(), "Operator");
    let status = query(&store, &format!("SELECT status FROM users WHERE id = '{}'", candidate.user.id)).await;
    assert_eq!(status[0].try_get::<String>("", "status").unwrap(), "active");
}
