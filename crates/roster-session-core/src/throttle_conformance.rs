//! The one conformance suite every [`LoginThrottle`] must pass (R39,
//! per-source throttling).
//!
//! Each check is a public async function taking a factory that builds a
//! fresh, isolated throttle for a policy; the
//! [`login_throttle_conformance_suite!`](crate::login_throttle_conformance_suite)
//! macro turns all of them into `#[tokio::test]`s, so every implementation
//! runs exactly the same checks:
//!
//! ```text
//! mod throttle_conformance {
//!     roster_session_core::login_throttle_conformance_suite!(|policy| async move { my_throttle(policy).await });
//! }
//! ```
//!
//! Time never passes for real: every check passes explicit `now` values from
//! a fixed base aligned on the one-minute windows of the checks' policy.
//!
//! Compiled for this crate's tests and, for other crates, with the
//! `conformance` feature.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

use crate::throttle::{LoginThrottle, ThrottleDecision, ThrottlePolicy};

/// Generates one `#[tokio::test]` per conformance check for the throttles
/// made by `$factory`: an expression callable with a [`ThrottlePolicy`] that
/// returns a future of a fresh, isolated throttle deciding by that policy,
/// e.g. `|policy| async move { ... }`. The calling crate needs `tokio` (with
/// `macros` and `rt-multi-thread`) among its (dev-)dependencies.
#[macro_export]
macro_rules! login_throttle_conformance_suite {
    ($factory:expr) => {
        $crate::login_throttle_conformance_suite!(@checks $factory;
            r39_fresh_sources_are_allowed,
            r39_failures_up_to_slow_after_pass_then_each_further_failure_slows_more,
            r39_refuse_after_failures_refuse_the_source_exactly_until_retry_after,
            r39_failures_of_the_previous_window_count_in_proportion,
            r39_a_burst_at_the_end_of_a_window_is_not_forgiven_at_the_boundary,
            r39_failures_are_forgotten_two_windows_later,
            r39_sources_are_counted_apart,
            r39_checks_count_nothing,
            r39_concurrent_failures_are_all_counted,
        );
    };
    (@checks $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let factory = $factory;
                $crate::throttle_conformance::$check(factory).await;
            }
        )*
    };
}

/// Builds a fresh, isolated throttle for a policy; implemented for every
/// `Fn(ThrottlePolicy) -> impl Future<Output = impl LoginThrottle>`.
pub trait ThrottleFactory {
    type Throttle: LoginThrottle + 'static;
    type Made: Future<Output = Self::Throttle>;

    fn make(&self, policy: ThrottlePolicy) -> Self::Made;
}

impl<F, Made, Throttle> ThrottleFactory for F
where
    F: Fn(ThrottlePolicy) -> Made,
    Made: Future<Output = Throttle>,
    Throttle: LoginThrottle + 'static,
{
    type Throttle = Throttle;
    type Made = Made;

    fn make(&self, policy: ThrottlePolicy) -> Made {
        self(policy)
    }
}

const WINDOW_MS: i64 = 60_000;

/// The checks' policy: one-minute windows, slowed from 3 failures, refused
/// from 6, 100 ms per failure beyond 3.
fn small_policy() -> ThrottlePolicy {
    ThrottlePolicy::new(Duration::milliseconds(WINDOW_MS), 3, 6, StdDuration::from_millis(100))
        .expect("the checks' policy is valid")
}

/// A fixed instant the checks count from: 2030-01-01, the start of a window.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_893_456_000_000).expect("2030-01-01 is a valid instant")
}

fn after(millis: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(millis)
}

fn delay(millis: u64) -> ThrottleDecision {
    ThrottleDecision::Delay(StdDuration::from_millis(millis))
}

fn refuse(retry_after_ms: i64) -> ThrottleDecision {
    ThrottleDecision::Refuse { retry_after: Duration::milliseconds(retry_after_ms) }
}

async fn check(throttle: &dyn LoginThrottle, source: &str, now: DateTime<Utc>) -> ThrottleDecision {
    throttle.check(source, now).await.expect("check")
}

