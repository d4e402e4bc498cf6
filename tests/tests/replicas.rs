//! End to end: two broker processes sharing one Redis, as two replicas
//! behind a load balancer (R36, R38, R41, R43). The directory talks to the
//! first; the second learns everything through Redis.

use std::time::{Duration, Instant};

use roster_e2e::cluster::with_internal_credential;
use roster_e2e::fixtures::{Tenant, PASSWORD};
use roster_e2e::status::expect_error;
use roster_e2e::{Cluster, ClusterOptions};
use roster_proto::session::v1::session_event::Kind;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::{
    LogoutRequest, RevokeSessionRequest, SessionEvent, ValidateSessionRequest, WatchSessionEventsRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Streaming};

async fn two_replicas() -> (Cluster, roster_e2e::cluster::BrokerReplica) {
    let cluster = Cluster::start(ClusterOptions::sqlite_redis()).await.unwrap();
    let replica = cluster.start_broker_replica().await.unwrap();
    (cluster, replica)
}

fn validation(token: &str) -> ValidateSessionRequest {
    ValidateSessionRequest { token: token.to_owned(), ..Default::default() }
}

async fn watch(
    cluster: &Cluster,
    sessions: &mut SessionServiceClient<Channel>,
    account_id: &str,
) -> Streaming<SessionEvent> {
    let request = WatchSessionEventsRequest { account_id: account_id.to_owned() };
    let watched = sessions.watch_session_events(with_internal_credential(request, &cluster.internal_token)).await;
    watched.unwrap_or_else(|status| panic!("watching session events: {status:?}")).into_inner()
}

async fn next_event(stream: &mut Streaming<SessionEvent>) -> SessionEvent {
    let next = tokio::time::timeout(Duration::from_secs(5), stream.message()).await;
    next.expect("an event within 5 s").expect("a healthy stream").expect("the stream stays open")
}

