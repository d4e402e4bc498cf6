//! The broker's operations in domain types; `crate::grpc` adapts them.

pub mod principal;
pub mod sessions;
