//! [`AccountRepository`]: sign-up (R2) and account and user look-ups.

use async_trait::async_trait;
use roster_domain::account::{Account, NewAccount, User, UserStatus};
use roster_domain::audit::{AuditOutcome, AuditRecord, RequestContext};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountKey, DisplayName};
use roster_domain::presets::Presets;
use roster_domain::repository::AccountRepository;
use roster_domain::DomainError;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, RelationDef,
    TransactionTrait,
};
use serde_json::json;

use crate::audit::append_audit_event;
use crate::convert::{account_from_row, account_id_from, user_from_row};
use crate::entity::{accounts, users};
use crate::error::failed;
use crate::seed::{assign_account_wide, insert_account, insert_user, seed_groups, upsert_catalog};
use crate::store::SeaDirectoryStore;

/// An account row by id or slug.
pub(crate) async fn find_account_row(
    connection: &impl ConnectionTrait,
    key: &AccountKey,
) -> Result<Option<accounts::Model>, DomainError> {
    let query = match key {
        AccountKey::Id(id) => accounts::Entity::find_by_id(id.to_string()),
        AccountKey::Slug(slug) => accounts::Entity::find().filter(accounts::Column::Slug.eq(slug.as_str())),
    };
    query.one(connection).await.map_err(failed("finding an account"))
}

/// `key` as a condition on the accounts table.
pub(crate) fn account_is(key: &AccountKey) -> Condition {
    match key {
        AccountKey::Id(id) => Condition::all().add(accounts::Column::Id.eq(id.to_string())),
        AccountKey::Slug(slug) => Condition::all().add(accounts::Column::Slug.eq(slug.as_str())),
    }
}

/// Users to their account, to read a user with their account in one
/// statement (`users::Entity::find().join(JoinType::InnerJoin, user_account())`).
pub(crate) fn user_account() -> RelationDef {
    users::Entity::belongs_to(accounts::Entity).from(users::Column::AccountId).to(accounts::Column::Id).into()
}

/// `{"before": null, "after": value}`: a field set by a creation.
fn created(value: &str) -> serde_json::Value {
    json!({ "before": null, "after": value })
}

#[async_trait]
impl AccountRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.create_account", skip_all, fields(account.slug = %account.slug))]
    async fn create_account(
        &self,
        account: NewAccount,
        presets: &Presets,
        context: &RequestContext,
    ) -> Result<(Account, User), DomainError> {
        let now = self.now();
        let owner_id = UserId::generate();
        let stored_account = Account {
            id: AccountId::generate(),
            slug: account.slug,
            display_name: account.display_name,
            owner_user_id: owner_id,
            billing_level: account.billing_level,
            is_platform: false,
            created_at: now,
            updated_at: now,
        };
        let owner = User {
            id: owner_id,
            account_id: stored_account.id,
            login_name: account.owner.login_name,
            email: account.owner.email,
            display_name: account.owner.display_name,
            status: UserStatus::Active,
            is_owner: true,
            must_change_password: false,
            created_at: now,
            updated_at: now,
        };
        let owner_group_key = DisplayName::parse("owner_group", &presets.owner_group)
            .map_err(|violation| DomainError::internal("seeding default groups", violation.to_string()))?
            .key();

        let transaction = self.database.begin().await.map_err(failed("starting a sign-up"))?;
        // A write first: on SQLite it takes the write lock at once, so the
        // busy timeout applies instead of a failed lock upgrade later.
        upsert_catalog(&transaction, &presets.permissions, now).await?;
        insert_account(&transaction, &stored_account).await?;
        insert_user(&transaction, &owner, &account.owner.password_hash).await?;
        let group_ids = seed_groups(&transaction, stored_account.id, presets, now).await?;
        let owner_group_id = group_ids.get(&owner_group_key).copied().ok_or_else(|| {
            DomainError::internal(
                "seeding default groups",
                format!("owner group {} is not defined", presets.owner_group),
            )
        })?;
        assign_account_wide(&transaction, stored_account.id, owner_id, owner_group_id, now).await?;
        let record = AuditRecord {
            account_id: Some(stored_account.id),
            action: "account.create",
            target_type: "account",
            target_id: Some(stored_account.id.to_string()),
            target_name: Some(stored_account.display_name.as_str().to_owned()),
            changes: json!({
                "slug": created(stored_account.slug.as_str()),
                "display_name": created(stored_account.display_name.as_str()),
                "billing_level": created(stored_account.billing_level.as_str()),
                "owner.login_name": created(owner.login_name.display()),
            }),
            outcome: AuditOutcome::Success,
            reason: None,
            occurred_at: now,
        };
        append_audit_event(&transaction, record, context).await.map_err(failed("auditing a sign-up"))?;
        transaction.commit().await.map_err(failed("committing a sign-up"))?;
        tracing::info!(account.id = %stored_account.id, "account created");
        Ok((stored_account, owner))
    }

    #[tracing::instrument(name = "directory_store.find_account", skip_all)]
    async fn find_account(&self, key: &AccountKey) -> Result<Option<Account>, DomainError> {
        find_account_row(&self.database, key).await?.map(account_from_row).transpose()
    }

    #[tracing::instrument(name = "directory_store.find_user", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn find_user(&self, account_id: AccountId, user_id: UserId) -> Result<Option<User>, DomainError> {
        let Some(account) = find_account_row(&self.database, &AccountKey::Id(account_id)).await? else {
            return Ok(None);
        };
        let row = users::Entity::find_by_id(user_id.to_string())
            .filter(users::Column::AccountId.eq(account_id.to_string()))
            .one(&self.database)
            .await
            .map_err(failed("finding a user"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let account = account_from_row(account)?;
        user_from_row(&row, account.owner_user_id).map(Some)
    }

    #[tracing::instrument(name = "directory_store.list_account_ids", skip_all)]
    async fn list_account_ids(&self) -> Result<Vec<AccountId>, DomainError> {
        let ids: Vec<String> = accounts::Entity::find()
            .select_only()
            .column(accounts::Column::Id)
            .order_by_asc(accounts::Column::Id)
            .into_tuple()
            .all(&self.database)
            .await
            .map_err(failed("listing accounts"))?;
        ids.iter().map(|id| account_id_from("accounts", "id", id)).collect()
    }
}