/// Logs `login_name` of `acme` in through `sessions` (one replica).
async fn log_in(
    sessions: &mut SessionServiceClient<Channel>,
    login_name: &str,
) -> roster_proto::session::v1::LoginResponse {
    let login = sessions.login(roster_e2e::cluster::login_request("acme", login_name, PASSWORD)).await;
    login.unwrap_or_else(|status| panic!("{login_name} logs in: {status:?}")).into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r36_a_login_on_one_replica_evicts_the_session_on_the_other() {
    let (cluster, replica) = two_replicas().await;
    let _acme = Tenant::sign_up(&cluster, "acme").await;
    let (mut first, mut second) = (cluster.sessions().await, replica.sessions().await);

    let old = log_in(&mut first, "owner").await;
    second.validate_session(validation(&old.token)).await.expect("the other replica knows the session");
    let new = log_in(&mut second, "owner").await;
    for sessions in [&mut first, &mut second] {
        expect_error(
            sessions.validate_session(validation(&old.token)).await,
            Code::Unauthenticated,
            "SESSION_REPLACED",
        );
        let principal = sessions.validate_session(validation(&new.token)).await.unwrap().into_inner().principal;
        assert_eq!(principal.unwrap().session_id, new.session_id, "both replicas agree on the live session");
    }
}

/// Validates `token` through `sessions` until it fails, for at most one
/// second; the failure.
async fn failure_within_one_second(sessions: &mut SessionServiceClient<Channel>, token: &str) -> tonic::Status {
    let since = Instant::now();
    loop {
        match sessions.validate_session(validation(token)).await {
            Err(status) => return status,
            Ok(_) => assert!(since.elapsed() < Duration::from_secs(1), "the end did not reach the replica within 1 s"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r36_r38_ends_through_one_replica_reach_the_other_replicas_validation_cache() {
    let (cluster, replica) = two_replicas().await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    acme.member("tom", vec![acme.role("Team member", None)]).await;
    let (mut first, mut second) = (cluster.sessions().await, replica.sessions().await);

    // The second replica validates (and so caches) each session before the
    // first one ends it.
    let old = log_in(&mut first, "owner").await;
    second.validate_session(validation(&old.token)).await.expect("live");
    second.validate_session(validation(&old.token)).await.expect("still live");
    let new = log_in(&mut first, "owner").await;
    let status = failure_within_one_second(&mut second, &old.token).await;
    assert_eq!((status.code(), status.message().contains("replaced")), (Code::Unauthenticated, true), "{status:?}");
    second.validate_session(validation(&new.token)).await.expect("the newer session is live on both");

    let tom = log_in(&mut first, "tom").await;
    second.validate_session(validation(&tom.token)).await.expect("live");
    first.logout(LogoutRequest { token: tom.token.clone() }).await.unwrap();
    let status = failure_within_one_second(&mut second, &tom.token).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    let tom = log_in(&mut first, "tom").await;
    second.validate_session(validation(&tom.token)).await.expect("live");
    let revoke = RevokeSessionRequest { session_id: tom.session_id.clone(), ..Default::default() };
    first.revoke_session(with_internal_credential(revoke, &cluster.internal_token)).await.expect("revoked");
    let status = failure_within_one_second(&mut second, &tom.token).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r41_both_replicas_stream_every_replicas_events_in_the_same_order() {
    let (cluster, replica) = two_replicas().await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let (mut first, mut second) = (cluster.sessions().await, replica.sessions().await);
    let mut first_stream = watch(&cluster, &mut first, &acme.account_id).await;
    let mut second_stream = watch(&cluster, &mut second, "").await;

    // Replaced on the second replica, logged out on the first, revoked by id on the second.
    let one = log_in(&mut first, "owner").await;
    let two = log_in(&mut second, "owner").await;
    first.logout(LogoutRequest { token: two.token.clone() }).await.unwrap();
    let three = log_in(&mut first, "owner").await;
    let revoke = RevokeSessionRequest { session_id: three.session_id.clone(), reason: "stolen laptop".to_owned() };
    second.revoke_session(with_internal_credential(revoke, &cluster.internal_token)).await.unwrap();

    let user_id = one.principal.as_ref().unwrap().user_id.clone();
    // The first login replaced the session the sign-up fixture opened.
    for stream in [&mut first_stream, &mut second_stream] {
        let event = next_event(stream).await;
        assert_eq!((event.kind, event.replaced_by_session_id), (Kind::Replaced as i32, one.session_id.clone()));
    }
    let expected = [
        (Kind::Replaced, &one.session_id, "replaced by a newer login", two.session_id.as_str()),
        (Kind::LoggedOut, &two.session_id, "logged out", ""),
        (Kind::Revoked, &three.session_id, "stolen laptop", ""),
    ];
    for stream in [&mut first_stream, &mut second_stream] {
        for (kind, session_id, reason, replaced_by) in expected {
            let event = next_event(stream).await;
            assert_eq!(event.kind, kind as i32, "{event:?}");
            assert_eq!(&event.session_id, session_id);
            assert_eq!(event.account_id, acme.account_id);
            assert_eq!(event.user_id, user_id);
            assert_eq!(event.reason, reason);
            assert_eq!(event.replaced_by_session_id, replaced_by);
            assert!(event.occur_time.is_some());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r41_an_account_filter_keeps_other_tenants_events_out() {
    let (cluster, replica) = two_replicas().await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let _globex = Tenant::sign_up(&cluster, "globex").await;
    let mut second = replica.sessions().await;
    let mut stream = watch(&cluster, &mut second, &acme.account_id).await;
    // Globex's owner is replaced first, then Acme's: only Acme's arrives.
    cluster.login("globex", "owner", PASSWORD).await.unwrap();
    cluster.login("acme", "owner", PASSWORD).await.unwrap();
    let event = next_event(&mut stream).await;
    assert_eq!(event.account_id, acme.account_id);
    assert_eq!(event.kind, Kind::Replaced as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r38_a_permission_change_reaches_the_other_replica_within_one_second() {
    let (cluster, replica) = two_replicas().await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let tom = acme.member("tom", vec![acme.role("Team member", None)]).await;
    let mut second = replica.sessions().await;
    let check = |sessions: &mut SessionServiceClient<Channel>| {
        let mut sessions = sessions.clone();
        let token = tom.token.clone();
        async move {
            let request =
                ValidateSessionRequest { token, permission: "users.view".to_owned(), store_id: String::new() };
            sessions.validate_session(request).await.unwrap().into_inner().check.unwrap().allowed
        }
    };
    // The second replica has validated, so it holds the old answer.
    assert!(!check(&mut second).await);

    acme.assign_as_owner(&tom.id, "Manager", None).await;
    let since = Instant::now();
    loop {
        if check(&mut second).await {
            break;
        }
        assert!(since.elapsed() < Duration::from_secs(1), "the change did not reach the second replica within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r43_an_eviction_is_audited_once_whatever_the_number_of_replicas() {
    let (cluster, replica) = two_replicas().await;
    let acme = Tenant::sign_up(&cluster, "acme").await;
    acme.member("bob", vec![acme.role("Team member", None)]).await;
    let mut second = replica.sessions().await;
    let old = log_in(&mut second, "bob").await;
    let new = log_in(&mut second, "bob").await;
    // Audited by a background writer: give it a moment.
    let since = Instant::now();
    let events = loop {
        let events = acme.audit_of("session.replaced", &old.session_id).await;
        if !events.is_empty() || since.elapsed() > Duration::from_secs(10) {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.outcome, "success");
    assert_eq!(event.reason, "replaced by a newer login");
    assert!(format!("{event:?}").contains(&new.session_id), "the event names the new session: {event:?}");
}
