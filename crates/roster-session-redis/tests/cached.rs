//! The broker's validation cache over a real Redis shared by two replicas
//! (issue 6): an end through one replica reaches the other's cache through
//! the Redis feed, and never later than R38's second.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use roster_domain::ids::{AccountId, UserId};
use roster_session_core::conformance::answer_once_ended_within_a_second;
use roster_session_core::{CachedSessionStore, CredentialKey, EndReason, SessionStore, SessionToken, Validation};
use roster_session_redis::RedisSessionStore;

async fn replica(prefix: &str) -> CachedSessionStore<RedisSessionStore> {
    let store = RedisSessionStore::connect(&common::test_redis_url(), prefix).await.expect("redis is reachable");
    CachedSessionStore::new(Arc::new(store), 1_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r36_r41_ends_through_one_replica_reach_the_other_replicas_cache() {
    let prefix = common::unique_key_prefix();
    let (this, other) = (replica(&prefix).await, replica(&prefix).await);
    let start = common::now_in_millis();
    let now = start + Duration::seconds(1);

    // Replaced through the other replica.
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    this.open(&token, common::new_session(credential, start)).await.unwrap();
    assert!(matches!(this.validate(&token, now).await.unwrap(), Validation::Active(_)));
    assert_eq!(this.cache().len(), 1, "the live session is cached");
    other.open(&SessionToken::issue(&credential), common::new_session(credential, now)).await.unwrap();
    assert_eq!(answer_once_ended_within_a_second(&this, &token, now).await, Validation::Ended(EndReason::Replaced));

    // Logged out and revoked through the other replica.
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    this.open(&token, common::new_session(credential, start)).await.unwrap();
    assert!(matches!(this.validate(&token, now).await.unwrap(), Validation::Active(_)));
    other.logout(&token, now).await.unwrap();
    assert_eq!(answer_once_ended_within_a_second(&this, &token, now).await, Validation::Ended(EndReason::LoggedOut));

    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    other.open(&token, common::new_session(credential, start)).await.unwrap();
    assert!(matches!(this.validate(&token, now).await.unwrap(), Validation::Active(_)));
    other.revoke_credential(&credential, "user_blocked", now).await.unwrap();
    assert_eq!(answer_once_ended_within_a_second(&this, &token, now).await, Validation::Ended(EndReason::Revoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_frozen_redis_empties_the_cache_and_validation_fails_closed() {
    let port = common::free_port();
    let redis = common::OwnRedisServer::start(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let store = RedisSessionStore::connect(&url, &common::unique_key_prefix()).await.expect("redis is reachable");
    let cached = CachedSessionStore::new(Arc::new(store), 1_000);
    let start = common::now_in_millis();
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    cached.open(&token, common::new_session(credential, start)).await.unwrap();
    assert!(matches!(cached.validate(&token, start).await.unwrap(), Validation::Active(_)));
    assert_eq!(cached.cache().len(), 1);

    // Redis freezes without closing a connection (a partition looks like
    // this): the feed's ping goes unanswered, the feed reports the loss, the
    // cache empties, and validation fails closed instead of answering from
    // memory.
    redis.signal("-STOP");
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(15);
    let answer = loop {
        let answer = cached.validate(&token, start).await;
        if answer.is_err() || tokio::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    };
    assert!(answer.is_err(), "validation fails closed once Redis is gone: {answer:?}");
    assert!(cached.cache().is_empty(), "the cache was emptied when the feed was lost");
    redis.signal("-CONT");
}
