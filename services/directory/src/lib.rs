//! The Roster user-directory service: accounts, users, groups, the
//! permission catalog, audit. Owns the relational database.
//!
//! `main.rs` only loads configuration, starts telemetry and runs an
//! [`app::Application`]; tests build the same application on port 0.

pub mod app;
pub mod auth;
pub mod grpc;
pub mod mail;
pub mod service;
pub mod settings;

pub use app::Application;
pub use settings::DirectorySettings;
