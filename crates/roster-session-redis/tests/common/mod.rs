//! Helpers shared by the Redis store's integration tests.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use roster_domain::ids::SessionId;
use roster_session_core::{CredentialKey, NewSession};
use roster_session_redis::RedisSessionStore;

/// The Redis the tests use: `ROSTER_TEST_REDIS_URL`, or the local default.
pub fn test_redis_url() -> String {
    std::env::var("ROSTER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses, so tests sharing one Redis stay apart.
pub fn unique_key_prefix() -> String {
    format!("roster-test:{}:", uuid::Uuid::new_v4())
}

/// A store over the test Redis with its own key prefix. Panics — failing the
/// test, never skipping it — when that Redis cannot be reached.
pub async fn fresh_store() -> RedisSessionStore {
    let url = test_redis_url();
    match RedisSessionStore::connect(&url, &unique_key_prefix()).await {
        Ok(store) => store,
        Err(error) => panic!(
            "the Redis session store tests need a running Redis at {url} \
             (set ROSTER_TEST_REDIS_URL to use another one): {error}"
        ),
    }
}

/// Now, to the millisecond the store keeps.
pub fn now_in_millis() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now is a valid instant")
}

/// A session with the R37 defaults, created at `created_at`.
pub fn new_session(credential: CredentialKey, created_at: DateTime<Utc>) -> NewSession {
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

/// A plain connection to the test Redis, beside the store's.
pub async fn raw_connection() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(test_redis_url()).expect("test redis url");
    client.get_multiplexed_async_connection().await.expect("raw connection to the test redis")
}

/// A TCP port nothing listens on right now and that no other test of this
/// process has been handed. Taken in turn from below the kernel's ephemeral
/// range, where no `bind(0)` or outgoing connection can take it between the
/// trial bind here and `redis-server`'s own (as the end-to-end harness does).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;

    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new((uuid::Uuid::new_v4().as_u128() % u128::from(COUNT)) as u32));
    for _ in 0..COUNT {
        let port = (FIRST + next.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT - 1)
}

/// A `redis-server` owned by one test, killed when dropped. The binary is
/// `ROSTER_TEST_REDIS_SERVER` or `redis-server` on the PATH.
pub struct OwnRedisServer {
    process: Child,
}

impl OwnRedisServer {
    pub async fn start(port: u16) -> Self {
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
    pub fn signal(&self, signal: &str) {
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
