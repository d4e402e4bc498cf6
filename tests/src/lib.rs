//! Harness for Roster's end-to-end tests: starts the real `roster-directory`
//! and `roster-session` binaries on free ports against real SQLite,
//! PostgreSQL (a fresh database per test) and Redis (its own key prefix per
//! test, or its own `redis-server` process), and offers small helpers to read
//! gRPC error details.
//!
//! Logs of the started services stay quiet unless `TEST_LOG` is set (its
//! value is used as the log filter).

pub mod cluster;
pub mod fixtures;
pub mod in_process;
pub mod postgres;
pub mod redis_process;
pub mod smtp_process;
pub mod status;

pub use cluster::{Cluster, ClusterOptions, DatabaseKind, SessionBackend};

/// A TCP port on the loopback interface that nothing listens on and that
/// no other caller in this process has been handed.
///
/// The port is released before the child process binds it, so it must not
/// come from the kernel's ephemeral range (`bind(0)`): there another test's
/// `bind(0)` or any outgoing connection (to Redis, PostgreSQL, a service)
/// can take it in between, and a cluster then talks to someone else's
/// server. Ports are taken in turn from below that range, from a random
/// start per process, each checked by a trial bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;

    /// Below Linux's default ephemeral range (32768–60999) and above the
    /// registered ports most services use.
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new(rand::random_range(0..COUNT)));
    for _ in 0..COUNT {
        let port = (FIRST + next.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT - 1)
}

/// Where `scripts/test` puts Redis (override with `ROSTER_TEST_REDIS_URL`).
pub fn test_redis_url() -> String {
    std::env::var("ROSTER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Where `scripts/test` puts PostgreSQL (override with
/// `ROSTER_TEST_POSTGRES_URL`).
pub fn test_postgres_url() -> String {
    std::env::var("ROSTER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A random 64-character hex string.
pub fn random_hex() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
