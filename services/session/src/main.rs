//! `roster-session`: loads configuration (defaults → `--config` TOML file →
//! `ROSTER_SESSION__*` environment), starts telemetry, runs the broker until
//! SIGTERM or Ctrl-C.

use std::collections::HashMap;

use roster_server::config::{config_file_from_args, load_section};
use roster_server::runtime;
use roster_server::shutdown::shutdown_signal;
use roster_server::telemetry::init_telemetry;
use roster_session::{Application, SessionSettings};

fn main() -> anyhow::Result<()> {
    let environment: HashMap<String, String> = std::env::vars().collect();
    let arguments: Vec<String> = std::env::args().collect();
    let config_file = config_file_from_args(&arguments, &environment);
    let settings: SessionSettings = load_section("session", config_file.as_deref(), &environment)?;
    // Sized by the settings, so built before anything runs on it.
    runtime::build(settings.worker_threads)?.block_on(run(settings))
}

async fn run(settings: SessionSettings) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("roster-session", &settings.telemetry)?;
    let application = Application::build(settings).await?;
    tracing::info!(address = %application.local_address(), "session broker listening");
    application.run_until_stopped(shutdown_signal()).await
}
