//! [`StoreRepository`]: an account's stores (R27). Deleting a store removes
//! the role assignments and overrides scoped to it in the same transaction.

use async_trait::async_trait;
use roster_domain::audit::RequestContext;
use roster_domain::ids::{AccountId, StoreId};
use roster_domain::paging::{Page, PageRequest};
use roster_domain::repository::StoreRepository;
use roster_domain::stores::{NewStore, Store, StorePatch};
use roster_domain::DomainError;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::audit::{audit_change, AuditTarget};
use crate::changes::Changes;
use crate::convert::store_from_row;
use crate::entity::{role_assignments, stores, user_permission_overrides};
use crate::error::{failed, invalid_page_token, store_not_found};
use crate::profiles::page_size;
use crate::store::SeaDirectoryStore;

/// A store row of `account_id`.
async fn find_store_row(
    connection: &impl ConnectionTrait,
    account_id: &str,
    store_id: &str,
) -> Result<Option<stores::Model>, DomainError> {
    stores::Entity::find_by_id(store_id)
        .filter(stores::Column::AccountId.eq(account_id))
        .one(connection)
        .await
        .map_err(failed("finding a store"))
}

#[async_trait]
impl StoreRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.create_store", skip_all, fields(account.id = %store.account_id))]
    async fn create_store(&self, store: NewStore, context: &RequestContext) -> Result<Store, DomainError> {
        let now = self.now();
        let (transaction, account) = self.begin_account_write(store.account_id).await?;
        let store_id = StoreId::generate();
        let row = stores::ActiveModel {
            id: Set(store_id.to_string()),
            account_id: Set(account.id.clone()),
            name: Set(store.name.as_str().to_owned()),
            is_public: Set(store.is_public),
            created_at: Set(now),
            updated_at: Set(now),
        };
        stores::Entity::insert(row).exec_without_returning(&transaction).await.map_err(failed("inserting a store"))?;
        let mut changes = Changes::new();
        changes.created("name", store.name.as_str()).created("is_public", store.is_public);
        let target = AuditTarget::store(&store_id.to_string(), store.name.as_str());
        audit_change(&transaction, Some(store.account_id), "store.create", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a new store"))?;
        Ok(Store {
            id: store_id,
            account_id: store.account_id,
            name: store.name,
            is_public: store.is_public,
            created_at: now,
            updated_at: now,
        })
    }

    #[tracing::instrument(name = "directory_store.find_store", skip_all, fields(account.id = %account_id, store.id = %store_id))]
    async fn find_store(&self, account_id: AccountId, store_id: StoreId) -> Result<Option<Store>, DomainError> {
        let row = find_store_row(&self.database, &account_id.to_string(), &store_id.to_string()).await?;
        row.map(store_from_row).transpose()
    }

    #[tracing::instrument(name = "directory_store.list_stores", skip_all, fields(account.id = %account_id))]
    async fn list_stores(&self, account_id: AccountId, page: &PageRequest) -> Result<Page<Store>, DomainError> {
        let after = page
            .after
            .as_deref()
            .map(|cursor| StoreId::parse("page_token", cursor).map_err(|_| invalid_page_token()))
            .transpose()?;
        let size = page_size(page);
        let mut query = stores::Entity::find().filter(stores::Column::AccountId.eq(account_id.to_string()));
        if let Some(after) = after {
            query = query.filter(stores::Column::Id.gt(after.to_string()));
        }
        let mut rows = query
            .order_by_asc(stores::Column::Id)
            .limit(size + 1)
            .all(&self.database)
            .await
            .map_err(failed("listing stores"))?;
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let next = if more { rows.last().map(|row| row.id.clone()) } else { None };
        let items = rows.into_iter().map(store_from_row).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    #[tracing::instrument(name = "directory_store.update_store", skip_all, fields(account.id = %account_id, store.id = %store_id))]
    async fn update_store(
        &self,
        account_id: AccountId,
        store_id: StoreId,
        patch: StorePatch,
        context: &RequestContext,
    ) -> Result<Store, DomainError> {
        let now = self.now();
        let (transaction, account) = self.begin_account_write(account_id).await?;
        let id = store_id.to_string();
        let row = find_store_row(&transaction, &account.id, &id).await?.ok_or_else(store_not_found)?;
        let mut changes = Changes::new();
        let mut update = stores::ActiveModel { id: Set(id.clone()), ..Default::default() };
        if let Some(name) = patch.name.as_ref().filter(|name| name.as_str() != row.name) {
            changes.field("name", &row.name, name.as_str());
            update.name = Set(name.as_str().to_owned());
        }
        if let Some(is_public) = patch.is_public.filter(|is_public| *is_public != row.is_public) {
            changes.field("is_public", row.is_public, is_public);
            update.is_public = Set(is_public);
        }
        if changes.is_empty() {
            return store_from_row(row);
        }
        update.updated_at = Set(now);
        let updated = stores::Entity::update(update).exec(&transaction).await.map_err(failed("updating a store"))?;
        let target = AuditTarget::store(&id, &updated.name);
        audit_change(&transaction, Some(account_id), "store.update", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a store update"))?;
        store_from_row(updated)
    }

    #[tracing::instrument(name = "directory_store.delete_store", skip_all, fields(account.id = %account_id, store.id = %store_id))]
    async fn delete_store(
        &self,
        account_id: AccountId,
        store_id: StoreId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let now = self.now();
        let (transaction, account) = self.begin_account_write(account_id).await?;
        let id = store_id.to_string();
        let row = find_store_row(&transaction, &account.id, &id).await?.ok_or_else(store_not_found)?;
        // A store's scope key is its id (`Scope::key`).
        let assignments = role_assignments::Entity::delete_many()
            .filter(role_assignments::Column::AccountId.eq(account.id.as_str()))
            .filter(role_assignments::Column::ScopeKey.eq(id.as_str()))
            .exec(&transaction)
            .await
            .map_err(failed("removing a store's role assignments"))?;
        let overrides = user_permission_overrides::Entity::delete_many()
            .filter(user_permission_overrides::Column::ScopeKey.eq(id.as_str()))
            .exec(&transaction)
            .await
            .map_err(failed("removing a store's overrides"))?;
        stores::Entity::delete_by_id(id.as_str()).exec(&transaction).await.map_err(failed("deleting a store"))?;
        let mut changes = Changes::new();
        changes
            .removed("name", &row.name)
            .removed("is_public", row.is_public)
            .field("role_assignments", assignments.rows_affected, 0)
            .field("overrides", overrides.rows_affected, 0);
        let target = AuditTarget::store(&id, &row.name);
        audit_change(&transaction, Some(account_id), "store.delete", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a store deletion"))?;
        Ok(())
    }
}
