//! The login throttle conformance suite against a real Redis (R39), and
//! what only the Redis throttle has: its key layout and its garbage
//! collection. Each test gets its own key prefix; the tests fail when Redis
//! is not reachable.

mod common;

use std::time::Duration as StdDuration;

use chrono::Duration;
use common::{now_in_millis, raw_connection};
use roster_session_core::throttle::source_digest;
use roster_session_core::{LoginThrottle, SessionStoreError, ThrottleDecision, ThrottlePolicy};
use roster_session_redis::{RedisLoginThrottle, RedisSessionStore};

/// A throttle over the test Redis with its own key prefix, deciding by
/// `policy`. Panics — failing the test, never skipping it — when that Redis
/// cannot be reached.
async fn fresh_throttle(policy: ThrottlePolicy) -> RedisLoginThrottle {
    let url = common::test_redis_url();
    match RedisLoginThrottle::connect(&url, &common::unique_key_prefix(), policy).await {
        Ok(throttle) => throttle,
        Err(error) => panic!(
            "the Redis login throttle tests need a running Redis at {url} \
             (set ROSTER_TEST_REDIS_URL to use another one): {error}"
        ),
    }
}

mod conformance {
    roster_session_core::login_throttle_conformance_suite!(|policy| super::fresh_throttle(policy));
}

#[tokio::test]
async fn counters_are_one_key_per_source_and_window_tagged_by_the_source_digest_and_collected_later() {
    let policy = ThrottlePolicy::default();
    let throttle = fresh_throttle(policy).await;
    let now = now_in_millis();
    let source = "ipv4:203.0.113.7";
    for _ in 0..3 {
        throttle.record_failure(source, now).await.unwrap();
    }

    let mut raw = raw_connection().await;
    let prefix = throttle.counter_key(source, 0).split("throttle:").next().unwrap().to_owned();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut raw).await.unwrap();
    let window_start = policy.window_start_millis(now);
    let expected_key = format!("{prefix}throttle:{{{}}}:{window_start}", source_digest(source));
    assert_eq!(keys, vec![expected_key.clone()]);
    assert!(!expected_key.contains("203.0.113.7"), "the address itself is not in the key name");

    let count: u64 = redis::cmd("GET").arg(&expected_key).query_async(&mut raw).await.unwrap();
    assert_eq!(count, 3);
    // Garbage collection only: the counter lives until the next window ends,
    // and not much longer.
    let ttl: i64 = redis::cmd("PTTL").arg(&expected_key).query_async(&mut raw).await.unwrap();
    let needed = window_start + 2 * policy.window().num_milliseconds() - now.timestamp_millis();
    assert!(ttl >= needed, "ttl {ttl} ms shorter than the {needed} ms the counter is needed");
    assert!(ttl <= needed + 11 * 60 * 1000, "ttl {ttl} ms keeps the counter far too long");
}

#[tokio::test]
async fn a_throttle_sharing_the_store_connection_counts_under_the_store_prefix() {
    let prefix = common::unique_key_prefix();
    let store = RedisSessionStore::connect(&common::test_redis_url(), &prefix).await.unwrap();
    let policy = ThrottlePolicy::new(Duration::minutes(1), 1, 2, StdDuration::from_millis(5)).unwrap();
    let shared = RedisLoginThrottle::sharing_connection_of(&store, policy);
    let separate = RedisLoginThrottle::connect(&common::test_redis_url(), &prefix, policy).await.unwrap();
    let now = now_in_millis();

    shared.record_failure("ipv4:192.0.2.1", now).await.unwrap();
    assert_eq!(
        separate.check("ipv4:192.0.2.1", now).await.unwrap(),
        ThrottleDecision::Delay(StdDuration::from_millis(5))
    );
    separate.record_failure("ipv4:192.0.2.1", now).await.unwrap();
    assert!(matches!(shared.check("ipv4:192.0.2.1", now).await.unwrap(), ThrottleDecision::Refuse { .. }));
    assert!(shared.counter_key("ipv4:192.0.2.1", 0).starts_with(&format!("{prefix}throttle:{{")));
}

#[tokio::test]
async fn a_counter_that_is_not_a_number_is_corrupt_not_zero() {
    let throttle = fresh_throttle(ThrottlePolicy::default()).await;
    let now = now_in_millis();
    let key = throttle.counter_key("ipv4:192.0.2.1", ThrottlePolicy::default().window_start_millis(now));
    let mut raw = raw_connection().await;
    let _: () = redis::cmd("SET").arg(&key).arg("many").query_async(&mut raw).await.unwrap();

    let error = throttle.check("ipv4:192.0.2.1", now).await.unwrap_err();
    assert!(matches!(error, SessionStoreError::Corrupt(_)), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_and_closed() {
    let unused_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://:secret-password@127.0.0.1:{unused_port}");
    let error = RedisLoginThrottle::connect(&url, "p:", ThrottlePolicy::default()).await.unwrap_err();
    assert!(matches!(error, SessionStoreError::Unavailable(_)), "{error:?}");
    assert!(!error.to_string().contains("secret-password"));
}

#[tokio::test]
async fn debug_output_names_the_prefix_and_policy_but_no_connection_details() {
    let throttle = fresh_throttle(ThrottlePolicy::default()).await;
    let printed = format!("{throttle:?}");
    assert!(printed.starts_with("RedisLoginThrottle { key_prefix: \"roster-test:"), "{printed}");
    assert!(!printed.contains("redis://"), "{printed}");
}
