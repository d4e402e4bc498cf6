//! Per-credential lockout (R39): reservations count atomically, lock at the
//! limit, expire, and a success resets them; attempts in flight at the limit
//! make others wait instead of failing.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use roster_directory_store::SeaDirectoryStore;
use roster_domain::audit::AuditOutcome;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::lockout::{AttemptReservation, LockoutPolicy};
use roster_domain::repository::{CredentialRepository, LoginAttempt};
use roster_domain::ErrorCode;

use crate::common::backends::TestDatabase;
use crate::common::directory::{create_user, sign_up, Tenant};
use crate::common::fixtures::{context, query};

/// A whole second, so that what the store keeps equals what the test expects.
fn start() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// The lockout columns of a user, read raw.
#[derive(Debug, PartialEq, Eq)]
struct Columns {
    failed: i32,
    pending: i32,
    locked: bool,
}

async fn lockout_columns(store: &SeaDirectoryStore, user_id: UserId) -> Columns {
    let rows = query(
        store,
        &format!(
            "SELECT failed_login_count, pending_logins, locked_until IS NOT NULL AS locked \
             FROM users WHERE id = '{user_id}'"
        ),
    )
    .await;
    Columns {
        failed: rows[0].try_get("", "failed_login_count").unwrap(),
        pending: rows[0].try_get("", "pending_logins").unwrap(),
        locked: rows[0].try_get("", "locked").unwrap(),
    }
}

fn columns(failed: i32, pending: i32, locked: bool) -> Columns {
    Columns { failed, pending, locked }
}

async fn reserve(
    store: &SeaDirectoryStore,
    account_id: AccountId,
    user_id: UserId,
    now: DateTime<Utc>,
) -> AttemptReservation {
    store.reserve_login_attempt(account_id, user_id, now, LockoutPolicy::default()).await.unwrap()
}

/// One allowed attempt that fails: reserved, then released.
async fn fail_once(store: &SeaDirectoryStore, tenant: &Tenant, user_id: UserId, now: DateTime<Utc>) {
    assert_eq!(reserve(store, tenant.account.id, user_id, now).await, AttemptReservation::Allowed);
    store.release_login_attempt(tenant.account.id, user_id).await.unwrap();
}

fn login_of(tenant: &Tenant, user_id: UserId, outcome: AuditOutcome) -> LoginAttempt {
    let reason = (outcome == AuditOutcome::Failure).then_some("WRONG_PASSWORD");
    LoginAttempt {
        account_id: Some(tenant.account.id),
        user_id: Some(user_id),
        login_name: "pat".into(),
        outcome,
        reason,
    }
}

pub async fn r39_reservations_count_and_lock_at_the_tenth(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let pat = create_user(&store, &acme, "pat").await;
    let now = start();
    assert_eq!(lockout_columns(&store, pat).await, columns(0, 0, false), "a new user starts unlocked");

    assert_eq!(reserve(&store, acme.account.id, pat, now).await, AttemptReservation::Allowed);
    assert_eq!(lockout_columns(&store, pat).await, columns(1, 1, false), "counted before the password check");
    store.release_login_attempt(acme.account.id, pat).await.unwrap();
    assert_eq!(lockout_columns(&store, pat).await, columns(1, 0, false), "a failure stays counted");
    for attempt in 2..=9 {
        fail_once(&store, &acme, pat, now).await;
        assert_eq!(lockout_columns(&store, pat).await, columns(attempt, 0, false));
    }
    // The tenth still runs, and locks.
    fail_once(&store, &acme, pat, now).await;
    assert_eq!(lockout_columns(&store, pat).await, columns(10, 0, true));
    let until = now + Duration::minutes(30);
    assert_eq!(reserve(&store, acme.account.id, pat, now).await, AttemptReservation::Locked { until });
    let almost = now + Duration::minutes(29) + Duration::seconds(59);
    assert_eq!(reserve(&store, acme.account.id, pat, almost).await, AttemptReservation::Locked { until });
    assert_eq!(lockout_columns(&store, pat).await, columns(10, 0, true), "a refused attempt changes nothing");

    // Another user of the account is not affected.
    let sam = create_user(&store, &acme, "sam").await;
    assert_eq!(reserve(&store, acme.account.id, sam, now).await, AttemptReservation::Allowed);
}

pub async fn r39_an_expired_lock_starts_the_count_again(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let pat = create_user(&store, &acme, "pat").await;
    let now = start();
    for _ in 0..10 {
        fail_once(&store, &acme, pat, now).await;
    }
    let after = now + Duration::minutes(30) + Duration::seconds(1);
    assert_eq!(reserve(&store, acme.account.id, pat, after).await, AttemptReservation::Allowed);
    assert_eq!(lockout_columns(&store, pat).await, columns(1, 1, false), "the expired lock is gone, this counts");
    store.release_login_attempt(acme.account.id, pat).await.unwrap();
    for _ in 0..9 {
        fail_once(&store, &acme, pat, after).await;
    }
    assert_eq!(
        reserve(&store, acme.account.id, pat, after).await,
        AttemptReservation::Locked { until: after + Duration::minutes(30) },
        "ten more failures lock again, from the time of the tenth"
    );
}

