//! Scenarios 4 and 5 of issue 6: the directory.
//!
//! * 4, CheckPermission: one account with 100,000 users, 10,000 groups in
//!   chains of 10 (trees 10 deep), 1,000 stores, 10 role assignments per
//!   user (2 account-wide, 8 in stores: 1,000,000 in all), and every tenth
//!   user with two overrides (a grant account-wide, a revoke in a store).
//!   One account on purpose: its access snapshot (catalog and group tree)
//!   is as large as the figures make it. Measured in process
//!   (`resolve` + `holds` over the loaded data) and over gRPC at 16 in
//!   flight, next to `grpc.health.v1.Health/Check` on the same port.
//! * 5, directory at scale: two accounts in the same database, one with
//!   10,000 users and one with 1,000,000, each with 100 groups and 1,000
//!   stores and one store-scoped assignment per user (so a group holds 1%
//!   of the users and a store 0.1%). ListUsers pages of 50 are measured on
//!   both, side by side, for the 2× bar, and so is InviteUser.
//!
//! `--scale-down N` divides every size by N.

mod access;
mod invite;
mod listing;
mod load;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use roster_e2e::{Cluster, ClusterOptions};
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use crate::report::{Latencies, Measurement, ScenarioResults};
use crate::Options;

/// The owner password of every benchmark account (hashing cost is not what
/// these scenarios measure).
const OWNER_PASSWORD: &str = "benchmark owner password";

pub async fn run(options: &Options) -> anyhow::Result<ScenarioResults> {
    let mut results = ScenarioResults::default();
    if !options.wants(4) && !options.wants(5) {
        return Ok(results);
    }
    let cluster = start_cluster(options).await?;
    if options.wants(4) {
        results.extend(access::run(options, &cluster).await?);
    }
    if options.wants(5) {
        results.extend(listing::run(options, &cluster).await?);
    }
    Ok(results)
}

/// The one place the directory scenarios get Roster from: both services on
/// PostgreSQL and Redis.
async fn start_cluster(options: &Options) -> anyhow::Result<Cluster> {
    let broker_workers = options.broker_workers.to_string();
    let directory_workers = options.directory_workers.to_string();
    Cluster::start_with_env(
        ClusterOptions::postgres_redis(),
        &[("ROSTER_SESSION__WORKER_THREADS", broker_workers.as_str())],
        &[("ROSTER_DIRECTORY__WORKER_THREADS", directory_workers.as_str())],
    )
    .await
}

/// `size / scale_down`, at least `floor`.
fn scaled(options: &Options, size: u64, floor: u64) -> u64 {
    (size / options.scale_down.max(1)).max(floor)
}

/// Signs an account up through the directory (so the schema, the seeded
/// groups and the owner exist, R1, R2) and returns its id and the owner's
/// session token.
async fn sign_up(cluster: &Cluster, slug: &str) -> anyhow::Result<(String, String)> {
    let created = cluster.sign_up(slug, "owner", OWNER_PASSWORD).await;
    let account_id = created.account.map(|account| account.id).ok_or_else(|| anyhow::anyhow!("no account"))?;
    let token = cluster.login(slug, "owner", OWNER_PASSWORD).await?.token;
    Ok((account_id, token))
}

/// A closed loop of `in_flight` workers calling `operation(worker, turn)`
/// for `duration`: every call's latency, and the rate of successful calls.
/// A failed call stops the measurement with its error.
async fn drive<Operation, Call>(
    in_flight: usize,
    duration: Duration,
    operation: Operation,
) -> anyhow::Result<(Latencies, f64)>
where
    Operation: Fn(usize, u64) -> Call + Send + Sync + 'static,
    Call: Future<Output = anyhow::Result<()>> + Send,
{
    let operation = Arc::new(operation);
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..in_flight)
        .map(|worker| {
            let operation = Arc::clone(&operation);
            tokio::spawn(async move {
                let mut latencies = Latencies::default();
                let mut turn = 0u64;
                while Instant::now() < deadline {
                    let call_started = Instant::now();
                    operation(worker, turn).await?;
                    latencies.record(call_started.elapsed());
                    turn += 1;
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Latencies::default();
    for worker in workers {
        all.merge(&worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = all.count() as f64 / elapsed;
    Ok((all, rate))
}

/// The framework ceiling: `grpc.health.v1.Health/Check` on `channel`.
async fn health_reference(channel: Channel, in_flight: usize, duration: Duration) -> anyhow::Result<(Latencies, f64)> {
    drive(in_flight, duration, move |_, _| {
        let mut client = HealthClient::new(channel.clone());
        async move {
            client.check(HealthCheckRequest { service: String::new() }).await?;
            Ok(())
        }
    })
    .await
}

fn measurement(
    scenario: u32,
    name: impl Into<String>,
    measured: (Latencies, f64),
    note: impl Into<String>,
) -> Measurement {
    let (latencies, rate) = measured;
    Measurement { scenario, name: name.into(), per_second: Some(rate), latencies: Some(latencies), note: note.into() }
}

/// A small deterministic generator, so both sides of a comparison ask the
/// same questions.
fn pick(seed: u64, bound: u64) -> u64 {
    let mixed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (mixed >> 33) % bound.max(1)
}
