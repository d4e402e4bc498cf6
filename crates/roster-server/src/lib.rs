//! Plumbing both Roster services share, so that each exists once: the error
//! table's mapping to gRPC statuses, the tower stack, W3C trace-context
//! propagation, telemetry set-up, layered configuration, the runtime, the internal service
//! credential and shutdown signals.
//!
//! Architecture invariant: this crate holds no business rule. It knows
//! `DomainError` only to turn it into a `tonic::Status` (and back, for calls
//! between the services); `tonic::Status` is created nowhere else but in
//! this crate and the services' thin gRPC adapters.

pub mod access;
pub mod client;
pub mod config;
pub mod connection;
pub mod errors;
pub mod internal;
pub mod metadata;
pub mod reflection;
pub mod runtime;
pub mod shutdown;
pub mod stack;
pub mod telemetry;
