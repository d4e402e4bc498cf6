//! Two directory replicas over one database, each with its own access
//! cache (issue 6): a change committed through one is seen by every
//! question the other starts after the commit, however many questions are
//! in flight and share a version read.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use roster_domain::caller::Caller;
use roster_domain::filters::DataFilters;
use roster_domain::presets::PermissionName;

use roster_domain::access::RoleAssignment;
use roster_domain::ids::UserId;

use super::{account_wide, context, Harness, Tenant};
use crate::service::authorization::PermissionQuestion;

/// Acme, its user kenji (no roles yet) and an account-wide Manager role.
async fn kenji_and_the_manager_role(harness: &Harness) -> (Tenant, UserId, RoleAssignment) {
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let manager = account_wide(harness.group(&acme, "Manager").await);
    (acme, kenji, manager)
}

/// Whether `subject` holds `users.view` account-wide (Manager grants it).
fn users_view_of(subject: UserId) -> PermissionQuestion {
    PermissionQuestion {
        subject: Some(subject),
        permission: PermissionName::parse("permission", "users.view").unwrap(),
        store: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r38_a_role_change_through_one_replica_is_seen_by_every_later_check_on_the_other() {
    let harness = Harness::start().await;
    let (acme, kenji, manager) = kenji_and_the_manager_role(&harness).await;
    let (first, second) = (harness.directory.clone(), harness.replica());
    let question = users_view_of(kenji);
    let account_id = acme.account_id;
    assert!(!second.check_permission(&Caller::InternalService, account_id, &question).await.unwrap());

    // Questions in flight on the second replica the whole time: each notes
    // when it started and what it heard.
    let answers: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::default();
    let committed: Arc<Mutex<Option<Instant>>> = Arc::default();
    let askers: Vec<_> = (0..8)
        .map(|_| {
            let (second, question, answers, committed) =
                (second.clone(), question.clone(), Arc::clone(&answers), Arc::clone(&committed));
            tokio::spawn(async move {
                let mut after_commit = 0;
                while after_commit < 20 {
                    let started = Instant::now();
                    let held = second.check_permission(&Caller::InternalService, account_id, &question).await.unwrap();
                    answers.lock().unwrap().push((started, held));
                    if committed.lock().unwrap().is_some_and(|at| at < started) {
                        after_commit += 1;
                    }
                }
            })
        })
        .collect();
    first.assign_role(&acme.caller, context(), account_id, kenji, manager).await.unwrap();
    // The change has committed by the time the call returns.
    *committed.lock().unwrap() = Some(Instant::now());
    for asker in askers {
        asker.await.unwrap();
    }
    let committed_at = committed.lock().unwrap().unwrap();
    let answers = answers.lock().unwrap();
    let later: Vec<bool> =
        answers.iter().filter(|(started, _)| *started > committed_at).map(|(_, held)| *held).collect();
    assert!(later.len() >= 8 * 20);
    assert!(later.iter().all(|held| *held), "a check started after the commit heard the old answer");
}

/// Waits until `directory`'s store listens for access changes.
async fn listening(directory: &crate::service::Directory) {
    let freshness = directory.repository.access_freshness().expect("PostgreSQL pushes access changes");
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !freshness.is_listening() {
        assert!(Instant::now() < deadline, "the store never started listening");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// On PostgreSQL a replica's cache answers without reading the version
/// while it has heard of no change (issue 6): the writing replica still
/// answers every later check exactly, and the other one within R38's
/// second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r38_on_postgres_a_role_change_is_seen_at_once_by_its_replica_and_within_a_second_by_the_other() {
    let (harness, url) = Harness::on_postgres().await;
    let (acme, kenji, manager) = kenji_and_the_manager_role(&harness).await;
    let (first, second) = (harness.directory.clone(), harness.replica_on(&url).await);
    listening(&first).await;
    listening(&second).await;
    let question = users_view_of(kenji);
    let account_id = acme.account_id;
    let held = |directory: &crate::service::Directory| {
        let (directory, question) = (directory.clone(), question.clone());
        async move { directory.check_permission(&Caller::InternalService, account_id, &question).await.unwrap() }
    };
    // Both caches hold the account, trusted.
    assert!(!held(&first).await);
    assert!(!held(&second).await);
    assert!(!held(&second).await);

    for round in 0..10 {
        let assigned = round % 2 == 0;
        if assigned {
            first.assign_role(&acme.caller, context(), account_id, kenji, manager).await.unwrap();
        } else {
            first.unassign_role(&acme.caller, context(), account_id, kenji, manager).await.unwrap();
        }
        assert_eq!(held(&first).await, assigned, "round {round}: the writing replica answered from before its write");
        let deadline = Instant::now() + std::time::Duration::from_secs(1);
        while held(&second).await != assigned {
            assert!(Instant::now() < deadline, "round {round}: the other replica did not hear the change within 1 s");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
}

/// A replica whose listener has not heard a change yet (here: hears only
/// what the test tells it) answers `CheckPermission` from its trusted entry
/// without asking the database, while exact questions (administrative
/// calls, the access the broker caches) read the version and see the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_not_yet_heard_reaches_exact_questions_at_once_and_heard_ones_once_heard() {
    use roster_domain::freshness::AccessFreshness;

    use crate::service::access_cache::{AccessCache, Currency};

    let harness = Harness::start().await;
    let (acme, kenji, manager) = kenji_and_the_manager_role(&harness).await;
    let freshness = Arc::new(AccessFreshness::new());
    freshness.listening();
    let second = crate::service::Directory {
        access: AccessCache::new(Some(Arc::clone(&freshness))),
        ..harness.directory.clone()
    };
    let question = users_view_of(kenji);
    let account_id = acme.account_id;
    assert!(!second.check_permission(&Caller::InternalService, account_id, &question).await.unwrap());
    let before = second.access.account(&second.repository, account_id, Currency::Heard).await.unwrap().version();

    harness.directory.assign_role(&acme.caller, context(), account_id, kenji, manager).await.unwrap();
    assert!(
        !second.check_permission(&Caller::InternalService, account_id, &question).await.unwrap(),
        "unheard, the trusted entry answers without reading the version"
    );
    let exact = second.access.account(&second.repository, account_id, Currency::Exact).await.unwrap();
    assert!(exact.version() > before, "an exact question reads the version and sees the change");
    assert!(second.check_permission(&Caller::InternalService, account_id, &question).await.unwrap());

    // And once heard, without an exact question in between.
    harness.directory.unassign_role(&acme.caller, context(), account_id, kenji, manager).await.unwrap();
    assert!(second.check_permission(&Caller::InternalService, account_id, &question).await.unwrap(), "not heard yet");
    freshness.changed(Some(account_id), "");
    assert!(!second.check_permission(&Caller::InternalService, account_id, &question).await.unwrap());
}
