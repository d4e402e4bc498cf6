//! `groups`: each account's group tree (R21).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    /// A group of the same account, or `None` for a root.
    pub parent_id: Option<String>,
    pub name: String,
    /// Lower-cased NFKC name: unique per account.
    pub name_key: String,
    /// Only for inheriting from (R22).
    pub is_template: bool,
    /// R26.
    pub badge_colour: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
