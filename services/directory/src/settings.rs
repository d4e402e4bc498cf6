//! The directory's settings: section `[directory]` of the configuration
//! file, or `ROSTER_DIRECTORY__*` environment variables.

use std::path::PathBuf;

use roster_domain::hashing_threads::HashingPriority;
use roster_domain::lockout::LockoutPolicy;
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

/// Per-credential lockout (R39): `lockout.max_failures` consecutive failed
/// logins lock a credential for `lockout.lock_minutes`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct LockoutSettings {
    /// Failures that lock; at least 1 (0 counts as 1).
    pub max_failures: u32,
    pub lock_minutes: u32,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        let policy = LockoutPolicy::default();
        Self { max_failures: policy.max_failures, lock_minutes: policy.lock_for.num_minutes() as u32 }
    }
}

impl LockoutSettings {
    /// The rule these settings describe.
    pub fn policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            max_failures: self.max_failures.max(1),
            lock_for: chrono::Duration::minutes(i64::from(self.lock_minutes)),
        }
    }
}

/// Invitations by email (R18).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct InvitationSettings {
    /// How long an invitation token is valid.
    pub validity_hours: u32,
}

impl Default for InvitationSettings {
    fn default() -> Self {
        Self { validity_hours: 7 * 24 }
    }
}

/// What a password reset sends (R11).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResetDelivery {
    /// A one-time link token, spent by `CompletePasswordReset`.
    #[default]
    Link,
    /// A temporary password, to be changed at first use (R42).
    TemporaryPassword,
}

/// The password lifecycle (R10, R11, R42; PCI DSS v4 8.3).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PasswordSettings {
    /// The policy new passwords must meet (`[directory.passwords.policy]`).
    pub policy: roster_domain::password_policy::PasswordPolicy,
    /// How long a temporary password works (R10, R42).
    pub temporary_validity_hours: u32,
    /// What `RequestPasswordReset` sends.
    pub reset_delivery: ResetDelivery,
    /// How long a reset link works.
    pub reset_validity_minutes: u32,
    /// `RequestPasswordReset` answers no sooner than this, whether the
    /// address exists or not (R11).
    pub reset_answer_floor_ms: u64,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            policy: Default::default(),
            temporary_validity_hours: 24,
            reset_delivery: ResetDelivery::Link,
            reset_validity_minutes: 60,
            reset_answer_floor_ms: 400,
        }
    }
}

/// Email delivery: the outbox worker and SMTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    /// `smtp://[user:password@]host[:port]`: plain SMTP to a relay (no TLS
    /// in this build). Unset: mails are written as `.eml` files under
    /// `<data_dir>/outbox` and their paths logged.
    pub smtp_url: Option<SecretString>,
    /// The `From:` of every mail.
    pub from: String,
    /// Where links in mails point (`https://app.example/roster`); unset:
    /// mails carry the token to paste.
    pub link_base_url: Option<String>,
    /// How often the worker looks for due mail, in milliseconds.
    pub poll_interval_ms: u64,
    /// The first pause after a failed delivery; doubled per attempt.
    pub retry_initial_ms: u64,
    /// The longest pause between two delivery attempts.
    pub retry_max_ms: u64,
    /// How long a worker holds a claimed mail before another may take it.
    pub lease_seconds: u32,
    /// Timeout of one SMTP conversation.
    pub smtp_timeout_ms: u64,
    /// R36: mail a user whose session a newer login replaced (only when
    /// `smtp_url` is set).
    pub notify_session_replaced: bool,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Roster <roster@localhost>".to_owned(),
            link_base_url: None,
            poll_interval_ms: 1000,
            retry_initial_ms: 1000,
            retry_max_ms: 5 * 60 * 1000,
            lease_seconds: 60,
            smtp_timeout_ms: 10_000,
            notify_session_replaced: true,
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
    /// Linux: hashing behind a storm's backlog (more than one login per
    /// worker waiting) runs under `SCHED_IDLE`, so any serving thread that
    /// wakes up preempts argon2 at once, while logins alone still take all
    /// of the CPU. `false`: it runs `hashing_niceness` steps below normal
    /// instead. Hashing without such a backlog always runs at normal
    /// priority (see `roster_domain::password::HashingPool`).
    pub hashing_idle: bool,
    /// With `hashing_idle = false`: how far below normal priority hashing
    /// behind a storm's backlog runs (Linux nice steps, 0 to 19; 0: no
    /// lowered threads at all).
    pub hashing_niceness: i32,
    pub lockout: LockoutSettings,
    pub invitations: InvitationSettings,
    pub passwords: PasswordSettings,
    pub mail: MailSettings,
    /// Tokio worker threads; 0: one per core. Password hashing runs on
    /// threads of its own (`hashing_workers`), not on these.
    pub worker_threads: usize,
    pub telemetry: TelemetrySettings,
    pub limits: ServerLimits,
}

