//! [`PlatformRepository`] (the operators' account at first start) and
//! [`StorageHealth`].

use async_trait::async_trait;
use roster_domain::account::{Account, BillingLevel, NewOwner, User, UserStatus};
use roster_domain::audit::{AuditOutcome, AuditRecord, RequestContext};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountKey, AccountSlug, DisplayName};
use roster_domain::presets::Presets;
use roster_domain::repository::{PlatformRepository, StorageHealth};
use roster_domain::DomainError;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;

use crate::accounts::find_account_row;
use crate::audit::append_audit_event;
use crate::error::{failed, DATABASE};
use crate::seed::{insert_account, insert_user, upsert_catalog};
use crate::store::SeaDirectoryStore;

/// The platform account's display name.
pub const PLATFORM_DISPLAY_NAME: &str = "Roster platform";

/// Whether `error` says another replica created the platform account first.
fn lost_the_race(error: &DomainError) -> bool {
    matches!(error, DomainError::AlreadyExists { reason: "ACCOUNT_SLUG_TAKEN", .. })
}

impl SeaDirectoryStore {
    async fn create_platform(&self, operator: NewOwner, presets: &Presets) -> Result<(), DomainError> {
        let now = self.now();
        let operator_id = UserId::generate();
        let account = Account {
            id: AccountId::generate(),
            slug: AccountSlug::platform(),
            display_name: DisplayName::parse("display_name", PLATFORM_DISPLAY_NAME)
                .map_err(|violation| DomainError::internal("naming the platform account", violation.to_string()))?,
            owner_user_id: operator_id,
            billing_level: BillingLevel::Account,
            is_platform: true,
            created_at: now,
            updated_at: now,
        };
        let operator_user = User {
            id: operator_id,
            account_id: account.id,
            login_name: operator.login_name,
            email: operator.email,
            display_name: operator.display_name,
            status: UserStatus::Active,
            is_owner: true,
            must_change_password: false,
            created_at: now,
            updated_at: now,
        };
        let transaction = self.database.begin().await.map_err(failed("starting the platform bootstrap"))?;
        upsert_catalog(&transaction, &presets.permissions, now).await?;
        insert_account(&transaction, &account).await?;
        insert_user(&transaction, &operator_user, &operator.password_hash).await?;
        let record = AuditRecord {
            account_id: Some(account.id),
            action: "platform.bootstrap",
            target_type: "account",
            target_id: Some(account.id.to_string()),
            target_name: Some(PLATFORM_DISPLAY_NAME.to_owned()),
            changes: json!({
                "slug": { "before": null, "after": account.slug.as_str() },
                "owner.login_name": { "before": null, "after": operator_user.login_name.display() },
            }),
            outcome: AuditOutcome::Success,
            reason: None,
            occurred_at: now,
        };
        let context = RequestContext { actor_name: Some("roster bootstrap".to_owned()), ..RequestContext::default() };
        append_audit_event(&transaction, record, &context).await.map_err(failed("auditing the platform bootstrap"))?;
        transaction.commit().await.map_err(failed("committing the platform bootstrap"))
    }
}

#[async_trait]
impl PlatformRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.bootstrap_platform", skip_all)]
    async fn bootstrap_platform(&self, operator: NewOwner, presets: &Presets) -> Result<bool, DomainError> {
        // The common case, every start after the first, takes no write lock.
        if find_account_row(&self.database, &AccountKey::Slug(AccountSlug::platform())).await?.is_some() {
            return Ok(false);
        }
        match self.create_platform(operator, presets).await {
            Ok(()) => {
                tracing::info!("platform account created");
                Ok(true)
            }
            // Another replica got there between the look-up and the insert.
            Err(error) if lost_the_race(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }
}

#[async_trait]
impl StorageHealth for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.ping", skip_all)]
    async fn ping(&self) -> Result<(), DomainError> {
        let backend = self.database.get_database_backend();
        self.database
            .query_one(Statement::from_string(backend, "SELECT 1"))
            .await
            .map_err(|error| DomainError::unavailable(DATABASE, error))?;
        Ok(())
    }
}
