//! Scenarios 1, 2, 3, 6 and 7 of issue 6: the session broker, on release
//! binaries, PostgreSQL and the benchmark's Redis (see `setup.rs`).

mod load;
mod login;
mod memory;
mod references;
pub(crate) mod setup;
mod validate;

use std::sync::Arc;

use crate::report::ScenarioResults;
use crate::Options;

/// Runs the wanted session scenarios on one Roster, in an order where none
/// disturbs the next: the throughput scenarios first, the memory scenario
/// (which adds its own sessions) and the racing logins last.
pub async fn run(options: &Options) -> anyhow::Result<ScenarioResults> {
    let mut results = ScenarioResults::default();
    if ![1, 2, 3, 6, 7].iter().any(|scenario| options.wants(*scenario)) {
        return Ok(results);
    }
    let bench = setup::Bench::start(options).await?;
    let live = options.scaled(options.live_sessions);
    eprintln!("roster-bench: creating users and {live} live sessions");
    let validation_users = bench.create_users("v", live).await?;
    let tokens = Arc::new(bench.open_sessions(&validation_users).await?);
    let login_users = Arc::new(bench.create_users("l", 1_000.max(options.storm_logins as u64)).await?);

    if options.wants(1) {
        eprintln!("roster-bench: scenario 1 (ValidateSession)");
        results.extend(validate::scenario_1(&bench, options, tokens.clone()).await?);
    } else if options.wants(3) {
        validate::warm_every_session(load_channels(&bench, options).await?, tokens.clone()).await?;
    }
    if options.wants(2) {
        eprintln!("roster-bench: scenario 2 (Login)");
        results.extend(login::scenario_2(&bench, options, login_users.clone()).await?);
    }
    if options.wants(3) {
        eprintln!("roster-bench: scenario 3 (login storm)");
        results.extend(validate::scenario_3(&bench, options, tokens.clone(), login_users.clone()).await?);
    }
    if options.wants(7) {
        eprintln!("roster-bench: scenario 7 (racing logins)");
        let racer = bench.create_users("r", 1).await?.pop().ok_or_else(|| anyhow::anyhow!("no racing user"))?;
        results.extend(login::scenario_7(&bench, options, &racer).await?);
    }
    if options.wants(6) {
        let count = options.scaled(options.memory_sessions);
        eprintln!("roster-bench: scenario 6 (memory, {count} sessions)");
        let users = bench.create_users("m", count).await?;
        results.extend(memory::scenario_6(&bench, options, &users).await?);
    }
    Ok(results)
}

async fn load_channels(bench: &setup::Bench, options: &Options) -> anyhow::Result<Vec<tonic::transport::Channel>> {
    load::connections(&bench.cluster.session_url, options.connections).await
}
