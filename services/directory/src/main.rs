//! `roster-directory`: loads configuration (defaults → `--config` TOML file →
//! `ROSTER_DIRECTORY__*` environment), starts telemetry, runs the service
//! until SIGTERM or Ctrl-C.

use std::collections::HashMap;

use roster_directory::{Application, DirectorySettings};
use roster_server::config::{config_file_from_args, load_section};
use roster_server::runtime;
use roster_server::shutdown::shutdown_signal;
use roster_server::telemetry::init_telemetry;

fn main() -> anyhow::Result<()> {
    let environment: HashMap<String, String> = std::env::vars().collect();
    let arguments: Vec<String> = std::env::args().collect();
    let config_file = config_file_from_args(&arguments, &environment);
    let settings: DirectorySettings = load_section("directory", config_file.as_deref(), &environment)?;
    // Sized by the settings, so built before anything runs on it.
    runtime::build(settings.worker_threads)?.block_on(run(settings))
}

async fn run(settings: DirectorySettings) -> anyhow::Result<()> {
    let _telemetry = init_telemetry("roster-directory", &settings.telemetry)?;
    let application = Application::build(settings).await?;
    tracing::info!(address = %application.local_address(), "directory listening");
    application.run_until_stopped(shutdown_signal()).await
}
