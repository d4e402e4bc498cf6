//! `roster-bench`: drives Roster over gRPC against real Redis and
//! PostgreSQL (or SQLite where a scenario says so) and prints, for each
//! scenario, throughput and latency next to its reference measured in the
//! same run (issue 6). `scripts/bench` runs it and writes `BENCHMARKS.md`.

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
}

impl Options {
    pub fn wants(&self, scenario: u32) -> bool {
        self.scenarios.is_empty() || self.scenarios.contains(&scenario)
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut results = report::ScenarioResults::default();
        results.extend(session::run(&options).await?);
        results.extend(directory::run(&options).await?);
        report::write(&options, &results)?;
        Ok(())
    })
}
