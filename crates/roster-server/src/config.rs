//! Configuration in layers: defaults (each settings type's `Default`) → an
//! optional TOML file → environment variables (`ROSTER_<SECTION>__<KEY>`,
//! nested keys joined by `__`, for example `ROSTER_DIRECTORY__DATABASE__URL`).
//!
//! The loader takes the environment as an argument, so tests never need
//! `std::env::set_var`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] config::ConfigError);

/// Loads section `section` (`directory`, `session`) of the layered
/// configuration.
pub fn load_section<T>(
    section: &str,
    config_file: Option<&Path>,
    environment: &HashMap<String, String>,
) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Default,
{
    let mut builder = config::Config::builder();
    if let Some(path) = config_file {
        builder = builder.add_source(config::File::from(path).required(true));
    }
    let environment_source = config::Environment::with_prefix("ROSTER")
        .prefix_separator("_")
        .separator("__")
        .try_parsing(true)
        .source(Some(environment.clone().into_iter().collect()));
    let layered = builder.add_source(environment_source).build()?;
    match layered.get::<T>(section) {
        Ok(settings) => Ok(settings),
        Err(config::ConfigError::NotFound(_)) => Ok(T::default()),
        Err(error) => Err(ConfigError(error)),
    }
}

/// The `--config <file>` argument of a service binary, or `ROSTER_CONFIG`.
pub fn config_file_from_args(arguments: &[String], environment: &HashMap<String, String>) -> Option<PathBuf> {
    let mut position = 0;
    while position < arguments.len() {
        if arguments[position] == "--config" {
            return arguments.get(position + 1).map(PathBuf::from);
        }
        if let Some(path) = arguments[position].strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
        position += 1;
    }
    environment.get("ROSTER_CONFIG").map(PathBuf::from)
}

/// Tracing and OpenTelemetry export.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TelemetrySettings {
    /// OTLP/gRPC collector (`http://127.0.0.1:4317`); nothing is exported
    /// when unset.
    pub otlp_endpoint: Option<String>,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// An `EnvFilter` directive; `RUST_LOG` wins when set.
    pub log_filter: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self { otlp_endpoint: None, log_format: "text".to_owned(), log_filter: "info".to_owned() }
    }
}

/// The protective limits of the tower stack.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ServerLimits {
    /// A request still running after this long is cancelled.
    pub request_timeout_ms: u64,
    /// In-flight requests per connection before new ones are shed with
    /// `RESOURCE_EXHAUSTED`.
    pub max_in_flight_per_connection: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self { request_timeout_ms: 10_000, max_in_flight_per_connection: 1_024 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Sample {
        listen_address: String,
        database: Database,
        limits: ServerLimits,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Database {
        url: String,
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("roster.toml");
        std::fs::write(
            &file,
            "[directory]\nlisten_address = \"from-file\"\n[directory.database]\nurl = \"file-url\"\n",
        )
        .unwrap();
        let environment = HashMap::from([
            ("ROSTER_DIRECTORY__DATABASE__URL".to_owned(), "env-url".to_owned()),
            ("ROSTER_DIRECTORY__LIMITS__REQUEST_TIMEOUT_MS".to_owned(), "250".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ]);
        let loaded: Sample = load_section("directory", Some(&file), &environment).unwrap();
        assert_eq!(loaded.listen_address, "from-file");
        assert_eq!(loaded.database.url, "env-url");
        assert_eq!(loaded.limits.request_timeout_ms, 250);
        assert_eq!(loaded.limits.max_in_flight_per_connection, 1_024);
    }

    #[test]
    fn no_file_and_no_environment_gives_the_defaults() {
        let loaded: Sample = load_section("directory", None, &HashMap::new()).unwrap();
        assert_eq!(loaded, Sample::default());
    }

    #[test]
    fn the_config_flag_wins_over_the_environment_variable() {
        let arguments = vec!["bin".to_owned(), "--config".to_owned(), "a.toml".to_owned()];
        let environment = HashMap::from([("ROSTER_CONFIG".to_owned(), "b.toml".to_owned())]);
        assert_eq!(config_file_from_args(&arguments, &environment), Some(PathBuf::from("a.toml")));
        assert_eq!(config_file_from_args(&[], &environment), Some(PathBuf::from("b.toml")));
    }
}
