//! The directory's storage: one SeaORM implementation of the repository
//! traits of `roster_domain::repository`, for SQLite and PostgreSQL alike.
//!
//! Architecture invariants:
//! - This crate knows nothing about gRPC or the session broker. It turns
//!   rows into domain types by hand (`convert`) and database errors into
//!   `DomainError` in one place (`error`); `sea_orm::DbErr` never crosses its
//!   boundary as a type.
//! - The same migrations and the same queries serve both backends; where the
//!   SQL differs (a few column types, where the owner key is declared) the
//!   migration says so in one type map.
//! - Rules that must hold at every moment are database facts: one owner per
//!   account from the same account (R1, a deferred composite foreign key),
//!   unique login names and emails per account (R12), and every change
//!   writes its audit event in the same transaction (R43).
//! - Password hashes are stored and handed to the login check only; they
//!   appear in no log, span or `Debug` output (R9).

mod accounts;
mod audit;
mod convert;
mod credentials;
mod entity;
mod error;
pub mod migration;
mod platform;
mod seed;
mod store;

pub use error::DATABASE;
pub use migration::Migrator;
pub use platform::PLATFORM_DISPLAY_NAME;
pub use store::SeaDirectoryStore;
