//! ARCHITECTURE.md's dependency invariants, held by reading `cargo metadata`:
//! the core crates know no transport and no storage.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// Every package (by name) that `package` depends on, transitively, for
/// normal (non-dev, non-build) builds.
fn transitive_dependencies(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| (package["id"].as_str().unwrap(), package["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, Vec<&str>> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let normal: Vec<&str> = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|dependency| {
                    dependency["dep_kinds"].as_array().unwrap().iter().any(|kind| kind["kind"].is_null())
                })
                .map(|dependency| dependency["pkg"].as_str().unwrap())
                .collect();
            (node["id"].as_str().unwrap(), normal)
        })
        .collect();
    let root = names.iter().find(|(_, name)| **name == package).map(|(id, _)| *id).expect("the package exists");
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        for dependency in nodes.get(id).into_iter().flatten() {
            if seen.insert(names[dependency].to_owned()) {
                stack.push(dependency);
            }
        }
    }
    seen
}

const TRANSPORT_AND_STORAGE: &[&str] = &["tonic", "prost", "hyper", "sea-orm", "sqlx", "redis"];

#[test]
fn core_crates_know_no_transport_and_no_storage() {
    for core in ["roster-domain", "roster-session-core"] {
        let dependencies = transitive_dependencies(core);
        for forbidden in TRANSPORT_AND_STORAGE {
            assert!(!dependencies.contains(*forbidden), "{core} must not depend on {forbidden}");
        }
    }
}

#[test]
fn storage_crates_know_no_transport() {
    for storage in ["roster-directory-store", "roster-session-redis"] {
        let dependencies = transitive_dependencies(storage);
        assert!(!dependencies.contains("tonic"), "{storage} must not depend on tonic");
    }
}

#[test]
fn the_session_broker_never_touches_the_directory_database() {
    let dependencies = transitive_dependencies("roster-session");
    assert!(!dependencies.contains("roster-directory-store"));
    assert!(!dependencies.contains("sea-orm"));
    let directory = transitive_dependencies("roster-directory");
    assert!(!directory.contains("redis"), "the directory reaches sessions only through the broker");
    // Positive controls: the walk does see real dependencies.
    assert!(directory.contains("sea-orm") && directory.contains("tonic"));
    assert!(dependencies.contains("redis"));
}
