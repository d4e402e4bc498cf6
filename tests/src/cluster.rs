//! Both Roster binaries, started for one test.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use roster_proto::directory::v1::account_service_client::AccountServiceClient;
use roster_proto::directory::v1::account_service_server::SERVICE_NAME as ACCOUNT_SERVICE;
use roster_proto::directory::v1::credential_service_client::CredentialServiceClient;
use roster_proto::directory::v1::{CreateAccountRequest, CreateAccountResponse, NewOwner};
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::session_service_server::SERVICE_NAME as SESSION_SERVICE;
use roster_proto::session::v1::{LoginRequest, LoginResponse};
use tokio::process::{Child, Command};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::postgres::FreshDatabase;

/// Which database the directory runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// A SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// Where the broker keeps sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionBackend {
    /// The embedded default: the broker's own memory.
    InProcess,
    /// Redis at this URL, under a key prefix of the test's own.
    Redis(String),
}

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub database: DatabaseKind,
    pub sessions: SessionBackend,
    /// Write both services' logs, at debug level, to files the test can
    /// read (`Cluster::logs`).
    pub capture_debug_logs: bool,
}

impl ClusterOptions {
    pub fn sqlite_in_process() -> Self {
        Self { database: DatabaseKind::Sqlite, sessions: SessionBackend::InProcess, capture_debug_logs: false }
    }

    pub fn sqlite_redis() -> Self {
        Self {
            database: DatabaseKind::Sqlite,
            sessions: SessionBackend::Redis(crate::test_redis_url()),
            capture_debug_logs: false,
        }
    }

    pub fn postgres_redis() -> Self {
        Self {
            database: DatabaseKind::Postgres,
            sessions: SessionBackend::Redis(crate::test_redis_url()),
            capture_debug_logs: false,
        }
    }
}

/// The password the bootstrap operator gets in tests.
pub const OPERATOR_PASSWORD: &str = "operator password for tests";

/// A running directory and broker.
pub struct Cluster {
    pub directory_url: String,
    pub session_url: String,
    /// The internal service credential both were started with.
    pub internal_token: String,
    /// The directory's database (a SQLite file or a fresh PostgreSQL
    /// database), for the few test-only shortcuts in `crate::fixtures`.
    pub database_url: String,
    directory: Child,
    session: Child,
    /// The broker's environment, to start replicas of it.
    session_env: Vec<(String, String)>,
    _database: Option<FreshDatabase>,
    _data_dir: tempfile::TempDir,
}

/// A second broker process of a [`Cluster`], killed on drop.
pub struct BrokerReplica {
    pub url: String,
    process: Child,
}

impl BrokerReplica {
    pub async fn sessions(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(Cluster::channel(&self.url).await)
    }
}

/// Names the folder holding the `roster-directory` and `roster-session`
/// binaries to start instead of the test profile's own (the benchmark tool
/// starts release builds with it).
pub const BIN_DIR_VARIABLE: &str = "ROSTER_BIN_DIR";

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    if let Some(folder) = std::env::var_os(BIN_DIR_VARIABLE) {
        let path = PathBuf::from(folder).join(name);
        anyhow::ensure!(path.exists(), "{} is missing (from {BIN_DIR_VARIABLE})", path.display());
        return Ok(path);
    }
    // Tests run from target/<profile>/deps; the binaries sit in target/<profile>.
    let executable = std::env::current_exe()?;
    let profile_dir = executable
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("unexpected test binary location"))?;
    let path = profile_dir.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    Ok(path)
}

