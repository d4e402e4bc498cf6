//! Upgrading a password hash after a successful login (R35): a
//! compare-and-set that a concurrent password change always wins, audited
//! without a hash.

use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountKey, LoginName};
use roster_domain::password::PasswordHash;
use roster_domain::repository::{CredentialRepository, UserRepository};

use crate::common::backends::TestDatabase;
use crate::common::directory::{acting, create_user, sign_up};
use crate::common::fixtures::{audit_rows, context, query, FAKE_HASH};

/// A weak hash as an older configuration made it (never verified here).
const WEAK_HASH: &str = "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$d2Vha2hhc2h3ZWFraGFzaA";
const UPGRADED_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$dXBncmFkZWRoYXNodXBncmFkZWQ";
const CHANGED_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$Y2hhbmdlZGhhc2hjaGFuZ2VkaGFzaA";

fn hash(phc: &str) -> PasswordHash {
    PasswordHash::from_stored(phc.to_owned())
}

async fn stored_hash(store: &roster_directory_store::SeaDirectoryStore, account_id: AccountId, login: &str) -> String {
    let login = LoginName::parse("login_name", login).unwrap();
    let candidate = store.find_login_candidate(&AccountKey::Id(account_id), &login).await.unwrap().unwrap();
    candidate.password_hash.expect("a stored hash").as_phc().to_owned()
}

/// Upgrades `from` to `to`, as a login would; whether it replaced the hash.
async fn upgrade(
    store: &roster_directory_store::SeaDirectoryStore,
    account_id: AccountId,
    user_id: UserId,
    from: &str,
    to: &str,
) -> bool {
    store.upgrade_password_hash(account_id, user_id, &hash(from), &hash(to), &context()).await.unwrap()
}

/// Gives `user_id` the weak hash, as an older deployment would have.
async fn store_weak_hash(
    store: &roster_directory_store::SeaDirectoryStore,
    tenant: &crate::common::directory::Tenant,
    user_id: UserId,
) {
    store.set_password(tenant.account.id, user_id, hash(WEAK_HASH), false, &acting(&tenant.owner)).await.unwrap();
}

pub async fn r35_upgrade_password_hash_replaces_only_the_verified_hash(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let account_id = acme.account.id;
    let kenji = create_user(&store, &acme, "kenji").await;
    store_weak_hash(&store, &acme, kenji).await;

    assert!(upgrade(&store, account_id, kenji, WEAK_HASH, UPGRADED_HASH).await);
    assert_eq!(stored_hash(&store, account_id, "kenji").await, UPGRADED_HASH);
    let events = audit_rows(&store, "user.password_rehash").await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.outcome, "success");
    assert_eq!(event.account_id, Some(account_id.to_string()));
    assert_eq!(event.target_id, Some(kenji.to_string()));
    assert_eq!(event.target_name.as_deref(), Some("kenji"));
    assert_eq!(event.trace_id.as_deref(), context().trace_id.as_deref());
    assert_eq!(event.changes["password"], "rehashed");
    assert_eq!(event.changes["hash_parameters"]["before"], "argon2id v=19 m=8192,t=1,p=1");
    assert_eq!(event.changes["hash_parameters"]["after"], "argon2id v=19 m=19456,t=2,p=1");
    // R9: no hash, salt or digest in the audit log.
    let rows = query(&store, "SELECT changes FROM audit_events").await;
    for row in rows {
        let changes: String = row.try_get("", "changes").unwrap();
        for secret in [WEAK_HASH, UPGRADED_HASH, "c2FsdHNhbHQ", "bmV3c2FsdA", "dXBncmFkZWRoYXNo", "d2Vha2hhc2g"] {
            assert!(!changes.contains(secret), "{changes}");
        }
    }

    // The verified hash is gone now: a second upgrade from it changes nothing.
    assert!(!upgrade(&store, account_id, kenji, WEAK_HASH, CHANGED_HASH).await);
    assert_eq!(stored_hash(&store, account_id, "kenji").await, UPGRADED_HASH);
    assert_eq!(audit_rows(&store, "user.password_rehash").await.len(), 1, "no event for no change");

    // Unknown users, and a user of another account, are not touched.
    let globex = sign_up(&store, "globex").await;
    assert!(!upgrade(&store, globex.account.id, kenji, UPGRADED_HASH, CHANGED_HASH).await);
    assert!(!upgrade(&store, account_id, UserId::generate(), FAKE_HASH, CHANGED_HASH).await);
    assert_eq!(stored_hash(&store, account_id, "kenji").await, UPGRADED_HASH);
    assert_eq!(audit_rows(&store, "user.password_rehash").await.len(), 1);
}

pub async fn r35_a_password_change_racing_an_upgrade_always_wins(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let account_id = acme.account.id;
    let kenji = create_user(&store, &acme, "kenji").await;
    for round in 0..8 {
        store_weak_hash(&store, &acme, kenji).await;
        let (upgrade_store, change_store, owner) = (store.clone(), store.clone(), acme.owner.clone());
        let upgrading =
            tokio::spawn(async move { upgrade(&upgrade_store, account_id, kenji, WEAK_HASH, UPGRADED_HASH).await });
        let change = tokio::spawn(async move {
            change_store.set_password(account_id, kenji, hash(CHANGED_HASH), true, &acting(&owner)).await.unwrap();
        });
        let (upgraded, changed) = tokio::join!(upgrading, change);
        changed.unwrap();
        let upgraded = upgraded.unwrap();
        // Either order ends with the new password: an upgrade that came
        // first was overwritten, one that came second found its hash gone.
        assert_eq!(
            stored_hash(&store, account_id, "kenji").await,
            CHANGED_HASH,
            "round {round} (upgraded: {upgraded})"
        );
    }
}
