//! Per-source login throttling (R39): one client address trying many
//! logins is slowed, then refused, even when no single credential reaches
//! its own lockout limit.
//!
//! # Counting
//!
//! Failed logins are counted per source in fixed, epoch-aligned windows
//! (every replica computes the same window from `now`), and the two most
//! recent windows are combined into a *sliding-window estimate*: the current
//! window's failures plus the previous window's, weighted by how much of the
//! previous window still lies inside the sliding window ending at `now`:
//!
//! ```text
//! estimate = previous * (window - elapsed) / window + current
//! ```
//!
//! Two counters per source cost constant memory (unlike a log of failure
//! times), and, unlike a single fixed window, a burst split across a window
//! boundary is not forgiven. Stores only keep the counters;
//! [`ThrottlePolicy::decide`] turns them into a [`ThrottleDecision`], so every
//! store decides exactly alike.
//!
//! # Sources
//!
//! [`source_of_client_address`] names the source of a login: an IPv4 address
//! on its own, an IPv6 address by its /64 (one host usually owns a whole /64,
//! so rotating addresses inside it gains nothing).
//!
//! Time is always passed in (`now`), never read from a clock inside.

use std::fmt::Debug;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::store::SessionStoreError;

/// The longest a login is ever slowed, however many failures its source has.
/// Slowed logins hold a connection while they wait; the cap bounds that.
pub const MAXIMUM_DELAY: StdDuration = StdDuration::from_secs(2);

/// The longest window a policy may have; longer windows would keep counters
/// (and Redis keys) for days.
const MAXIMUM_WINDOW: Duration = Duration::days(1);

/// What a source may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Few recent failures: proceed at once.
    Allow,
    /// Many recent failures: wait this long, then proceed.
    Delay(StdDuration),
    /// Too many recent failures: refuse without checking the credentials.
    /// The source is refused for at least `retry_after` unless it fails no
    /// more (refused attempts are not failures: they never reach a password).
    Refuse { retry_after: Duration },
}

/// A [`ThrottlePolicy`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid login throttle policy: {0}")]
pub struct InvalidThrottlePolicy(&'static str);

/// How many failures a source may have within one sliding window before it
/// is slowed, and before it is refused. Built by [`ThrottlePolicy::new`], so
/// a policy that exists is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    window: Duration,
    slow_after: u32,
    refuse_after: u32,
    delay_per_failure: StdDuration,
}

impl Default for ThrottlePolicy {
    /// Five minutes; slowed from 20 failures, refused from 50; 100 ms of
    /// delay per failure beyond 20 (capped at [`MAXIMUM_DELAY`]).
    fn default() -> Self {
        Self {
            window: Duration::minutes(5),
            slow_after: 20,
            refuse_after: 50,
            delay_per_failure: StdDuration::from_millis(100),
        }
    }
}

/// The failures a store counted for one source in the two windows that
/// matter at `now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts {
    /// Failures in the window before the one `now` falls in.
    pub previous_window: u64,
    /// Failures in the window `now` falls in.
    pub current_window: u64,
}

impl ThrottlePolicy {
    /// A source is slowed once its estimate reaches `slow_after` failures and
    /// refused once it reaches `refuse_after`. Needs a window of whole
    /// milliseconds between one second and one day, and
    /// `1 <= slow_after <= refuse_after` (equal values: never slowed, only
    /// refused).
    pub fn new(
        window: Duration,
        slow_after: u32,
        refuse_after: u32,
        delay_per_failure: StdDuration,
    ) -> Result<Self, InvalidThrottlePolicy> {
        if window < Duration::seconds(1) || window > MAXIMUM_WINDOW {
            return Err(InvalidThrottlePolicy("the window must last between one second and one day"));
        }
        if window.subsec_nanos() % 1_000_000 != 0 {
            return Err(InvalidThrottlePolicy("the window must be whole milliseconds"));
        }
        if slow_after == 0 {
            return Err(InvalidThrottlePolicy("slow_after must be at least 1"));
        }
        if slow_after > refuse_after {
            return Err(InvalidThrottlePolicy("slow_after must not exceed refuse_after"));
        }
        Ok(Self { window, slow_after, refuse_after, delay_per_failure })
    }

