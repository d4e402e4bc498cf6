//! The Redis [`LoginThrottle`]: failed logins per source, counted in Redis
//! so that every broker replica sees every failure (R39).
//!
//! # Key layout (Cluster-safe)
//!
//! `<prefix>throttle:{<source digest>}:<window start ms>`, an integer
//! counter per source and epoch-aligned window. The source digest
//! ([`source_digest`]) is the hash tag, so the two counters a check reads
//! share one Cluster slot and one `MGET` fetches both. Recording a failure
//! is one Lua script on one key (`INCR`, then `PEXPIRE` to the end of the
//! next window plus grace), atomic and one round trip.
//!
//! The decision itself is [`ThrottlePolicy::decide`], the same for every
//! throttle; Redis only counts. Time comes from the caller's `now`, never
//! from Redis `TIME`.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use redis::{Script, Value};
use roster_session_core::throttle::source_digest;
use roster_session_core::{FailureCounts, LoginThrottle, SessionStoreError, ThrottleDecision, ThrottlePolicy};

use crate::{connection_manager, store_error, RedisSessionStore, GARBAGE_COLLECTION_GRACE_MS};

/// Per-source failure counters in Redis (standalone or Cluster). Cheap to
/// clone; clones share one connection.
#[derive(Clone)]
pub struct RedisLoginThrottle {
    connection: ConnectionManager,
    key_prefix: String,
    policy: ThrottlePolicy,
    record_failure: Script,
}

impl RedisLoginThrottle {
    /// Connects to the Redis at `url` and keeps every key under `key_prefix`.
    /// Fails with `Unavailable` when Redis cannot be reached now; after
    /// that, reconnection is automatic.
    pub async fn connect(url: &str, key_prefix: &str, policy: ThrottlePolicy) -> Result<Self, SessionStoreError> {
        Ok(Self::over(connection_manager(url).await?, key_prefix, policy))
    }

    /// A throttle sharing `store`'s connection and key prefix, so the
    /// broker keeps one connection to Redis and the store's health is the
    /// throttle's.
    pub fn sharing_connection_of(store: &RedisSessionStore, policy: ThrottlePolicy) -> Self {
        Self::over(store.connection.clone(), &store.key_prefix, policy)
    }

    fn over(connection: ConnectionManager, key_prefix: &str, policy: ThrottlePolicy) -> Self {
        let record_failure = Script::new(include_str!("lua/record_failure.lua"));
        Self { connection, key_prefix: key_prefix.to_owned(), policy, record_failure }
    }

    /// The policy this throttle decides by.
    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    /// The counter of `source` for the window starting at `window_start_ms`.
    pub fn counter_key(&self, source: &str, window_start_ms: i64) -> String {
        format!("{}throttle:{{{}}}:{window_start_ms}", self.key_prefix, source_digest(source))
    }
}

/// As [`store_error`], naming counters rather than sessions.
fn throttle_error(error: redis::RedisError) -> SessionStoreError {
    match store_error(error) {
        SessionStoreError::Corrupt(_) => {
            SessionStoreError::Corrupt("a login throttle counter is unreadable".to_owned())
        }
        unavailable => unavailable,
    }
}

/// A counter as `MGET` returns it: absent is zero.
fn failures(value: Option<String>) -> Result<u64, SessionStoreError> {
    match value {
        None => Ok(0),
        Some(text) => {
            text.parse().map_err(|_| SessionStoreError::Corrupt("a login throttle counter is not a number".to_owned()))
        }
    }
}

#[async_trait]
impl LoginThrottle for RedisLoginThrottle {
    async fn check(&self, source: &str, now: DateTime<Utc>) -> Result<ThrottleDecision, SessionStoreError> {
        let previous_key = self.counter_key(source, self.policy.previous_window_start_millis(now));
        let current_key = self.counter_key(source, self.policy.window_start_millis(now));
        // Clones share the multiplexed connection; no lock, no pool.
        let mut connection = self.connection.clone();
        let (previous, current): (Option<String>, Option<String>) = redis::cmd("MGET")
            .arg(&previous_key)
            .arg(&current_key)
            .query_async(&mut connection)
            .await
            .map_err(throttle_error)?;
        let counts = FailureCounts { previous_window: failures(previous)?, current_window: failures(current)? };
        Ok(self.policy.decide(counts, now))
    }

    async fn record_failure(&self, source: &str, now: DateTime<Utc>) -> Result<(), SessionStoreError> {
        let window_start = self.policy.window_start_millis(now);
        let window = self.policy.window().num_milliseconds();
        // Needed as the previous window's count until the next window ends.
        let keep_ms = (window_start + 2 * window - now.timestamp_millis()).max(0) + GARBAGE_COLLECTION_GRACE_MS;
        let mut connection = self.connection.clone();
        let _: Value = self
            .record_failure
            .key(self.counter_key(source, window_start))
            .arg(keep_ms)
            .invoke_async(&mut connection)
            .await
            .map_err(throttle_error)?;
        Ok(())
    }
}

impl fmt::Debug for RedisLoginThrottle {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the connection: its client info would print the url's password.
        formatter
            .debug_struct("RedisLoginThrottle")
            .field("key_prefix", &self.key_prefix)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
