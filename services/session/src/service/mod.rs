//! The broker's operations in domain types; the gRPC adapters in
//! `crate::grpc` convert at the edge.

pub mod access;
pub mod admin;
pub mod audit;
pub mod directory;
pub mod principal;
pub mod sessions;
