//! `accounts.access_version` (issue 6): what access caches compare before
//! answering. Every write that can change an account's access bumps it in
//! its own transaction; reads never do.

use roster_domain::ids::AccountId;
use roster_domain::repository::{AccessRepository, PermissionRepository, UserRepository};

use crate::common::backends::TestDatabase;
use crate::common::directory::{
    acting, create_store, create_user, group_named, in_store, refund_permission_spec, sign_up,
};

pub async fn access_version_moves_with_every_access_change_and_never_with_reads(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let context = acting(&acme.owner);
    let version = |account_id: AccountId| {
        let store = &store;
        async move { store.access_version(account_id).await.unwrap().expect("a known account") }
    };
    assert_eq!(store.access_version(AccountId::generate()).await.unwrap(), None);

    let manager = group_named(&store, acme.account.id, "Manager").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    let before = version(acme.account.id).await;
    store.access_snapshot(acme.account.id).await.unwrap();
    store.user_grants(acme.account.id, kenji).await.unwrap();
    assert_eq!(version(acme.account.id).await, before, "reads leave it");
    create_user(&store, &acme, "mika").await;
    assert_eq!(version(acme.account.id).await, before, "adding a user leaves it: nothing cached names them yet");

    let globex_before = version(globex.account.id).await;
    store.assign_role(acme.account.id, kenji, in_store(manager.id, shibuya), &context).await.unwrap();
    let assigned = version(acme.account.id).await;
    assert!(assigned > before, "R28: an assignment moves it");
    assert_eq!(version(globex.account.id).await, globex_before, "another account's stays");

    store.set_user_blocked(acme.account.id, kenji, true, &context).await.unwrap();
    let blocked = version(acme.account.id).await;
    assert!(blocked > assigned, "R14: blocking moves it");

    let spec = refund_permission_spec();
    store.register_permissions(vec![spec], "orders-service", &context).await.unwrap();
    assert!(version(acme.account.id).await > blocked, "R20: a catalog change moves every account's");
    assert!(version(globex.account.id).await > globex_before);
}
