//! The broker's settings: section `[session]` of the configuration file, or
//! `ROSTER_SESSION__*` environment variables.

use std::path::PathBuf;

use roster_server::config::{ServerLimits, TelemetrySettings};
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
            telemetry: TelemetrySettings::default(),
            limits: ServerLimits::default(),
        }
    }
}