pub async fn r39_a_successful_login_resets_the_count_and_the_lock(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let pat = create_user(&store, &acme, "pat").await;
    let now = start();
    for _ in 0..9 {
        fail_once(&store, &acme, pat, now).await;
    }
    // Recording a failure leaves the count alone; recording a success
    // clears it.
    store.record_login(&login_of(&acme, pat, AuditOutcome::Failure), &context()).await.unwrap();
    assert_eq!(lockout_columns(&store, pat).await, columns(9, 0, false));
    assert_eq!(reserve(&store, acme.account.id, pat, now).await, AttemptReservation::Allowed);
    store.record_login(&login_of(&acme, pat, AuditOutcome::Success), &context()).await.unwrap();
    assert_eq!(lockout_columns(&store, pat).await, columns(0, 0, false));

    // The attempt that locks may itself succeed: the lock goes with it.
    for _ in 0..9 {
        fail_once(&store, &acme, pat, now).await;
    }
    assert_eq!(reserve(&store, acme.account.id, pat, now).await, AttemptReservation::Allowed);
    assert_eq!(lockout_columns(&store, pat).await, columns(10, 1, true));
    store.record_login(&login_of(&acme, pat, AuditOutcome::Success), &context()).await.unwrap();
    assert_eq!(lockout_columns(&store, pat).await, columns(0, 0, false));
    assert_eq!(reserve(&store, acme.account.id, pat, now).await, AttemptReservation::Allowed);
}

pub async fn r39_reserving_for_a_missing_user_is_not_found(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let pat = create_user(&store, &acme, "pat").await;
    let policy = LockoutPolicy::default();
    for (account_id, user_id) in [(acme.account.id, UserId::generate()), (globex.account.id, pat)] {
        let error = store.reserve_login_attempt(account_id, user_id, start(), policy).await.unwrap_err();
        assert_eq!((error.code(), error.reason()), (ErrorCode::NotFound, "USER_NOT_FOUND"), "{error}");
        store.release_login_attempt(account_id, user_id).await.expect("releasing a missing user is no error");
    }
    assert_eq!(lockout_columns(&store, pat).await, columns(0, 0, false), "nothing was counted");
    store.release_login_attempt(acme.account.id, pat).await.unwrap();
    assert_eq!(lockout_columns(&store, pat).await, columns(0, 0, false), "never below zero");
}

/// 50 reservations at once: exactly 10 run; the others wait for them.
async fn reserve_fifty_at_once(store: &SeaDirectoryStore, tenant: &Tenant, user_id: UserId, now: DateTime<Utc>) {
    let attempts: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            let account_id = tenant.account.id;
            tokio::spawn(async move { reserve(&store, account_id, user_id, now).await })
        })
        .collect();
    let (mut allowed, mut settling) = (0, 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            AttemptReservation::Allowed => allowed += 1,
            AttemptReservation::Settling { until } => {
                assert_eq!(until, now + Duration::minutes(30));
                settling += 1;
            }
            locked => panic!("nothing has failed yet, so nothing is locked: {locked:?}"),
        }
    }
    assert_eq!((allowed, settling), (10, 40));
    assert_eq!(lockout_columns(store, user_id).await, columns(10, 10, true));
}

pub async fn r39_fifty_concurrent_reservations_allow_exactly_ten(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let pat = create_user(&store, &acme, "pat").await;
    let now = start();
    reserve_fifty_at_once(&store, &acme, pat, now).await;
    // Nine of the ten fail: the tenth might still succeed, so others wait.
    for _ in 0..9 {
        store.release_login_attempt(acme.account.id, pat).await.unwrap();
    }
    let until = now + Duration::minutes(30);
    assert_eq!(reserve(&store, acme.account.id, pat, now).await, AttemptReservation::Settling { until });
    // It fails too: the lock is final.
    store.release_login_attempt(acme.account.id, pat).await.unwrap();
    assert_eq!(reserve(&store, acme.account.id, pat, now).await, AttemptReservation::Locked { until });
    assert_eq!(lockout_columns(&store, pat).await, columns(10, 0, true));
}

pub async fn r39_a_success_in_flight_lets_waiting_attempts_run(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let pat = create_user(&store, &acme, "pat").await;
    let now = start();
    reserve_fifty_at_once(&store, &acme, pat, now).await;
    store.record_login(&login_of(&acme, pat, AuditOutcome::Success), &context()).await.unwrap();
    assert_eq!(lockout_columns(&store, pat).await, columns(0, 9, false), "nine still in flight");
    assert_eq!(reserve(&store, acme.account.id, pat, now).await, AttemptReservation::Allowed);
}