async fn fail(throttle: &dyn LoginThrottle, source: &str, now: DateTime<Utc>, times: usize) {
    for _ in 0..times {
        throttle.record_failure(source, now).await.expect("record a failure");
    }
}

fn assert_refused(decision: ThrottleDecision, context: &str) {
    assert!(matches!(decision, ThrottleDecision::Refuse { .. }), "{context}: expected a refusal, got {decision:?}");
}

/// A source never seen is allowed at once.
pub async fn r39_fresh_sources_are_allowed(factory: impl ThrottleFactory) {
    let throttle = factory.make(small_policy()).await;
    assert_eq!(check(&throttle, "ipv4:192.0.2.1", t0()).await, ThrottleDecision::Allow);
}

/// Up to `slow_after` failures pass at once; from there every failure adds
/// `delay_per_failure`; `refuse_after` failures refuse.
pub async fn r39_failures_up_to_slow_after_pass_then_each_further_failure_slows_more(factory: impl ThrottleFactory) {
    let throttle = factory.make(small_policy()).await;
    let source = "ipv4:192.0.2.1";
    let expected = [ThrottleDecision::Allow, ThrottleDecision::Allow, ThrottleDecision::Allow, delay(100), delay(200)];
    for (failures, expected) in expected.into_iter().enumerate() {
        assert_eq!(check(&throttle, source, after(10)).await, expected, "after {failures} failures");
        fail(&throttle, source, after(10), 1).await;
    }
    assert_eq!(check(&throttle, source, after(10)).await, delay(300), "after 5 failures");
    fail(&throttle, source, after(10), 1).await;
    assert_refused(check(&throttle, source, after(10)).await, "after 6 failures");
}

/// A refused source stays refused for exactly `retry_after` (if it fails no
/// more), then is slowed while its old failures decay.
pub async fn r39_refuse_after_failures_refuse_the_source_exactly_until_retry_after(factory: impl ThrottleFactory) {
    let throttle = factory.make(small_policy()).await;
    let source = "ipv4:192.0.2.1";
    fail(&throttle, source, t0(), 6).await;

    // All six in this window: refused to its end, then until their weight in
    // the sliding window drops below six, one millisecond later.
    assert_eq!(check(&throttle, source, t0()).await, refuse(WINDOW_MS + 1));
    assert_eq!(check(&throttle, source, after(30_000)).await, refuse(30_001));
    assert_eq!(check(&throttle, source, after(WINDOW_MS)).await, refuse(1));
    assert_eq!(check(&throttle, source, after(WINDOW_MS + 1)).await, delay(300));
}

/// Failures of the previous window weigh as much as that window still
/// overlaps the sliding window ending at `now`.
pub async fn r39_failures_of_the_previous_window_count_in_proportion(factory: impl ThrottleFactory) {
    let throttle = factory.make(small_policy()).await;
    let source = "ipv4:192.0.2.1";
    fail(&throttle, source, after(1_000), 4).await;
    fail(&throttle, source, after(WINDOW_MS), 3).await;

    // 4 * (60 - e) / 60 + 3 >= 6 until e passes 15 seconds.
    assert_eq!(check(&throttle, source, after(WINDOW_MS)).await, refuse(15_001));
    assert_eq!(check(&throttle, source, after(WINDOW_MS + 15_000)).await, refuse(1));
    assert_eq!(check(&throttle, source, after(WINDOW_MS + 15_001)).await, delay(300));
    // Half the previous window left: 4 weigh 2, plus 3.
    assert_eq!(check(&throttle, source, after(WINDOW_MS + 30_000)).await, delay(300));
    // The previous window gone: the 3 failures of this one remain.
    assert_eq!(check(&throttle, source, after(2 * WINDOW_MS - 1)).await, delay(100));
}

