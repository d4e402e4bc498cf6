//! A user's effective permissions per scope, in the lossless, listable form
//! that travels between the directory, the broker and gateways (R29, R40).

use std::collections::{BTreeMap, BTreeSet};

use super::EffectivePermissions;
use crate::ids::StoreId;
use crate::presets::PermissionName;

/// [`EffectivePermissions`] as lists per scope. [`Self::holds`] answers
/// exactly what [`EffectivePermissions::holds`] answers, for every store,
/// named or not, so the broker can check permissions without the catalog or
/// the group tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionsByScope {
    pub is_owner: bool,
    /// Account-level permissions held (they ignore the store).
    pub account: BTreeSet<PermissionName>,
    /// Store-level permissions held in every store.
    pub every_store: BTreeSet<PermissionName>,
    /// Per store named by the user's assignments or overrides: every
    /// store-level permission held there, every-store ones included.
    pub per_store: BTreeMap<StoreId, BTreeSet<PermissionName>>,
    /// Store-level permissions held in any store not in `per_store`: the
    /// every-store ones, and those revoked only in some named stores.
    pub other_stores: BTreeSet<PermissionName>,
}

impl PermissionsByScope {
    /// Nothing held anywhere (a blocked user, a restricted session).
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether `permission` holds account-wide (`None`; a store-level one
    /// only if it holds in every store) or in `store`.
    pub fn holds(&self, permission: &PermissionName, store: Option<StoreId>) -> bool {
        if self.account.contains(permission) {
            return true;
        }
        match store {
            None => self.every_store.contains(permission),
            Some(store) => match self.per_store.get(&store) {
                Some(permissions) => permissions.contains(permission),
                None => self.other_stores.contains(permission),
            },
        }
    }
}

impl From<&EffectivePermissions> for PermissionsByScope {
    fn from(permissions: &EffectivePermissions) -> Self {
        let per_store = permissions
            .named_stores()
            .into_iter()
            .map(|store_id| (store_id, permissions.store_permissions(store_id)))
            .collect();
        Self {
            is_owner: permissions.is_owner(),
            account: permissions.account_permissions(),
            every_store: permissions.every_store_permissions(),
            per_store,
            other_stores: permissions.unnamed_store_permissions(),
        }
    }
}
