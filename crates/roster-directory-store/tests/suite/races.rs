//! Concurrent changes to one user end clean (R8, R28).

use roster_domain::repository::{AccountRepository, UserRepository};
use roster_domain::ErrorCode;

use crate::common::backends::TestDatabase;
use crate::common::directory::{account_wide, acting, create_user, group_named, sign_up};
use crate::common::fixtures::query;

pub async fn r8_a_delete_racing_an_assignment_leaves_no_orphan(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let context = acting(&acme.owner);
    let (mut assigned_first, mut refused) = (0, 0);
    for round in 0..20 {
        let user_id = create_user(&store, &acme, &format!("racer{round}")).await;
        let deleting = {
            let (store, context) = (store.clone(), context.clone());
            tokio::spawn(async move { store.delete_user(acme.account.id, user_id, &context).await })
        };
        let assigning = {
            let (store, context) = (store.clone(), context.clone());
            tokio::spawn(async move {
                store.assign_role(acme.account.id, user_id, account_wide(manager.id), &context).await
            })
        };
        let deleted = deleting.await.unwrap();
        let assigned = assigning.await.unwrap();
        assert!(deleted.is_ok(), "the delete always succeeds: {deleted:?}");
        match assigned {
            Ok(true) => assigned_first += 1,
            Ok(false) => panic!("a fresh assignment cannot be a no-op"),
            Err(error) => {
                assert_eq!((error.code(), error.reason()), (ErrorCode::NotFound, "USER_NOT_FOUND"), "{error}");
                refused += 1;
            }
        }
        assert_eq!(store.find_user(acme.account.id, user_id).await.unwrap(), None);
    }
    assert_eq!(assigned_first + refused, 20);
    let orphans =
        query(&store, "SELECT COUNT(*) AS n FROM role_assignments WHERE user_id NOT IN (SELECT id FROM users)").await;
    assert_eq!(orphans[0].try_get::<i64>("", "n").unwrap(), 0);
    let deletions = query(&store, "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.delete'").await;
    assert_eq!(deletions[0].try_get::<i64>("", "n").unwrap(), 20);
}
