//! The directory's settings: section `[directory]` of the configuration
//! file, or `ROSTER_DIRECTORY__*` environment variables.

use std::path::PathBuf;

use roster_domain::password::Argon2Settings;
use roster_server::config::{ServerLimits, TelemetrySettings};
use secrecy::SecretString;
use serde::Deserialize;

/// Who may sign up new accounts.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SignupPolicy {
    /// Anyone, without a session (a public sign-up form).
    #[default]
    Open,
    /// Platform operators only.
    PlatformOnly,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `sqlite://<file>?mode=rwc` (default, under the data directory) or
    /// `postgres://user@host/db`.
    pub url: Option<String>,
}

/// The platform operator created at first start.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BootstrapSettings {
    pub operator_login: String,
    pub operator_email: String,
    /// When unset, a password is generated and printed once.
    pub operator_password: Option<SecretString>,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        Self {
            operator_login: "operator".to_owned(),
            operator_email: "operator@roster.invalid".to_owned(),
            operator_password: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DirectorySettings {
    pub listen_address: String,
    /// Where the embedded database and the shared internal credential live.
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    /// The session broker, asked to validate callers' tokens.
    pub broker_url: String,
    /// The internal service credential; read from (or created in) the data
    /// directory when unset.
    pub internal_token: Option<SecretString>,
    /// A preset file of your own; the shipped one when unset.
    pub presets_file: Option<PathBuf>,
    pub signup: SignupPolicy,
    pub bootstrap: BootstrapSettings,
    pub argon2: Argon2Settings,
    /// Concurrent password hashings; the machine's cores when 0.
    pub hashing_workers: usize,
    /// Hashings allowed to wait for a worker before further logins are
    /// refused with RESOURCE_EXHAUSTED; four per worker when 0.
    pub hashing_queue: usize,
    pub telemetry: TelemetrySettings,
    pub limits: ServerLimits,
}

impl Default for DirectorySettings {
    fn default() -> Self {
        Self {
            listen_address: "127.0.0.1:50051".to_owned(),
            data_dir: PathBuf::from("data"),
            database: DatabaseSettings::default(),
            broker_url: "http://127.0.0.1:50052".to_owned(),
            internal_token: None,
            presets_file: None,
            signup: SignupPolicy::Open,
            bootstrap: BootstrapSettings::default(),
            argon2: Argon2Settings::default(),
            hashing_workers: 0,
            hashing_queue: 0,
            telemetry: TelemetrySettings::default(),
            limits: ServerLimits::default(),
        }
    }
}

impl DirectorySettings {
    /// The database URL: the configured one, or a SQLite file under the data
    /// directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}?mode=rwc", self.data_dir.join("directory.db").display()),
        }
    }
}
