//! R39 per-credential lockout, end to end with an injected clock (no
//! sleeping): both services run in this test process over real gRPC on
//! ephemeral ports, the directory on a `ManualClock`, on SQLite and on
//! PostgreSQL. Logins go through the broker's `Login`, each from an address
//! of its own, so that the broker's per-source throttling never answers
//! first: what these tests see is the directory's lockout alone (and it
//! holds however many addresses an attacker uses).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{Duration, Utc};
use roster_domain::clock::ManualClock;
use roster_e2e::cluster::login_request;
use roster_e2e::in_process::{InProcessCluster, InProcessOptions};
use roster_e2e::status::expect_error;
use roster_e2e::DatabaseKind;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::LoginResponse;
use sea_orm::{ConnectionTrait, Database, Statement};
use tonic::transport::Channel;
use tonic::{Code, Status};

const PASSWORD: &str = "correct horse battery staple";
const WRONG: &str = "wrong horse battery staple";

struct InProcess {
    sessions: SessionServiceClient<Channel>,
    clock: ManualClock,
    database_url: String,
    next_address: AtomicU32,
    _services: InProcessCluster,
}

/// Starts broker and directory in-process (the directory's clock is manual)
/// and signs up `acme`, owned by `alice`.
async fn start(database: DatabaseKind) -> InProcess {
    let clock = ManualClock::starting_at(Utc::now());
    let options = InProcessOptions {
        database,
        directory_clock: Some(clock.clone()),
        // Room for 50 parallel logins: this is about lockout, not the pool.
        hashing_queue: 128,
        ..InProcessOptions::default()
    };
    let services = InProcessCluster::start(options).await.unwrap();
    services.sign_up("acme", "alice", PASSWORD).await.unwrap();
    InProcess {
        sessions: services.sessions().await,
        clock,
        database_url: services.database_url.clone(),
        next_address: AtomicU32::new(1),
        _services: services,
    }
}

impl InProcess {
    /// Logs in to `acme` from an address no other attempt used.
    async fn login(&self, login_name: &str, password: &str) -> Result<LoginResponse, Status> {
        let number = self.next_address.fetch_add(1, Ordering::Relaxed);
        let mut request = login_request("acme", login_name, password);
        request.client_address = format!("10.{}.{}.{}", (number >> 16) & 0xff, (number >> 8) & 0xff, number & 0xff);
        self.sessions.clone().login(request).await.map(tonic::Response::into_inner)
    }

    /// Logs in and expects the answer every failure gets.
    async fn refused(&self, login_name: &str, password: &str) -> Status {
        expect_error(self.login(login_name, password).await, Code::Unauthenticated, "INVALID_CREDENTIALS")
    }

    /// The reasons of every failed login in the audit log, read from the
    /// directory's database.
    async fn failure_reasons(&self) -> Vec<String> {
        let database = Database::connect(&self.database_url).await.unwrap();
        let sql = "SELECT reason FROM audit_events WHERE action = 'session.login' AND outcome = 'failure'";
        let rows =
            database.query_all(Statement::from_string(database.get_database_backend(), sql.to_owned())).await.unwrap();
        database.close().await.unwrap();
        rows.iter().map(|row| row.try_get::<Option<String>>("", "reason").unwrap().unwrap_or_default()).collect()
    }
}

fn count(reasons: &[String], reason: &str) -> usize {
    reasons.iter().filter(|recorded| recorded.as_str() == reason).count()
}

/// Asserts two refusals are indistinguishable to the caller.
#[track_caller]
fn assert_same_answer(locked: &Status, wrong_password: &Status) {
    assert_eq!(locked.code(), wrong_password.code());
    assert_eq!(locked.message(), wrong_password.message());
    assert_eq!(locked.details(), wrong_password.details(), "the same error details");
}

async fn r39_ten_failures_lock_the_credential_for_thirty_minutes(database: DatabaseKind) {
    let running = start(database).await;
    let wrong_password = running.refused("alice", WRONG).await;
    for _ in 1..10 {
        running.refused("alice", WRONG).await;
    }
    // Locked: the right password gets the wrong password's answer.
    let locked = running.refused("alice", PASSWORD).await;
    assert_same_answer(&locked, &wrong_password);

    running.clock.advance(Duration::minutes(29) + Duration::seconds(59));
    let still_locked = running.refused("alice", PASSWORD).await;
    assert_same_answer(&still_locked, &wrong_password);

    running.clock.advance(Duration::seconds(2));
    running.login("alice", PASSWORD).await.expect("at +30:01 the lock is over");

    let reasons = running.failure_reasons().await;
    assert_eq!(reasons.len(), 12, "{reasons:?}");
    assert_eq!(count(&reasons, "WRONG_PASSWORD"), 10, "{reasons:?}");
    assert_eq!(count(&reasons, "CREDENTIAL_LOCKED"), 2, "{reasons:?}");
}

