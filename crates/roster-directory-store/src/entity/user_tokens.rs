//! `user_tokens`: one-time tokens (invitations, password resets), stored as
//! the SHA-256 of the token only (R11, R18).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    /// `invitation` or `password_reset`.
    pub purpose: String,
    /// Hex SHA-256 of the token; it opens nothing by itself.
    pub token_digest: String,
    /// `pending`, `accepted`, `revoked` or `superseded`.
    pub state: String,
    /// The user who issued it (an inviter); `None` for a self-service reset.
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
