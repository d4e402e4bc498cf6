//! Scenarios 4 and 5 of issue 6: the directory.

use crate::report::ScenarioResults;
use crate::Options;

pub async fn run(_options: &Options) -> anyhow::Result<ScenarioResults> {
    Ok(ScenarioResults::default())
}
