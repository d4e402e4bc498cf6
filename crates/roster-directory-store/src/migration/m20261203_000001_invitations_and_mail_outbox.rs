//! Issue 5: one-time tokens (invitations and password resets, R11, R18),
//! password history (PCI DSS v4 8.3.7) and the mail outbox.
//!
//! - `user_tokens` keeps only the SHA-256 of each token (`token_digest`),
//!   never the token. `state` is `pending`, `accepted` (spent), `revoked` or
//!   `superseded` (a resend or a newer reset replaced it).
//! - `password_history` keeps argon2id hashes of the passwords a user set,
//!   newest first by `created_at`, pruned to the policy's depth.
//! - `mail_outbox` is written in the transaction of the change that causes
//!   the mail and drained by the delivery worker. `claimed_until` is the
//!   lease of the worker that claimed a row; `sent_at` marks it done, and
//!   the bodies (which may hold a token) are erased then.
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
    let ts = timestamp_type(backend)?;
    Ok(vec![
        format!(
            "CREATE TABLE user_tokens (
            id TEXT NOT NULL PRIMARY KEY,
            account_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            purpose TEXT NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
            token_digest TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'revoked', 'superseded')),
            created_by TEXT NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            used_at {ts} NULL,
            CONSTRAINT user_tokens_digest_unique UNIQUE (token_digest),
            CONSTRAINT user_tokens_user_fk FOREIGN KEY (user_id, account_id)
                REFERENCES users (id, account_id) ON DELETE CASCADE
        )"
        ),
        "CREATE INDEX user_tokens_user_idx ON user_tokens (user_id, purpose, created_at)".to_owned(),
        format!(
            "CREATE TABLE password_history (
            id TEXT NOT NULL PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            password_hash TEXT NOT NULL,
            created_at {ts} NOT NULL
        )"
        ),
        "CREATE INDEX password_history_user_idx ON password_history (user_id, created_at)".to_owned(),
        format!(
            "CREATE TABLE mail_outbox (
            id TEXT NOT NULL PRIMARY KEY,
            account_id TEXT NULL,
            kind TEXT NOT NULL,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            text_body TEXT NOT NULL,
            html_body TEXT NOT NULL,
            created_at {ts} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at {ts} NOT NULL,
            claimed_until {ts} NULL,
            sent_at {ts} NULL,
            last_error TEXT NULL
        )"
        ),
        "CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL".to_owned(),
    ])
}

const DOWN_STATEMENTS: [&str; 3] = ["DROP TABLE mail_outbox", "DROP TABLE password_history", "DROP TABLE user_tokens"];

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
