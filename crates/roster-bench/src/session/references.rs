//! The references the session scenarios are held against, measured in the
//! same run: Redis's own GET rate, a no-op RPC through the broker's server
//! stack, and argon2id on every core.

use std::time::{Duration, Instant};

use anyhow::Context;
use roster_domain::password::{Argon2Settings, Password, PasswordHasher};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::load::{closed_loop, connections, LoadOutcome};

/// `redis-benchmark -t get -c <clients> -n <requests> -q` (no pipelining)
/// against the Redis at `url`: GETs per second.
pub fn redis_get_rate(url: &str, clients: usize, requests: u64) -> anyhow::Result<f64> {
    let (host, port) = host_and_port(url)?;
    let output = std::process::Command::new("redis-benchmark")
        .args(["-h", &host, "-p", &port.to_string(), "-t", "get", "-c", &clients.to_string()])
        .args(["-n", &requests.to_string(), "-q"])
        .output()
        .context("running redis-benchmark (apt package redis-tools; scripts/bench installs it)")?;
    anyhow::ensure!(output.status.success(), "redis-benchmark failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    // "-q" prints progress lines ending in \r, then "GET: 81234.57 requests per second, p50=...".
    let last = text.rsplit("GET: ").next().context("a GET line from redis-benchmark")?;
    let rate = last.split_whitespace().next().context("a GET rate")?;
    rate.parse().with_context(|| format!("reading redis-benchmark's rate {rate:?}"))
}

/// Host and port of a `redis://[user:password@]host:port[/db]` url.
fn host_and_port(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url.strip_prefix("redis://").context("a redis:// url")?;
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), port.parse()?)),
        None => Ok((authority.to_owned(), 6379)),
    }
}

/// `grpc.health.v1.Health/Check` on the broker's port at `in_flight`: the
/// same listener, HTTP/2 stack and tower layers (timeout, concurrency
/// limit, load shedding, tracing span) as ValidateSession, with no work
/// behind it. The framework's ceiling.
pub async fn no_op_rpc(
    url: &str,
    connection_count: usize,
    in_flight: usize,
    duration: Duration,
) -> anyhow::Result<LoadOutcome> {
    let channels = connections(url, connection_count).await?;
    Ok(closed_loop(in_flight, duration, move |worker, _| {
        let mut client = HealthClient::new(channels[worker % channels.len()].clone());
        async move {
            client
                .check(HealthCheckRequest { service: String::new() })
                .await
                .map(|_| ())
                .map_err(|status| super::load::failure(&status))
        }
    })
    .await)
}

/// argon2id verifications per second with `settings`, one thread per core,
/// in this process (roster-domain's hasher, as the directory runs it).
pub fn argon2_verifications_per_second(settings: Argon2Settings, duration: Duration) -> anyhow::Result<f64> {
    let hasher = PasswordHasher::new(settings).map_err(|error| anyhow::anyhow!("argon2 settings: {error}"))?;
    let password = Password::for_verification("benchmark password 1");
    let stored = hasher.hash_blocking(&password).map_err(|error| anyhow::anyhow!("hashing: {error}"))?;
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let start = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let (hasher, password, stored) =
                (hasher.clone(), Password::for_verification(password.expose()), stored.clone());
            std::thread::spawn(move || {
                // As the directory's hashing threads do: argon2's memory is
                // kept from one verification to the next.
                roster_domain::password::keep_argon2_memory_on_this_thread();
                let mut verified = 0u64;
                while start.elapsed() < duration {
                    assert!(hasher.verify_blocking(&password, Some(&stored)));
                    verified += 1;
                }
                verified
            })
        })
        .collect();
    let verified: u64 = threads.into_iter().map(|thread| thread.join().unwrap_or(0)).sum();
    Ok(verified as f64 / start.elapsed().as_secs_f64())
}
