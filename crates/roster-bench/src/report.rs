//! One row per measurement, and the Markdown written from them.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies of one measured load, in microseconds.
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        // 1 µs to 60 s, three significant figures.
        Self { histogram: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds") }
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, 60_000_000);
        self.histogram.record(micros).expect("within bounds");
    }

    pub fn merge(&mut self, other: &Latencies) {
        self.histogram.add(&other.histogram).expect("same bounds");
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub fn quantile_micros(&self, quantile: f64) -> u64 {
        self.histogram.value_at_quantile(quantile)
    }

    pub fn max_micros(&self) -> u64 {
        self.histogram.max()
    }
}

/// One line of the results table.
pub struct Measurement {
    /// Issue 6's scenario number.
    pub scenario: u32,
    /// What was measured ("ValidateSession, 64 in flight").
    pub name: String,
    /// Operations per second, when the measurement is a rate.
    pub per_second: Option<f64>,
    /// Latencies, when they were recorded.
    pub latencies: Option<Latencies>,
    /// Anything else (a memory figure, a count), already formatted.
    pub note: String,
}

/// A bar of issue 6 and whether this run reached it.
pub struct BarCheck {
    pub scenario: u32,
    pub bar: String,
    pub measured: String,
    pub reached: bool,
}

/// What a scenario module hands back.
#[derive(Default)]
pub struct ScenarioResults {
    pub measurements: Vec<Measurement>,
    pub bars: Vec<BarCheck>,
}

impl ScenarioResults {
    pub fn extend(&mut self, other: ScenarioResults) {
        self.measurements.extend(other.measurements);
        self.bars.extend(other.bars);
    }
}

fn micros(value: u64) -> String {
    if value >= 10_000 {
        format!("{:.1} ms", value as f64 / 1000.0)
    } else {
        format!("{value} µs")
    }
}

/// Writes the Markdown report (and prints it).
pub fn write(options: &crate::Options, results: &ScenarioResults) -> anyhow::Result<()> {
    let mut out = String::new();
    out.push_str("| # | measurement | ops/s | p50 | p90 | p99 | max | note |\n|---|---|---|---|---|---|---|---|\n");
    for row in &results.measurements {
        let rate = row.per_second.map(|rate| format!("{rate:.0}")).unwrap_or_default();
        let (p50, p90, p99, max) = match &row.latencies {
            Some(latencies) => (
                micros(latencies.quantile_micros(0.50)),
                micros(latencies.quantile_micros(0.90)),
                micros(latencies.quantile_micros(0.99)),
                micros(latencies.max_micros()),
            ),
            None => Default::default(),
        };
        out.push_str(&format!(
            "| {} | {} | {rate} | {p50} | {p90} | {p99} | {max} | {} |\n",
            row.scenario, row.name, row.note
        ));
    }
    out.push_str("\n| # | bar | measured | reached |\n|---|---|---|---|\n");
    for bar in &results.bars {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            bar.scenario,
            bar.bar,
            bar.measured,
            if bar.reached { "yes" } else { "**no**" }
        ));
    }
    println!("{out}");
    std::fs::write(&options.output, out)?;
    Ok(())
}