    /// The length of one counting window.
    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn slow_after(&self) -> u32 {
        self.slow_after
    }

    pub fn refuse_after(&self) -> u32 {
        self.refuse_after
    }

    pub fn delay_per_failure(&self) -> StdDuration {
        self.delay_per_failure
    }

    fn window_millis(&self) -> i64 {
        self.window.num_milliseconds()
    }

    /// The start, in Unix milliseconds, of the window `now` falls in. Windows
    /// are aligned on the Unix epoch, so every replica agrees on them.
    pub fn window_start_millis(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp_millis().div_euclid(self.window_millis()) * self.window_millis()
    }

    /// The start of the window before the one `now` falls in.
    pub fn previous_window_start_millis(&self, now: DateTime<Utc>) -> i64 {
        self.window_start_millis(now) - self.window_millis()
    }

    /// What a source with `counts` may do at `now`.
    pub fn decide(&self, counts: FailureCounts, now: DateTime<Utc>) -> ThrottleDecision {
        // Everything in integer milliseconds, scaled by the window so the
        // weighting needs no division: weighted = estimate * window.
        let window = self.window_millis() as u128;
        let elapsed = (now.timestamp_millis() - self.window_start_millis(now)) as u128;
        let previous = u128::from(counts.previous_window);
        let current = u128::from(counts.current_window);
        let refuse_after = u128::from(self.refuse_after);
        let weighted = previous * (window - elapsed) + current * window;
        if weighted >= refuse_after * window {
            let wait = Self::refusal_millis(window, elapsed, previous, current, refuse_after);
            return ThrottleDecision::Refuse { retry_after: Duration::milliseconds(wait as i64) };
        }
        let estimate = weighted / window;
        let slow_after = u128::from(self.slow_after);
        if estimate < slow_after {
            return ThrottleDecision::Allow;
        }
        let failures_beyond = (estimate - slow_after + 1).min(u128::from(u32::MAX)) as u32;
        ThrottleDecision::Delay(self.delay_per_failure.saturating_mul(failures_beyond).min(MAXIMUM_DELAY))
    }

    /// How long, in milliseconds from `elapsed`, until a refused source's
    /// weighted count drops below `refuse_after * window` if it fails no
    /// more: the earliest instant the refusal lifts.
    fn refusal_millis(window: u128, elapsed: u128, previous: u128, current: u128, refuse_after: u128) -> u128 {
        if current >= refuse_after {
            // Refused for the rest of this window; in the next one the
            // current count becomes the previous one and decays until
            // current * (window - e) < refuse_after * window.
            let allowed_remaining = (refuse_after * window).div_ceil(current) - 1;
            return (window - elapsed) + (window - allowed_remaining);
        }
        // The previous window's share decays within this window until
        // previous * (window - e) < (refuse_after - current) * window.
        let allowed_remaining = ((refuse_after - current) * window).div_ceil(previous) - 1;
        (window - allowed_remaining) - elapsed
    }
}

/// The source a login comes from, for throttling: `ipv4:<address>`, or
/// `ipv6:<first 64 bits>::/64`. An IPv4-mapped IPv6 address counts as its
/// IPv4 address. An empty or unparseable address is `unknown` (the gRPC
/// layer fills in the peer's address, so only in-memory transports lack one;
/// they all share one source).
pub fn source_of_client_address(client_address: &str) -> String {
    match client_address.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(address)) => format!("ipv4:{address}"),
        Ok(IpAddr::V6(address)) => match address.to_ipv4_mapped() {
            Some(mapped) => format!("ipv4:{mapped}"),
            None => {
                let network = Ipv6Addr::from(address.to_bits() & (u128::MAX << 64));
                format!("ipv6:{network}/64")
            }
        },
        Err(_) => "unknown".to_owned(),
    }
}

