//! The broker's settings: section `[session]` of the configuration file, or
//! `ROSTER_SESSION__*` environment variables.

use std::path::PathBuf;

use roster_server::config::{ServerLimits, TelemetrySettings};
use roster_session_core::{InvalidThrottlePolicy, ThrottlePolicy};
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `redis://host:port/db`. When unset, sessions live in the broker's
    /// own memory (the embedded default: one broker, lost on restart).
    pub url: Option<String>,
    /// Prefix of every key, so several deployments can share one Redis.
    pub key_prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self { url: None, key_prefix: "roster:".to_owned() }
    }
}

/// R39, per-source throttling: failed logins from one client address (an
/// IPv6 address counts by its /64) within a sliding window slow, then
/// refuse, further logins from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ThrottleSettings {
    /// Length of the sliding window failures are counted in.
    pub window_seconds: u64,
    /// From this many failures in the window, each login waits first.
    pub slow_after: u32,
    /// From this many failures in the window, logins are refused with
    /// `RESOURCE_EXHAUSTED` (`LOGIN_THROTTLED`) without a password check.
    pub refuse_after: u32,
    /// Wait per failure from `slow_after` on (at most 2 seconds in all).
    pub delay_per_failure_ms: u64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        let policy = ThrottlePolicy::default();
        Self {
            window_seconds: policy.window().num_seconds().unsigned_abs(),
            slow_after: policy.slow_after(),
            refuse_after: policy.refuse_after(),
            delay_per_failure_ms: policy.delay_per_failure().as_millis() as u64,
        }
    }
}

impl ThrottleSettings {
    /// The policy these settings describe, if it can work.
    pub fn policy(&self) -> Result<ThrottlePolicy, InvalidThrottlePolicy> {
        // Clamped only so the conversion cannot overflow: the policy refuses
        // any window beyond a day anyway.
        let window_seconds = self.window_seconds.min(u64::from(u32::MAX)) as i64;
        ThrottlePolicy::new(
            chrono::Duration::seconds(window_seconds),
            self.slow_after,
            self.refuse_after,
            std::time::Duration::from_millis(self.delay_per_failure_ms),
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SessionSettings {
    pub listen_address: String,
    /// Where the shared internal credential lives in the embedded default.
    pub data_dir: PathBuf,
    pub redis: RedisSettings,
    /// The directory service, asked to verify credentials.
    pub directory_url: String,
    /// The internal service credential; read from (or created in) the data
    /// directory when unset.
    pub internal_token: Option<SecretString>,
    /// R37: a session unused this long dies (sliding on use).
    pub idle_timeout_seconds: u64,
    /// R37: a session dies this long after login, used or not.
    pub absolute_lifetime_seconds: u64,
    /// R39: per-source login throttling.
    pub throttle: ThrottleSettings,
    /// R38, R40: how long a user's access may be served from this
    /// replica's cache at most. Changes arrive through the feed within a
    /// second anyway; this only bounds the damage of a lost notification.
    pub access_cache_seconds: u64,
    /// Logins this replica lets through to the directory at once; more are
    /// refused at once with RESOURCE_EXHAUSTED (`LOGINS_BUSY`) rather than
    /// queued behind the directory's password hashing. 0: four per core,
    /// what a directory on a machine like this one admits to its hashing
    /// pool (one worker per core, four waiting per worker, less the ones in
    /// service).
    pub logins_in_flight: usize,
    /// Live sessions this replica answers validations of from memory when
    /// sessions are in Redis (issue 6): a session ended anywhere is dropped
    /// through the feed, one ended here at once. 0: no cache, every
    /// validation asks Redis. Not used with the in-process store.
    pub validation_cache_sessions: usize,
    /// Tokio worker threads; 0: one per core. Fewer suit a broker that
    /// shares its machine with other busy processes (see
    /// `roster_server::runtime`).
    pub worker_threads: usize,
    pub telemetry: TelemetrySettings,
    pub limits: ServerLimits,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            listen_address: "127.0.0.1:50052".to_owned(),
            data_dir: PathBuf::from("data"),
            redis: RedisSettings::default(),
            directory_url: "http://127.0.0.1:50051".to_owned(),
            internal_token: None,
            idle_timeout_seconds: 15 * 60,
            absolute_lifetime_seconds: 12 * 60 * 60,
            throttle: ThrottleSettings::default(),
            access_cache_seconds: 60,
            logins_in_flight: 0,
            validation_cache_sessions: 100_000,
            worker_threads: 0,
            telemetry: TelemetrySettings::default(),
            limits: ServerLimits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_throttle_settings_are_the_default_policy() {
        assert_eq!(ThrottleSettings::default().policy(), Ok(ThrottlePolicy::default()));
    }

    #[test]
    fn throttle_settings_that_cannot_work_are_refused() {
        let defaults = ThrottleSettings::default();
        assert!(ThrottleSettings { window_seconds: 0, ..defaults }.policy().is_err());
        assert!(ThrottleSettings { window_seconds: u64::MAX, ..defaults }.policy().is_err());
        assert!(ThrottleSettings { slow_after: 60, refuse_after: 50, ..defaults }.policy().is_err());
    }
}
