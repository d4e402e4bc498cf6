//! Stores (R27): each belongs to one account; a public store is visible to
//! anonymous principals.

use chrono::{DateTime, Utc};

use crate::ids::{AccountId, StoreId};
use crate::names::DisplayName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    pub id: StoreId,
    pub account_id: AccountId,
    pub name: DisplayName,
    pub is_public: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewStore {
    pub account_id: AccountId,
    pub name: DisplayName,
    pub is_public: bool,
}

#[derive(Debug, Clone, Default)]
pub struct StorePatch {
    pub name: Option<DisplayName>,
    pub is_public: Option<bool>,
}
