//! Thin gRPC adapters: parse protobuf into domain types (naming each bad
//! field), call the operation, convert the answer back. The only place in
//! the directory where `tonic::Status` appears.

pub mod accounts;
pub mod convert;
pub mod credentials;
