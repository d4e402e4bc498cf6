//! Scenario 1 (ValidateSession against its references) and scenario 3
//! (validation while a login storm runs).

use std::sync::Arc;
use std::time::Duration;

use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::LoginRequest;
use roster_proto::session::v1::ValidateSessionRequest;
use tonic::transport::Channel;

use super::load::{closed_loop, closed_loop_with_backoff, connections, failure, LoadOutcome};
use super::references;
use super::setup::{mib, Bench, BenchUser, MemorySampler, ACCOUNT, CLIENT_ADDRESS, PASSWORD, USER_AGENT};
use crate::report::{BarCheck, Measurement, ScenarioResults};
use crate::Options;

/// Validations of `tokens` (spread over all of them) at `in_flight`.
pub async fn validation_load(
    channels: Vec<Channel>,
    tokens: Arc<Vec<String>>,
    in_flight: usize,
    duration: Duration,
) -> LoadOutcome {
    closed_loop(in_flight, duration, move |worker, iteration| {
        let mut client = SessionServiceClient::new(channels[worker % channels.len()].clone());
        let token = tokens[(iteration as usize * in_flight + worker) % tokens.len()].clone();
        async move {
            let request = ValidateSessionRequest { token, ..Default::default() };
            match client.validate_session(request).await {
                Ok(response) if response.get_ref().principal.is_some() => Ok(()),
                Ok(_) => Err("OK without a principal".to_owned()),
                Err(status) => Err(failure(&status)),
            }
        }
    })
    .await
}

fn row(scenario: u32, name: impl Into<String>, outcome: LoadOutcome, note: impl Into<String>) -> Measurement {
    let failures = outcome.failures_text();
    let mut note = note.into();
    if !failures.is_empty() {
        note = format!("{note} failures: {failures}").trim().to_owned();
    }
    Measurement {
        scenario,
        name: name.into(),
        per_second: Some(outcome.per_second()),
        latencies: Some(outcome.succeeded),
        note,
    }
}

/// Scenario 1: ValidateSession over the live sessions at `in_flight` and at
/// 16, next to Redis GET and the no-op RPC at `in_flight`.
pub async fn scenario_1(bench: &Bench, options: &Options, tokens: Arc<Vec<String>>) -> anyhow::Result<ScenarioResults> {
    let url = bench.cluster.session_url.clone();
    let channels = connections(&url, options.connections).await?;
    let duration = options.duration();
    let in_flight = options.in_flight;
    // Warm-up: every session validated once, so every user's access is in
    // the broker's cache, as on a gateway's steady path.
    warm_every_session(channels.clone(), tokens.clone()).await?;

    let validation = validation_load(channels.clone(), tokens.clone(), in_flight, duration).await;
    let validation_rate = validation.per_second();
    let at_16 = validation_load(channels.clone(), tokens.clone(), 16, duration).await;
    let p99_at_16 = at_16.succeeded.quantile_micros(0.99);
    let no_op = references::no_op_rpc(&url, options.connections, in_flight, duration).await?;
    let no_op_rate = no_op.per_second();
    // About as many GETs as validations took: a comparable duration.
    let get_requests = ((validation_rate * duration.as_secs_f64()) as u64).clamp(50_000, 5_000_000);
    let get_rate = references::redis_get_rate(&bench.redis_url, in_flight, get_requests)?;

    let mut results = ScenarioResults::default();
    let live = tokens.len();
    results.measurements.push(row(
        1,
        format!("ValidateSession, {live} live sessions, {in_flight} in flight"),
        validation,
        "",
    ));
    results.measurements.push(row(1, format!("ValidateSession, {live} live sessions, 16 in flight"), at_16, ""));
    results.measurements.push(row(
        1,
        format!("reference: no-op RPC (grpc.health.v1.Health/Check on the broker), {in_flight} in flight"),
        no_op,
        "same listener and tower stack",
    ));
    results.measurements.push(Measurement {
        scenario: 1,
        name: format!("reference: `redis-benchmark -t get -c {in_flight} -n {get_requests} -q` on the same Redis"),
        per_second: Some(get_rate),
        latencies: None,
        note: "no pipelining".to_owned(),
    });
    let of_get = validation_rate / get_rate;
    let of_no_op = validation_rate / no_op_rate;
    results.bars.push(BarCheck {
        scenario: 1,
        bar: "ValidateSession ≥ 50% of the Redis GET rate".to_owned(),
        measured: format!("{:.0}% ({validation_rate:.0} / {get_rate:.0} per s)", of_get * 100.0),
        reached: of_get >= 0.5,
    });
    results.bars.push(BarCheck {
        scenario: 1,
        bar: "ValidateSession ≥ 80% of the no-op RPC rate".to_owned(),
        measured: format!("{:.0}% ({validation_rate:.0} / {no_op_rate:.0} per s)", of_no_op * 100.0),
        reached: of_no_op >= 0.8,
    });
    results.bars.push(BarCheck {
        scenario: 1,
        bar: "ValidateSession p99 ≤ 1 ms at 16 in flight".to_owned(),
        measured: format!("{p99_at_16} µs"),
        reached: p99_at_16 <= 1_000,
    });
    Ok(results)
}

