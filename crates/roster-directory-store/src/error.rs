//! The one place where database errors become domain errors.
//!
//! `DbErr` never leaves this crate as a type: a dead connection or pool is
//! `Unavailable { dependency: "database" }`, a known unique constraint is
//! `AlreadyExists` naming the request field, anything else is `Internal`
//! (its cause kept for the logs, never shown to a caller).

use roster_domain::DomainError;
use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// The dependency name of every database error.
pub const DATABASE: &str = "database";

/// A unique constraint the domain gives a meaning to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UniqueKey {
    AccountSlug,
    LoginName,
    Email,
}

impl UniqueKey {
    /// Which key a unique violation hit. Both backends name it in the message:
    /// PostgreSQL by constraint (`users_login_key_unique`), SQLite by columns
    /// (`users.account_id, users.login_key`).
    fn of(error: &DbErr) -> Option<Self> {
        let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err() else {
            return None;
        };
        if message.contains("login_key") {
            Some(Self::LoginName)
        } else if message.contains("email_key") {
            Some(Self::Email)
        } else if message.contains("accounts_slug_key") || message.contains("accounts.slug") {
            Some(Self::AccountSlug)
        } else {
            None
        }
    }

    fn into_domain(self) -> DomainError {
        match self {
            Self::AccountSlug => {
                DomainError::AlreadyExists { entity: "account", field: "slug", reason: "ACCOUNT_SLUG_TAKEN" }
            }
            Self::LoginName => {
                DomainError::AlreadyExists { entity: "user", field: "owner.login_name", reason: "LOGIN_NAME_TAKEN" }
            }
            Self::Email => DomainError::AlreadyExists { entity: "user", field: "owner.email", reason: "EMAIL_TAKEN" },
        }
    }
}

/// Whether the database could not be reached or gave up on us, as opposed to
/// refusing a statement.
fn is_connection_failure(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx_error)) | DbErr::Query(RuntimeErr::SqlxError(sqlx_error)) => {
            match sqlx_error {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(database_error) => {
                    let code = database_error.code().unwrap_or_default();
                    // PostgreSQL: class 08 connection exceptions, 53 out of
                    // resources, 57P0x shutdowns. SQLite: 5 BUSY and 6 LOCKED
                    // once the busy timeout is spent.
                    code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57P0")
                        || matches!(code.as_ref(), "5" | "6")
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Maps a database error met while doing `context` (lowercase, `"creating an
/// account"`) to the domain's error table.
pub(crate) fn database_error(context: &'static str, error: DbErr) -> DomainError {
    if let Some(key) = UniqueKey::of(&error) {
        return key.into_domain();
    }
    if is_connection_failure(&error) {
        return DomainError::unavailable(DATABASE, error);
    }
    DomainError::internal(context, error)
}

/// A closure for `map_err` that maps with [`database_error`].
pub(crate) fn failed(context: &'static str) -> impl Fn(DbErr) -> DomainError {
    move |error| database_error(context, error)
}

/// A stored value that does not parse: a bug or a hand-edited row.
pub(crate) fn corrupt_row(table: &'static str, column: &str, problem: impl std::fmt::Display) -> DomainError {
    DomainError::internal("reading a stored row", format!("{table}.{column} holds an invalid value: {problem}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_errors_are_unavailable_and_others_internal() {
        let unavailable = database_error("testing", DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        assert_eq!(unavailable.code(), roster_domain::ErrorCode::Unavailable);
        assert_eq!(unavailable.to_string(), "database unavailable");
        let internal = database_error("testing", DbErr::Custom("boom".into()));
        assert_eq!(internal.code(), roster_domain::ErrorCode::Internal);
        assert_eq!(internal.public_message(), "internal error");
    }
}
