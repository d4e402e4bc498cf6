//! Harness for Roster's end-to-end tests: starts the real `roster-directory`
//! and `roster-session` binaries on ephemeral ports against real SQLite,
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

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
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
