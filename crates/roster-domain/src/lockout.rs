//! Per-credential lockout (R39): after `max_failures` consecutive failed
//! logins a credential is locked for `lock_for`; a success resets the count.
//!
//! The rule is pure here; storage applies it to one user row atomically
//! (`CredentialRepository::reserve_login_attempt`), so parallel attempts
//! each see the previous ones.
//!
//! An attempt is counted *before* its password is checked (pessimistically:
//! it is a failure until it succeeds), and the attempt that reaches the limit
//! sets the lock. That is what keeps N parallel wrong attempts from running
//! more than `max_failures` password verifications. But a lock set by
//! attempts still being checked is not final: one of them may succeed, and a
//! success lifts it. So the row also counts the attempts in flight
//! (`pending_logins`), and while any of them may still lift the lock, a new
//! attempt is told to wait ([`AttemptReservation::Settling`]) rather than
//! refused: racing *correct* logins are never refused as locked (R36), and
//! racing wrong ones, once settled, are.

use chrono::{DateTime, Duration, Utc};

/// How long after a lock was set attempts still counted as in flight are
/// believed (no login check runs this long; a replica that died mid-check
/// leaves its count behind, and it is ignored after this).
pub const SETTLE_WINDOW: Duration = Duration::seconds(30);

/// How many failures lock a credential, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the credential (the attempt that
    /// reaches this number still runs). Below 1 counts as 1.
    pub max_failures: u32,
    /// How long a lock lasts.
    pub lock_for: Duration,
}

impl Default for LockoutPolicy {
    /// R39: 10 failures, 30 minutes.
    fn default() -> Self {
        Self { max_failures: 10, lock_for: Duration::minutes(30) }
    }
}

/// The lockout columns of one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockoutState {
    /// Attempts since the last success, those in flight included.
    pub failed_login_count: u32,
    /// Attempts reserved whose checks have not ended yet.
    pub pending_logins: u32,
    /// Set when the count reaches the limit; a lock in the past has expired
    /// and is cleared by the next attempt.
    pub locked_until: Option<DateTime<Utc>>,
}

/// What a login attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptReservation {
    /// The attempt runs its checks; it counts as a failure until it
    /// succeeds, and its end must be reported (success or release).
    Allowed,
    /// The credential is locked: the attempt is refused without looking at
    /// the password, with the same answer as a wrong password.
    Locked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
    /// The limit is reached, but by attempts still being checked, one of
    /// which may succeed and lift the lock: ask again shortly. Nothing was
    /// counted.
    Settling {
        /// When the lock ends if none of them succeeds.
        until: DateTime<Utc>,
    },
}

impl LockoutPolicy {
    fn limit(&self) -> u32 {
        self.max_failures.max(1)
    }

    /// Counts below which an unlocked credential's attempt is simply
    /// counted: with no lock (not even an expired one) and
    /// `failed_login_count` below this, [`Self::reserve`] adds one to the
    /// count and to the attempts in flight, sets no lock and answers
    /// `Allowed`. A store may do exactly that in one conditional write and
    /// run `reserve` under the row's lock only when the write matched
    /// nothing (issue 6: the common login costs one statement).
    pub fn counted_below(&self) -> u32 {
        self.limit() - 1
    }

    /// Reserves one login attempt at `now`: returns the state to store and
    /// the answer.
    ///
    /// - A running lock answers `Settling` while attempts reserved before it
    ///   are still in flight (within [`SETTLE_WINDOW`] of the lock), else
    ///   `Locked`; nothing changes.
    /// - An expired lock is cleared and counting starts again from zero.
    /// - A count already at the limit without a lock (the limit was lowered)
    ///   locks from now.
    /// - Otherwise the attempt is allowed and counted; the attempt that
    ///   reaches `max_failures` sets the lock (it still runs, and a success
    ///   lifts the lock again).
    pub fn reserve(&self, state: LockoutState, now: DateTime<Utc>) -> (LockoutState, AttemptReservation) {
        let mut state = state;
        match state.locked_until {
            Some(until) if until > now => return (state, self.refusal(state, until, now)),
            Some(_) => state = LockoutState::default(),
            None => {}
        }
        if state.failed_login_count >= self.limit() {
            let until = now + self.lock_for;
            state.locked_until = Some(until);
            return (state, self.refusal(state, until, now));
        }
        state.failed_login_count += 1;
        state.pending_logins += 1;
        if state.failed_login_count >= self.limit() {
            state.locked_until = Some(now + self.lock_for);
        }
        (state, AttemptReservation::Allowed)
    }

    /// `Settling` while attempts in flight may still lift the lock ending
    /// at `until`, else `Locked`.
    fn refusal(&self, state: LockoutState, until: DateTime<Utc>, now: DateTime<Utc>) -> AttemptReservation {
        let locked_at = until - self.lock_for;
        if state.pending_logins > 0 && now < locked_at + SETTLE_WINDOW {
            AttemptReservation::Settling { until }
        } else {
            AttemptReservation::Locked { until }
        }
    }
}

/// An allowed attempt ended in a success: the count and the lock are gone.
pub fn after_success(state: LockoutState) -> LockoutState {
    LockoutState { failed_login_count: 0, pending_logins: state.pending_logins.saturating_sub(1), locked_until: None }
}

