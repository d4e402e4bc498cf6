//! The threads password hashing runs on (R35: never the async runtime's
//! worker threads): a fixed set of named OS threads, optionally at a lower
//! scheduling priority, so that a login storm's argon2 work yields the CPU
//! to everything else the machine serves (issue 6, scenario 3: session
//! validation keeps its latency while logins storm). When nothing else
//! wants the CPU, lower-priority threads still get all of it, so logins
//! alone hash as fast as before.
//!
//! `password::HashingPool` runs two sets: one at normal priority for
//! ordinary logins, one lowered for a storm's backlog. The directory's
//! default for the lowered set on Linux is `SCHED_IDLE`: a thread of any normal priority
//! that wakes up preempts a hashing thread at once, where a niced one would
//! still finish its time slice first (milliseconds of argon2 in front of a
//! validation). Hashing threads are never starved outright: the kernel still
//! gives `SCHED_IDLE` threads a minimal share of a busy CPU.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How the hashing threads are scheduled against everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashingPriority {
    /// As any other thread.
    Normal,
    /// This many Linux nice steps (1 to 19) below normal.
    Nice(u8),
    /// Linux `SCHED_IDLE`: below every nice level, and preempted by any
    /// other thread that wakes up.
    Idle,
}

/// A fixed pool of hashing threads; they end when the pool is dropped.
#[derive(Debug)]
pub struct HashingThreads {
    jobs: Sender<Job>,
}

impl HashingThreads {
    /// Starts `threads` threads (at least one). On Linux each lowers its own
    /// priority as `priority` says (raising it needs privileges, and hashing
    /// must never outrank serving); elsewhere `priority` is ignored. They
    /// are named `roster-argon2-N` at normal priority and `roster-a2low-N`
    /// at a lowered one, so that `top -H` tells a storm's hashing apart
    /// (Linux keeps 15 bytes of a thread's name).
    pub fn start(threads: usize, priority: HashingPriority) -> std::io::Result<Self> {
        let (jobs, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let prefix = match priority {
            HashingPriority::Normal => "roster-argon2",
            HashingPriority::Nice(_) | HashingPriority::Idle => "roster-a2low",
        };
        for index in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new().name(format!("{prefix}-{index}")).spawn(move || work(&receiver, priority))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on one of the threads and waits for its result without
    /// blocking the runtime. `None` if the job panicked.
    pub async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (result, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = result.send(job());
        });
        self.jobs.send(job).ok()?;
        answer.await.ok()
    }
}

fn work(jobs: &Mutex<Receiver<Job>>, priority: HashingPriority) {
    lower_priority(priority);
    crate::password::keep_argon2_memory_on_this_thread();
    loop {
        // Only one thread waits on the receiver at a time; the others wait
        // for the lock. Either way they sleep.
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else {
            return; // the pool was dropped
        };
        // A panicking job drops its result sender (the caller sees an
        // error); the thread lives on.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(target_os = "linux")]
fn lower_priority(priority: HashingPriority) {
    let result = match priority {
        HashingPriority::Normal => return,
        // On Linux the nice value belongs to each thread, and `who = 0`
        // names the calling thread (setpriority(2), "BUGS": NPTL threads do
        // not share it). Raising one's own nice value needs no privilege.
        // SAFETY: setpriority reads no memory of ours; it only sets the
        // scheduling priority of the calling thread.
        HashingPriority::Nice(steps) => unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, i32::from(steps.min(19))) },
        HashingPriority::Idle => {
            let parameters = libc::sched_param { sched_priority: 0 };
            // SAFETY: `parameters` lives across the call, which only reads
            // it; pid 0 is the calling thread (sched_setscheduler(2)).
            // Moving to SCHED_IDLE needs no privilege.
            unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &parameters) }
        }
    };
    if result != 0 {
        tracing::warn!(?priority, error = %std::io::Error::last_os_error(), "could not lower the hashing threads' priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_priority: HashingPriority) {}

/// The calling thread's nice value (Linux), for tests.
#[cfg(all(test, target_os = "linux"))]
fn current_niceness() -> i32 {
    // SAFETY: getpriority reads no memory of ours. It may return -1 as a
    // real value; the tests only compare with positive ones.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

/// The calling thread's scheduling policy (Linux), for tests.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn current_policy() -> i32 {
    // SAFETY: sched_getscheduler reads no memory of ours.
    unsafe { libc::sched_getscheduler(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_named_threads_and_a_panic_does_not_kill_one() {
        let threads = HashingThreads::start(1, HashingPriority::Normal).unwrap();
        let name = threads.run(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert_eq!(name.as_deref(), Some("roster-argon2-0"));
        assert_eq!(threads.run(|| -> u8 { panic!("a job panics") }).await, None);
        assert_eq!(threads.run(|| 7).await, Some(7), "the only thread survived the panic");
        assert_eq!(threads.run(crate::password::keeps_argon2_memory).await, Some(true));
        assert!(!crate::password::keeps_argon2_memory(), "only the hashing threads keep argon2's memory");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_lower_priority_asked_for() {
        let before = current_niceness();
        let niced = HashingThreads::start(2, HashingPriority::Nice(7)).unwrap();
        assert_eq!(niced.run(current_niceness).await.unwrap(), (before + 7).min(19));
        assert_eq!(niced.run(current_policy).await.unwrap(), libc::SCHED_OTHER);
        assert_eq!(current_niceness(), before, "only the hashing threads changed");
        let idle = HashingThreads::start(2, HashingPriority::Idle).unwrap();
        assert_eq!(idle.run(current_policy).await.unwrap(), libc::SCHED_IDLE);
        let thread_name = || std::thread::current().name().map(str::to_owned).unwrap_or_default();
        assert!(idle.run(thread_name).await.unwrap().starts_with("roster-a2low-"), "lowered threads say so");
        assert!(niced.run(thread_name).await.unwrap().starts_with("roster-a2low-"));
        assert_eq!(current_policy(), libc::SCHED_OTHER, "only the hashing threads changed");
        let unchanged = HashingThreads::start(1, HashingPriority::Normal).unwrap();
        assert_eq!(unchanged.run(current_niceness).await.unwrap(), before);
        assert_eq!(unchanged.run(current_policy).await.unwrap(), libc::SCHED_OTHER);
    }
}
