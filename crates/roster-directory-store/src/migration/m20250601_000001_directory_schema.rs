//! The directory's first schema: accounts, users, the permission catalog,
//! groups, stores, role assignments, overrides and the audit log.
//!
//! Written as raw SQL so both backends get the same constraints, with a tiny
//! type map ([`ColumnTypes`]) for the few types that differ. Ids are UUID
//! strings in TEXT columns on both backends; JSON is TEXT.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The column types that differ between backends.
struct ColumnTypes {
    /// What SeaORM's `DateTimeUtc` binds to: TIMESTAMPTZ on PostgreSQL,
    /// RFC 3339 text on SQLite.
    timestamp: &'static str,
}

impl ColumnTypes {
    fn for_backend(backend: DatabaseBackend) -> Result<Self, DbErr> {
        match backend {
            DatabaseBackend::Postgres => Ok(Self { timestamp: "TIMESTAMPTZ" }),
            DatabaseBackend::Sqlite => Ok(Self { timestamp: "TEXT" }),
            DatabaseBackend::MySql => Err(DbErr::Migration("mysql is not a supported backend".to_owned())),
        }
    }
}

/// R1 as a database fact: the owner is a user of the same account, checked
/// at commit so that an account and its owner can be inserted in one
/// transaction, in either order.
const OWNER_FOREIGN_KEY: &str = "CONSTRAINT accounts_owner_fk FOREIGN KEY (owner_user_id, id) \
     REFERENCES users (id, account_id) DEFERRABLE INITIALLY DEFERRED";

