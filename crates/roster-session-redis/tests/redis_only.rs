//! What only the Redis store has: its behaviour when Redis goes away and
//! comes back. (Its key layout, indexes and answers to bad stored data are
//! in `layout.rs`, its feed in `feed.rs`.)

mod common;

use std::time::Duration as StdDuration;

use common::{free_port, new_session, now_in_millis, OwnRedisServer};
use roster_domain::ids::{AccountId, UserId};
use roster_session_core::{
    CredentialKey, EndReason, FeedMessage, SessionStore, SessionStoreError, SessionToken, Validation,
};
use roster_session_redis::RedisSessionStore;

/// Generous bound on one store call: it must fail fast, never hang.
const CALL_BOUND: StdDuration = StdDuration::from_secs(10);

#[tokio::test]
async fn connecting_to_a_redis_that_is_down_fails_as_unavailable() {
    let port = free_port();
    let outcome =
        tokio::time::timeout(CALL_BOUND, RedisSessionStore::connect(&format!("redis://127.0.0.1:{port}"), "x:"))
            .await
            .expect("connecting to a closed port must fail, not hang");
    assert!(matches!(outcome, Err(SessionStoreError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn debug_output_names_the_prefix_and_nothing_secret() {
    let store = common::fresh_store().await;
    let printed = format!("{store:?}");
    assert!(printed.starts_with("RedisSessionStore { key_prefix: \"roster-test:"), "{printed}");
}

/// R36 and failing closed: when its Redis dies the store answers
/// `Unavailable` (never hangs, never answers from memory); when a Redis is
/// back on the same address the same store works again, and nothing Redis
/// forgot comes back to life.
#[tokio::test]
async fn a_restarted_redis_is_reconnected_without_rebuilding_the_store() {
    let port = free_port();
    let server = OwnRedisServer::start(port).await;
    let store = RedisSessionStore::connect(&format!("redis://127.0.0.1:{port}"), "roster-restart-test:")
        .await
        .expect("connect to the test's own redis-server");
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    let now = now_in_millis();
    store.open(&token, new_session(credential, now)).await.unwrap();
    assert!(matches!(store.validate(&token, now).await, Ok(Validation::Active(_))));

    drop(server);
    for _ in 0..3 {
        let outcome = tokio::time::timeout(CALL_BOUND, store.validate(&token, now))
            .await
            .expect("validate must fail fast while redis is down");
        assert!(matches!(outcome, Err(SessionStoreError::Unavailable(_))), "{outcome:?}");
    }
    let ping = tokio::time::timeout(CALL_BOUND, store.ping()).await.expect("ping must fail fast while redis is down");
    assert!(matches!(ping, Err(SessionStoreError::Unavailable(_))), "{ping:?}");

    let _server = OwnRedisServer::start(port).await;
    let mut answer_after_restart = None;
    for _ in 0..40 {
        let outcome = tokio::time::timeout(CALL_BOUND, store.validate(&token, now))
            .await
            .expect("validate must not hang while reconnecting");
        match outcome {
            Ok(Validation::Active(_)) => panic!("a session redis forgot came back to life"),
            Ok(answer) => {
                answer_after_restart = Some(answer);
                break;
            }
            Err(SessionStoreError::Unavailable(_)) => tokio::time::sleep(StdDuration::from_millis(250)).await,
            Err(other) => panic!("unexpected error while reconnecting: {other}"),
        }
    }
    assert_eq!(answer_after_restart, Some(Validation::Unknown), "the store never reconnected");

    // Writes work again too, scripts reloaded into the new server.
    let new_token = SessionToken::issue(&credential);
    assert_eq!(store.open(&new_token, new_session(credential, now)).await.unwrap(), None);
    assert!(matches!(store.validate(&new_token, now).await, Ok(Validation::Active(_))));
    assert!(matches!(store.logout(&new_token, now).await, Ok(Validation::Active(_))));
    assert_eq!(store.validate(&new_token, now).await.unwrap(), Validation::Ended(EndReason::LoggedOut));
}

/// A Redis that accepts connections but never answers (stopped with
/// SIGSTOP) makes calls fail as `Unavailable` after the response timeout,
/// not hang, and the feed report `FeedLost`; once it answers again, the
/// same store carries on and the feed reports `FeedRestored`.
#[tokio::test]
async fn a_frozen_redis_fails_fast_and_is_used_again_once_it_answers() {
    let port = free_port();
    let server = OwnRedisServer::start(port).await;
    let store = RedisSessionStore::connect(&format!("redis://127.0.0.1:{port}"), "roster-freeze-test:")
        .await
        .expect("connect to the test's own redis-server");
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    let now = now_in_millis();
    store.open(&token, new_session(credential, now)).await.unwrap();
    let mut feed = store.subscribe();

    server.signal("-STOP");
    let outcome = tokio::time::timeout(CALL_BOUND, store.validate(&token, now))
        .await
        .expect("validate must time out by itself while redis does not answer");
    assert!(matches!(outcome, Err(SessionStoreError::Unavailable(_))), "{outcome:?}");
    // The feed's connection stays open, but its pings go unanswered.
    let lost = tokio::time::timeout(CALL_BOUND, feed.recv()).await.expect("the feed notices the silence");
    assert_eq!(lost.unwrap(), FeedMessage::FeedLost);

    server.signal("-CONT");
    let mut answer_after_thaw = None;
    for _ in 0..40 {
        match tokio::time::timeout(CALL_BOUND, store.validate(&token, now)).await.expect("validate must not hang") {
            Ok(answer) => {
                answer_after_thaw = Some(answer);
                break;
            }
            Err(SessionStoreError::Unavailable(_)) => tokio::time::sleep(StdDuration::from_millis(250)).await,
            Err(other) => panic!("unexpected error after the thaw: {other}"),
        }
    }
    assert!(matches!(answer_after_thaw, Some(Validation::Active(_))), "{answer_after_thaw:?}");
    let restored = tokio::time::timeout(CALL_BOUND, feed.recv()).await.expect("the feed resubscribes");
    assert_eq!(restored.unwrap(), FeedMessage::FeedRestored);
}
