//! Schema migrations (sea-orm-migration), the same for SQLite and
//! PostgreSQL. The DDL is raw SQL with a tiny per-backend type map because
//! the schema needs things SeaORM's schema builder cannot say on both
//! backends, such as the deferrable composite owner foreign key (R1).

mod m20250601_000001_directory_schema;
mod m20250601_000002_append_only_audit_log;
mod m20250701_000003_login_lockout;
mod m20261203_000001_invitations_and_mail_outbox;
mod m20261203_000100_directory_at_scale;
mod m20261203_000200_access_notifications;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// Every migration of the directory's schema, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250601_000001_directory_schema::Migration),
            Box::new(m20250601_000002_append_only_audit_log::Migration),
            Box::new(m20250701_000003_login_lockout::Migration),
            Box::new(m20261203_000001_invitations_and_mail_outbox::Migration),
            Box::new(m20261203_000100_directory_at_scale::Migration),
            Box::new(m20261203_000200_access_notifications::Migration),
        ]
    }
}

/// An arbitrary, fixed key for PostgreSQL's advisory lock, so that replicas
/// starting together apply migrations one after the other.
const MIGRATION_LOCK_KEY: i64 = 0x526f_7374_6572_0001;

/// Applies every pending migration in one transaction, so that a failed
/// migration leaves nothing half-done (both backends have transactional
/// DDL). On PostgreSQL the transaction first takes an advisory lock, so that
/// replicas starting together apply migrations one after the other; on
/// SQLite the first write takes the database's write lock, which does the
/// same.
pub async fn run_migrations(database: &DatabaseConnection) -> Result<(), DbErr> {
    let transaction = database.begin().await?;
    if database.get_database_backend() == DatabaseBackend::Postgres {
        transaction
            .execute(Statement::from_string(
                DatabaseBackend::Postgres,
                format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"),
            ))
            .await?;
    }
    Migrator::up(&transaction, None).await?;
    transaction.commit().await
}