fn create_statements(backend: DatabaseBackend) -> Result<Vec<String>, DbErr> {
    let ColumnTypes { timestamp: ts } = ColumnTypes::for_backend(backend)?;
    let is_sqlite = backend == DatabaseBackend::Sqlite;
    // SQLite cannot add a constraint to an existing table, but accepts a
    // foreign key to a table that does not exist yet; PostgreSQL the reverse.
    let inline_owner_key = if is_sqlite { format!(",\n            {OWNER_FOREIGN_KEY}") } else { String::new() };

    let mut statements = vec![
        format!(
            "CREATE TABLE accounts (
            id TEXT NOT NULL PRIMARY KEY,
            slug TEXT NOT NULL,
            display_name TEXT NOT NULL,
            billing_level TEXT NOT NULL CHECK (billing_level IN ('account', 'store')),
            is_platform BOOLEAN NOT NULL DEFAULT FALSE,
            owner_user_id TEXT NOT NULL,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            CONSTRAINT accounts_slug_key UNIQUE (slug){inline_owner_key}
        )"
        ),
        format!(
            "CREATE TABLE users (
            id TEXT NOT NULL PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            login_name TEXT NOT NULL,
            login_key TEXT NOT NULL,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            display_name TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('invited', 'active', 'blocked')),
            password_hash TEXT NULL,
            must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
            password_changed_at {ts} NULL,
            last_login_at {ts} NULL,
            ip_allowlist TEXT NOT NULL DEFAULT '[\"*\"]',
            data_filters TEXT NOT NULL DEFAULT '{{}}',
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            CONSTRAINT users_login_key_unique UNIQUE (account_id, login_key),
            CONSTRAINT users_email_key_unique UNIQUE (account_id, email_key),
            CONSTRAINT users_id_account_unique UNIQUE (id, account_id)
        )"
        ),
    ];
    if !is_sqlite {
        statements.push(format!("ALTER TABLE accounts ADD {OWNER_FOREIGN_KEY}"));
    }
    statements.extend([
        format!(
            "CREATE TABLE permissions (
            name TEXT NOT NULL PRIMARY KEY,
            description TEXT NOT NULL,
            scope_level TEXT NOT NULL CHECK (scope_level IN ('account', 'store', 'platform')),
            billing BOOLEAN NOT NULL DEFAULT FALSE,
            owner_only BOOLEAN NOT NULL DEFAULT FALSE,
            registered_by TEXT NOT NULL,
            created_at {ts} NOT NULL
        )"
        ),
        format!(
            "CREATE TABLE \"groups\" (
            id TEXT NOT NULL PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            parent_id TEXT NULL,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,
            is_template BOOLEAN NOT NULL DEFAULT FALSE,
            badge_colour TEXT NOT NULL,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            CONSTRAINT groups_name_key_unique UNIQUE (account_id, name_key),
            CONSTRAINT groups_id_account_unique UNIQUE (id, account_id),
            CONSTRAINT groups_parent_fk FOREIGN KEY (parent_id, account_id) REFERENCES \"groups\" (id, account_id),
            CONSTRAINT groups_parent_not_self CHECK (parent_id IS NULL OR parent_id <> id)
        )"
        ),
        "CREATE INDEX groups_parent_idx ON \"groups\" (parent_id)".to_owned(),
        "CREATE TABLE group_permissions (
            group_id TEXT NOT NULL REFERENCES \"groups\" (id) ON DELETE CASCADE,
            permission_name TEXT NOT NULL REFERENCES permissions (name),
            PRIMARY KEY (group_id, permission_name)
        )"
        .to_owned(),
        "CREATE TABLE group_assignable (
            group_id TEXT NOT NULL REFERENCES \"groups\" (id) ON DELETE CASCADE,
            assignable_group_id TEXT NOT NULL REFERENCES \"groups\" (id) ON DELETE CASCADE,
            PRIMARY KEY (group_id, assignable_group_id)
        )"
        .to_owned(),
        "CREATE INDEX group_assignable_target_idx ON group_assignable (assignable_group_id)".to_owned(),
        format!(
            "CREATE TABLE group_former_names (
            id TEXT NOT NULL PRIMARY KEY,
            group_id TEXT NOT NULL,
            account_id TEXT NOT NULL,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,
            renamed_at {ts} NOT NULL,
            CONSTRAINT group_former_names_group_fk FOREIGN KEY (group_id, account_id)
                REFERENCES \"groups\" (id, account_id) ON DELETE CASCADE
        )"
        ),
        "CREATE INDEX group_former_names_lookup_idx ON group_former_names (account_id, name_key)".to_owned(),
        "CREATE INDEX group_former_names_group_idx ON group_former_names (group_id)".to_owned(),
        format!(
            "CREATE TABLE stores (
            id TEXT NOT NULL PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            is_public BOOLEAN NOT NULL DEFAULT FALSE,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            CONSTRAINT stores_id_account_unique UNIQUE (id, account_id)
        )"
        ),
        "CREATE INDEX stores_account_idx ON stores (account_id)".to_owned(),
        format!(
            "CREATE TABLE role_assignments (
            id TEXT NOT NULL PRIMARY KEY,
            account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            group_id TEXT NOT NULL,
            store_id TEXT NULL,
            scope_key TEXT NOT NULL,
            created_at {ts} NOT NULL,
            CONSTRAINT role_assignments_unique UNIQUE (user_id, group_id, scope_key),
            CONSTRAINT role_assignments_user_fk FOREIGN KEY (user_id, account_id)
                REFERENCES users (id, account_id) ON DELETE CASCADE,
            CONSTRAINT role_assignments_group_fk FOREIGN KEY (group_id, account_id)
                REFERENCES \"groups\" (id, account_id) ON DELETE CASCADE,
            CONSTRAINT role_assignments_store_fk FOREIGN KEY (store_id, account_id)
                REFERENCES stores (id, account_id) ON DELETE CASCADE,
            CONSTRAINT role_assignments_scope_check CHECK (
                (store_id IS NULL AND scope_key = 'account') OR (store_id IS NOT NULL AND scope_key = store_id)
            )
        )"
        ),
        "CREATE INDEX role_assignments_group_idx ON role_assignments (group_id)".to_owned(),
        "CREATE INDEX role_assignments_account_store_idx ON role_assignments (account_id, store_id)".to_owned(),
        "CREATE TABLE user_permission_overrides (
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            permission_name TEXT NOT NULL REFERENCES permissions (name),
            effect TEXT NOT NULL CHECK (effect IN ('grant', 'revoke')),
            scope_key TEXT NOT NULL,
            PRIMARY KEY (user_id, permission_name, scope_key)
        )"
        .to_owned(),
        // No foreign keys: the log outlives the users it names (R8).
        format!(
            "CREATE TABLE audit_events (
            id TEXT NOT NULL PRIMARY KEY,
            account_id TEXT NULL,
            occurred_at {ts} NOT NULL,
            actor_id TEXT NULL,
            actor_name TEXT NULL,
            action TEXT NOT NULL,
            target_type TEXT NOT NULL,
            target_id TEXT NULL,
            target_name TEXT NULL,
            changes TEXT NOT NULL DEFAULT '{{}}',
            client_address TEXT NULL,
            user_agent TEXT NULL,
            trace_id TEXT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
            reason TEXT NULL
        )"
        ),
        "CREATE INDEX audit_events_time_idx ON audit_events (account_id, occurred_at)".to_owned(),
        "CREATE INDEX audit_events_action_idx ON audit_events (account_id, action)".to_owned(),
        "CREATE INDEX audit_events_actor_idx ON audit_events (account_id, actor_id)".to_owned(),
        "CREATE INDEX audit_events_target_idx ON audit_events (account_id, target_id)".to_owned(),
    ]);
    Ok(statements)
}

/// Tables in an order that can be dropped one by one.
const TABLES_CHILDREN_FIRST: &[&str] = &[
    "audit_events",
    "user_permission_overrides",
    "role_assignments",
    "stores",
    "group_former_names",
    "group_assignable",
    "group_permissions",
    "\"groups\"",
    "permissions",
    "users",
    "accounts",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        for statement in create_statements(manager.get_database_backend())? {
            connection.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        let is_postgres = manager.get_database_backend() == DatabaseBackend::Postgres;
        // The accounts <-> users cycle needs CASCADE on PostgreSQL. SQLite
        // empties a table before dropping it, which would trip the owner
        // key; emptying the accounts first cascades to every owned row.
        let cascade = if is_postgres { " CASCADE" } else { "" };
        if !is_postgres {
            connection.execute_unprepared("DELETE FROM accounts").await?;
        }
        for table in TABLES_CHILDREN_FIRST {
            connection.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}{cascade}")).await?;
        }
        Ok(())
    }
}
