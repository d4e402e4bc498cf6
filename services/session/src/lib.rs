//! The Roster session broker: login, one active session per credential,
//! validation for gateways, logout and revocation. Owns Redis (or, in the
//! embedded default, its own memory).
//!
//! `main.rs` only loads configuration, starts telemetry and runs an
//! [`app::Application`]; tests build the same application on port 0, with
//! an injected clock.

pub mod app;
pub mod grpc;
pub mod service;
pub mod settings;

pub use app::Application;
pub use settings::SessionSettings;
