//! What only the Redis store has: its key layout and indexes, its answers
//! to bad stored data, and its behaviour when Redis goes away and comes back.
//! (Its feed has its own file, `feed.rs`.)

mod common;

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use chrono::Duration;
use common::{free_port, new_session, now_in_millis, raw_connection, OwnRedisServer};
use roster_domain::ids::{AccountId, UserId};
use roster_session_core::{
    CredentialKey, EndReason, FeedMessage, SessionStore, SessionStoreError, SessionToken, Validation,
};
use roster_session_redis::RedisSessionStore;

/// Generous bound on one store call: it must fail fast, never hang.
const CALL_BOUND: StdDuration = StdDuration::from_secs(10);

#[tokio::test]
async fn keys_carry_the_credential_hash_tag_and_outlive_the_absolute_lifetime() {
    let store = common::fresh_store().await;
    let prefix = store.key_prefix().to_owned();
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let created_at = now_in_millis();
    let first = SessionToken::issue(&credential);
    store.open(&first, new_session(credential, created_at)).await.unwrap();
    let second = SessionToken::issue(&credential);
    let second_session = new_session(credential, created_at);
    store.open(&second, second_session.clone()).await.unwrap();

    let mut raw = raw_connection().await;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut raw).await.unwrap();
    keys.sort();
    let tag = credential.tag();
    let current_key = format!("{prefix}{{{tag}}}:current");
    let ended_key = format!("{prefix}{{{tag}}}:ended");
    let index_key = format!("{prefix}account:{}:credentials", credential.account_id);
    // The replaced session's key went with it; the live one's stays.
    let session_key = format!("{prefix}session:{}", second_session.session_id);
    assert_eq!(keys, vec![index_key.clone(), session_key.clone(), current_key.clone(), ended_key.clone()]);

    let indexed: Vec<(String, f64)> =
        redis::cmd("ZRANGE").arg(&index_key).arg(0).arg(-1).arg("WITHSCORES").query_async(&mut raw).await.unwrap();
    assert_eq!(indexed, vec![(tag.clone(), 0.0)]);
    let session_tag: String = redis::cmd("GET").arg(&session_key).query_async(&mut raw).await.unwrap();
    assert_eq!(session_tag, tag);

    let current: String = redis::cmd("GET").arg(&current_key).query_async(&mut raw).await.unwrap();
    let fields: Vec<&str> = current.splitn(12, '|').collect();
    assert_eq!(fields[0], second.hash().as_str());
    assert_eq!(fields[1], second_session.session_id.to_string());
    assert_eq!(fields[7], second_session.absolute_expires_at.timestamp_millis().to_string());
    assert_eq!(fields[8], (15 * 60 * 1000).to_string());
    assert_eq!(fields[9], second_session.client_address.len().to_string());
    assert_eq!(fields[10], second_session.user_agent.len().to_string());
    let free_text = format!("{}{}{}", second_session.client_address, second_session.user_agent, second_session.payload);
    assert_eq!(fields[11], free_text);
    assert!(!current.contains(second.expose()), "the token itself is never stored");

    let ended: HashMap<String, String> = redis::cmd("HGETALL").arg(&ended_key).query_async(&mut raw).await.unwrap();
    let absolute = (created_at + Duration::hours(12)).timestamp_millis();
    assert_eq!(ended, HashMap::from([(first.hash().as_str().to_owned(), format!("replaced|{absolute}"))]));

    // Garbage collection only: every key lives past the absolute expiry,
    // and not much longer.
    let twelve_hours_ms = 12 * 60 * 60 * 1000;
    for key in [&current_key, &ended_key, &index_key, &session_key] {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut raw).await.unwrap();
        assert!(ttl > twelve_hours_ms, "{key} expires too early: {ttl} ms");
        assert!(ttl <= twelve_hours_ms + 11 * 60 * 1000, "{key} is kept far too long: {ttl} ms");
    }
}

