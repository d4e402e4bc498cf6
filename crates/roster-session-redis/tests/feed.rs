//! What only the Redis feed has: several replicas sharing it, its wire
//! format on the `<prefix>feed` channel, its behaviour when Redis restarts,
//! and its subscriber task's lifetime. (What every feed must do is in the
//! conformance suite.)

mod common;

use std::time::Duration as StdDuration;

use common::{free_port, new_session, now_in_millis, raw_connection, OwnRedisServer};
use futures::StreamExt;
use roster_domain::ids::{AccountId, UserId};
use roster_session_core::{
    reasons, CredentialKey, EndReason, FeedMessage, SessionEvent, SessionStore, SessionToken, Validation,
};
use roster_session_redis::RedisSessionStore;
use tokio::sync::broadcast::{self, error::RecvError};

/// How long a test waits for one feed message.
const FEED_WAIT: StdDuration = StdDuration::from_secs(2);
/// How long a test waits for the feed to notice a restart and recover.
const RECOVERY_WAIT: StdDuration = StdDuration::from_secs(15);

async fn next_message(feed: &mut broadcast::Receiver<FeedMessage>, wait: StdDuration) -> FeedMessage {
    match tokio::time::timeout(wait, feed.recv()).await {
        Ok(Ok(message)) => message,
        Ok(Err(error)) => panic!("the feed failed: {error}"),
        Err(_) => panic!("no feed message within {wait:?}"),
    }
}

async fn subscriber_count(raw: &mut redis::aio::MultiplexedConnection, channel: &str) -> u64 {
    let (_, count): (String, u64) = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query_async(raw).await.unwrap();
    count
}

/// R41, R36: two broker replicas over one Redis and one prefix: a login on
/// one replaces the session opened on the other, and both replicas'
/// subscribers get the same messages in the same order, whichever replica
/// caused them.
#[tokio::test]
async fn r41_two_replicas_sharing_a_prefix_see_the_same_events_in_the_same_order() {
    let prefix = common::unique_key_prefix();
    let first = RedisSessionStore::connect(&common::test_redis_url(), &prefix).await.unwrap();
    let second = RedisSessionStore::connect(&common::test_redis_url(), &prefix).await.unwrap();
    let (mut first_feed, mut second_feed) = (first.subscribe(), second.subscribe());
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let now = now_in_millis();

    let (old_token, new_token) = (SessionToken::issue(&credential), SessionToken::issue(&credential));
    let (old_session, newer_session) = (new_session(credential, now), new_session(credential, now));
    first.open(&old_token, old_session.clone()).await.unwrap();
    assert_eq!(second.open(&new_token, newer_session.clone()).await.unwrap(), Some(old_session.session_id));
    assert_eq!(first.validate(&old_token, now).await.unwrap(), Validation::Ended(EndReason::Replaced));
    first.logout(&new_token, now).await.unwrap();
    second.publish_access_change(credential.account_id, &[credential.user_id]).await.unwrap();

    let event = |session_id, kind, reason: &str, replaced_by| {
        FeedMessage::Session(SessionEvent {
            kind,
            session_id,
            account_id: credential.account_id,
            user_id: credential.user_id,
            reason: reason.to_owned(),
            occurred_at: now,
            replaced_by,
        })
    };
    let expected = vec![
        event(old_session.session_id, EndReason::Replaced, reasons::REPLACED, Some(newer_session.session_id)),
        event(newer_session.session_id, EndReason::LoggedOut, reasons::LOGGED_OUT, None),
        FeedMessage::AccessChanged { account_id: credential.account_id, user_ids: vec![credential.user_id] },
    ];
    for feed in [&mut first_feed, &mut second_feed] {
        let mut received = Vec::new();
        for _ in 0..expected.len() {
            received.push(next_message(feed, FEED_WAIT).await);
        }
        assert_eq!(received, expected);
    }
}

/// Messages travel as JSON on `<prefix>feed`, with everything a gateway
/// needs and nothing secret: no token, token hash or payload.
#[tokio::test]
async fn session_events_travel_as_json_on_the_prefix_feed_channel_without_secrets() {
    let store = common::fresh_store().await;
    assert_eq!(store.feed_channel(), format!("{}feed", store.key_prefix()));
    let client = redis::Client::open(common::test_redis_url()).unwrap();
    let mut raw_feed = client.get_async_pubsub().await.unwrap();
    raw_feed.subscribe(store.feed_channel()).await.unwrap();

    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    let session = new_session(credential, now_in_millis());
    store.open(&token, session.clone()).await.unwrap();
    store.revoke_credential(&credential, "user_blocked", session.created_at).await.unwrap();

    let message = tokio::time::timeout(FEED_WAIT, raw_feed.on_message().next()).await.unwrap().unwrap();
    let text: String = message.get_payload().unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = serde_json::json!({
        "type": "session_ended",
        "kind": "revoked",
        "session_id": session.session_id.to_string(),
        "account_id": credential.account_id.to_string(),
        "user_id": credential.user_id.to_string(),
        "reason": "user_blocked",
        "occurred_at": session.created_at.timestamp_millis(),
    });
    assert_eq!(json, expected);
    for secret in [token.expose(), token.hash().as_str(), session.payload.as_str()] {
        assert!(!text.contains(secret), "the feed carries no token, hash or payload");
    }
}

