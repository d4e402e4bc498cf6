//! Write transactions that serialise with every other write to the same
//! account.
//!
//! Every mutation of an account's users, groups, stores and ownership starts
//! by locking the account's row, so that checks made inside the transaction
//! (the owner is still the owner, a parent change closes no cycle, a group
//! has no members, a name is not a former name of another group) still hold
//! when it commits, on both backends:
//!
//! - PostgreSQL: an `UPDATE` of the account row that changes no key column
//!   takes the row's `FOR NO KEY UPDATE` lock. It does not conflict with the
//!   `KEY SHARE` locks foreign key checks take, so sign-ups, logins and
//!   reads never wait for it.
//! - SQLite: the first statement is that write, which takes the database's
//!   write lock at once; the busy timeout then applies, instead of a failed
//!   read-to-write upgrade later.
//!
//! The `UPDATE` bumps `accounts.access_version` (issue 6): every write that
//! can change an account's access (groups, assignments, overrides, a user
//! blocked or deleted, the owner, the billing level) bumps it in its own
//! transaction, so a cache that compares it before answering is never
//! stale, on any replica. A catalog write bumps every account's. On
//! PostgreSQL each bump is also notified at commit (a trigger, see
//! `crate::listener`), tagged with the write's tag so that the replica that
//! made it knows when its own write has been heard.
//!
//! Writes that only add users (create, copy, invite) need the account to
//! hold still, not to be alone: on PostgreSQL they take a transaction-level
//! advisory lock on the account in shared mode, and every other write takes
//! the same advisory lock exclusively before its `UPDATE`. Adders therefore
//! run beside each other (their commits share WAL flushes; uniqueness of
//! login names and emails, R12, is the unique indexes' to keep) and never
//! beside another write of the account, which is what every check they make
//! (the groups and stores they assign exist) relies on. Advisory locks are
//! heavyweight locks, queued fairly, so a stream of invitations cannot
//! starve a waiting writer (row locks taken in shared mode could). On SQLite
//! there is one writer anyway.
//!
//! Other administrative writes are rare next to reads and logins, so one
//! writer per account costs nothing that matters and keeps every rule
//! race-free.

use roster_domain::ids::AccountId;
use roster_domain::DomainError;
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};

use crate::entity::accounts;
use crate::error::{account_not_found, failed};
use crate::listener::TAG_SETTING;
use crate::store::SeaDirectoryStore;

/// An arbitrary, fixed key for PostgreSQL's advisory lock on the global
/// permission catalog.
const CATALOG_LOCK_KEY: i64 = 0x526f_7374_6572_0002;

/// `accounts.access_version`, written only here and read by
/// `crate::access` (the entity leaves it out, so no other code can set it).
fn access_version() -> Alias {
    Alias::new("access_version")
}

/// The key of an account's advisory lock: FNV-1a of its id, the same on
/// every replica. Two accounts sharing a key only serialise more than they
/// need to.
fn account_lock_key(account_id: AccountId) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account_id.to_string().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Takes the account's advisory lock until the transaction ends, with
/// `function` (`pg_advisory_xact_lock` or `pg_advisory_xact_lock_shared`),
/// and for a write that bumps the access version, sets its tag for the
/// trigger that notifies the bump (`crate::listener`), in the same
/// statement.
async fn advisory_lock(
    transaction: &DatabaseTransaction,
    account_id: AccountId,
    function: &'static str,
    tag: Option<String>,
) -> Result<(), DomainError> {
    let key = account_lock_key(account_id).into();
    let statement = match tag {
        Some(tag) => Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("SELECT {function}($1), set_config('{TAG_SETTING}', $2, true)"),
            [key, tag.into()],
        ),
        None => Statement::from_sql_and_values(DatabaseBackend::Postgres, format!("SELECT {function}($1)"), [key]),
    };
    transaction.execute(statement).await.map_err(failed("locking an account"))?;
    Ok(())
}

