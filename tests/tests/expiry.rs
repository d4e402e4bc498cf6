//! R37 with an injected clock (no sleeping): both services run in this test
//! process, the broker on a `ManualClock`, over real gRPC on ephemeral ports,
//! once with the in-process session store and once with real Redis.

use chrono::{Duration, Utc};
use roster_domain::clock::ManualClock;
use roster_e2e::cluster::login_request;
use roster_e2e::in_process::{InProcessCluster, InProcessOptions};
use roster_e2e::status::expect_error;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::ValidateSessionRequest;
use tonic::transport::Channel;
use tonic::Code;

const PASSWORD: &str = "correct horse battery staple";

struct InProcess {
    sessions: SessionServiceClient<Channel>,
    clock: ManualClock,
    _services: InProcessCluster,
}

/// Starts directory and broker in-process; the broker's clock is manual.
async fn start(redis_url: Option<String>) -> InProcess {
    let clock = ManualClock::starting_at(Utc::now());
    let options = InProcessOptions { redis_url, broker_clock: Some(clock.clone()), ..InProcessOptions::default() };
    let services = InProcessCluster::start(options).await.unwrap();
    services.sign_up("acme", "alice", PASSWORD).await.unwrap();
    InProcess { sessions: services.sessions().await, clock, _services: services }
}

async fn r37_idle_timeout_slides_on_use_and_then_expires(redis_url: Option<String>) {
    let mut running = start(redis_url).await;
    let login = running.sessions.login(login_request("acme", "alice", PASSWORD)).await.unwrap().into_inner();
    let validate = |token: String| ValidateSessionRequest { token, ..Default::default() };
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
        running
            .sessions
            .validate_session(ValidateSessionRequest { token: login.token.clone(), ..Default::default() })
            .await
            .unwrap();
    }
    running.clock.advance(Duration::minutes(10) + Duration::seconds(1));
    expect_error(
        running.sessions.validate_session(ValidateSessionRequest { token: login.token, ..Default::default() }).await,
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
