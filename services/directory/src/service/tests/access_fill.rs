//! Issue 6: an account whose cached entry misses often is loaded whole in
//! the background, and answers exactly as one user at a time would.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use roster_domain::caller::Caller;
use roster_domain::filters::DataFilters;
use roster_domain::presets::PermissionName;

use super::{account_wide, Harness};
use crate::service::access_cache::{AccessCache, Currency};
use crate::service::authorization::PermissionQuestion;
use crate::service::Directory;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_asked_about_many_users_is_loaded_whole_and_answers_as_before() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let manager = account_wide(harness.group(&acme, "Manager").await);
    let mut users = Vec::new();
    for index in 0..6 {
        // Every other user is a manager (and so holds users.view).
        let assignments = if index % 2 == 0 { BTreeSet::from([manager]) } else { BTreeSet::new() };
        users.push(harness.create_user(&acme, &format!("user{index}"), assignments, DataFilters::default()).await);
    }
    let blocked = users[4];
    harness.directory.set_user_blocked(&acme.caller, super::context(), acme.account_id, blocked, true).await.unwrap();
    let directory = Directory { access: AccessCache::default().filling_after(2), ..harness.directory.clone() };
    let question = |user| PermissionQuestion {
        subject: Some(user),
        permission: PermissionName::parse("permission", "users.view").unwrap(),
        store: None,
    };

    // Two users fetched one at a time: the second miss starts the fill.
    for user in &users[..2] {
        directory.check_permission(&Caller::InternalService, acme.account_id, &question(*user)).await.unwrap();
    }
    let account = directory.access.account(&directory.repository, acme.account_id, Currency::Exact).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while account.users_held() < users.len() + 1 {
        assert!(Instant::now() < deadline, "the account was never loaded whole ({} held)", account.users_held());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(account.users_held(), users.len() + 1, "the owner and the six users");

    for (index, user) in users.iter().enumerate() {
        let held =
            directory.check_permission(&Caller::InternalService, acme.account_id, &question(*user)).await.unwrap();
        let expected = index % 2 == 0 && *user != blocked;
        assert_eq!(held, expected, "user{index} (R14: a blocked manager holds nothing)");
    }
}