/// Listing prunes the account index: a credential whose `:current` record is
/// gone (its session ended, or its key expired) leaves the index, and the
/// others stay listed.
#[tokio::test]
async fn listing_removes_index_entries_of_credentials_whose_session_is_gone() {
    let store = common::fresh_store().await;
    let account_id = AccountId::generate();
    let now = now_in_millis();
    let mut tokens = Vec::new();
    for _ in 0..4 {
        let credential = CredentialKey::new(account_id, UserId::generate());
        let token = SessionToken::issue(&credential);
        store.open(&token, new_session(credential, now)).await.unwrap();
        tokens.push((credential, token));
    }
    let (logged_out, logged_out_token) = &tokens[0];
    let (vanished, _) = &tokens[1];
    store.logout(logged_out_token, now).await.unwrap();
    let mut raw = raw_connection().await;
    let vanished_key = format!("{}{{{}}}:current", store.key_prefix(), vanished.tag());
    let _: () = redis::cmd("DEL").arg(&vanished_key).query_async(&mut raw).await.unwrap();

    let page = store.list_sessions(account_id, None, None, 10, now).await.unwrap();
    let mut listed: Vec<String> = page.sessions.iter().map(|session| session.credential.tag()).collect();
    let mut expected = vec![tokens[2].0.tag(), tokens[3].0.tag()];
    expected.sort();
    assert_eq!(listed, expected);

    let index_key = format!("{}account:{account_id}:credentials", store.key_prefix());
    listed = redis::cmd("ZRANGE").arg(&index_key).arg(0).arg(-1).query_async(&mut raw).await.unwrap();
    assert_eq!(listed, expected, "{} and {} left the index", logged_out.tag(), vanished.tag());
    let ttl: i64 = redis::cmd("PTTL").arg(&index_key).query_async(&mut raw).await.unwrap();
    assert!(ttl > 12 * 60 * 60 * 1000, "the index keeps its expiry: {ttl} ms");
}

/// `revoke_session` finds the credential through the session key, which
/// goes with the session; a session key naming a credential whose live
/// session is another one ends nothing.
#[tokio::test]
async fn revoke_session_goes_through_the_session_key_and_drops_it() {
    let store = common::fresh_store().await;
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let now = now_in_millis();
    let token = SessionToken::issue(&credential);
    let session = new_session(credential, now);
    store.open(&token, session.clone()).await.unwrap();
    let session_key = format!("{}session:{}", store.key_prefix(), session.session_id);
    let mut raw = raw_connection().await;

    let stale = new_session(credential, now).session_id;
    let stale_key = format!("{}session:{stale}", store.key_prefix());
    let _: () = redis::cmd("SET").arg(&stale_key).arg(credential.tag()).query_async(&mut raw).await.unwrap();
    assert_eq!(store.revoke_session(stale, "administrator", now).await.unwrap(), None);
    assert!(matches!(store.validate(&token, now).await.unwrap(), Validation::Active(_)));
    let exists: bool = redis::cmd("EXISTS").arg(&stale_key).query_async(&mut raw).await.unwrap();
    assert!(!exists, "a session key naming no live session is dropped");

    let revoked = store.revoke_session(session.session_id, "administrator", now).await.unwrap();
    assert_eq!(revoked.map(|session| session.session_id), Some(session.session_id));
    let exists: bool = redis::cmd("EXISTS").arg(&session_key).query_async(&mut raw).await.unwrap();
    assert!(!exists, "the revoked session's key went with it");

    let _: () = redis::cmd("SET").arg(&stale_key).arg("not}a{tag").query_async(&mut raw).await.unwrap();
    let outcome = store.revoke_session(stale, "administrator", now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");
}

#[tokio::test]
async fn unreadable_stored_sessions_are_corrupt_not_unavailable() {
    let store = common::fresh_store().await;
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    let now = now_in_millis();
    store.open(&token, new_session(credential, now)).await.unwrap();
    let current_key = format!("{}{{{}}}:current", store.key_prefix(), credential.tag());
    let mut raw = raw_connection().await;

    // Unreadable times in an otherwise well-formed record.
    let record: String = redis::cmd("GET").arg(&current_key).query_async(&mut raw).await.unwrap();
    let mut fields: Vec<&str> = record.splitn(12, '|').collect();
    fields[6] = "soon";
    let _: () = redis::cmd("SET").arg(&current_key).arg(fields.join("|")).query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");

    // Not a record at all, and not a string at all.
    let _: () = redis::cmd("SET").arg(&current_key).arg("not a session").query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");
    let _: () = redis::cmd("DEL").arg(&current_key).query_async(&mut raw).await.unwrap();
    let _: () = redis::cmd("HSET").arg(&current_key).arg("a").arg("b").query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");
    let _: () = redis::cmd("DEL").arg(&current_key).query_async(&mut raw).await.unwrap();
}

/// A live session of the first layout (a hash) cannot be validated, but the
/// credential's next login replaces it.
#[tokio::test]
async fn a_login_replaces_a_session_stored_in_the_first_layout() {
    let store = common::fresh_store().await;
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let current_key = format!("{}{{{}}}:current", store.key_prefix(), credential.tag());
    let mut raw = raw_connection().await;
    let _: () = redis::cmd("HSET").arg(&current_key).arg("token_hash").arg("x").query_async(&mut raw).await.unwrap();
    let now = now_in_millis();
    let token = SessionToken::issue(&credential);
    store.open(&token, new_session(credential, now)).await.expect("the login replaces the old hash");
    assert!(matches!(store.validate(&token, now).await, Ok(Validation::Active(_))));
}

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
