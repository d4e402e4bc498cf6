//! End to end, against the real binaries: per-source login throttling
//! (R39). One client address trying many different logins is refused with
//! `RESOURCE_EXHAUSTED` (`LOGIN_THROTTLED`) although no single credential
//! fails more than once, while other addresses are answered as usual. Every
//! scenario runs with the in-process store and with Redis.
//!
//! The broker runs a small policy (slowed from 3 failures, refused from 6,
//! 10 ms per failure) in a one-hour window, so the test never waits long
//! and a window boundary during the test changes the counts by at most one.
//! Nothing here measures time.

use roster_e2e::status::{expect_error, reason};
use roster_e2e::{Cluster, ClusterOptions};
use roster_proto::session::v1::{LoginRequest, LoginResponse};
use tonic::Code;

const PASSWORD: &str = "correct horse battery staple";
const REFUSE_AFTER: usize = 6;
/// More attempts than a refusal can take, even across a window boundary.
const MAXIMUM_ATTEMPTS: usize = 2 * REFUSE_AFTER;

/// Runs each scenario with both session backends.
macro_rules! on_both_session_backends {
    ($($scenario:ident),* $(,)?) => {
        mod in_process {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(roster_e2e::ClusterOptions::sqlite_in_process()).await }) *
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(roster_e2e::ClusterOptions::sqlite_redis()).await }) *
        }
    };
}

on_both_session_backends!(
    r39_one_address_trying_many_logins_is_refused_while_other_addresses_are_not,
    r39_ipv6_addresses_are_throttled_by_their_64_bit_prefix,
);

/// A cluster whose broker throttles with the small policy, and an account
/// `acme` whose owner `alice` logs in with [`PASSWORD`].
async fn throttling_cluster(options: ClusterOptions) -> Cluster {
    let refuse_after = REFUSE_AFTER.to_string();
    let policy = [
        ("ROSTER_SESSION__THROTTLE__WINDOW_SECONDS", "3600"),
        ("ROSTER_SESSION__THROTTLE__SLOW_AFTER", "3"),
        ("ROSTER_SESSION__THROTTLE__REFUSE_AFTER", refuse_after.as_str()),
        ("ROSTER_SESSION__THROTTLE__DELAY_PER_FAILURE_MS", "10"),
    ];
    let cluster = Cluster::start_with_session_env(options, &policy).await.expect("the cluster starts");
    cluster.sign_up("acme", "alice", PASSWORD).await;
    cluster
}

async fn login_from(
    cluster: &Cluster,
    client_address: &str,
    login_name: &str,
    password: &str,
) -> Result<LoginResponse, tonic::Status> {
    let request = LoginRequest {
        account: "acme".to_owned(),
        login_name: login_name.to_owned(),
        password: password.to_owned(),
        client_address: client_address.to_owned(),
        user_agent: "roster-e2e".to_owned(),
    };
    cluster.sessions().await.login(request).await.map(tonic::Response::into_inner)
}

/// Tries a different unknown login with a wrong password from each address
/// in turn until one is refused as throttled. Returns how many attempts were
/// answered `INVALID_CREDENTIALS` before that; panics on any other answer or
/// when no attempt is refused.
async fn fail_until_throttled(cluster: &Cluster, addresses: impl Fn(usize) -> String) -> usize {
    for attempt in 0..MAXIMUM_ATTEMPTS {
        let result = login_from(cluster, &addresses(attempt), &format!("intruder-{attempt}"), "wrong password").await;
        let status = result.expect_err("an unknown login never succeeds");
        match (status.code(), reason(&status).as_str()) {
            (Code::Unauthenticated, "INVALID_CREDENTIALS") => continue,
            (Code::ResourceExhausted, "LOGIN_THROTTLED") => return attempt,
            _ => panic!("attempt {attempt}: unexpected answer {status:?}"),
        }
    }
    panic!("{MAXIMUM_ATTEMPTS} failed logins from one source were never throttled");
}

async fn r39_one_address_trying_many_logins_is_refused_while_other_addresses_are_not(options: ClusterOptions) {
    let cluster = throttling_cluster(options).await;
    let attacker = "198.51.100.23";

    let failures_before_refusal = fail_until_throttled(&cluster, |_| attacker.to_owned()).await;
    assert!(
        failures_before_refusal >= REFUSE_AFTER,
        "refused after {failures_before_refusal} failures, before the policy's {REFUSE_AFTER}"
    );

    // The refusal comes before the password check: even the right password
    // from that address is refused, and says why.
    let status = expect_error(
        login_from(&cluster, attacker, "alice", PASSWORD).await,
        Code::ResourceExhausted,
        "LOGIN_THROTTLED",
    );
    assert!(status.message().contains("retry in"), "the refusal says when to retry: {status:?}");

    // Another address is answered as usual: no credential reached a limit.
    expect_error(
        login_from(&cluster, "192.0.2.44", "intruder-elsewhere", "wrong password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let opened = login_from(&cluster, "192.0.2.44", "alice", PASSWORD).await.expect("alice logs in from elsewhere");
    assert!(!opened.token.is_empty());
    // The next IPv4 address is a source of its own.
    expect_error(
        login_from(&cluster, "198.51.100.24", "intruder-next-door", "wrong password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
}

async fn r39_ipv6_addresses_are_throttled_by_their_64_bit_prefix(options: ClusterOptions) {
    let cluster = throttling_cluster(options).await;

    // A new address of the same /64 for every attempt gains nothing.
    let failures_before_refusal =
        fail_until_throttled(&cluster, |attempt| format!("2001:db8:5:6::{:x}", attempt + 1)).await;
    assert!(failures_before_refusal >= REFUSE_AFTER);
    expect_error(
        login_from(&cluster, "2001:db8:5:6:ffff:ffff:ffff:ffff", "alice", PASSWORD).await,
        Code::ResourceExhausted,
        "LOGIN_THROTTLED",
    );

    // The neighbouring /64 is another source.
    expect_error(
        login_from(&cluster, "2001:db8:5:7::1", "intruder-neighbour", "wrong password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    login_from(&cluster, "2001:db8:5:7::1", "alice", PASSWORD).await.expect("alice logs in from the neighbouring /64");
}
