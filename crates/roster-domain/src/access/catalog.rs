//! The permission catalog (R20) and where each permission holds (R30).

use std::collections::BTreeMap;

use crate::account::BillingLevel;
use crate::presets::{PermissionName, PermissionSpec, ScopeLevel};

/// Every known permission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionCatalog {
    entries: BTreeMap<PermissionName, PermissionSpec>,
}

impl PermissionCatalog {
    pub fn new(entries: impl IntoIterator<Item = PermissionSpec>) -> Self {
        Self { entries: entries.into_iter().map(|spec| (spec.name.clone(), spec)).collect() }
    }

    pub fn get(&self, name: &PermissionName) -> Option<&PermissionSpec> {
        self.entries.get(name)
    }

    pub fn contains(&self, name: &PermissionName) -> bool {
        self.entries.contains_key(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PermissionSpec> {
        self.entries.values()
    }

    /// R6: can never be granted through a group or an override.
    pub fn is_owner_only(&self, name: &PermissionName) -> bool {
        self.entries.get(name).is_some_and(|spec| spec.owner_only)
    }

    /// Where `name` holds in an account with `billing` (R30: billing
    /// permissions follow the account's billing level). `None` for an
    /// unknown permission.
    pub fn level(&self, name: &PermissionName, billing: BillingLevel) -> Option<ScopeLevel> {
        let spec = self.entries.get(name)?;
        if spec.billing {
            return Some(match billing {
                BillingLevel::Account => ScopeLevel::Account,
                BillingLevel::Store => ScopeLevel::Store,
            });
        }
        Some(spec.scope)
    }
}
