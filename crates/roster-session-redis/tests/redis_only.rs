//! What only the Redis store has: its key layout, its answers to bad stored
//! data, and its behaviour when Redis goes away and comes back.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_session_core::{
    CredentialKey, EndReason, NewSession, SessionStore, SessionStoreError, SessionToken, Validation,
};
use roster_session_redis::RedisSessionStore;

/// Generous bound on one store call: it must fail fast, never hang.
const CALL_BOUND: StdDuration = StdDuration::from_secs(10);

fn now_in_millis() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now is a valid instant")
}

fn new_session(credential: CredentialKey, created_at: DateTime<Utc>) -> NewSession {
    NewSession {
        session_id: SessionId::generate(),
        credential,
        payload: "{\"roles\":[\"reader\"]}".to_owned(),
        client_address: "192.0.2.10".to_owned(),
        user_agent: "redis-only-test".to_owned(),
        created_at,
        idle_timeout: Duration::minutes(15),
        absolute_expires_at: created_at + Duration::hours(12),
    }
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(common::test_redis_url()).expect("test redis url");
    client.get_multiplexed_async_connection().await.expect("raw connection to the test redis")
}

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
    assert_eq!(keys, vec![current_key.clone(), ended_key.clone()]);

    let current: HashMap<String, String> = redis::cmd("HGETALL").arg(&current_key).query_async(&mut raw).await.unwrap();
    assert_eq!(current["token_hash"], second.hash().as_str());
    assert_eq!(current["session_id"], second_session.session_id.to_string());
    assert_eq!(current["idle_timeout"], (15 * 60 * 1000).to_string());
    assert_eq!(current["absolute_expires_at"], second_session.absolute_expires_at.timestamp_millis().to_string());
    assert!(!current.values().any(|value| value.contains(second.expose())), "the token itself is never stored");

    let ended: HashMap<String, String> = redis::cmd("HGETALL").arg(&ended_key).query_async(&mut raw).await.unwrap();
    let absolute = (created_at + Duration::hours(12)).timestamp_millis();
    assert_eq!(ended, HashMap::from([(first.hash().as_str().to_owned(), format!("replaced|{absolute}"))]));

    // Garbage collection only: both keys live past the absolute expiry.
    let twelve_hours_ms = 12 * 60 * 60 * 1000;
    for key in [&current_key, &ended_key] {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut raw).await.unwrap();
        assert!(ttl > twelve_hours_ms, "{key} expires too early: {ttl} ms");
    }
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

    let _: () =
        redis::cmd("HSET").arg(&current_key).arg("idle_expires_at").arg("soon").query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");

    let _: () = redis::cmd("SET").arg(&current_key).arg("not a hash").query_async(&mut raw).await.unwrap();
    let outcome = store.validate(&token, now).await;
    assert!(matches!(outcome, Err(SessionStoreError::Corrupt(_))), "{outcome:?}");
    let _: () = redis::cmd("DEL").arg(&current_key).query_async(&mut raw).await.unwrap();
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
/// not hang; once it answers again, the same store carries on.
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

    server.signal("-STOP");
    let outcome = tokio::time::timeout(CALL_BOUND, store.validate(&token, now))
        .await
        .expect("validate must time out by itself while redis does not answer");
    assert!(matches!(outcome, Err(SessionStoreError::Unavailable(_))), "{outcome:?}");

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
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A `redis-server` owned by one test, killed when dropped. The binary is
/// `ROSTER_TEST_REDIS_SERVER` or `redis-server` on the PATH.
struct OwnRedisServer {
    process: Child,
}

impl OwnRedisServer {
    async fn start(port: u16) -> Self {
        let binary = std::env::var("ROSTER_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let process = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("this test starts its own {binary} and could not: {error}"));
        let mut server = Self { process };
        for _ in 0..200 {
            if let Ok(Some(status)) = server.process.try_wait() {
                panic!("{binary} on port {port} exited at start: {status}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return server;
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        panic!("{binary} on port {port} did not start listening");
    }
}

impl OwnRedisServer {
    /// Sends a signal (`-STOP`, `-CONT`) to the server process.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.process.id().to_string()])
            .status()
            .expect("run kill to signal the test's redis-server");
        assert!(status.success(), "kill {signal} failed: {status}");
    }
}

impl Drop for OwnRedisServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
