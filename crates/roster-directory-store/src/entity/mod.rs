//! SeaORM entities, one per table, written by hand to match the migration.
//! Ids are UUID strings and JSON columns are text; `crate::convert` turns
//! rows into domain types. Relations are left out: queries join by filters
//! and sub-queries.

pub mod accounts;
pub mod audit_events;
pub mod group_assignable;
pub mod group_former_names;
pub mod group_permissions;
pub mod groups;
pub mod mail_outbox;
pub mod password_history;
pub mod permissions;
pub mod role_assignments;
pub mod stores;
pub mod user_permission_overrides;
pub mod user_tokens;
pub mod users;