impl DirectorySettings {
    /// How the password hashing threads are scheduled.
    pub fn hashing_priority(&self) -> HashingPriority {
        match (self.hashing_idle, self.hashing_niceness.clamp(0, 19)) {
            (true, _) => HashingPriority::Idle,
            (false, 0) => HashingPriority::Normal,
            (false, steps) => HashingPriority::Nice(steps as u8),
        }
    }
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
            hashing_idle: true,
            hashing_niceness: 10,
            lockout: LockoutSettings::default(),
            invitations: InvitationSettings::default(),
            passwords: PasswordSettings::default(),
            mail: MailSettings::default(),
            worker_threads: 0,
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use roster_server::config::load_section;

    use super::*;

    #[test]
    fn hashing_runs_under_sched_idle_unless_told_to_use_nice_steps() {
        let settings: DirectorySettings = load_section("directory", None, &HashMap::new()).unwrap();
        assert_eq!(settings.hashing_priority(), HashingPriority::Idle);
        let niced = |steps: &str| {
            let environment = HashMap::from([
                ("ROSTER_DIRECTORY__HASHING_IDLE".to_owned(), "false".to_owned()),
                ("ROSTER_DIRECTORY__HASHING_NICENESS".to_owned(), steps.to_owned()),
            ]);
            load_section::<DirectorySettings>("directory", None, &environment).unwrap().hashing_priority()
        };
        assert_eq!(niced("10"), HashingPriority::Nice(10));
        assert_eq!(niced("0"), HashingPriority::Normal);
        assert_eq!(niced("40"), HashingPriority::Nice(19), "nice steps stop at 19");
    }

    #[test]
    fn r39_lockout_defaults_to_ten_failures_and_thirty_minutes() {
        let settings: DirectorySettings = load_section("directory", None, &HashMap::new()).unwrap();
        assert_eq!(settings.lockout, LockoutSettings { max_failures: 10, lock_minutes: 30 });
        assert_eq!(settings.lockout.policy(), LockoutPolicy::default());
    }

    #[test]
    fn lockout_keys_come_from_the_example_file_and_the_environment() {
        let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../roster.example.toml");
        let settings: DirectorySettings = load_section("directory", Some(&example), &HashMap::new()).unwrap();
        assert_eq!(settings.lockout, LockoutSettings { max_failures: 10, lock_minutes: 30 });
        let environment = HashMap::from([
            ("ROSTER_DIRECTORY__LOCKOUT__MAX_FAILURES".to_owned(), "5".to_owned()),
            ("ROSTER_DIRECTORY__LOCKOUT__LOCK_MINUTES".to_owned(), "60".to_owned()),
        ]);
        let settings: DirectorySettings = load_section("directory", Some(&example), &environment).unwrap();
        let policy = settings.lockout.policy();
        assert_eq!((policy.max_failures, policy.lock_for), (5, chrono::Duration::minutes(60)));
    }

    #[test]
    fn a_limit_of_zero_means_one() {
        assert_eq!(LockoutSettings { max_failures: 0, lock_minutes: 1 }.policy().max_failures, 1);
    }
}
