//! Reads criterion's console output (what `cargo bench` printed), so that
//! the report can judge the bar that criterion measures: Roster's
//! permission resolution against casbin's enforcer (scenario 4).

use std::collections::BTreeMap;
use std::path::Path;

/// Each benchmark's name and its middle time estimate, in nanoseconds.
pub fn estimates(text: &str) -> BTreeMap<String, f64> {
    let mut found = BTreeMap::new();
    let mut name: Option<String> = None;
    for line in text.lines() {
        // A short name shares its line with the time; a long one stands
        // alone on the line before.
        let (head, time) = match line.split_once("time:") {
            Some((head, time)) => (head, Some(time)),
            None => (line, None),
        };
        let head = head.trim_end();
        if !head.is_empty() && !line.starts_with(char::is_whitespace) && is_benchmark_name(head) {
            name = Some(head.to_owned());
        }
        let (Some(time), Some(current)) = (time, name.as_ref()) else {
            continue;
        };
        if let Some(nanos) = middle_estimate(time) {
            found.insert(current.clone(), nanos);
        }
    }
    found
}

/// Criterion's other lines are prose ("Benchmarking x: Warming up", "Found 3
/// outliers"); names are a single word with slashes.
fn is_benchmark_name(text: &str) -> bool {
    !text.contains(char::is_whitespace) && !text.ends_with(':')
}

/// `[1.0 µs 1.1 µs 1.2 µs]` → 1100.0.
fn middle_estimate(time: &str) -> Option<f64> {
    let inside = time.trim().strip_prefix('[')?.split(']').next()?;
    let parts: Vec<&str> = inside.split_whitespace().collect();
    let [_, _, value, unit, _, _] = parts.as_slice() else {
        return None;
    };
    let scale = match *unit {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    value.parse::<f64>().ok().map(|value| value * scale)
}

/// The estimates in the file at `path`; empty when it cannot be read.
pub fn estimates_in(path: &Path) -> BTreeMap<String, f64> {
    std::fs::read_to_string(path).map(|text| estimates(&text)).unwrap_or_default()
}

/// A duration in nanoseconds, in criterion's units.
pub fn human(nanos: f64) -> String {
    match nanos {
        n if n >= 1e9 => format!("{:.2} s", n / 1e9),
        n if n >= 1e6 => format!("{:.1} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
Benchmarking check_permission/roster_holds_one: Warming up for 3.0000 s
Benchmarking check_permission/roster_holds_one: Collecting 100 samples in estimated 5.0 s (4.9M iterations)
check_permission/roster_holds_one
                        time:   [1.0089 µs 1.0234 µs 1.0412 µs]
Found 6 outliers among 100 measurements (6.00%)
  4 (4.00%) high mild
check_permission/casbin_enforce
                        time:   [290.11 ms 292.47 ms 295.02 ms]
                        change: [-1.2% +0.3% +1.9%] (p = 0.71 > 0.05)
short   time:   [12.5 ns 12.6 ns 12.7 ns]
";

    #[test]
    fn names_and_middle_estimates_are_read_in_nanoseconds() {
        let found = estimates(OUTPUT);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!((found["check_permission/roster_holds_one"] - 1023.4).abs() < 1e-6);
        assert!((found["check_permission/casbin_enforce"] - 292_470_000.0).abs() < 1e-3);
        assert!((found["short"] - 12.6).abs() < 1e-9);
    }

    #[test]
    fn prose_and_change_lines_are_not_taken_for_times() {
        let found = estimates("Gnuplot not found, using plotters backend\n  change: [-1% +0% +1%]\n");
        assert!(found.is_empty());
    }

    #[test]
    fn durations_print_in_criterion_units() {
        assert_eq!(human(1023.4), "1.02 µs");
        assert_eq!(human(292_470_000.0), "292.5 ms");
        assert_eq!(human(12.6), "13 ns");
    }
}
