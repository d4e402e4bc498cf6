//! Both services built inside the test process (their `Application`s, over
//! real gRPC on ephemeral ports), so a test can inject a `ManualClock` into
//! either and move time instead of sleeping. Used where the real binaries
//! cannot be given a clock (R37 expiry, R39 lockout).

use std::sync::Arc;

use roster_directory::DirectorySettings;
use roster_domain::clock::{ManualClock, SharedClock, SystemClock};
use roster_proto::directory::v1::account_service_client::AccountServiceClient;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_session::SessionSettings;
use secrecy::SecretString;
use tonic::transport::Channel;

use crate::cluster::sign_up_request;
use crate::postgres::FreshDatabase;
use crate::DatabaseKind;

/// What to start.
#[derive(Debug, Clone)]
pub struct InProcessOptions {
    pub database: DatabaseKind,
    /// Sessions in Redis at this URL (a key prefix of the test's own), or in
    /// the broker's memory.
    pub redis_url: Option<String>,
    pub broker_clock: Option<ManualClock>,
    pub directory_clock: Option<ManualClock>,
    /// Password checks allowed to queue (0: the default).
    pub hashing_queue: usize,
}

impl Default for InProcessOptions {
    fn default() -> Self {
        Self {
            database: DatabaseKind::Sqlite,
            redis_url: None,
            broker_clock: None,
            directory_clock: None,
            hashing_queue: 0,
        }
    }
}

/// Running services; they stop with the test's runtime.
pub struct InProcessCluster {
    pub directory_url: String,
    pub broker_url: String,
    /// The directory's database, for tests that read it directly.
    pub database_url: String,
    _postgres: Option<FreshDatabase>,
    _data_dir: tempfile::TempDir,
}

fn clock_or_system(clock: &Option<ManualClock>) -> SharedClock {
    match clock {
        Some(manual) => Arc::new(manual.clone()),
        None => Arc::new(SystemClock),
    }
}

impl InProcessCluster {
    /// Starts broker and directory with cheap argon2 parameters.
    pub async fn start(options: InProcessOptions) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let postgres = match options.database {
            DatabaseKind::Sqlite => None,
            DatabaseKind::Postgres => Some(FreshDatabase::create(&crate::test_postgres_url()).await?),
        };
        let internal_token = crate::random_hex();
        let directory_port = crate::free_port();

        let session_settings = SessionSettings {
            listen_address: "127.0.0.1:0".into(),
            data_dir: data_dir.path().into(),
            directory_url: format!("http://127.0.0.1:{directory_port}"),
            internal_token: Some(SecretString::from(internal_token.clone())),
            redis: roster_session::settings::RedisSettings {
                url: options.redis_url.clone(),
                key_prefix: format!("roster-in-process:{}:", uuid::Uuid::new_v4().simple()),
            },
            // As the process harness does: the tests race many logins on
            // purpose and are about rules, not the broker's login admission.
            logins_in_flight: 1024,
            ..SessionSettings::default()
        };
        let broker =
            roster_session::Application::build_with_clock(session_settings, clock_or_system(&options.broker_clock))
                .await?;
        let broker_url = format!("http://{}", broker.local_address());

        let mut directory_settings = DirectorySettings {
            listen_address: format!("127.0.0.1:{directory_port}"),
            data_dir: data_dir.path().into(),
            broker_url: broker_url.clone(),
            internal_token: Some(SecretString::from(internal_token)),
            hashing_queue: options.hashing_queue,
            ..DirectorySettings::default()
        };
        directory_settings.database.url = postgres.as_ref().map(|fresh| fresh.url.clone());
        // Cheap hashing keeps the suite fast; production keeps OWASP's parameters.
        directory_settings.argon2 =
            roster_domain::password::Argon2Settings { memory_kib: 1024, iterations: 1, parallelism: 1 };
        let database_url = directory_settings.database_url();
        let directory = roster_directory::Application::build_with_clock(
            directory_settings,
            clock_or_system(&options.directory_clock),
        )
        .await?;
        let directory_url = format!("http://{}", directory.local_address());

        tokio::spawn(broker.run_until_stopped(std::future::pending()));
        tokio::spawn(directory.run_until_stopped(std::future::pending()));
        Ok(Self { directory_url, broker_url, database_url, _postgres: postgres, _data_dir: data_dir })
    }

    /// Signs up `slug`, owned by `owner` with `password`.
    pub async fn sign_up(&self, slug: &str, owner: &str, password: &str) -> anyhow::Result<()> {
        AccountServiceClient::new(crate::Cluster::channel(&self.directory_url).await)
            .create_account(sign_up_request(slug, owner, password))
            .await?;
        Ok(())
    }

    pub async fn sessions(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(crate::Cluster::channel(&self.broker_url).await)
    }
}
