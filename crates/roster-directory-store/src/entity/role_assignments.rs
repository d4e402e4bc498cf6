//! `role_assignments`: (user, group, scope) triples (R28).

use sea_orm::entity::prelude::*;

/// The `scope_key` of an account-wide assignment; a store assignment's key
/// is its store id.
pub const ACCOUNT_SCOPE_KEY: &str = "account";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role_assignments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub group_id: String,
    /// `None` for an account-wide assignment.
    pub store_id: Option<String>,
    /// [`ACCOUNT_SCOPE_KEY`] or the store id, so that uniqueness holds
    /// without NULLs.
    pub scope_key: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
