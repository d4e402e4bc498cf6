//! Thin gRPC adapter of `roster.session.v1.SessionService`: the only place in
//! the broker where `tonic::Status` appears.

pub mod sessions;
