//! [`AccountAdministration`]: account edits (R30) and ownership transfers
//! (R3, R4). A transfer is race-free on both backends: it holds the
//! account's write lock, re-reads the owner under it, and moves ownership
//! with a conditional `UPDATE` that must hit exactly one row.

use async_trait::async_trait;
use roster_domain::account::{Account, UserStatus};
use roster_domain::audit::RequestContext;
use roster_domain::ids::AccountId;
use roster_domain::repository::{AccountAdministration, AccountPatch, OwnershipTransfer};
use roster_domain::DomainError;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::audit::{audit_change, AuditTarget};
use crate::changes::Changes;
use crate::convert::account_from_row;
use crate::entity::accounts;
use crate::error::{failed, user_not_found};
use crate::profiles::find_user_row;
use crate::store::SeaDirectoryStore;

fn owner_changed() -> DomainError {
    DomainError::FailedPrecondition {
        rule: "R3",
        reason: "OWNER_CHANGED",
        message: "the account's owner changed meanwhile".to_owned(),
    }
}

fn new_owner_not_active() -> DomainError {
    DomainError::FailedPrecondition {
        rule: "R3",
        reason: "NEW_OWNER_NOT_ACTIVE",
        message: "ownership can only go to an active user of the account".to_owned(),
    }
}

#[async_trait]
impl AccountAdministration for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.update_account", skip_all, fields(account.id = %account_id))]
    async fn update_account(
        &self,
        account_id: AccountId,
        patch: AccountPatch,
        context: &RequestContext,
    ) -> Result<Account, DomainError> {
        let now = self.now();
        let (transaction, row) = self.begin_account_write(account_id).await?;
        let mut changes = Changes::new();
        let mut update = accounts::ActiveModel { id: Set(row.id.clone()), ..Default::default() };
        if let Some(display_name) = patch.display_name.as_ref().filter(|name| name.as_str() != row.display_name) {
            changes.field("display_name", &row.display_name, display_name.as_str());
            update.display_name = Set(display_name.as_str().to_owned());
        }
        if let Some(billing) = patch.billing_level.filter(|billing| billing.as_str() != row.billing_level) {
            changes.field("billing_level", &row.billing_level, billing.as_str());
            update.billing_level = Set(billing.as_str().to_owned());
        }
        if changes.is_empty() {
            return account_from_row(row);
        }
        update.updated_at = Set(now);
        let updated =
            accounts::Entity::update(update).exec(&transaction).await.map_err(failed("updating an account"))?;
        let target = AuditTarget::account(&updated.id, &updated.display_name);
        audit_change(&transaction, Some(account_id), "account.update", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing an account update"))?;
        account_from_row(updated)
    }

    #[tracing::instrument(
        name = "directory_store.transfer_ownership",
        skip_all,
        fields(account.id = %transfer.account_id, forced = transfer.evidence.is_some())
    )]
    async fn transfer_ownership(
        &self,
        transfer: OwnershipTransfer,
        context: &RequestContext,
    ) -> Result<Account, DomainError> {
        let now = self.now();
        let (transaction, row) = self.begin_account_write(transfer.account_id).await?;
        let expected = transfer.expected_owner.to_string();
        let new_owner = transfer.new_owner.to_string();
        if row.owner_user_id != expected {
            return Err(owner_changed());
        }
        let new_owner_row = find_user_row(&transaction, &row.id, &new_owner).await?.ok_or_else(user_not_found)?;
        if new_owner_row.status != UserStatus::Active.as_str() {
            return Err(new_owner_not_active());
        }
        if new_owner == expected {
            // Already the owner: nothing moves, nothing to audit.
            return account_from_row(row);
        }
        let previous_owner_row = find_user_row(&transaction, &row.id, &expected).await?;
        let moved = accounts::Entity::update_many()
            .col_expr(accounts::Column::OwnerUserId, Expr::value(new_owner.clone()))
            .col_expr(accounts::Column::UpdatedAt, Expr::value(now))
            .filter(accounts::Column::Id.eq(row.id.as_str()))
            .filter(accounts::Column::OwnerUserId.eq(expected.as_str()))
            .exec(&transaction)
            .await
            .map_err(failed("moving ownership"))?;
        if moved.rows_affected != 1 {
            return Err(owner_changed());
        }
        let mut changes = Changes::new();
        changes.field("owner_user_id", &expected, &new_owner).field(
            "owner_login_name",
            previous_owner_row.map(|previous| previous.login_name),
            &new_owner_row.login_name,
        );
        let action = match &transfer.evidence {
            Some(evidence) => {
                changes.note("evidence", evidence);
                "account.force_transfer_ownership"
            }
            None => "account.transfer_ownership",
        };
        let target = AuditTarget::account(&row.id, &row.display_name);
        audit_change(&transaction, Some(transfer.account_id), action, target, changes, now, context).await?;
        // R1: the deferred owner key is checked here.
        transaction.commit().await.map_err(failed("committing an ownership transfer"))?;
        tracing::info!(account.id = %transfer.account_id, "ownership transferred");
        let mut account = account_from_row(row)?;
        account.owner_user_id = transfer.new_owner;
        account.updated_at = now;
        Ok(account)
    }
}
