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

/// Where a request puts the fields a unique violation names: a user's own
/// request has `login_name`, a sign-up nests the owner (`owner.login_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldPrefix {
    /// Top-level fields (`login_name`, `email`).
    None,
    /// The owner of a sign-up (`owner.login_name`, `owner.email`).
    Owner,
}

impl FieldPrefix {
    fn login_name(self) -> &'static str {
        match self {
            Self::None => "login_name",
            Self::Owner => "owner.login_name",
        }
    }

    fn email(self) -> &'static str {
        match self {
            Self::None => "email",
            Self::Owner => "owner.email",
        }
    }
}

/// A unique constraint the domain gives a meaning to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UniqueKey {
    AccountSlug,
    LoginName,
    Email,
    GroupName,
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
        } else if message.contains("groups_name_key_unique") || message.contains("groups.name_key") {
            Some(Self::GroupName)
        } else if message.contains("accounts_slug_key") || message.contains("accounts.slug") {
            Some(Self::AccountSlug)
        } else {
            None
        }
    }

    fn into_domain(self, prefix: FieldPrefix) -> DomainError {
        match self {
            Self::AccountSlug => {
                DomainError::AlreadyExists { entity: "account", field: "slug", reason: "ACCOUNT_SLUG_TAKEN" }
            }
            Self::LoginName => {
                DomainError::AlreadyExists { entity: "user", field: prefix.login_name(), reason: "LOGIN_NAME_TAKEN" }
            }
            Self::Email => DomainError::AlreadyExists { entity: "user", field: prefix.email(), reason: "EMAIL_TAKEN" },
            Self::GroupName => group_name_taken(),
        }
    }
}

/// R25: a group name that is the current or a former name of another group.
pub(crate) fn group_name_taken() -> DomainError {
    DomainError::AlreadyExists { entity: "group", field: "name", reason: "GROUP_NAME_TAKEN" }
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
/// account"`) to the domain's error table; unique violations name top-level
/// request fields.
pub(crate) fn database_error(context: &'static str, error: DbErr) -> DomainError {
    database_error_under(context, FieldPrefix::None, error)
}

/// [`database_error`] for a request whose user fields sit under `prefix`.
pub(crate) fn database_error_under(context: &'static str, prefix: FieldPrefix, error: DbErr) -> DomainError {
    if let Some(key) = UniqueKey::of(&error) {
        return key.into_domain(prefix);
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

/// A closure for `map_err` that maps with [`database_error_under`].
pub(crate) fn failed_under(context: &'static str, prefix: FieldPrefix) -> impl Fn(DbErr) -> DomainError {
    move |error| database_error_under(context, prefix, error)
}

/// Whether a statement broke a foreign key: a row of another account, or
/// one deleted by a transaction that committed first.
pub(crate) fn is_foreign_key_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_)))
}

/// A closure for `map_err`: a foreign key failure means `missing` is gone
/// (or never was in this account); anything else maps with
/// [`database_error`].
pub(crate) fn failed_or_missing(context: &'static str, missing: fn() -> DomainError) -> impl Fn(DbErr) -> DomainError {
    move |error| if is_foreign_key_violation(&error) { missing() } else { database_error(context, error) }
}

/// `NOT_FOUND` for an account.
pub(crate) fn account_not_found() -> DomainError {
    DomainError::NotFound { entity: "account", reason: "ACCOUNT_NOT_FOUND" }
}

/// `NOT_FOUND` for a user not of this account.
pub(crate) fn user_not_found() -> DomainError {
    DomainError::NotFound { entity: "user", reason: "USER_NOT_FOUND" }
}

/// `NOT_FOUND` for a group not of this account.
pub(crate) fn group_not_found() -> DomainError {
    DomainError::NotFound { entity: "group", reason: "GROUP_NOT_FOUND" }
}

/// `NOT_FOUND` for a store not of this account.
pub(crate) fn store_not_found() -> DomainError {
    DomainError::NotFound { entity: "store", reason: "STORE_NOT_FOUND" }
}

/// `NOT_FOUND` for a permission missing from the catalog.
pub(crate) fn permission_not_found() -> DomainError {
    DomainError::NotFound { entity: "permission", reason: "PERMISSION_NOT_FOUND" }
}

/// `INVALID_ARGUMENT` on `page_token`: a cursor this list never handed out.
pub(crate) fn invalid_page_token() -> DomainError {
    DomainError::invalid_field("page_token", "is not a page token of this list")
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
