//! Issue 6: the directory at scale.
//!
//! * `accounts.access_version`: a counter that every administrative write
//!   of the account bumps in its own transaction (the statement that takes
//!   the account's write lock, `crate::write`), and that a catalog write
//!   bumps for every account. Caches of the account's access (the
//!   directory's `AccessCache`) compare it to decide, in one primary-key
//!   read, whether what they hold is current, on every replica alike.
//! * Indexes for keyset pagination of `ListUsers` (ordered by id within an
//!   account, R44's page tokens) and its group and store filters, so a page
//!   costs the same at any depth and any account size.

use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The same SQL on both backends.
const UP_STATEMENTS: [&str; 5] = [
    "ALTER TABLE accounts ADD COLUMN access_version BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX users_account_id_idx ON users (account_id, id)",
    "CREATE INDEX role_assignments_group_user_idx ON role_assignments (group_id, user_id)",
    "CREATE INDEX role_assignments_store_user_idx ON role_assignments (store_id, user_id)",
    // Covered by the first index above.
    "DROP INDEX role_assignments_group_idx",
];

const DOWN_STATEMENTS: [&str; 5] = [
    "CREATE INDEX role_assignments_group_idx ON role_assignments (group_id)",
    "DROP INDEX role_assignments_store_user_idx",
    "DROP INDEX role_assignments_group_user_idx",
    "DROP INDEX users_account_id_idx",
    "ALTER TABLE accounts DROP COLUMN access_version",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for statement in UP_STATEMENTS {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for statement in DOWN_STATEMENTS {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
