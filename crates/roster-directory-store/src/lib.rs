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
//!   appear in no log, span or `Debug` output (R9), nor in an audit event.
//! - Every administrative write to an account first takes that account's
//!   write lock (`write`): on PostgreSQL an advisory lock on the account and
//!   `FOR NO KEY UPDATE` on its row, the database write lock on SQLite.
//!   Checks made inside the transaction (the owner is still the owner, no
//!   group cycle, no former name taken, a group is unused) therefore still
//!   hold at commit, on both backends. Writes that only add users share the
//!   advisory lock with each other on PostgreSQL.
//! - The audit log is append-only in the schema itself (R44): triggers
//!   refuse `UPDATE` and `DELETE` on `audit_events`.
//!
//! Code map: `accounts`, `administration` (account edits, ownership),
//! `credentials`, `platform`; `users` and `roles` (user writes), `profiles`
//! (user reads), `grants` (assignment and override rows); `groups` and
//! `group_rows`; `stores`; `permissions` (the catalog); `access` (what
//! authorization reads); `audit_log` (listing, denied calls), `audit` and
//! `changes` (writing events); `references` (checks that what a change
//! names belongs to the account); `convert`, `error`, `write`, `seed`;
//! `listener` (PostgreSQL's access-change notifications); `scratch` (a
//! fresh PostgreSQL database for tests and tools).

mod access;
mod accounts;
mod administration;
mod audit;
mod audit_log;
mod changes;
mod convert;
mod credentials;
mod entity;
mod error;
mod grants;
mod group_rows;
mod groups;
mod invitations;
mod listener;
pub mod migration;
mod outbox;
mod passwords;
mod permissions;
mod platform;
mod profiles;
mod references;
mod roles;
pub mod scratch;
mod seed;
mod store;
mod stores;
mod users;
mod write;

pub use error::DATABASE;
pub use migration::Migrator;
pub use platform::PLATFORM_DISPLAY_NAME;
pub use store::SeaDirectoryStore;
