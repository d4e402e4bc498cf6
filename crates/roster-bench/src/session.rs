//! Scenarios 1, 2, 3, 6 and 7 of issue 6: the session broker.

use crate::report::ScenarioResults;
use crate::Options;

pub async fn run(_options: &Options) -> anyhow::Result<ScenarioResults> {
    Ok(ScenarioResults::default())
}
