//! `permissions`: the global permission catalog (R20).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "permissions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub description: String,
    /// `account`, `store` or `platform`.
    pub scope_level: String,
    /// Scope follows the account's billing level (R30).
    pub billing: bool,
    /// Never grantable (R6).
    pub owner_only: bool,
    /// `presets`, or the internal service that registered it.
    pub registered_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