async fn r39_a_success_resets_the_count(database: DatabaseKind) {
    let running = start(database).await;
    for _ in 0..9 {
        running.refused("alice", WRONG).await;
    }
    running.login("alice", PASSWORD).await.expect("the tenth attempt runs, and succeeds");
    for _ in 0..9 {
        running.refused("alice", WRONG).await;
    }
    running.login("alice", PASSWORD).await.expect("9 failures after a success do not lock");
    let reasons = running.failure_reasons().await;
    assert_eq!((reasons.len(), count(&reasons, "WRONG_PASSWORD")), (18, 18), "{reasons:?}");
}

async fn r39_case_variants_of_a_login_share_one_counter(database: DatabaseKind) {
    let running = start(database).await;
    for _ in 0..5 {
        running.refused("Alice", WRONG).await;
        running.refused("ALICE", WRONG).await;
    }
    let wrong_password = running.refused("aLiCe", WRONG).await;
    for variant in ["alice", "Alice", "ALICE"] {
        let locked = running.refused(variant, PASSWORD).await;
        assert_same_answer(&locked, &wrong_password);
    }
    let reasons = running.failure_reasons().await;
    assert_eq!(count(&reasons, "WRONG_PASSWORD"), 10, "{reasons:?}");
    assert_eq!(count(&reasons, "CREDENTIAL_LOCKED"), 4, "{reasons:?}");
}

async fn r39_fifty_parallel_wrong_attempts_run_only_ten_verifications(database: DatabaseKind) {
    let running = Arc::new(start(database).await);
    let attempts: Vec<_> = (0..50)
        .map(|_| {
            let running = running.clone();
            tokio::spawn(async move { running.login("alice", WRONG).await })
        })
        .collect();
    for attempt in attempts {
        let status = attempt.await.unwrap().expect_err("a wrong password never logs in");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert_eq!(roster_e2e::status::reason(&status), "INVALID_CREDENTIALS");
    }
    let reasons = running.failure_reasons().await;
    assert_eq!(reasons.len(), 50, "every attempt is audited: {reasons:?}");
    // Later attempts waited for the first ten to fail, then were refused
    // as locked without touching the real hash.
    assert_eq!(count(&reasons, "WRONG_PASSWORD"), 10, "verifications of the real hash: {reasons:?}");
    assert_eq!(count(&reasons, "CREDENTIAL_LOCKED"), 40, "{reasons:?}");
    // All 50 counted: the credential is locked now.
    running.refused("alice", PASSWORD).await;
}

/// More correct logins at once than the limit: none is refused as locked
/// (they wait for the ones in flight, whose success resets the count).
async fn r39_racing_correct_logins_are_not_refused_as_locked(database: DatabaseKind) {
    let running = Arc::new(start(database).await);
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let running = running.clone();
            tokio::spawn(async move { running.login("alice", PASSWORD).await })
        })
        .collect();
    for attempt in attempts {
        attempt.await.unwrap().expect("a correct login is never refused as locked");
    }
    let reasons = running.failure_reasons().await;
    assert!(reasons.is_empty(), "{reasons:?}");
}

mod sqlite {
    use roster_e2e::DatabaseKind::Sqlite;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r39_ten_failures_lock_the_credential_for_thirty_minutes() {
        super::r39_ten_failures_lock_the_credential_for_thirty_minutes(Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r39_a_success_resets_the_count() {
        super::r39_a_success_resets_the_count(Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r39_case_variants_of_a_login_share_one_counter() {
        super::r39_case_variants_of_a_login_share_one_counter(Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r39_fifty_parallel_wrong_attempts_run_only_ten_verifications() {
        super::r39_fifty_parallel_wrong_attempts_run_only_ten_verifications(Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r39_racing_correct_logins_are_not_refused_as_locked() {
        super::r39_racing_correct_logins_are_not_refused_as_locked(Sqlite).await;
    }
}

mod postgres {
    use roster_e2e::DatabaseKind::Postgres;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r39_ten_failures_lock_the_credential_for_thirty_minutes() {
        super::r39_ten_failures_lock_the_credential_for_thirty_minutes(Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r39_fifty_parallel_wrong_attempts_run_only_ten_verifications() {
        super::r39_fifty_parallel_wrong_attempts_run_only_ten_verifications(Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r39_racing_correct_logins_are_not_refused_as_locked() {
        super::r39_racing_correct_logins_are_not_refused_as_locked(Postgres).await;
    }
}
