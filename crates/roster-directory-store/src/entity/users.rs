//! `users`: one person, one login (R12), in one account.

use std::fmt;

use sea_orm::entity::prelude::*;

/// A user row. Its `Debug` never shows the password hash (R9).
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub login_name: String,
    /// NFKC-normalised, lower-cased login: unique per account.
    pub login_key: String,
    pub email: String,
    /// Lower-cased email: unique per account.
    pub email_key: String,
    pub display_name: String,
    /// `invited`, `active` or `blocked` (R17).
    pub status: String,
    /// Argon2id PHC string; `None` until a password is set.
    pub password_hash: Option<String>,
    pub must_change_password: bool,
    pub password_changed_at: Option<DateTimeUtc>,
    pub last_login_at: Option<DateTimeUtc>,
    /// JSON array of addresses and CIDR ranges (R15).
    pub ip_allowlist: String,
    /// JSON object of named value lists (R16).
    pub data_filters: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl fmt::Debug for Model {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("users::Model")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("login_name", &self.login_name)
            .field("login_key", &self.login_key)
            .field("email", &self.email)
            .field("email_key", &self.email_key)
            .field("display_name", &self.display_name)
            .field("status", &self.status)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "[redacted]"))
            .field("must_change_password", &self.must_change_password)
            .field("password_changed_at", &self.password_changed_at)
            .field("last_login_at", &self.last_login_at)
            .field("ip_allowlist", &self.ip_allowlist)
            .field("data_filters", &self.data_filters)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r9_debug_output_redacts_the_password_hash() {
        let now = chrono::Utc::now();
        let row = Model {
            id: "id".into(),
            account_id: "account".into(),
            login_name: "ann".into(),
            login_key: "ann".into(),
            email: "ann@example.com".into(),
            email_key: "ann@example.com".into(),
            display_name: "Ann".into(),
            status: "active".into(),
            password_hash: Some("$argon2id$v=19$secret".into()),
            must_change_password: false,
            password_changed_at: None,
            last_login_at: None,
            ip_allowlist: "[\"*\"]".into(),
            data_filters: "{}".into(),
            created_at: now,
            updated_at: now,
        };
        let printed = format!("{row:?}");
        assert!(!printed.contains("argon2"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }
}