/// A fixed-length hex digest of a source, for stores that name keys after
/// sources: keeps addresses' varying length and characters out of key
/// names. Not anonymisation: IPv4 addresses are few enough to enumerate.
pub fn source_digest(source: &str) -> String {
    hex::encode(&Sha256::digest(source.as_bytes())[..16])
}

/// Counts failed logins per source where every broker replica sees them
/// ([`crate::throttle_conformance`] checks each implementation).
///
/// `check` and `record_failure` are separate steps: logins racing from one
/// source may all pass `check` before any failure is recorded, so a source
/// can exceed `refuse_after` by the number of its logins in flight (bounded
/// by the directory's hashing queue).
#[async_trait]
pub trait LoginThrottle: Send + Sync + Debug {
    /// What `source` may do at `now`. Counts nothing.
    async fn check(&self, source: &str, now: DateTime<Utc>) -> Result<ThrottleDecision, SessionStoreError>;

    /// Counts one failed login of `source` at `now`.
    async fn record_failure(&self, source: &str, now: DateTime<Utc>) -> Result<(), SessionStoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(window_seconds: i64, slow_after: u32, refuse_after: u32, delay_ms: u64) -> ThrottlePolicy {
        ThrottlePolicy::new(
            Duration::seconds(window_seconds),
            slow_after,
            refuse_after,
            StdDuration::from_millis(delay_ms),
        )
        .expect("a valid policy")
    }

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).expect("a valid instant")
    }

    fn counts(previous_window: u64, current_window: u64) -> FailureCounts {
        FailureCounts { previous_window, current_window }
    }

    /// The counts a store would hold at `later` for failures counted by
    /// `earlier`: a window boundary turns the current count into the
    /// previous one.
    fn aged(policy: &ThrottlePolicy, counts: FailureCounts, earlier: i64, later: i64) -> FailureCounts {
        let windows_passed = (policy.window_start_millis(at(later)) - policy.window_start_millis(at(earlier)))
            / policy.window().num_milliseconds();
        match windows_passed {
            0 => counts,
            1 => FailureCounts { previous_window: counts.current_window, current_window: 0 },
            _ => FailureCounts::default(),
        }
    }

    #[test]
    fn ipv4_addresses_count_alone_and_ipv6_addresses_by_their_64_bit_prefix() {
        assert_eq!(source_of_client_address("203.0.113.7"), "ipv4:203.0.113.7");
        assert_eq!(source_of_client_address("::ffff:203.0.113.7"), "ipv4:203.0.113.7");
        assert_eq!(source_of_client_address("2001:db8:1:2:aaaa::1"), "ipv6:2001:db8:1:2::/64");
        assert_eq!(source_of_client_address("2001:db8:1:2:ffff:1:2:3"), "ipv6:2001:db8:1:2::/64");
        assert_ne!(source_of_client_address("2001:db8:1:3::1"), source_of_client_address("2001:db8:1:2::1"));
        assert_eq!(source_of_client_address(""), "unknown");
        assert_eq!(source_of_client_address("not an address"), "unknown");
    }

    #[test]
    fn digests_are_fixed_length_hex_and_distinct_per_source() {
        let digest = source_digest("ipv4:203.0.113.7");
        assert_eq!(digest.len(), 32);
        assert!(digest.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(digest, source_digest("ipv4:203.0.113.8"));
    }

    #[test]
    fn policies_that_cannot_work_are_refused() {
        let delay = StdDuration::from_millis(100);
        assert!(ThrottlePolicy::new(Duration::milliseconds(999), 1, 2, delay).is_err());
        assert!(ThrottlePolicy::new(Duration::days(2), 1, 2, delay).is_err());
        assert!(ThrottlePolicy::new(Duration::microseconds(1_000_500), 1, 2, delay).is_err());
        assert!(ThrottlePolicy::new(Duration::seconds(60), 0, 2, delay).is_err());
        assert!(ThrottlePolicy::new(Duration::seconds(60), 3, 2, delay).is_err());
        assert!(ThrottlePolicy::new(Duration::seconds(60), 2, 2, delay).is_ok());
        let defaults = ThrottlePolicy::default();
        assert_eq!(
            ThrottlePolicy::new(
                defaults.window(),
                defaults.slow_after(),
                defaults.refuse_after(),
                defaults.delay_per_failure()
            ),
            Ok(defaults)
        );
    }

    #[test]
    fn windows_are_aligned_on_the_epoch() {
        let policy = policy(60, 3, 6, 100);
        assert_eq!(policy.window_start_millis(at(119_999)), 60_000);
        assert_eq!(policy.window_start_millis(at(120_000)), 120_000);
        assert_eq!(policy.previous_window_start_millis(at(120_000)), 60_000);
    }

    #[test]
    fn delays_grow_per_failure_beyond_slow_after_and_stop_at_the_cap() {
        let policy = policy(60, 3, 100, 300);
        let now = at(60_000);
        assert_eq!(policy.decide(counts(0, 2), now), ThrottleDecision::Allow);
        assert_eq!(policy.decide(counts(0, 3), now), ThrottleDecision::Delay(StdDuration::from_millis(300)));
        assert_eq!(policy.decide(counts(0, 5), now), ThrottleDecision::Delay(StdDuration::from_millis(900)));
        assert_eq!(policy.decide(counts(0, 99), now), ThrottleDecision::Delay(MAXIMUM_DELAY));
        let huge = ThrottlePolicy::new(Duration::seconds(60), 1, u32::MAX, StdDuration::MAX).unwrap();
        assert_eq!(huge.decide(counts(0, u64::from(u32::MAX) - 1), now), ThrottleDecision::Delay(MAXIMUM_DELAY));
    }

    #[test]
    fn the_previous_window_counts_in_proportion_to_its_overlap() {
        let policy = policy(60, 3, 6, 100);
        // Half of the previous window overlaps: 6 failures weigh 3.
        assert_eq!(policy.decide(counts(6, 0), at(90_000)), ThrottleDecision::Delay(StdDuration::from_millis(100)));
        // Just after the window start they weigh (almost) 6, still under 6.
        assert_eq!(policy.decide(counts(6, 0), at(60_001)), ThrottleDecision::Delay(StdDuration::from_millis(300)));
        assert_eq!(
            policy.decide(counts(6, 0), at(60_000)),
            ThrottleDecision::Refuse { retry_after: Duration::milliseconds(1) }
        );
    }

    #[test]
    fn a_refusal_lasts_exactly_until_the_estimate_drops_below_refuse_after() {
        let policy = policy(60, 3, 6, 100);
        let cases = [(counts(0, 6), 60_000), (counts(0, 9), 61_234), (counts(4, 3), 60_000), (counts(10, 1), 75_500)];
        for (counts, now) in cases {
            let ThrottleDecision::Refuse { retry_after } = policy.decide(counts, at(now)) else {
                panic!("{counts:?} at {now} must be refused");
            };
            let lifted = now + retry_after.num_milliseconds();
            let still_refused = policy.decide(aged(&policy, counts, now, lifted - 1), at(lifted - 1));
            assert!(
                matches!(still_refused, ThrottleDecision::Refuse { .. }),
                "{counts:?}: still refused one millisecond before {lifted}"
            );
            let lifted_decision = policy.decide(aged(&policy, counts, now, lifted), at(lifted));
            assert!(
                !matches!(lifted_decision, ThrottleDecision::Refuse { .. }),
                "{counts:?}: no longer refused at {lifted}"
            );
        }
    }
}
