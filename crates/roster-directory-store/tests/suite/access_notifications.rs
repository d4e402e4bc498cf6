//! Issue 6: on PostgreSQL every committed change of an account's access is
//! pushed to every replica's `AccessFreshness` (LISTEN/NOTIFY), so access
//! caches can skip the version read while nothing changed; a replica's own
//! writes are awaited from their start until their notification arrives.
//! SQLite pushes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use roster_directory_store::SeaDirectoryStore;
use roster_domain::freshness::{AccessFreshness, Watch};
use roster_domain::ids::AccountId;
use roster_domain::repository::{AccessRepository, PermissionRepository, UserRepository};
use sea_orm::ConnectionTrait;

use crate::common::backends::TestDatabase;
use crate::common::directory::{account_wide, acting, create_user, group_named, refund_permission_spec, sign_up};

/// R38's bound for gateways; notifications normally take milliseconds.
const HEARD_WITHIN: Duration = Duration::from_secs(1);

async fn listening(store: &SeaDirectoryStore) -> Arc<AccessFreshness> {
    let freshness = store.access_freshness().expect("PostgreSQL pushes access changes");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !freshness.is_listening() {
        assert!(Instant::now() < deadline, "the store never started listening");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    freshness
}

/// Whether a change of `account_id` since `watch` is heard within
/// [`HEARD_WITHIN`].
async fn heard_within_bound(freshness: &AccessFreshness, account_id: AccountId, watch: Watch) -> bool {
    let deadline = Instant::now() + HEARD_WITHIN;
    loop {
        if !freshness.unchanged_since(account_id, watch) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub async fn sqlite_pushes_no_access_changes(database: TestDatabase) {
    assert!(database.store.access_freshness().is_none(), "every question reads the version on SQLite");
}

pub async fn r38_a_change_through_another_replica_is_heard_within_a_second(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let freshness = listening(&store).await;
    let watch = freshness.watch(acme.account.id).expect("nothing of acme's is awaited");
    let globex_watch = freshness.watch(globex.account.id).unwrap();
    assert!(freshness.unchanged_since(acme.account.id, watch), "nothing changed yet");

    // Another replica: a pool and a listener of its own.
    let other = SeaDirectoryStore::connect(&database.url).await.unwrap();
    other.assign_role(acme.account.id, kenji, account_wide(manager.id), &acting(&acme.owner)).await.unwrap();
    assert!(heard_within_bound(&freshness, acme.account.id, watch).await, "the other replica's commit went unheard");
    assert!(freshness.unchanged_since(globex.account.id, globex_watch), "globex did not change");
    assert!(freshness.watch(acme.account.id).is_some(), "another replica's write is not awaited here");
}

pub async fn an_own_write_is_awaited_from_its_start_until_its_notification(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let freshness = listening(&store).await;
    for _ in 0..20 {
        let watch = freshness.watch(acme.account.id).expect("no write is awaited between rounds");
        store.assign_role(acme.account.id, kenji, account_wide(manager.id), &acting(&acme.owner)).await.unwrap();
        // Committed: whether or not the notification is in yet, nothing
        // read before may be trusted now.
        assert!(!freshness.unchanged_since(acme.account.id, watch), "an own committed write was trusted away");
        store.unassign_role(acme.account.id, kenji, account_wide(manager.id), &acting(&acme.owner)).await.unwrap();
        let deadline = Instant::now() + HEARD_WITHIN;
        while freshness.watch(acme.account.id).is_none() {
            assert!(Instant::now() < deadline, "the own write's notification never arrived");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

pub async fn a_version_bump_by_hand_and_a_catalog_write_are_heard(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let freshness = listening(&store).await;
    let watch = freshness.watch(acme.account.id).unwrap();
    let other = SeaDirectoryStore::connect(&database.url).await.unwrap();
    other
        .connection()
        .execute_unprepared(&format!(
            "UPDATE accounts SET access_version = access_version + 1 WHERE id = '{}'",
            acme.account.id
        ))
        .await
        .unwrap();
    assert!(heard_within_bound(&freshness, acme.account.id, watch).await, "a bump by hand went unheard");

    let watch = freshness.watch(acme.account.id).unwrap();
    let spec = refund_permission_spec();
    other.register_permissions(vec![spec], "orders-service", &acting(&acme.owner)).await.unwrap();
    assert!(heard_within_bound(&freshness, acme.account.id, watch).await, "a catalog write went unheard");
}
