//! Scenario 2 (logins of distinct users against argon2id on every core)
//! and scenario 7 (1,000 racing logins of one credential, repeatedly).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use roster_domain::password::Argon2Settings;
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::{LoginRequest, ValidateSessionRequest};

use super::load::{closed_loop, connections, failure};
use super::references;
use super::setup::{Bench, BenchUser, ACCOUNT, CLIENT_ADDRESS, PASSWORD, USER_AGENT};
use crate::report::{BarCheck, Latencies, Measurement, ScenarioResults};
use crate::Options;

fn login_request(login_name: &str) -> LoginRequest {
    LoginRequest {
        account: ACCOUNT.to_owned(),
        login_name: login_name.to_owned(),
        password: PASSWORD.to_owned(),
        client_address: CLIENT_ADDRESS.to_owned(),
        user_agent: USER_AGENT.to_owned(),
    }
}

/// Scenario 2: logins of distinct users, two per core in flight (enough to
/// keep every hashing worker busy without overflowing its queue), next to
/// argon2id verifications on every core in this process.
pub async fn scenario_2(
    bench: &Bench,
    options: &Options,
    users: Arc<Vec<BenchUser>>,
) -> anyhow::Result<ScenarioResults> {
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let in_flight = options.logins_per_core.max(1) * cores;
    let duration = options.duration();
    let settings =
        Argon2Settings { memory_kib: options.argon2_memory_kib, iterations: options.argon2_iterations, parallelism: 1 };
    let reference =
        tokio::task::spawn_blocking(move || references::argon2_verifications_per_second(settings, duration)).await??;

    let channels = connections(&bench.cluster.session_url, options.connections).await?;
    let logins = closed_loop(in_flight, duration, move |worker, iteration| {
        let mut client = SessionServiceClient::new(channels[worker % channels.len()].clone());
        // Distinct users: worker w takes users w, w + in_flight, ...
        let user = &users[(iteration as usize * in_flight + worker) % users.len()];
        let request = login_request(&user.login_name);
        async move { client.login(request).await.map(|_| ()).map_err(|status| failure(&status)) }
    })
    .await;
    let rate = logins.per_second();
    let failures = logins.failures_text();
    let mut results = ScenarioResults::default();
    results.measurements.push(Measurement {
        scenario: 2,
        name: format!("Login, distinct users, {in_flight} in flight"),
        per_second: Some(rate),
        latencies: Some(logins.succeeded),
        note: if failures.is_empty() { String::new() } else { format!("failures: {failures}") },
    });
    results.measurements.push(Measurement {
        scenario: 2,
        name: format!(
            "reference: argon2id verifications on {cores} cores in process (m={} KiB, t={}, p=1)",
            settings.memory_kib, settings.iterations
        ),
        per_second: Some(reference),
        latencies: None,
        note: String::new(),
    });
    results.bars.push(BarCheck {
        scenario: 2,
        bar: "Login ≥ 85% of argon2id verifications per second".to_owned(),
        measured: format!("{:.0}% ({rate:.1} / {reference:.1} per s)", rate / reference * 100.0),
        reached: rate >= 0.85 * reference,
    });
    Ok(results)
}

/// Scenario 7: `race_logins` logins of one credential at once, repeated;
/// each time exactly one of the tokens handed out must validate, every
/// other one answering SESSION_REPLACED, and nothing but overload
/// (RESOURCE_EXHAUSTED) may refuse a correct login.
pub async fn scenario_7(bench: &Bench, options: &Options, racer: &BenchUser) -> anyhow::Result<ScenarioResults> {
    let channels = connections(&bench.cluster.session_url, options.connections).await?;
    let mut round_times = Latencies::default();
    let mut passed = 0;
    let mut problems = Vec::new();
    let (mut fewest, mut most) = (usize::MAX, 0);
    for repetition in 0..options.race_repetitions {
        let started = Instant::now();
        let logins = (0..options.race_logins).map(|index| {
            let mut client = SessionServiceClient::new(channels[index % channels.len()].clone());
            let request = login_request(&racer.login_name);
            tokio::spawn(async move { client.login(request).await })
        });
        let mut tokens = Vec::new();
        let mut unexpected = 0;
        for login in futures::future::join_all(logins).await {
            match login? {
                Ok(response) => tokens.push(response.into_inner().token),
                Err(status) if status.code() == tonic::Code::ResourceExhausted => {}
                Err(_) => unexpected += 1,
            }
        }
        round_times.record(started.elapsed());
        let unique = tokens.iter().collect::<HashSet<_>>().len() == tokens.len();
        let mut valid = 0;
        let mut not_replaced = 0;
        for (index, token) in tokens.iter().enumerate() {
            let mut client = SessionServiceClient::new(channels[index % channels.len()].clone());
            match client.validate_session(ValidateSessionRequest { token: token.clone(), ..Default::default() }).await {
                Ok(_) => valid += 1,
                Err(status) if roster_e2e::status::reason(&status) == "SESSION_REPLACED" => {}
                Err(_) => not_replaced += 1,
            }
        }
        fewest = fewest.min(tokens.len());
        most = most.max(tokens.len());
        if valid == 1 && unique && unexpected == 0 && not_replaced == 0 {
            passed += 1;
        } else {
            problems.push(format!(
                "repetition {repetition}: {valid} valid of {} tokens, {unexpected} unexpected refusals, {not_replaced} \
                 dead for another reason",
                tokens.len()
            ));
        }
    }
    let repetitions = options.race_repetitions;
    let mut results = ScenarioResults::default();
    results.measurements.push(Measurement {
        scenario: 7,
        name: format!(
            "{} racing logins of one credential, {repetitions} repetitions (time per round)",
            options.race_logins
        ),
        per_second: None,
        latencies: Some(round_times),
        note: format!(
            "{fewest}–{most} logins accepted per round, the rest RESOURCE_EXHAUSTED; {}",
            problems.join("; ")
        ),
    });
    results.bars.push(BarCheck {
        scenario: 7,
        bar: format!("exactly one valid token after {} racing logins, every time", options.race_logins),
        measured: format!("{passed} of {repetitions} repetitions"),
        reached: passed == repetitions && repetitions > 0,
    });
    Ok(results)
}
