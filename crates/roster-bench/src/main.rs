//! `roster-bench`: drives Roster over gRPC against real Redis and
//! PostgreSQL (or SQLite where a scenario says so) and prints, for each
//! scenario, throughput and latency next to its reference measured in the
//! same run (issue 6). `scripts/bench` runs it and writes `BENCHMARKS.md`.

mod criterion;
mod directory;
mod report;
mod session;

use clap::Parser;

/// What to run and how hard.
#[derive(Debug, Clone, Parser)]
#[command(name = "roster-bench", about = "Roster's benchmark suite (issue 6)")]
pub struct Options {
    /// Scenarios to run (numbers from issue 6); all when empty.
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<u32>,
    /// Seconds each measured load runs.
    #[arg(long, default_value_t = 10)]
    pub duration_seconds: u64,
    /// Requests in flight for the throughput scenarios.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Divides the data sizes of the large scenarios (1 = the sizes issue 6
    /// names); for a quick look on a laptop.
    #[arg(long, default_value_t = 1)]
    pub scale_down: u64,
    /// Where the Markdown table goes.
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub output: std::path::PathBuf,
    /// The Redis the broker uses (best a redis-server of the benchmark's
    /// own: scenario 6 reads its memory, scenario 1 its GET rate).
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// A PostgreSQL server on which fresh databases are created.
    #[arg(long, default_value = "postgres://postgres:postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Scenario 1: live sessions validated (divided by `scale_down`).
    #[arg(long, default_value_t = 10_000)]
    pub live_sessions: u64,
    /// Scenario 6: sessions whose memory is measured (divided by
    /// `scale_down`).
    #[arg(long, default_value_t = 100_000)]
    pub memory_sessions: u64,
    /// Scenario 2: logins in flight per core (the broker admits four per
    /// core by default; the directory hashes on one thread per core).
    #[arg(long, default_value_t = 2)]
    pub logins_per_core: usize,
    /// Scenario 3: logins in flight during the storm.
    #[arg(long, default_value_t = 256)]
    pub storm_logins: usize,
    /// Scenario 7: racing logins of one credential, and how many times.
    #[arg(long, default_value_t = 1_000)]
    pub race_logins: usize,
    #[arg(long, default_value_t = 20)]
    pub race_repetitions: usize,
    /// HTTP/2 connections the load is spread over (a gateway keeps a few).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// argon2id cost the directory runs with in the benchmark (OWASP's,
    /// Roster's defaults).
    #[arg(long, default_value_t = 19_456)]
    pub argon2_memory_kib: u32,
    #[arg(long, default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Tokio workers of this load generator; 0: one per core. It shares
    /// the machine's cores with Roster, Redis and PostgreSQL; with one
    /// worker it and the broker each keep a core of their own in scenarios
    /// 1 and 3, as a gateway on another machine would, instead of their
    /// workers preempting each other mid-request.
    #[arg(long, default_value_t = 1)]
    pub client_workers: usize,
    /// The broker's `worker_threads` (`ROSTER_SESSION__WORKER_THREADS`);
    /// 0: one per core. See `client_workers`.
    #[arg(long, default_value_t = 1)]
    pub broker_workers: usize,
    /// The directory's `worker_threads` in scenarios 4 and 5, where it is
    /// the process under load (`ROSTER_DIRECTORY__WORKER_THREADS`); 0: one
    /// per core. Scenarios 2, 3 and 7 keep one per core: there the
    /// directory's hashing pool wants every core anyway.
    #[arg(long, default_value_t = 1)]
    pub directory_workers: usize,
    /// What `cargo bench -p roster-domain` printed (scripts/bench saves it):
    /// scenario 4's casbin bar is judged from it.
    #[arg(long)]
    pub criterion_output: Option<std::path::PathBuf>,
}

impl Options {
    pub fn wants(&self, scenario: u32) -> bool {
        self.scenarios.is_empty() || self.scenarios.contains(&scenario)
    }

    /// How long each measured load runs.
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.duration_seconds.max(1))
    }

    /// `size` divided by `scale_down`, at least 1.
    pub fn scaled(&self, size: u64) -> u64 {
        (size / self.scale_down.max(1)).max(1)
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    // The harness starts the binaries beside this one (release builds, under
    // `scripts/bench`), on the PostgreSQL named here. Set before any thread.
    if std::env::var_os(roster_e2e::cluster::BIN_DIR_VARIABLE).is_none() {
        let folder = std::env::current_exe()?.parent().map(std::path::Path::to_path_buf);
        if let Some(folder) = folder {
            std::env::set_var(roster_e2e::cluster::BIN_DIR_VARIABLE, folder);
        }
    }
    std::env::set_var("ROSTER_TEST_POSTGRES_URL", &options.postgres_url);
    let runtime = roster_server::runtime::build(options.client_workers)?;
    runtime.block_on(async move {
        let mut results = report::ScenarioResults::default();
        results.extend(session::run(&options).await?);
        results.extend(directory::run(&options).await?);
        report::write(&options, &results)?;
        Ok(())
    })
}
