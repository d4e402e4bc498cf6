//! A closed-loop load: a fixed number of requests in flight, each worker
//! sending its next request when the previous one answered, for a fixed
//! time. Latency is measured per request, from send to answer.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;

use crate::report::Latencies;

/// What one load did.
#[derive(Default)]
pub struct LoadOutcome {
    /// Latencies of the requests that succeeded.
    pub succeeded: Latencies,
    /// Latencies of the requests that failed, whatever the failure.
    pub failed: Latencies,
    /// Failures by `CODE/REASON`.
    pub failures: BTreeMap<String, u64>,
    pub elapsed: Duration,
}

impl LoadOutcome {
    /// Successful requests per second.
    pub fn per_second(&self) -> f64 {
        self.succeeded.count() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Failures, as `CODE/REASON × n, ...`; empty when there were none.
    pub fn failures_text(&self) -> String {
        self.failures.iter().map(|(what, count)| format!("{what} × {count}")).collect::<Vec<_>>().join(", ")
    }

    pub fn merge(&mut self, other: LoadOutcome) {
        self.succeeded.merge(&other.succeeded);
        self.failed.merge(&other.failed);
        for (what, count) in other.failures {
            *self.failures.entry(what).or_default() += count;
        }
        self.elapsed = self.elapsed.max(other.elapsed);
    }
}

/// A failed request, as `CODE/REASON`.
pub fn failure(status: &tonic::Status) -> String {
    let reason = roster_e2e::status::reason(status);
    format!("{:?}/{reason}", status.code())
}

/// Runs `in_flight` workers for `duration`; worker `w` sends its `i`-th
/// request with `request(w, i)`.
pub async fn closed_loop<F, Fut>(in_flight: usize, duration: Duration, request: F) -> LoadOutcome
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    closed_loop_with_backoff(in_flight, duration, Duration::ZERO, request).await
}

/// As [`closed_loop`], but a worker whose request failed waits
/// `after_failure` before its next one (outside the measured latency), as a
/// client told RESOURCE_EXHAUSTED backs off instead of spinning.
pub async fn closed_loop_with_backoff<F, Fut>(
    in_flight: usize,
    duration: Duration,
    after_failure: Duration,
    request: F,
) -> LoadOutcome
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..in_flight.max(1))
        .map(|worker| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut outcome = LoadOutcome::default();
                let mut iteration = 0;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let answer = request(worker, iteration).await;
                    let latency = sent.elapsed();
                    match answer {
                        Ok(()) => outcome.succeeded.record(latency),
                        Err(what) => {
                            outcome.failed.record(latency);
                            *outcome.failures.entry(what).or_default() += 1;
                            if !after_failure.is_zero() {
                                tokio::time::sleep(after_failure).await;
                            }
                        }
                    }
                    iteration += 1;
                }
                outcome
            })
        })
        .collect();
    let mut total = LoadOutcome::default();
    for worker in workers {
        if let Ok(outcome) = worker.await {
            total.merge(outcome);
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// `count` HTTP/2 connections to `url`; worker `w` uses `w % count`.
pub async fn connections(url: &str, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..count.max(1) {
        channels.push(Channel::from_shared(url.to_owned())?.connect().await?);
    }
    Ok(channels)
}
