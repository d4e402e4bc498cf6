//! Roster's domain: the rules of PRODUCT.md as types and pure functions.
//!
//! Architecture invariant: this crate knows nothing about gRPC, protobuf,
//! SQL or Redis. Front ends convert their messages into these types by hand;
//! storage implements the traits in [`repository`]. A value of a newtype here
//! exists only if it is valid (parse, don't validate).

pub mod access;
pub mod account;
pub mod audit;
pub mod caller;
pub mod clock;
pub mod error;
pub mod filters;
pub mod freshness;
pub mod groups;
pub mod hashing_threads;
pub mod ids;
pub mod invitation;
pub mod lifecycle;
pub mod lockout;
pub mod mail;
pub mod names;
pub mod network;
pub mod paging;
pub mod password;
pub mod password_policy;
pub mod presets;
pub mod repository;
pub mod stores;
pub mod tokens;
pub mod users;

pub use error::{DomainError, ErrorCode, FieldViolation};
