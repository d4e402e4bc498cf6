//! The in-process [`LoginThrottle`]: the embedded default when no Redis is
//! configured (one broker), and the reference the throttle conformance suite
//! is written against.
//!
//! One `std::sync::Mutex` guards a map from source to that source's two most
//! recent window counters. Every operation is a short synchronous critical
//! section, never held across an `.await`, so counting is exact under
//! concurrency.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::store::SessionStoreError;
use crate::throttle::{FailureCounts, LoginThrottle, ThrottleDecision, ThrottlePolicy};

/// A [`LoginThrottle`] that counts in this process's memory.
///
/// Memory stays bounded: a source keeps at most two counters, and a source
/// whose counters are too old to matter is dropped by a sweep over all
/// sources that runs once every so many recorded failures (its cost
/// amortised over those failures). So the map holds at most the sources that
/// failed within the last two windows, plus those recorded since the last
/// sweep.
pub struct InMemoryLoginThrottle {
    policy: ThrottlePolicy,
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    sources: HashMap<String, SourceCounters>,
    failures_since_sweep: usize,
}

/// Failures recorded between two sweeps, at least; the sweep also waits for
/// as many failures as there are sources, so its cost per failure stays
/// constant.
const MINIMUM_FAILURES_BETWEEN_SWEEPS: usize = 1024;

/// One source's counters: failures per window, keyed by the window's start
/// in Unix milliseconds. Never more than two entries.
#[derive(Default)]
struct SourceCounters {
    windows: Vec<(i64, u64)>,
}

impl SourceCounters {
    fn failures_in(&self, window_start: i64) -> u64 {
        self.windows.iter().find(|(start, _)| *start == window_start).map_or(0, |(_, failures)| *failures)
    }

    /// Counts one failure in the window starting at `window_start` and keeps
    /// only the two most recent windows.
    fn record(&mut self, window_start: i64) {
        match self.windows.iter_mut().find(|(start, _)| *start == window_start) {
            Some((_, failures)) => *failures = failures.saturating_add(1),
            None => {
                self.windows.push((window_start, 1));
                self.windows.sort_unstable_by_key(|(start, _)| std::cmp::Reverse(*start));
                self.windows.truncate(2);
            }
        }
    }

    /// Whether any counter can still matter for a window starting at
    /// `previous_window_start` or later.
    fn matters_from(&self, previous_window_start: i64) -> bool {
        self.windows.iter().any(|(start, _)| *start >= previous_window_start)
    }
}

impl InMemoryLoginThrottle {
    /// An empty throttle deciding by `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self { policy, state: Mutex::new(ThrottleState::default()) }
    }

    /// The policy this throttle decides by.
    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    fn lock(&self) -> MutexGuard<'_, ThrottleState> {
        // Every mutation is a single push, increment or retain, so a panic
        // while holding the lock cannot leave a counter half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The number of sources currently held in memory.
    fn source_count(&self) -> usize {
        self.lock().sources.len()
    }
}

impl ThrottleState {
    fn sweep_if_due(&mut self, previous_window_start: i64) {
        self.failures_since_sweep += 1;
        if self.failures_since_sweep < MINIMUM_FAILURES_BETWEEN_SWEEPS.max(self.sources.len()) {
            return;
        }
        self.failures_since_sweep = 0;
        self.sources.retain(|_, counters| counters.matters_from(previous_window_start));
    }
}

#[async_trait]
impl LoginThrottle for InMemoryLoginThrottle {
    async fn check(&self, source: &str, now: DateTime<Utc>) -> Result<ThrottleDecision, SessionStoreError> {
        let counts = {
            let state = self.lock();
            match state.sources.get(source) {
                None => FailureCounts::default(),
                Some(counters) => FailureCounts {
                    previous_window: counters.failures_in(self.policy.previous_window_start_millis(now)),
                    current_window: counters.failures_in(self.policy.window_start_millis(now)),
                },
            }
        };
        Ok(self.policy.decide(counts, now))
    }

    async fn record_failure(&self, source: &str, now: DateTime<Utc>) -> Result<(), SessionStoreError> {
        let mut state = self.lock();
        state.sweep_if_due(self.policy.previous_window_start_millis(now));
        state.sources.entry(source.to_owned()).or_default().record(self.policy.window_start_millis(now));
        Ok(())
    }
}

impl fmt::Debug for InMemoryLoginThrottle {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A count only: client addresses stay out of log lines.
        formatter
            .debug_struct("InMemoryLoginThrottle")
            .field("policy", &self.policy)
            .field("sources", &self.source_count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    /// The same suite every throttle passes.
    mod conformance {
        use super::InMemoryLoginThrottle;

        crate::login_throttle_conformance_suite!(|policy| async move { InMemoryLoginThrottle::new(policy) });
    }

    #[tokio::test]
    async fn the_sweep_forgets_sources_that_stopped_failing() {
        let throttle = InMemoryLoginThrottle::new(ThrottlePolicy::default());
        let start = DateTime::UNIX_EPOCH;
        for index in 0..MINIMUM_FAILURES_BETWEEN_SWEEPS - 1 {
            throttle.record_failure(&format!("ipv4:198.51.100.{index}"), start).await.unwrap();
        }
        assert_eq!(throttle.source_count(), MINIMUM_FAILURES_BETWEEN_SWEEPS - 1);

        let two_windows_later = start + ThrottlePolicy::default().window() * 2;
        throttle.record_failure("ipv4:192.0.2.1", two_windows_later).await.unwrap();
        assert_eq!(throttle.source_count(), 1);
    }

    #[tokio::test]
    async fn a_source_keeps_at_most_two_counters() {
        let throttle = InMemoryLoginThrottle::new(ThrottlePolicy::default());
        for minutes in 0..60 {
            throttle.record_failure("ipv4:192.0.2.1", DateTime::UNIX_EPOCH + Duration::minutes(minutes)).await.unwrap();
        }
        let state = throttle.lock();
        assert_eq!(state.sources["ipv4:192.0.2.1"].windows.len(), 2);
    }

    #[tokio::test]
    async fn debug_output_shows_a_count_but_no_addresses() {
        let throttle = InMemoryLoginThrottle::new(ThrottlePolicy::default());
        throttle.record_failure("ipv4:203.0.113.7", DateTime::UNIX_EPOCH).await.unwrap();
        let printed = format!("{throttle:?}");
        assert!(printed.contains("sources: 1"), "{printed}");
        assert!(!printed.contains("203.0.113.7"), "{printed}");
    }
}
