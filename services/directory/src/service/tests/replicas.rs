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

use super::{account_wide, context, Harness};
use crate::service::authorization::PermissionQuestion;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r38_a_role_change_through_one_replica_is_seen_by_every_later_check_on_the_other() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let manager = account_wide(harness.group(&acme, "Manager").await);
    let (first, second) = (harness.directory.clone(), harness.replica());
    let question = PermissionQuestion {
        subject: Some(kenji),
        permission: PermissionName::parse("permission", "users.view").unwrap(),
        store: None,
    };
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
