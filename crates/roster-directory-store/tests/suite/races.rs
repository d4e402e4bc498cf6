//! Concurrent changes to one account end clean (R8, R12, R21, R28, R43),
//! including the writes that only add users, which run beside each other
//! on PostgreSQL but never beside another write of the account.

use roster_domain::repository::{AccountRepository, GroupRepository, UserRepository};
use roster_domain::ErrorCode;

use crate::common::backends::TestDatabase;
use crate::common::directory::{account_wide, acting, create_group, create_user, group_named, new_user, sign_up};
use crate::common::fixtures::query;

async fn count_where(store: &roster_directory_store::SeaDirectoryStore, sql: &str) -> i64 {
    query(store, sql).await[0].try_get::<i64>("", "n").unwrap()
}

pub async fn r12_concurrent_user_creations_all_commit_and_a_login_is_taken_once(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    // Sixteen distinct users and four attempts at one login, all at once.
    let logins: Vec<String> =
        (0..16).map(|number| format!("adder{number}")).chain((0..4).map(|_| "twin".to_owned())).collect();
    let attempts: Vec<_> = logins
        .into_iter()
        .map(|login| {
            let (store, context) = (store.clone(), context.clone());
            let mut user = new_user(acme.account.id, &login);
            // Distinct emails, so only the login name can collide.
            user.email =
                roster_domain::names::EmailAddress::parse("email", &format!("{}@acme.example", uuid_like())).unwrap();
            tokio::spawn(async move { store.create_user(user, &context).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.unwrap());
    }
    let (created, refused): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(Result::is_ok);
    assert_eq!(created.len(), 17, "sixteen adders and one twin");
    for error in refused.into_iter().map(Result::unwrap_err) {
        assert_eq!((error.code(), error.reason()), (ErrorCode::AlreadyExists, "LOGIN_NAME_TAKEN"), "{error}");
    }
    let account = acme.account.id;
    let users = count_where(&store, &format!("SELECT COUNT(*) AS n FROM users WHERE account_id = '{account}'")).await;
    assert_eq!(users, 18, "the owner and seventeen users");
    let events = count_where(&store, "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'user.create'").await;
    assert_eq!(events, 17, "R43: one audit event per committed user, none for a refused one");
}

pub async fn r21_a_group_deletion_racing_user_creations_leaves_no_member_behind(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let (mut deleted, mut kept) = (0, 0);
    for round in 0..10 {
        let group = create_group(&store, &acme, &format!("Raced {round}"), None).await;
        let adding: Vec<_> = (0..3)
            .map(|number| {
                let (store, context) = (store.clone(), context.clone());
                let mut user = new_user(acme.account.id, &format!("r{round}n{number}"));
                user.assignments.insert(account_wide(group));
                tokio::spawn(async move { store.create_user(user, &context).await })
            })
            .collect();
        let deleting = {
            let (store, context) = (store.clone(), context.clone());
            tokio::spawn(async move { store.delete_group(acme.account.id, group, &context).await })
        };
        let mut added = 0;
        for outcome in adding {
            match outcome.await.unwrap() {
                Ok(_) => added += 1,
                Err(error) => assert_eq!(error.code(), ErrorCode::NotFound, "{error}"),
            }
        }
        match deleting.await.unwrap() {
            Ok(_) => deleted += 1,
            Err(error) => {
                assert_eq!((error.code(), error.reason()), (ErrorCode::FailedPrecondition, "GROUP_IN_USE"), "{error}");
                assert!(added > 0, "a group nobody joined is deleted");
                kept += 1;
            }
        }
        // Every committed user still has the group their audit event names.
        let members =
            count_where(&store, &format!("SELECT COUNT(*) AS n FROM role_assignments WHERE group_id = '{group}'"))
                .await;
        assert_eq!(members, added, "round {round}: every added user keeps its assignment");
        let group_left =
            count_where(&store, &format!("SELECT COUNT(*) AS n FROM \"groups\" WHERE id = '{group}'")).await;
        assert_eq!(group_left, i64::from(added > 0), "round {round}: a deleted group had no member");
    }
    assert_eq!(deleted + kept, 10);
}

/// A fresh unique string.
fn uuid_like() -> String {
    roster_domain::ids::UserId::generate().to_string()
}

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