/// An allowed attempt ended otherwise (refused, wrong password, or an
/// error): it stays counted, and is no longer in flight.
pub fn after_release(state: LockoutState) -> LockoutState {
    LockoutState { pending_logins: state.pending_logins.saturating_sub(1), ..state }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut a store takes (one conditional write) is exactly what
    /// `reserve` does for an unlocked count below `counted_below`, and not
    /// what it does at the limit's edge, nor with a lock, expired or not.
    #[test]
    fn r39_counted_below_is_where_reserve_only_counts() {
        let now = Utc::now();
        for max_failures in [0, 1, 2, 10] {
            let policy = LockoutPolicy { max_failures, lock_for: Duration::minutes(30) };
            let below = policy.counted_below();
            for failed_login_count in 0..below {
                for pending_logins in [0, 3] {
                    let state = LockoutState { failed_login_count, pending_logins, locked_until: None };
                    let counted = LockoutState {
                        failed_login_count: failed_login_count + 1,
                        pending_logins: pending_logins + 1,
                        locked_until: None,
                    };
                    assert_eq!(policy.reserve(state, now), (counted, AttemptReservation::Allowed));
                }
            }
            let at_edge = LockoutState { failed_login_count: below, pending_logins: 0, locked_until: None };
            assert!(policy.reserve(at_edge, now).0.locked_until.is_some(), "max_failures {max_failures}");
            let expired = LockoutState { locked_until: Some(now - Duration::seconds(1)), ..LockoutState::default() };
            assert_eq!(policy.reserve(expired, now).0.failed_login_count, 1, "an expired lock restarts the count");
            let running = LockoutState { locked_until: Some(now + Duration::minutes(1)), ..LockoutState::default() };
            let (after, answer) = policy.reserve(running, now);
            assert_eq!(after, running, "a running lock counts nothing");
            assert_ne!(answer, AttemptReservation::Allowed);
        }
    }

    fn start() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    /// `count` attempts, each released (failed) before the next.
    fn failures(policy: LockoutPolicy, count: usize, now: DateTime<Utc>) -> LockoutState {
        let mut state = LockoutState::default();
        for _ in 0..count {
            let (next, answer) = policy.reserve(state, now);
            assert_eq!(answer, AttemptReservation::Allowed);
            state = after_release(next);
        }
        state
    }

    #[test]
    fn r39_the_tenth_failure_locks_and_the_eleventh_attempt_is_refused() {
        let policy = LockoutPolicy::default();
        let state = failures(policy, 10, start());
        let until = start() + Duration::minutes(30);
        assert_eq!(state, LockoutState { failed_login_count: 10, pending_logins: 0, locked_until: Some(until) });
        assert_eq!(policy.reserve(state, start()), (state, AttemptReservation::Locked { until }));
    }

    #[test]
    fn r39_a_lock_holds_until_it_ends_and_then_counting_starts_again() {
        let policy = LockoutPolicy::default();
        let locked = failures(policy, 10, start());
        let until = start() + Duration::minutes(30);
        let just_before = until - Duration::seconds(1);
        assert_eq!(policy.reserve(locked, just_before), (locked, AttemptReservation::Locked { until }));
        // A lock ends at `until` itself.
        let (after, answer) = policy.reserve(locked, until);
        assert_eq!(answer, AttemptReservation::Allowed);
        assert_eq!(after, LockoutState { failed_login_count: 1, pending_logins: 1, locked_until: None });
    }

    #[test]
    fn r39_a_success_resets_the_count_and_lifts_the_lock() {
        let policy = LockoutPolicy::default();
        let nine = failures(policy, 9, start());
        let (tenth, answer) = policy.reserve(nine, start());
        assert_eq!(answer, AttemptReservation::Allowed);
        assert!(tenth.locked_until.is_some(), "the tenth attempt locks while it runs");
        assert_eq!(after_success(tenth), LockoutState::default());
    }

    #[test]
    fn attempts_in_flight_at_the_limit_make_others_wait_not_fail() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        for _ in 0..10 {
            state = policy.reserve(state, start()).0;
        }
        let until = start() + Duration::minutes(30);
        assert_eq!(policy.reserve(state, start()), (state, AttemptReservation::Settling { until }));
        // One in-flight attempt succeeds: the others may run again.
        let (_, answer) = policy.reserve(after_success(state), start());
        assert_eq!(answer, AttemptReservation::Allowed);
        // All ten fail instead: the lock is final.
        let settled = (0..10).fold(state, |state, _| after_release(state));
        assert_eq!(policy.reserve(settled, start()).1, AttemptReservation::Locked { until });
    }

    #[test]
    fn attempts_left_in_flight_by_a_dead_replica_are_ignored_after_the_settle_window() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        for _ in 0..10 {
            state = policy.reserve(state, start()).0;
        }
        let until = start() + Duration::minutes(30);
        let later = start() + SETTLE_WINDOW;
        assert_eq!(policy.reserve(state, later).1, AttemptReservation::Locked { until });
        let (expired, answer) = policy.reserve(state, until);
        assert_eq!(answer, AttemptReservation::Allowed);
        assert_eq!(expired.pending_logins, 1, "an expired lock forgets the stale count");
    }

    #[test]
    fn a_count_already_at_a_lowered_limit_locks_from_now() {
        let policy = LockoutPolicy { max_failures: 3, lock_for: Duration::minutes(5) };
        let state = LockoutState { failed_login_count: 7, pending_logins: 0, locked_until: None };
        let until = start() + Duration::minutes(5);
        let (after, answer) = policy.reserve(state, start());
        assert_eq!(answer, AttemptReservation::Locked { until });
        assert_eq!(after, LockoutState { locked_until: Some(until), ..state });
    }

    #[test]
    fn a_limit_of_zero_still_lets_one_attempt_run() {
        let policy = LockoutPolicy { max_failures: 0, lock_for: Duration::minutes(1) };
        let state = failures(policy, 1, start());
        assert!(matches!(policy.reserve(state, start()).1, AttemptReservation::Locked { .. }));
    }
}
