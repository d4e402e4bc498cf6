//! R37 with an injected clock (no sleeping): both services run in this test
//! process, the broker on a `ManualClock`, over real gRPC on ephemeral ports,
//! once with the in-process session store and once with real Redis.

use std::sync::Arc;

use chrono::{Duration, Utc};
use roster_directory::DirectorySettings;
use roster_domain::clock::ManualClock;
use roster_e2e::cluster::{login_request, sign_up_request};
use roster_e2e::status::expect_error;
use roster_proto::directory::v1::account_service_client::AccountServiceClient;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::ValidateSessionRequest;
use roster_session::SessionSettings;
use secrecy::SecretString;
use tonic::transport::Channel;
use tonic::Code;

const PASSWORD: &str = "correct horse battery staple";

struct InProcess {
    sessions: SessionServiceClient<Channel>,
    clock: ManualClock,
    _data_dir: tempfile::TempDir,
}

/// Starts directory and broker in-process; the broker's clock is manual.
async fn start(redis_url: Option<String>) -> InProcess {
    let data_dir = tempfile::tempdir().unwrap();
    let internal_token = roster_e2e::random_hex();
    let directory_port = roster_e2e::free_port();
    let clock = ManualClock::starting_at(Utc::now());

    let session_settings = SessionSettings {
        listen_address: "127.0.0.1:0".into(),
        data_dir: data_dir.path().into(),
        directory_url: format!("http://127.0.0.1:{directory_port}"),
        internal_token: Some(SecretString::from(internal_token.clone())),
        redis: roster_session::settings::RedisSettings {
            url: redis_url,
            key_prefix: format!("roster-expiry:{}:", uuid::Uuid::new_v4().simple()),
        },
        ..SessionSettings::default()
    };
    let broker =
        roster_session::Application::build_with_clock(session_settings, Arc::new(clock.clone())).await.unwrap();
    let broker_url = format!("http://{}", broker.local_address());

    let mut directory_settings = DirectorySettings {
        listen_address: format!("127.0.0.1:{directory_port}"),
        data_dir: data_dir.path().into(),
        broker_url: broker_url.clone(),
        internal_token: Some(SecretString::from(internal_token)),
        ..DirectorySettings::default()
    };
    directory_settings.argon2 =
        roster_domain::password::Argon2Settings { memory_kib: 1024, iterations: 1, parallelism: 1 };
    let directory = roster_directory::Application::build(directory_settings).await.unwrap();
    let directory_url = format!("http://{}", directory.local_address());

    tokio::spawn(broker.run_until_stopped(std::future::pending()));
    tokio::spawn(directory.run_until_stopped(std::future::pending()));
    AccountServiceClient::new(roster_e2e::Cluster::channel(&directory_url).await)
        .create_account(sign_up_request("acme", "alice", PASSWORD))
        .await
        .unwrap();
    let sessions = SessionServiceClient::new(roster_e2e::Cluster::channel(&broker_url).await);
    InProcess { sessions, clock, _data_dir: data_dir }
}

async fn r37_idle_timeout_slides_on_use_and_then_expires(redis_url: Option<String>) {
    let mut running = start(redis_url).await;
    let login = running.sessions.login(login_request("acme", "alice", PASSWORD)).await.unwrap().into_inner();
    let validate = |token: String| ValidateSessionRequest { token };
    // Used every 14 minutes, a 15-minute idle timeout never fires.
    for _ in 0..4 {
        running.clock.advance(Duration::minutes(14));
        running
            .sessions
            .validate_session(validate(login.token.clone()))
            .await
            .expect("a session used within its idle timeout stays alive");
    }
    running.clock.advance(Duration::minutes(15) + Duration::seconds(1));
    expect_error(
        running.sessions.validate_session(validate(login.token.clone())).await,
        Code::Unauthenticated,
        "SESSION_EXPIRED",
    );
    running.clock.advance(Duration::minutes(1));
    expect_error(
        running.sessions.validate_session(validate(login.token)).await,
        Code::Unauthenticated,
        "SESSION_EXPIRED",
    );
}

async fn r37_absolute_lifetime_ends_even_a_busy_session(redis_url: Option<String>) {
    let mut running = start(redis_url).await;
    let login = running.sessions.login(login_request("acme", "alice", PASSWORD)).await.unwrap().into_inner();
    let expire_time = login.expire_time.unwrap().seconds;
    let issued = login.principal.unwrap().idle_expire_time.unwrap().seconds;
    assert_eq!(expire_time - issued, 12 * 3600 - 15 * 60, "R37 defaults: 15 minutes idle, 12 hours absolute");
    // Used every 10 minutes for 11 hours 50 minutes: still alive.
    for _ in 0..71 {
        running.clock.advance(Duration::minutes(10));
        running.sessions.validate_session(ValidateSessionRequest { token: login.token.clone() }).await.unwrap();
    }
    running.clock.advance(Duration::minutes(10) + Duration::seconds(1));
    expect_error(
        running.sessions.validate_session(ValidateSessionRequest { token: login.token }).await,
        Code::Unauthenticated,
        "SESSION_EXPIRED",
    );
}

mod in_process_store {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r37_idle_timeout_slides_on_use_and_then_expires() {
        super::r37_idle_timeout_slides_on_use_and_then_expires(None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r37_absolute_lifetime_ends_even_a_busy_session() {
        super::r37_absolute_lifetime_ends_even_a_busy_session(None).await;
    }
}

mod redis_store {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r37_idle_timeout_slides_on_use_and_then_expires() {
        super::r37_idle_timeout_slides_on_use_and_then_expires(Some(roster_e2e::test_redis_url())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r37_absolute_lifetime_ends_even_a_busy_session() {
        super::r37_absolute_lifetime_ends_even_a_busy_session(Some(roster_e2e::test_redis_url())).await;
    }
}
