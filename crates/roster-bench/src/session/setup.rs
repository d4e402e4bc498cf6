//! The Roster the session scenarios run against, and its data: release
//! binaries on PostgreSQL and the benchmark's Redis, production argon2
//! cost, one account whose users are written straight into the database
//! (signing up 100,000 users through the API would measure argon2, not
//! the broker), and live sessions opened with the broker's own store code.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use futures::StreamExt;
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_e2e::cluster::{Cluster, ClusterOptions, DatabaseKind, SessionBackend};
use roster_session::service::principal::StoredPrincipal;
use roster_session_core::{CredentialKey, NewSession, SessionStore, SessionToken};
use roster_session_redis::RedisSessionStore;

use crate::Options;

/// The broker's key prefix in the benchmark: the production default, so
/// that key sizes are what a deployment pays.
pub const KEY_PREFIX: &str = "roster:";
/// The account every benchmark user belongs to.
pub const ACCOUNT: &str = "bench";
/// Every benchmark user's password.
pub const PASSWORD: &str = "benchmark password 1";
/// A browser's user agent, as gateways pass it on (sessions store it).
pub const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
pub const CLIENT_ADDRESS: &str = "203.0.113.7";

/// R37's defaults, as the broker runs with them.
const IDLE_TIMEOUT_MINUTES: i64 = 15;
const ABSOLUTE_LIFETIME_HOURS: i64 = 12;

/// A user the benchmark made.
#[derive(Debug, Clone)]
pub struct BenchUser {
    pub id: UserId,
    pub login_name: String,
}

/// Roster, running, with the benchmark's account.
pub struct Bench {
    pub cluster: Cluster,
    pub account_id: AccountId,
    /// The broker's store, seen from the benchmark (same Redis, same prefix).
    pub store: RedisSessionStore,
    pub redis_url: String,
}

impl Bench {
    /// Starts both services from the binaries beside this one and signs up
    /// the benchmark account.
    pub async fn start(options: &Options) -> anyhow::Result<Self> {
        let cluster_options = ClusterOptions {
            database: DatabaseKind::Postgres,
            sessions: SessionBackend::Redis(options.redis_url.clone()),
            capture_debug_logs: false,
        };
        let memory = options.argon2_memory_kib.to_string();
        let iterations = options.argon2_iterations.to_string();
        let broker_workers = options.broker_workers.to_string();
        let cluster = Cluster::start_with_env(
            cluster_options,
            &[
                ("ROSTER_SESSION__REDIS__KEY_PREFIX", KEY_PREFIX),
                // The broker's default login admission (the harness raises it for tests).
                ("ROSTER_SESSION__LOGINS_IN_FLIGHT", "0"),
                ("ROSTER_SESSION__WORKER_THREADS", broker_workers.as_str()),
            ],
            &[
                ("ROSTER_DIRECTORY__ARGON2__MEMORY_KIB", memory.as_str()),
                ("ROSTER_DIRECTORY__ARGON2__ITERATIONS", iterations.as_str()),
                // Roster's defaults: one worker per core, four waiting per worker.
                ("ROSTER_DIRECTORY__HASHING_WORKERS", "0"),
                ("ROSTER_DIRECTORY__HASHING_QUEUE", "0"),
            ],
        )
        .await
        .context("starting roster (release binaries: cargo build --release --bins)")?;
        let created = cluster.sign_up(ACCOUNT, "owner", PASSWORD).await;
        let account_id = AccountId::parse("account_id", &created.account.context("an account")?.id)
            .map_err(|_| anyhow::anyhow!("sign-up returned a malformed account id"))?;
        let store = RedisSessionStore::connect(&options.redis_url, KEY_PREFIX)
            .await
            .map_err(|error| anyhow::anyhow!("connecting to redis: {error}"))?;
        Ok(Self { cluster, account_id, store, redis_url: options.redis_url.clone() })
    }

