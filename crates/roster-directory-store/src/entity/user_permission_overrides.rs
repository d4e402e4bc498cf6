//! `user_permission_overrides`: per-user grants and removals (R24).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_permission_overrides")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub permission_name: String,
    /// `grant` or `revoke`; a removal wins over any grant.
    pub effect: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope_key: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
