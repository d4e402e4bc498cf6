//! R39: per-credential lockout state on `users` (the rule is
//! `roster_domain::lockout`). `failed_login_count` counts login attempts
//! since the last success (an attempt counts before its password is
//! checked); `pending_logins` counts those still being checked;
//! `locked_until` is set when the count reaches the limit and cleared by a
//! success or by the first attempt after it has passed.
//!
//! The timestamp type follows the first migration's map: TIMESTAMPTZ on
//! PostgreSQL, RFC 3339 text on SQLite.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn timestamp_type(backend: DatabaseBackend) -> Result<&'static str, DbErr> {
    match backend {
        DatabaseBackend::Postgres => Ok("TIMESTAMPTZ"),
        DatabaseBackend::Sqlite => Ok("TEXT"),
        DatabaseBackend::MySql => Err(DbErr::Migration("mysql is not a supported backend".to_owned())),
    }
}

fn up_statements(backend: DatabaseBackend) -> Result<Vec<String>, DbErr> {
    let timestamp = timestamp_type(backend)?;
    Ok(vec![
        "ALTER TABLE users ADD COLUMN failed_login_count INTEGER NOT NULL DEFAULT 0 \
         CHECK (failed_login_count >= 0)"
            .to_owned(),
        "ALTER TABLE users ADD COLUMN pending_logins INTEGER NOT NULL DEFAULT 0 CHECK (pending_logins >= 0)".to_owned(),
        format!("ALTER TABLE users ADD COLUMN locked_until {timestamp} NULL"),
    ])
}

/// Both backends drop columns (SQLite since 3.35).
const DOWN_STATEMENTS: [&str; 3] = [
    "ALTER TABLE users DROP COLUMN locked_until",
    "ALTER TABLE users DROP COLUMN pending_logins",
    "ALTER TABLE users DROP COLUMN failed_login_count",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for statement in up_statements(manager.get_database_backend())? {
            connection.execute_unprepared(&statement).await?;
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