    /// Writes `count` active users named `<prefix><n>` into the database,
    /// each with the owner's password hash (so the benchmark password, at
    /// production cost) and the `Team member` group account-wide, so they
    /// can log in (R22).
    pub async fn create_users(&self, prefix: &str, count: u64) -> anyhow::Result<Vec<BenchUser>> {
        let account = self.account_id;
        let group = self
            .cluster
            .query_strings(&format!(
                "SELECT id FROM \"groups\" WHERE account_id = '{account}' AND name = 'Team member'"
            ))
            .await?
            .pop()
            .context("the Team member preset group")?;
        const BATCH: u64 = 20_000;
        let mut first = 0;
        while first < count {
            let last = (first + BATCH).min(count) - 1;
            self.cluster
                .execute_sql(&format!(
                    "INSERT INTO users (id, account_id, login_name, login_key, email, email_key, display_name, \
                     status, password_hash, must_change_password, created_at, updated_at) \
                     SELECT gen_random_uuid()::text, '{account}', '{prefix}' || n, '{prefix}' || n, \
                     '{prefix}' || n || '@bench.example', '{prefix}' || n || '@bench.example', \
                     'Bench User {prefix}' || n, 'active', owner.password_hash, FALSE, now(), now() \
                     FROM generate_series({first}, {last}) AS n, \
                     (SELECT password_hash FROM users WHERE account_id = '{account}' AND login_key = 'owner') AS owner"
                ))
                .await?;
            first = last + 1;
        }
        self.cluster
            .execute_sql(&format!(
                "INSERT INTO role_assignments (id, account_id, user_id, group_id, store_id, scope_key, created_at) \
                 SELECT gen_random_uuid()::text, account_id, id, '{group}', NULL, 'account', now() FROM users \
                 WHERE account_id = '{account}' AND login_key LIKE '{prefix}%' \
                 AND login_key ~ '^{prefix}[0-9]+$'"
            ))
            .await?;
        let rows = self
            .cluster
            .query_strings(&format!(
                "SELECT id || ' ' || login_name FROM users WHERE account_id = '{account}' \
                 AND login_key ~ '^{prefix}[0-9]+$' ORDER BY created_at, login_name"
            ))
            .await?;
        rows.iter()
            .map(|row| {
                let (id, login_name) = row.split_once(' ').context("an id and a login name")?;
                let id = UserId::parse("user_id", id).map_err(|_| anyhow::anyhow!("a malformed user id"))?;
                Ok(BenchUser { id, login_name: login_name.to_owned() })
            })
            .collect()
    }

    /// Opens one live session per user through the broker's store code
    /// (`SessionStore::open`, what Login runs once the directory vouched for
    /// the password), 64 at a time; returns the tokens, in `users` order.
    pub async fn open_sessions(&self, users: &[BenchUser]) -> anyhow::Result<Vec<String>> {
        let opens = users.iter().map(|user| self.open_session(user));
        let tokens: Vec<anyhow::Result<String>> = futures::stream::iter(opens).buffered(64).collect().await;
        tokens.into_iter().collect()
    }

    async fn open_session(&self, user: &BenchUser) -> anyhow::Result<String> {
        let credential = CredentialKey::new(self.account_id, user.id);
        let token = SessionToken::issue(&credential);
        let principal = StoredPrincipal {
            user_id: user.id,
            account_id: self.account_id,
            account_slug: ACCOUNT.to_owned(),
            login_name: user.login_name.clone(),
            display_name: format!("Bench User {}", user.login_name),
            restricted_to_password_change: false,
        };
        let now = Utc::now();
        let session = NewSession {
            session_id: SessionId::generate(),
            credential,
            payload: principal.to_payload()?,
            client_address: CLIENT_ADDRESS.to_owned(),
            user_agent: USER_AGENT.to_owned(),
            created_at: now,
            idle_timeout: chrono::Duration::minutes(IDLE_TIMEOUT_MINUTES),
            absolute_expires_at: now + chrono::Duration::hours(ABSOLUTE_LIFETIME_HOURS),
        };
        self.store.open(&token, session).await.map_err(|error| anyhow::anyhow!("opening a session: {error}"))?;
        Ok(token.expose().to_owned())
    }

    /// `INFO memory`'s `used_memory` of the benchmark's Redis, in bytes.
    pub async fn redis_used_memory(&self) -> anyhow::Result<u64> {
        let client = redis::Client::open(self.redis_url.as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO").arg("memory").query_async(&mut connection).await?;
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|value| value.trim().parse().ok())
            .context("used_memory in INFO memory")
    }

    /// Resident memory of the broker and of the directory, in bytes.
    pub fn resident_memory(&self) -> (u64, u64) {
        let of = |pid: Option<u32>| pid.and_then(resident_bytes).unwrap_or(0);
        (of(self.cluster.session_pid()), of(self.cluster.directory_pid()))
    }
}

/// VmRSS of process `pid`, from `/proc` (Linux).
pub fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Samples the broker's and the directory's resident memory every 100 ms
/// until dropped; `peak()` is the highest sum seen.
pub struct MemorySampler {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl MemorySampler {
    pub fn start(pids: (Option<u32>, Option<u32>)) -> Self {
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            loop {
                let sum = pids.0.and_then(resident_bytes).unwrap_or(0) + pids.1.and_then(resident_bytes).unwrap_or(0);
                seen.fetch_max(sum, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { peak, task }
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for MemorySampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Bytes as MiB, one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