/// Unlike a fixed window, a burst just before a window boundary still
/// counts just after it.
pub async fn r39_a_burst_at_the_end_of_a_window_is_not_forgiven_at_the_boundary(factory: impl ThrottleFactory) {
    let throttle = factory.make(small_policy()).await;
    let source = "ipv4:192.0.2.1";
    fail(&throttle, source, after(WINDOW_MS - 1), 6).await;
    assert_refused(check(&throttle, source, after(WINDOW_MS)).await, "just after the boundary");
    fail(&throttle, source, after(WINDOW_MS + 1), 1).await;
    // 6 * 50 / 60 + 1 = 6: still at the limit a sixth of a window later.
    assert_refused(check(&throttle, source, after(WINDOW_MS + 10_000)).await, "with one more failure");
}

/// Two windows after its last failure, a source starts afresh.
pub async fn r39_failures_are_forgotten_two_windows_later(factory: impl ThrottleFactory) {
    let throttle = factory.make(small_policy()).await;
    let source = "ipv4:192.0.2.1";
    fail(&throttle, source, after(WINDOW_MS - 1), 10).await;
    assert_eq!(check(&throttle, source, after(2 * WINDOW_MS)).await, ThrottleDecision::Allow);
    fail(&throttle, source, after(2 * WINDOW_MS), 2).await;
    assert_eq!(check(&throttle, source, after(2 * WINDOW_MS)).await, ThrottleDecision::Allow);
    fail(&throttle, source, after(2 * WINDOW_MS), 1).await;
    assert_eq!(check(&throttle, source, after(2 * WINDOW_MS)).await, delay(100));
}

/// One source's failures never slow or refuse another, however alike their
/// names.
pub async fn r39_sources_are_counted_apart(factory: impl ThrottleFactory) {
    let throttle = factory.make(small_policy()).await;
    fail(&throttle, "ipv4:192.0.2.1", t0(), 6).await;
    fail(&throttle, "ipv6:2001:db8:1:2::/64", t0(), 3).await;

    assert_refused(check(&throttle, "ipv4:192.0.2.1", t0()).await, "the failing source");
    assert_eq!(check(&throttle, "ipv4:192.0.2.10", t0()).await, ThrottleDecision::Allow);
    assert_eq!(check(&throttle, "ipv4:192.0.2.", t0()).await, ThrottleDecision::Allow);
    assert_eq!(check(&throttle, "ipv6:2001:db8:1:2::/64", t0()).await, delay(100));
    assert_eq!(check(&throttle, "ipv6:2001:db8:1:3::/64", t0()).await, ThrottleDecision::Allow);
    assert_eq!(check(&throttle, "unknown", t0()).await, ThrottleDecision::Allow);
}

/// Checking is free: only recorded failures count.
pub async fn r39_checks_count_nothing(factory: impl ThrottleFactory) {
    let throttle = factory.make(small_policy()).await;
    let source = "ipv4:192.0.2.1";
    for _ in 0..100 {
        assert_eq!(check(&throttle, source, t0()).await, ThrottleDecision::Allow);
    }
    fail(&throttle, source, t0(), 2).await;
    assert_eq!(check(&throttle, source, t0()).await, ThrottleDecision::Allow);
    fail(&throttle, source, t0(), 1).await;
    assert_eq!(check(&throttle, source, t0()).await, delay(100));
}

/// Failures recorded concurrently are all counted: none is lost to a race.
pub async fn r39_concurrent_failures_are_all_counted(factory: impl ThrottleFactory) {
    const RACERS: u32 = 200;
    let policy = ThrottlePolicy::new(Duration::milliseconds(WINDOW_MS), RACERS, RACERS, StdDuration::ZERO)
        .expect("a valid policy");
    let throttle: Arc<dyn LoginThrottle> = Arc::new(factory.make(policy).await);
    let source = "ipv4:192.0.2.1";
    let mut racers = Vec::new();
    for _ in 0..RACERS - 1 {
        let throttle = Arc::clone(&throttle);
        racers.push(tokio::spawn(async move { throttle.record_failure(source, t0()).await }));
    }
    for racer in racers {
        racer.await.expect("racing failure task").expect("record a failure");
    }
    assert_eq!(check(throttle.as_ref(), source, t0()).await, ThrottleDecision::Allow, "one failure short");
    fail(throttle.as_ref(), source, t0(), 1).await;
    assert_refused(check(throttle.as_ref(), source, t0()).await, "every racing failure counted");
}
