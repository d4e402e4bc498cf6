//! The documented configuration example parses, and every key in it reaches
//! the settings (README and roster.example.toml stay true).

use std::collections::HashMap;
use std::path::PathBuf;

use roster_directory::settings::SignupPolicy;
use roster_directory::DirectorySettings;
use roster_server::config::load_section;
use roster_session::SessionSettings;

fn example_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../roster.example.toml")
}

#[test]
fn the_example_configuration_loads_for_both_services() {
    let directory: DirectorySettings = load_section("directory", Some(&example_file()), &HashMap::new()).unwrap();
    assert_eq!(directory.listen_address, "127.0.0.1:50051");
    assert_eq!(directory.signup, SignupPolicy::Open);
    assert_eq!(directory.argon2.memory_kib, 19_456);
    assert_eq!(directory.bootstrap.operator_login, "operator");
    let session: SessionSettings = load_section("session", Some(&example_file()), &HashMap::new()).unwrap();
    assert_eq!(session.idle_timeout_seconds, 900);
    assert_eq!(session.absolute_lifetime_seconds, 43_200);
    assert_eq!(session.redis.url, None);
    assert_eq!((directory.worker_threads, session.worker_threads), (0, 0));
}

#[test]
fn environment_variables_override_the_file() {
    let environment = HashMap::from([
        ("ROSTER_DIRECTORY__DATABASE__URL".to_owned(), "postgres://roster@db/roster".to_owned()),
        ("ROSTER_SESSION__REDIS__URL".to_owned(), "redis://cache:6379".to_owned()),
        ("ROSTER_SESSION__IDLE_TIMEOUT_SECONDS".to_owned(), "60".to_owned()),
        ("ROSTER_SESSION__WORKER_THREADS".to_owned(), "1".to_owned()),
        ("ROSTER_DIRECTORY__WORKER_THREADS".to_owned(), "3".to_owned()),
    ]);
    let directory: DirectorySettings = load_section("directory", Some(&example_file()), &environment).unwrap();
    assert_eq!(directory.database_url(), "postgres://roster@db/roster");
    let session: SessionSettings = load_section("session", Some(&example_file()), &environment).unwrap();
    assert_eq!(session.redis.url.as_deref(), Some("redis://cache:6379"));
    assert_eq!(session.idle_timeout_seconds, 60);
    assert_eq!((directory.worker_threads, session.worker_threads), (3, 1));
}

#[test]
fn with_nothing_configured_the_directory_uses_a_sqlite_file_under_data() {
    let directory: DirectorySettings = load_section("directory", None, &HashMap::new()).unwrap();
    assert_eq!(directory.database_url(), "sqlite://data/directory.db?mode=rwc");
}