/// Validates every token once, 64 at a time; all must be live.
pub async fn warm_every_session(channels: Vec<Channel>, tokens: Arc<Vec<String>>) -> anyhow::Result<()> {
    use futures::StreamExt;
    let checks = (0..tokens.len()).map(|index| {
        let mut client = SessionServiceClient::new(channels[index % channels.len()].clone());
        let token = tokens[index].clone();
        async move { client.validate_session(ValidateSessionRequest { token, ..Default::default() }).await }
    });
    let answers: Vec<_> = futures::stream::iter(checks).buffer_unordered(16).collect().await;
    let failed = answers.iter().filter(|answer| answer.is_err()).count();
    if let Some(Err(status)) = answers.iter().find(|answer| answer.is_err()) {
        anyhow::bail!("{failed} of {} sessions did not validate, e.g. {}", tokens.len(), failure(status));
    }
    Ok(())
}

/// Scenario 3: validation at 16 in flight while `storm_logins` logins run
/// at once, each worker logging its own user in again and again.
pub async fn scenario_3(
    bench: &Bench,
    options: &Options,
    tokens: Arc<Vec<String>>,
    login_users: Arc<Vec<BenchUser>>,
) -> anyhow::Result<ScenarioResults> {
    let url = bench.cluster.session_url.clone();
    let duration = options.duration();
    let validation_channels = connections(&url, options.connections).await?;
    let login_channels = connections(&url, options.connections).await?;
    let storm_logins = options.storm_logins;
    // Steady state first, as when scenario 1 has been running all along:
    // every session validated once, so each user's access is cached (the
    // scenarios before this one leave a minute without validation, past the
    // broker's access time-to-live).
    // (Once more if the first pass met overload: 10,000 access fetches at
    // once can outrun the directory right after scenario 2's logins.)
    if warm_every_session(validation_channels.clone(), tokens.clone()).await.is_err() {
        warm_every_session(validation_channels.clone(), tokens.clone()).await?;
    }
    let sampler = MemorySampler::start((bench.cluster.session_pid(), bench.cluster.directory_pid()));
    // A refused client backs off 100 ms before it tries again.
    let backoff = Duration::from_millis(100);
    let storm = tokio::spawn(closed_loop_with_backoff(storm_logins, duration, backoff, move |worker, _| {
        let mut client = SessionServiceClient::new(login_channels[worker % login_channels.len()].clone());
        let user = &login_users[worker % login_users.len()];
        let request = LoginRequest {
            account: ACCOUNT.to_owned(),
            login_name: user.login_name.clone(),
            password: PASSWORD.to_owned(),
            client_address: CLIENT_ADDRESS.to_owned(),
            user_agent: USER_AGENT.to_owned(),
        };
        async move { client.login(request).await.map(|_| ()).map_err(|status| failure(&status)) }
    }));
    let validation = validation_load(validation_channels, tokens, 16, duration).await;
    let storm = storm.await?;
    let peak_memory = sampler.peak();
    drop(sampler);

    let validation_p99 = validation.succeeded.quantile_micros(0.99);
    let refused = storm
        .failures
        .iter()
        .filter(|(what, _)| what.starts_with("ResourceExhausted"))
        .map(|(_, count)| count)
        .sum::<u64>();
    let other_failures = storm.failed.count() - refused;
    let refusal_p99 = storm.failed.quantile_micros(0.99);
    let accepted = storm.succeeded.count();
    let accepted_rate = storm.per_second();
    let accepted_max = storm.succeeded.max_micros();
    let mut results = ScenarioResults::default();
    results.measurements.push(row(3, "ValidateSession, 16 in flight, during the login storm", validation, ""));
    let storm_failures = storm.failures_text();
    results.measurements.push(Measurement {
        scenario: 3,
        name: format!("Login storm, {storm_logins} in flight: accepted logins"),
        per_second: Some(accepted_rate),
        latencies: Some(storm.succeeded),
        note: format!("{accepted} accepted"),
    });
    results.measurements.push(Measurement {
        scenario: 3,
        name: format!("Login storm, {storm_logins} in flight: refused logins (each client then waits 100 ms)"),
        per_second: Some(storm.failed.count() as f64 / storm.elapsed.as_secs_f64()),
        latencies: Some(storm.failed),
        note: storm_failures,
    });
    results.measurements.push(Measurement {
        scenario: 3,
        name: "broker + directory resident memory, peak during the storm".to_owned(),
        per_second: None,
        latencies: None,
        note: mib(peak_memory),
    });
    results.bars.push(BarCheck {
        scenario: 3,
        bar: "validation p99 ≤ 5 ms during the login storm".to_owned(),
        measured: format!("{validation_p99} µs"),
        reached: validation_p99 <= 5_000,
    });
    results.bars.push(BarCheck {
        scenario: 3,
        bar: "excess logins refused with RESOURCE_EXHAUSTED within 50 ms (p99), none failing otherwise, accepted ones not queued without bound".to_owned(),
        measured: format!(
            "{refused} refused, p99 {refusal_p99} µs; {other_failures} other failures; slowest accepted {:.1} ms",
            accepted_max as f64 / 1000.0
        ),
        reached: refusal_p99 <= 50_000 && other_failures == 0 && accepted_max <= 5_000_000,
    });
    results.bars.push(BarCheck {
        scenario: 3,
        bar: "broker + directory resident memory ≤ 512 MB".to_owned(),
        measured: mib(peak_memory),
        reached: peak_memory <= 512 * 1024 * 1024,
    });
    Ok(results)
}
