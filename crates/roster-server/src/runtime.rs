//! The Tokio runtime both services run on, sized by their `worker_threads`
//! setting.

/// A multi-threaded runtime with `worker_threads` workers; 0 means one per
/// core the process may use (Tokio's default, which honours CPU affinity
/// and cgroup quotas).
///
/// Fewer workers than cores suit a service that shares its machine with
/// other busy processes (the database, Redis, a sidecar, a load generator):
/// each runnable worker beyond the free cores is preempted mid-request, and
/// its requests wait out another process's time slice. One worker on a
/// core of its own is the thread-per-core shape linkerd2-proxy defaults to.
pub fn build(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if worker_threads > 0 {
        builder.worker_threads(worker_threads);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::build;

    #[test]
    fn the_runtime_has_the_workers_asked_for() {
        let runtime = build(3).expect("a runtime");
        assert_eq!(runtime.metrics().num_workers(), 3);
    }

    #[test]
    fn zero_workers_means_one_per_available_core() {
        let runtime = build(0).expect("a runtime");
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        assert_eq!(runtime.metrics().num_workers(), cores);
    }
}
