//! End to end, against the real binaries: what operators and SREs rely on —
//! health and reflection, fail-closed behaviour when Redis dies (also under
//! load) and recovery when it returns, graceful shutdown, and no secret in
//! any log line (R9).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roster_e2e::cluster::{health_status, OPERATOR_PASSWORD};
use roster_e2e::fixtures::Tenant;
use roster_e2e::redis_process::RedisProcess;
use roster_e2e::status::expect_error;
use roster_e2e::{Cluster, ClusterOptions, DatabaseKind, SessionBackend};
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::{ListSessionsRequest, LogoutRequest, ValidateSessionRequest};
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

const PASSWORD: &str = "correct horse battery staple";

async fn listed_services(url: &str) -> Vec<String> {
    let mut client = ServerReflectionClient::new(Cluster::channel(url).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let response = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|service| service.name).collect()
        }
        other => panic!("unexpected reflection answer: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_serve_health_and_reflection() {
    let cluster = Cluster::start(ClusterOptions::sqlite_in_process()).await.unwrap();
    assert_eq!(health_status(&cluster.directory_url).await, Some(ServingStatus::Serving as i32));
    assert_eq!(health_status(&cluster.session_url).await, Some(ServingStatus::Serving as i32));
    let directory_services = listed_services(&cluster.directory_url).await;
    for expected in
        ["roster.directory.v1.AccountService", "roster.directory.v1.CredentialService", "grpc.health.v1.Health"]
    {
        assert!(
            directory_services.iter().any(|name| name == expected),
            "{expected} missing from {directory_services:?}"
        );
    }
    let session_services = listed_services(&cluster.session_url).await;
    assert!(session_services.iter().any(|name| name == "roster.session.v1.SessionService"), "{session_services:?}");
    for url in [&cluster.directory_url, &cluster.session_url] {
        let services = listed_services_v1alpha(url).await;
        assert!(services.iter().any(|name| name.starts_with("roster.")), "v1alpha reflection on {url}: {services:?}");
    }
}

/// The same listing over `grpc.reflection.v1alpha`, which older generic
/// clients speak.
async fn listed_services_v1alpha(url: &str) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    let mut client = ServerReflectionClient::new(Cluster::channel(url).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    match responses.message().await.unwrap().unwrap().message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|service| service.name).collect()
        }
        other => panic!("unexpected reflection answer: {other:?}"),
    }
}

