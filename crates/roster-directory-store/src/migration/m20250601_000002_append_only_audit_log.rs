//! R44 as a database fact: `audit_events` accepts inserts only. `UPDATE` and
//! `DELETE` (and, on PostgreSQL, `TRUNCATE`) fail whoever issues them, so
//! neither a bug nor a hand-run statement can rewrite history.
//!
//! No foreign key points at `audit_events` and it points at nothing, so
//! deleting an account or a user never touches it.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The message both backends fail with.
const REFUSAL: &str = "audit log is append-only";

fn up_statements(backend: DatabaseBackend) -> Result<Vec<String>, DbErr> {
    match backend {
        DatabaseBackend::Postgres => Ok(vec![
            format!(
                "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege';
                END
                $$"
            ),
            // Statement-level: refused even when no row matches.
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
                .to_owned(),
        ]),
        DatabaseBackend::Sqlite => Ok(vec![
            format!(
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                 BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            ),
            format!(
                "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
                 BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            ),
        ]),
        DatabaseBackend::MySql => Err(DbErr::Migration("mysql is not a supported backend".to_owned())),
    }
}

fn down_statements(backend: DatabaseBackend) -> Vec<&'static str> {
    match backend {
        DatabaseBackend::Postgres => vec![
            "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
            "DROP FUNCTION IF EXISTS audit_events_append_only()",
        ],
        _ => vec!["DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete"],
    }
}

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
        for statement in down_statements(manager.get_database_backend()) {
            connection.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
