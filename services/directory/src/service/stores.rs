//! Stores (R27–R29, R33): creating needs `stores.create` (the Superuser
//! group); reading needs `stores.view`, an account-level permission, so a
//! manager sees every store's name (R29); changing needs `stores.manage` in
//! the store itself. The store audits every change; denials are audited
//! here.

use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::ids::{AccountId, StoreId};
use roster_domain::names::DisplayName;
use roster_domain::paging::{Page, PageRequest};
use roster_domain::presets::PermissionName;
use roster_domain::stores::{NewStore, Store, StorePatch};
use roster_domain::DomainError;

use super::admin::{Act, AdminScope};
use super::users::require;
use super::Directory;

/// A parsed `CreateStore`.
#[derive(Debug, Clone)]
pub struct CreateStore {
    pub name: DisplayName,
    pub is_public: bool,
}

fn store_not_found() -> DomainError {
    DomainError::NotFound { entity: "store", reason: "STORE_NOT_FOUND" }
}

/// `Ok` when the scope's user holds the store-level `permission` in
/// `store_id` (R29).
fn require_in_store(scope: &AdminScope, permission: &str, store_id: StoreId, message: &str) -> Result<(), DomainError> {
    let name = PermissionName::parse("permission", permission).map_err(DomainError::from)?;
    if scope.permissions.holds(&name, Some(store_id)) {
        return Ok(());
    }
    Err(DomainError::permission_denied("MISSING_PERMISSION", message))
}

impl Directory {
    /// A store of the scope's account; one of another account is not found.
    async fn scoped_store(&self, scope: &AdminScope, store_id: StoreId) -> Result<Store, DomainError> {
        self.repository.find_store(scope.account_id(), store_id).await?.ok_or_else(store_not_found)
    }

    /// R33: only holders of `stores.create` (the Superuser group).
    pub async fn create_store(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        request: CreateStore,
    ) -> Result<Store, DomainError> {
        let act = Act::new("store.create", "store", None);
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let check = require(&scope, "stores.create", "R33: creating stores needs stores.create");
        self.authorize(&scope, act, check).await?;
        let new_store = NewStore { account_id, name: request.name, is_public: request.is_public };
        self.repository.create_store(new_store, &scope.context).await
    }

    /// R29: `stores.view` is account-level.
    pub async fn get_store(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        store_id: StoreId,
    ) -> Result<Store, DomainError> {
        let target_id = store_id.to_string();
        let act = Act::new("store.get", "store", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let check = require(&scope, "stores.view", "R29: reading stores needs stores.view");
        self.authorize(&scope, act, check).await?;
        self.scoped_store(&scope, store_id).await
    }

    /// R29: every store of the account, in id order.
    pub async fn list_stores(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        page: &PageRequest,
    ) -> Result<Page<Store>, DomainError> {
        let act = Act::new("store.list", "account", None);
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let check = require(&scope, "stores.view", "R29: listing stores needs stores.view");
        self.authorize(&scope, act, check).await?;
        self.repository.list_stores(account_id, page).await
    }

    /// R27, R29: `stores.manage` in that store.
    pub async fn update_store(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        store_id: StoreId,
        patch: StorePatch,
    ) -> Result<Store, DomainError> {
        let target_id = store_id.to_string();
        let act = Act::new("store.update", "store", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        self.scoped_store(&scope, store_id).await?;
        let check =
            require_in_store(&scope, "stores.manage", store_id, "R29: changing a store needs stores.manage in it");
        self.authorize(&scope, act, check).await?;
        self.repository.update_store(account_id, store_id, patch, &scope.context).await
    }

    /// R28: `stores.manage` in that store; the role assignments and
    /// overrides scoped to it go with it, in the store's transaction.
    pub async fn delete_store(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        store_id: StoreId,
    ) -> Result<(), DomainError> {
        let target_id = store_id.to_string();
        let act = Act::new("store.delete", "store", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        self.scoped_store(&scope, store_id).await?;
        let check =
            require_in_store(&scope, "stores.manage", store_id, "R29: deleting a store needs stores.manage in it");
        self.authorize(&scope, act, check).await?;
        self.repository.delete_store(account_id, store_id, &scope.context).await?;
        // The assignments and overrides scoped to it are gone.
        self.access_changed(account_id, &[]).await;
        Ok(())
    }
}