/// Polls `check` every 100 ms for at most `limit`; true once it holds.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_fails_validation_closed_and_the_broker_recovers_by_itself() {
    let mut redis = RedisProcess::start().await.unwrap();
    let options = ClusterOptions {
        database: DatabaseKind::Sqlite,
        sessions: SessionBackend::Redis(redis.url()),
        capture_debug_logs: false,
    };
    let cluster = Cluster::start(options).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await;
    let before_outage = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    let mut sessions = cluster.sessions().await;
    sessions
        .validate_session(ValidateSessionRequest { token: before_outage.token.clone(), ..Default::default() })
        .await
        .unwrap();

    redis.stop().await;
    // The broker's validation cache may answer for the live session until
    // its feed reports the dead connection (no session can end meanwhile:
    // every end goes through Redis); from then on validation fails closed.
    let deadline = Instant::now() + Duration::from_secs(2);
    let status = loop {
        let answer = sessions
            .validate_session(ValidateSessionRequest { token: before_outage.token.clone(), ..Default::default() })
            .await;
        match answer {
            Err(status) => break status,
            Ok(_) => assert!(Instant::now() < deadline, "validation still answered from memory 2 s after redis died"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(status.code(), Code::Unavailable, "a dead redis must never yield a valid answer: {status:?}");
    for _ in 0..3 {
        let again = sessions
            .validate_session(ValidateSessionRequest { token: before_outage.token.clone(), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(again.code(), Code::Unavailable, "once noticed, every validation fails closed: {again:?}");
    }
    expect_error(cluster.login("acme", "alice", PASSWORD).await, Code::Unavailable, "DEPENDENCY_UNAVAILABLE");
    let not_serving = eventually(Duration::from_secs(10), || async {
        health_status(&cluster.session_url).await == Some(ServingStatus::NotServing as i32)
    })
    .await;
    assert!(not_serving, "health reports NOT_SERVING while redis is down");

    redis.restart().await.unwrap();
    let recovered =
        eventually(Duration::from_secs(15), || async { cluster.login("acme", "alice", PASSWORD).await.is_ok() }).await;
    assert!(recovered, "the broker reconnects to redis without a restart");
    let after = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    sessions
        .validate_session(ValidateSessionRequest { token: after.token, ..Default::default() })
        .await
        .expect("new sessions validate after recovery");
    // Redis kept nothing: the session from before the outage does not come back to life.
    expect_error(
        sessions.validate_session(ValidateSessionRequest { token: before_outage.token, ..Default::default() }).await,
        Code::Unauthenticated,
        "SESSION_UNKNOWN",
    );
    let serving_again = eventually(Duration::from_secs(10), || async {
        health_status(&cluster.session_url).await == Some(ServingStatus::Serving as i32)
    })
    .await;
    assert!(serving_again, "health reports SERVING again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r9_no_password_token_or_hash_appears_in_any_log_line() {
    let options = ClusterOptions { capture_debug_logs: true, ..ClusterOptions::sqlite_in_process() };
    let cluster = Cluster::start(options).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await;
    let login = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    let _ = cluster.login("acme", "alice", "a wrong password attempt").await;
    let mut sessions = cluster.sessions().await;
    sessions
        .validate_session(ValidateSessionRequest { token: login.token.clone(), ..Default::default() })
        .await
        .unwrap();
    sessions.logout(LogoutRequest { token: login.token.clone() }).await.unwrap();
    let _ =
        sessions.validate_session(ValidateSessionRequest { token: login.token.clone(), ..Default::default() }).await;
    let logs = cluster.logs();
    assert!(logs.contains("session logged out"), "debug logs were captured: {} bytes", logs.len());
    let secret_part = login.token.split_once('.').unwrap().1;
    for secret in
        [PASSWORD, "a wrong password attempt", OPERATOR_PASSWORD, secret_part, "$argon2id$", &cluster.internal_token]
    {
        assert!(!logs.contains(secret), "a secret leaked into the logs: {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_broker_gracefully() {
    let mut cluster = Cluster::start(ClusterOptions::sqlite_in_process()).await.unwrap();
    let status = cluster.terminate_session_broker().await.unwrap();
    assert!(status.success(), "the broker exits cleanly on SIGTERM: {status:?}");
}

/// R43: the broker's audit writer holds a session event for up to 100 ms
/// to batch it; a broker stopped gracefully writes what it holds before it
/// exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_the_queued_session_events_before_the_broker_exits() {
    let mut cluster = Cluster::start(ClusterOptions::sqlite_in_process()).await.unwrap();
    let replaced = {
        let tenant = Tenant::sign_up(&cluster, "acme").await;
        let first = tenant.cluster.login("acme", "owner", &tenant.owner.password).await.unwrap();
        // R36: this login replaces the first session, an event to audit.
        tenant.log_in("owner").await;
        first.principal.unwrap().session_id
    };
    let status = cluster.terminate_session_broker().await.unwrap();
    assert!(status.success(), "the broker exits cleanly on SIGTERM: {status:?}");
    // Read at once: the broker has exited, so nothing is still on its way.
    let audited = cluster
        .query_strings(&format!(
            "SELECT outcome FROM audit_events WHERE action = 'session.replaced' AND target_id = '{replaced}'"
        ))
        .await
        .unwrap();
    assert_eq!(audited, ["success"], "the replaced session's event was written before the exit");
}

/// What the load saw, per answer.
#[derive(Debug, Default)]
struct LoadOutcomes {
    valid: usize,
    unavailable: usize,
    valid_after_outage: usize,
    /// Any other answer, which must never happen: "{code:?} {message}".
    unexpected: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_under_load_fails_closed_recovers_and_revives_nothing() {
    let mut redis = RedisProcess::start_persistent().await.unwrap();
    let options = ClusterOptions {
        database: DatabaseKind::Sqlite,
        sessions: SessionBackend::Redis(redis.url()),
        capture_debug_logs: false,
    };
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let idle = acme.member("idle", vec![acme.role("Team member", None)]).await;
    let gone = acme.member("gone", vec![acme.role("Team member", None)]).await;
    let busy = acme.member("busy", vec![acme.role("Team member", None)]).await;
    let mut sessions = cluster.sessions().await;
    sessions.logout(LogoutRequest { token: gone.token.clone() }).await.unwrap();
    let idle_session = |sessions: SessionServiceClient<Channel>| {
        let (mut sessions, request) = (
            sessions,
            acme.internal(ListSessionsRequest {
                account_id: acme.account_id.clone(),
                user_id: idle.id.clone(),
                ..Default::default()
            }),
        );
        async move { sessions.list_sessions(request).await.unwrap().into_inner().sessions.remove(0) }
    };
    let idle_before = idle_session(sessions.clone()).await;

    // Load: validations of one live session, all the time.
    let outage_over = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(LoadOutcomes::default()));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (mut sessions, token) = (sessions.clone(), busy.token.clone());
        let (outage_over, stop, outcomes) = (outage_over.clone(), stop.clone(), outcomes.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let request = ValidateSessionRequest { token: token.clone(), ..Default::default() };
                let answer = sessions.validate_session(request).await;
                let mut outcomes = outcomes.lock().unwrap();
                match answer {
                    Ok(_) if outage_over.load(Ordering::SeqCst) => outcomes.valid_after_outage += 1,
                    Ok(_) => outcomes.valid += 1,
                    Err(status) if status.code() == Code::Unavailable => outcomes.unavailable += 1,
                    Err(status) => outcomes.unexpected.push(format!("{:?} {}", status.code(), status.message())),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart().await.unwrap();
    let back = eventually(Duration::from_secs(15), || {
        let mut sessions = sessions.clone();
        let token = busy.token.clone();
        async move { sessions.validate_session(ValidateSessionRequest { token, ..Default::default() }).await.is_ok() }
    })
    .await;
    assert!(back, "validations recover by themselves once redis is back");
    outage_over.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }

    let outcomes = outcomes.lock().unwrap();
    assert!(outcomes.unexpected.is_empty(), "only valid or UNAVAILABLE answers: {outcomes:?}");
    assert!(outcomes.valid > 0 && outcomes.unavailable > 0 && outcomes.valid_after_outage > 0, "{outcomes:?}");
    // Nothing came back to life, and the idle timer did not move.
    expect_error(
        sessions.validate_session(ValidateSessionRequest { token: gone.token.clone(), ..Default::default() }).await,
        Code::Unauthenticated,
        "SESSION_LOGGED_OUT",
    );
    let idle_after = idle_session(sessions.clone()).await;
    assert_eq!(idle_after.session_id, idle_before.session_id);
    assert_eq!(idle_after.idle_expire_time, idle_before.idle_expire_time, "the restart did not reset the idle timer");
    assert_eq!(idle_after.last_use_time, idle_before.last_use_time);
    sessions
        .validate_session(ValidateSessionRequest { token: idle.token.clone(), ..Default::default() })
        .await
        .expect("a session that was live before the restart is live after it");
}