fn configure_logs(command: &mut Command, capture_to: Option<&std::path::Path>) -> anyhow::Result<()> {
    if let Some(path) = capture_to {
        let file = std::fs::File::create(path)?;
        command.env("RUST_LOG", "debug").stdout(Stdio::from(file.try_clone()?)).stderr(Stdio::from(file));
        return Ok(());
    }
    match std::env::var("TEST_LOG") {
        Ok(filter) => {
            command.env("RUST_LOG", if filter.is_empty() { "info".to_owned() } else { filter });
        }
        Err(_) => {
            command.env("RUST_LOG", "error").stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    Ok(())
}

impl Cluster {
    /// Starts both services and waits until both report SERVING.
    pub async fn start(options: ClusterOptions) -> anyhow::Result<Self> {
        Self::start_with_session_env(options, &[]).await
    }

    /// As [`Cluster::start`], with extra environment variables for the
    /// broker (`ROSTER_SESSION__THROTTLE__SLOW_AFTER`, ...), set after the
    /// harness's own so they win. (A function rather than a field of
    /// `ClusterOptions`, which tests build as struct literals.)
    pub async fn start_with_session_env(options: ClusterOptions, session_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_with_env(options, session_env, &[]).await
    }

    /// As [`Cluster::start_with_session_env`], with extra environment
    /// variables for the directory too (`ROSTER_DIRECTORY__ARGON2__MEMORY_KIB`,
    /// `ROSTER_DIRECTORY__MAIL__SMTP_URL`, ...), set after the harness's own so they win.
    pub async fn start_with_env(
        options: ClusterOptions,
        session_env: &[(&str, &str)],
        directory_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let (database, database_url) = match options.database {
            DatabaseKind::Sqlite => {
                (None, format!("sqlite://{}?mode=rwc", data_dir.path().join("directory.db").display()))
            }
            DatabaseKind::Postgres => {
                let database = FreshDatabase::create(&crate::test_postgres_url()).await?;
                let url = database.url.clone();
                (Some(database), url)
            }
        };
        let internal_token = crate::random_hex();
        let directory_port = crate::free_port();
        let session_port = crate::free_port();
        let directory_url = format!("http://127.0.0.1:{directory_port}");
        let session_url = format!("http://127.0.0.1:{session_port}");

        let mut shared_session_env = vec![
            ("ROSTER_SESSION__DATA_DIR".to_owned(), data_dir.path().display().to_string()),
            ("ROSTER_SESSION__DIRECTORY_URL".to_owned(), directory_url.clone()),
            ("ROSTER_SESSION__INTERNAL_TOKEN".to_owned(), internal_token.clone()),
            // Racing-login tests send hundreds at once; the default refuses
            // most of them (as the directory's hashing queue above would).
            ("ROSTER_SESSION__LOGINS_IN_FLIGHT".to_owned(), "1024".to_owned()),
        ];
        if let SessionBackend::Redis(url) = &options.sessions {
            shared_session_env.push(("ROSTER_SESSION__REDIS__URL".to_owned(), url.clone()));
            shared_session_env.push((
                "ROSTER_SESSION__REDIS__KEY_PREFIX".to_owned(),
                format!("roster-e2e:{}:", uuid::Uuid::new_v4().simple()),
            ));
        }
        shared_session_env.extend(session_env.iter().map(|(key, value)| (key.to_string(), value.to_string())));
        let mut session = Command::new(binary("roster-session")?);
        session
            .env("ROSTER_SESSION__LISTEN_ADDRESS", format!("127.0.0.1:{session_port}"))
            .envs(shared_session_env.iter().map(|(key, value)| (key, value)))
            .kill_on_drop(true);
        let capture = |name: &str| options.capture_debug_logs.then(|| data_dir.path().join(name));
        configure_logs(&mut session, capture("session.log").as_deref())?;

        let mut directory = Command::new(binary("roster-directory")?);
        directory
            .env("ROSTER_DIRECTORY__LISTEN_ADDRESS", format!("127.0.0.1:{directory_port}"))
            .env("ROSTER_DIRECTORY__DATA_DIR", data_dir.path())
            .env("ROSTER_DIRECTORY__DATABASE__URL", &database_url)
            .env("ROSTER_DIRECTORY__BROKER_URL", &session_url)
            .env("ROSTER_DIRECTORY__INTERNAL_TOKEN", &internal_token)
            .env("ROSTER_DIRECTORY__BOOTSTRAP__OPERATOR_PASSWORD", OPERATOR_PASSWORD)
            // Cheap hashing keeps the suite fast; production keeps OWASP's parameters.
            .env("ROSTER_DIRECTORY__ARGON2__MEMORY_KIB", "1024")
            .env("ROSTER_DIRECTORY__ARGON2__ITERATIONS", "1")
            .env("ROSTER_DIRECTORY__HASHING_QUEUE", "1024")
            .envs(directory_env.iter().copied())
            .kill_on_drop(true);
        configure_logs(&mut directory, capture("directory.log").as_deref())?;

        let mut cluster = Self {
            directory_url,
            session_url,
            internal_token,
            database_url,
            session: session.spawn()?,
            directory: directory.spawn()?,
            session_env: shared_session_env,
            _database: database,
            _data_dir: data_dir,
        };
        cluster.wait_until_serving(Duration::from_secs(60)).await?;
        Ok(cluster)
    }

    /// Waits until the broker serves its session service and the directory
    /// its account service (see [`wait_for_service`]).
    async fn wait_until_serving(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        wait_for_service("roster-session", &mut self.session, &self.session_url, SESSION_SERVICE, deadline).await?;
        wait_for_service("roster-directory", &mut self.directory, &self.directory_url, ACCOUNT_SERVICE, deadline).await
    }

    /// Starts another broker process sharing this cluster's Redis (same key
    /// prefix), directory and internal credential: a second replica. The
    /// directory keeps talking to the first one.
    pub async fn start_broker_replica(&self) -> anyhow::Result<BrokerReplica> {
        let port = crate::free_port();
        let mut command = Command::new(binary("roster-session")?);
        command
            .env("ROSTER_SESSION__LISTEN_ADDRESS", format!("127.0.0.1:{port}"))
            .envs(self.session_env.iter().map(|(key, value)| (key, value)))
            .kill_on_drop(true);
        configure_logs(&mut command, None)?;
        let mut replica = BrokerReplica { url: format!("http://127.0.0.1:{port}"), process: command.spawn()? };
        let deadline = Instant::now() + Duration::from_secs(60);
        wait_for_service("the broker replica", &mut replica.process, &replica.url, SESSION_SERVICE, deadline).await?;
        Ok(replica)
    }

    /// Everything both services logged so far (with `capture_debug_logs`).
    pub fn logs(&self) -> String {
        ["session.log", "directory.log"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(self._data_dir.path().join(name)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The broker's process id, while it runs.
    pub fn session_pid(&self) -> Option<u32> {
        self.session.id()
    }

    /// The directory's process id, while it runs.
    pub fn directory_pid(&self) -> Option<u32> {
        self.directory.id()
    }

    /// Stops the broker (SIGKILL), as a crash would.
    pub async fn kill_session_broker(&mut self) {
        let _ = self.session.kill().await;
    }

    /// Stops the directory (SIGKILL).
    pub async fn kill_directory(&mut self) {
        let _ = self.directory.kill().await;
    }

    /// Sends SIGTERM to the broker and waits for it to exit; returns its
    /// exit status.
    pub async fn terminate_session_broker(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.session.id().ok_or_else(|| anyhow::anyhow!("broker already exited"))?;
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        Ok(tokio::time::timeout(Duration::from_secs(10), self.session.wait()).await??)
    }

    pub async fn channel(url: &str) -> Channel {
        Channel::from_shared(url.to_owned())
            .expect("a valid url")
            .connect()
            .await
            .expect("the service accepts connections")
    }

    pub async fn sessions(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(Self::channel(&self.session_url).await)
    }

    pub async fn accounts(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(Self::channel(&self.directory_url).await)
    }

    pub async fn credentials(&self) -> CredentialServiceClient<Channel> {
        CredentialServiceClient::new(Self::channel(&self.directory_url).await)
    }

    /// Signs up an account whose owner logs in as `owner` with `password`.
    pub async fn sign_up(&self, slug: &str, owner: &str, password: &str) -> CreateAccountResponse {
        self.accounts()
            .await
            .create_account(sign_up_request(slug, owner, password))
            .await
            .expect("sign-up succeeds")
            .into_inner()
    }

    /// Logs in, returning the whole response.
    pub async fn login(&self, account: &str, login_name: &str, password: &str) -> Result<LoginResponse, tonic::Status> {
        self.sessions().await.login(login_request(account, login_name, password)).await.map(tonic::Response::into_inner)
    }
}

/// A valid sign-up request.
pub fn sign_up_request(slug: &str, owner: &str, password: &str) -> CreateAccountRequest {
    CreateAccountRequest {
        slug: slug.to_owned(),
        display_name: format!("{slug} Ltd"),
        billing_level: 0,
        owner: Some(NewOwner {
            login_name: owner.to_owned(),
            email: format!("{owner}@{slug}.example"),
            display_name: format!("{owner} the owner"),
            password: password.to_owned(),
        }),
    }
}

/// A login request from 203.0.113.7.
pub fn login_request(account: &str, login_name: &str, password: &str) -> LoginRequest {
    LoginRequest {
        account: account.to_owned(),
        login_name: login_name.to_owned(),
        password: password.to_owned(),
        client_address: "203.0.113.7".to_owned(),
        user_agent: "roster-e2e".to_owned(),
    }
}

/// A request carrying `authorization: Bearer <token>`.
pub fn with_bearer<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::try_from(format!("Bearer {token}")).expect("ascii token"));
    request
}

/// Waits until `url` reports `service` SERVING, failing at once if
/// `process` exits first (a port somebody else took, a bad setting). Asking
/// for the service by name keeps another process's server on the same port
/// from passing for ours.
async fn wait_for_service(
    name: &str,
    process: &mut Child,
    url: &str,
    service: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        if let Some(status) = process.try_wait()? {
            anyhow::bail!("{name} exited before serving on {url} ({status}; set TEST_LOG=info to see its logs)");
        }
        if serving_service(url, service).await {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} did not report SERVING on {url} in time (set TEST_LOG=info to see its logs)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `url` reports `service` SERVING.
async fn serving_service(url: &str, service: &str) -> bool {
    let Ok(channel) = Channel::from_shared(url.to_owned()).expect("a valid url").connect().await else { return false };
    matches!(
        HealthClient::new(channel).check(HealthCheckRequest { service: service.to_owned() }).await,
        Ok(response) if response.get_ref().status == ServingStatus::Serving as i32
    )
}

/// The overall health status `url` reports, if it answers.
pub async fn health_status(url: &str) -> Option<i32> {
    let channel = Channel::from_shared(url.to_owned()).ok()?.connect().await.ok()?;
    HealthClient::new(channel)
        .check(HealthCheckRequest { service: String::new() })
        .await
        .ok()
        .map(|response| response.get_ref().status)
}

/// Direct database access, for what the API cannot do yet or must never do.
impl Cluster {
    async fn database(&self) -> anyhow::Result<sea_orm::DatabaseConnection> {
        Ok(sea_orm::Database::connect(&self.database_url).await?)
    }

    /// Runs one SQL statement against the directory's database, returning
    /// the number of rows it touched. Tests use it to prove that the
    /// database itself refuses what the rules forbid (R1).
    pub async fn execute_sql(&self, sql: &str) -> anyhow::Result<u64> {
        use sea_orm::ConnectionTrait;
        let database = self.database().await?;
        let outcome = database.execute_unprepared(sql).await;
        database.close().await?;
        Ok(outcome?.rows_affected())
    }

    /// The first column of every row `sql` returns, read as text.
    pub async fn query_strings(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        use sea_orm::{ConnectionTrait, Statement};
        let database = self.database().await?;
        let rows = database.query_all(Statement::from_string(database.get_database_backend(), sql)).await;
        database.close().await?;
        rows?.iter().map(|row| Ok(row.try_get_by_index::<String>(0)?)).collect()
    }

    /// TEST-ONLY SHORTCUT: clears a user's `must_change_password` flag in the
    /// database, standing in for the password change flow that arrives with
    /// issue 5. Users created by `CreateUser` must change their password at
    /// first login (R10, R42), so without this their sessions could do
    /// nothing; with it, a fixture user logs in to an unrestricted session.
    pub async fn clear_password_change(&self, user_id: &str) -> anyhow::Result<()> {
        anyhow::ensure!(uuid::Uuid::parse_str(user_id).is_ok(), "not a user id: {user_id}");
        let touched =
            self.execute_sql(&format!("UPDATE users SET must_change_password = FALSE WHERE id = '{user_id}'")).await?;
        anyhow::ensure!(touched == 1, "user {user_id} not found in the database");
        Ok(())
    }

    /// A channel to the directory.
    pub async fn directory_channel(&self) -> Channel {
        Self::channel(&self.directory_url).await
    }
}

/// A request carrying the internal service credential (`x-roster-internal`).
pub fn with_internal_credential<T>(message: T, internal_token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("x-roster-internal", MetadataValue::try_from(internal_token).expect("ascii internal token"));
    request
}
