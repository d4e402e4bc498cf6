//! Scenario 6: Redis memory per live session, and the broker's resident
//! memory once it has validated every one of them.

use std::sync::Arc;

use super::load::connections;
use super::setup::{mib, Bench, BenchUser};
use super::validate::warm_every_session;
use crate::report::{BarCheck, Measurement, ScenarioResults};
use crate::Options;

pub async fn scenario_6(bench: &Bench, options: &Options, users: &[BenchUser]) -> anyhow::Result<ScenarioResults> {
    let before = bench.redis_used_memory().await?;
    let tokens = Arc::new(bench.open_sessions(users).await?);
    let after = bench.redis_used_memory().await?;
    let sessions = tokens.len() as u64;
    let per_session = after.saturating_sub(before) as f64 / sessions as f64;

    // Every session validated once: the broker has cached every user's
    // access, its largest per-user state.
    let channels = connections(&bench.cluster.session_url, options.connections).await?;
    warm_every_session(channels, tokens).await?;
    let (broker, directory) = bench.resident_memory();

    let mut results = ScenarioResults::default();
    results.measurements.push(Measurement {
        scenario: 6,
        name: format!("Redis used_memory per live session, over {sessions} sessions"),
        per_second: None,
        latencies: None,
        note: format!("{per_session:.0} bytes ({} → {})", mib(before), mib(after)),
    });
    results.measurements.push(Measurement {
        scenario: 6,
        name: format!("broker resident memory after validating all {sessions} sessions"),
        per_second: None,
        latencies: None,
        note: format!("broker {}, directory {}", mib(broker), mib(directory)),
    });
    results.bars.push(BarCheck {
        scenario: 6,
        bar: "Redis memory per live session ≤ 512 bytes".to_owned(),
        measured: format!("{per_session:.0} bytes"),
        reached: per_session <= 512.0,
    });
    results.bars.push(BarCheck {
        scenario: 6,
        bar: format!("broker resident memory at {sessions} sessions ≤ 200 MB"),
        measured: mib(broker),
        reached: broker <= 200 * 1024 * 1024,
    });
    Ok(results)
}