impl SeaDirectoryStore {
    /// Begins a transaction holding `account_id`'s write lock, with the
    /// account's access version bumped, and returns it with the account row
    /// as of now. `NotFound` (`ACCOUNT_NOT_FOUND`) when the account does not
    /// exist.
    pub(crate) async fn begin_account_write(
        &self,
        account_id: AccountId,
    ) -> Result<(DatabaseTransaction, accounts::Model), DomainError> {
        self.lock_account(account_id, 1).await
    }

    /// As [`Self::begin_account_write`], for writes that only add users
    /// (create, copy, invite): the version stays, because no cache holds
    /// anything about a user before it exists (caches keep no negative
    /// answers), so caches stay warm while users are added in bulk. On
    /// PostgreSQL the lock is shared with other adders (see the module's
    /// documentation).
    pub(crate) async fn begin_adding_users(
        &self,
        account_id: AccountId,
    ) -> Result<(DatabaseTransaction, accounts::Model), DomainError> {
        if self.database.get_database_backend() != DatabaseBackend::Postgres {
            return self.lock_account(account_id, 0).await;
        }
        let transaction = self.database.begin().await.map_err(failed("starting a write"))?;
        advisory_lock(&transaction, account_id, "pg_advisory_xact_lock_shared", None).await?;
        let row = accounts::Entity::find_by_id(account_id.to_string())
            .one(&transaction)
            .await
            .map_err(failed("reading an account"))?
            .ok_or_else(account_not_found)?;
        Ok((transaction, row))
    }

    async fn lock_account(
        &self,
        account_id: AccountId,
        version_step: i64,
    ) -> Result<(DatabaseTransaction, accounts::Model), DomainError> {
        let transaction = self.database.begin().await.map_err(failed("starting a write"))?;
        if self.database.get_database_backend() == DatabaseBackend::Postgres {
            // Registered before anything is written: until its notification
            // arrives, this replica's cache asks the database (see
            // `roster_domain::freshness`).
            let tag = if version_step == 0 { None } else { self.own_write(Some(account_id)) };
            advisory_lock(&transaction, account_id, "pg_advisory_xact_lock", tag).await?;
        }
        let id = account_id.to_string();
        let touched = accounts::Entity::update_many()
            .col_expr(access_version(), Expr::col(access_version()).add(version_step))
            .filter(accounts::Column::Id.eq(id.as_str()))
            .exec(&transaction)
            .await
            .map_err(failed("locking an account"))?;
        let row = if touched.rows_affected == 0 {
            None
        } else {
            accounts::Entity::find_by_id(id).one(&transaction).await.map_err(failed("reading an account"))?
        };
        let row = row.ok_or_else(account_not_found)?;
        Ok((transaction, row))
    }

    /// Begins a transaction holding the permission catalog's write lock.
    pub(crate) async fn begin_catalog_write(&self) -> Result<DatabaseTransaction, DomainError> {
        let transaction = self.database.begin().await.map_err(failed("starting a write"))?;
        let backend = self.database.get_database_backend();
        let statement = match (backend, self.own_write(None)) {
            (DatabaseBackend::Postgres, Some(tag)) => Statement::from_sql_and_values(
                backend,
                format!("SELECT pg_advisory_xact_lock({CATALOG_LOCK_KEY}), set_config('{TAG_SETTING}', $1, true)"),
                [tag.into()],
            ),
            (DatabaseBackend::Postgres, None) => {
                Statement::from_string(backend, format!("SELECT pg_advisory_xact_lock({CATALOG_LOCK_KEY})"))
            }
            // A write that changes nothing still takes the write lock.
            _ => Statement::from_string(backend, "UPDATE permissions SET description = description WHERE 1 = 0"),
        };
        transaction.execute(statement).await.map_err(failed("locking the permission catalog"))?;
        // Every account's access may change with the catalog.
        accounts::Entity::update_many()
            .col_expr(access_version(), Expr::col(access_version()).add(1))
            .exec(&transaction)
            .await
            .map_err(failed("invalidating cached access"))?;
        Ok(transaction)
    }
}