/// A message the feed cannot read (written by something else, or by a
/// newer version) is skipped; the messages after it still arrive.
#[tokio::test]
async fn undecodable_feed_messages_are_skipped() {
    let store = common::fresh_store().await;
    let mut feed = store.subscribe();
    let mut raw = raw_connection().await;
    for garbage in ["not json", r#"{"type":"gossip"}"#, r#"{"type":"session_ended","kind":"vanished"}"#] {
        let _: () = redis::cmd("PUBLISH").arg(store.feed_channel()).arg(garbage).query_async(&mut raw).await.unwrap();
    }
    let account_id = AccountId::generate();
    store.publish_access_change(account_id, &[]).await.unwrap();

    let expected = FeedMessage::AccessChanged { account_id, user_ids: Vec::new() };
    assert_eq!(next_message(&mut feed, FEED_WAIT).await, expected);
}

/// R41, failing closed: when its Redis restarts, the feed says `FeedLost`
/// once (caches must not be trusted), then `FeedRestored` once it is
/// subscribed again, and messages flow again after it.
#[tokio::test]
async fn r41_a_restarted_redis_is_reported_as_feed_lost_then_feed_restored() {
    let port = free_port();
    let server = OwnRedisServer::start(port).await;
    let store = RedisSessionStore::connect(&format!("redis://127.0.0.1:{port}"), "roster-feed-restart-test:")
        .await
        .expect("connect to the test's own redis-server");
    let mut feed = store.subscribe();

    drop(server);
    assert_eq!(next_message(&mut feed, RECOVERY_WAIT).await, FeedMessage::FeedLost);
    tokio::time::sleep(StdDuration::from_millis(500)).await;
    assert!(feed.is_empty(), "lost is said once, and nothing arrives while redis is down");

    let _server = OwnRedisServer::start(port).await;
    assert_eq!(next_message(&mut feed, RECOVERY_WAIT).await, FeedMessage::FeedRestored);

    let account_id = AccountId::generate();
    let mut published = false;
    for _ in 0..40 {
        if store.publish_access_change(account_id, &[]).await.is_ok() {
            published = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    assert!(published, "the store never reconnected");
    let expected = FeedMessage::AccessChanged { account_id, user_ids: Vec::new() };
    assert_eq!(next_message(&mut feed, FEED_WAIT).await, expected);
}

/// An idle subscription is checked with pings, which a healthy Redis
/// answers: no `FeedLost` while nothing happens.
#[tokio::test]
async fn an_idle_feed_stays_subscribed_across_its_pings() {
    let store = common::fresh_store().await;
    let mut feed = store.subscribe();
    tokio::time::sleep(StdDuration::from_secs(5)).await;
    let account_id = AccountId::generate();
    store.publish_access_change(account_id, &[]).await.unwrap();
    let expected = FeedMessage::AccessChanged { account_id, user_ids: Vec::new() };
    assert_eq!(next_message(&mut feed, FEED_WAIT).await, expected, "nothing but the message after idling");
}

/// The subscriber task belongs to the store: it lives while any clone does
/// and ends, closing its subscription, when the last one is dropped.
#[tokio::test]
async fn the_feed_subscription_ends_when_the_last_store_handle_is_dropped() {
    let store = common::fresh_store().await;
    let clone = store.clone();
    let channel = store.feed_channel();
    let mut feed = store.subscribe();
    let mut raw = raw_connection().await;
    assert_eq!(subscriber_count(&mut raw, &channel).await, 1);

    drop(store);
    let account_id = AccountId::generate();
    clone.publish_access_change(account_id, &[]).await.unwrap();
    let expected = FeedMessage::AccessChanged { account_id, user_ids: Vec::new() };
    assert_eq!(next_message(&mut feed, FEED_WAIT).await, expected, "a clone keeps the feed alive");

    drop(clone);
    let closed = tokio::time::timeout(FEED_WAIT, feed.recv()).await.expect("the feed closes");
    assert!(matches!(closed, Err(RecvError::Closed)), "{closed:?}");
    let mut remaining = 1;
    for _ in 0..40 {
        remaining = subscriber_count(&mut raw, &channel).await;
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_eq!(remaining, 0, "the subscription connection is closed");
}
