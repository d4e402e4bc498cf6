//! Who may do what, where: the permission catalog, the group tree with
//! inheritance (R21), role assignments scoped to the account or one store
//! (R28), per-user overrides where a removal wins (R24), effective
//! permissions per scope (R29, R30, R34), and the administration policy
//! that forbids escalation (R5, R6, R7, R31, R32, R33).
//!
//! Everything here is pure: callers load the facts (a [`GroupTree`], a
//! [`PermissionCatalog`], a user's [`UserGrants`]) and ask.

pub mod by_scope;
pub mod catalog;
pub mod policy;
pub mod resolve;
pub mod tree;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use by_scope::PermissionsByScope;
pub use catalog::PermissionCatalog;
pub use resolve::{anonymous_holds, holds_one, resolve, AccountFacts, EffectivePermissions, StoreReach};
pub use tree::{GroupNode, GroupTree};

use crate::error::FieldViolation;
use crate::ids::{GroupId, StoreId};
use crate::presets::PermissionName;

/// Where a role assignment or an override applies (R28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// The whole account: every store.
    Account,
    /// One store.
    Store(StoreId),
}

impl Scope {
    /// The storage key: `account`, or the store id.
    pub fn key(&self) -> String {
        match self {
            Self::Account => "account".to_owned(),
            Self::Store(store_id) => store_id.to_string(),
        }
    }

    /// Parses a storage key or a wire value: empty or `account` is the
    /// account, anything else a store id.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        match text.trim() {
            "" | "account" => Ok(Self::Account),
            store => StoreId::parse(field, store).map(Self::Store),
        }
    }

    pub fn store(&self) -> Option<StoreId> {
        match self {
            Self::Account => None,
            Self::Store(store_id) => Some(*store_id),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account => formatter.write_str("account"),
            Self::Store(store_id) => write!(formatter, "store {store_id}"),
        }
    }
}

/// A group given to a user in a scope (R28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoleAssignment {
    pub group_id: GroupId,
    pub scope: Scope,
}

/// Whether an override adds or removes a permission (R24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OverrideEffect {
    Grant,
    /// Wins over any grant, from any group or override.
    Revoke,
}

impl OverrideEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Revoke => "revoke",
        }
    }

    pub fn parse_stored(text: &str) -> Option<Self> {
        match text {
            "grant" => Some(Self::Grant),
            "revoke" => Some(Self::Revoke),
            _ => None,
        }
    }
}

/// One per-user exception to the groups' permissions (R24).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PermissionOverride {
    pub permission: PermissionName,
    pub effect: OverrideEffect,
    pub scope: Scope,
}

/// Everything that decides one user's permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserGrants {
    /// The owner holds every permission of the account, everywhere (R2),
    /// owner-only ones included (R6).
    pub is_owner: bool,
    pub assignments: Vec<RoleAssignment>,
    pub overrides: Vec<PermissionOverride>,
}
