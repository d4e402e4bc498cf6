//! [`PasswordRepository`] (R9, R10, R11, R42; PCI DSS v4 8.3.7): password
//! changes with their history, one-time reset and invitation tokens
//! (digests only), each written with its audit event, and the mail it
//! causes, in one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_domain::account::User;
use roster_domain::audit::{AuditOutcome, AuditRecord, RequestContext};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::invitation::{invitation_not_found, InvitationState};
use roster_domain::lifecycle::{
    token_state_error, PasswordChange, PasswordRepository, TokenHolder, TokenPurpose, TokenUse,
};
use roster_domain::mail::OutgoingMail;
use roster_domain::names::{AccountKey, EmailAddress};
use roster_domain::password::PasswordHash;
use roster_domain::tokens::TokenDigest;
use roster_domain::DomainError;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::accounts::find_account_row;
use crate::audit::{append_audit_event, audit_change, AuditTarget};
use crate::changes::Changes;
use crate::convert::{account_from_row, user_from_row};
use crate::entity::{password_history, user_tokens, users};
use crate::error::failed;
use crate::invitations::{end_pending_tokens, insert_token};
use crate::outbox::queue_mail;
use crate::profiles::find_user_row;
use crate::store::SeaDirectoryStore;
use crate::users::owner_of;

/// Appends `hash` to the user's password history.
pub(crate) async fn record_password_history(
    connection: &impl ConnectionTrait,
    user_id: &str,
    hash: &PasswordHash,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let row = password_history::ActiveModel {
        id: Set(Uuid::now_v7().to_string()),
        user_id: Set(user_id.to_owned()),
        password_hash: Set(hash.as_phc().to_owned()),
        created_at: Set(now),
    };
    password_history::Entity::insert(row)
        .exec_without_returning(connection)
        .await
        .map_err(failed("recording password history"))?;
    Ok(())
}

/// Keeps the newest `keep` entries of the user's history.
async fn prune_password_history(
    connection: &impl ConnectionTrait,
    user_id: &str,
    keep: u32,
) -> Result<(), DomainError> {
    let kept: Vec<String> = password_history::Entity::find()
        .select_only()
        .column(password_history::Column::Id)
        .filter(password_history::Column::UserId.eq(user_id))
        .order_by_desc(password_history::Column::Id)
        .limit(u64::from(keep.max(1)))
        .into_tuple()
        .all(connection)
        .await
        .map_err(failed("reading password history"))?;
    password_history::Entity::delete_many()
        .filter(password_history::Column::UserId.eq(user_id))
        .filter(password_history::Column::Id.is_not_in(kept))
        .exec(connection)
        .await
        .map_err(failed("pruning password history"))?;
    Ok(())
}

/// Sets the password of the user `row` inside `transaction`: hash, flag,
/// history, audit event.
async fn apply_password_change(
    transaction: &DatabaseTransaction,
    row: &users::Model,
    change: &PasswordChange,
    now: DateTime<Utc>,
    context: &RequestContext,
) -> Result<users::Model, DomainError> {
    let update = users::ActiveModel {
        id: Set(row.id.clone()),
        password_hash: Set(Some(change.password_hash.as_phc().to_owned())),
        must_change_password: Set(change.must_change),
        password_changed_at: Set(Some(now)),
        updated_at: Set(now),
        ..Default::default()
    };
    let updated = users::Entity::update(update).exec(transaction).await.map_err(failed("setting a password"))?;
    record_password_history(transaction, &row.id, &change.password_hash, now).await?;
    prune_password_history(transaction, &row.id, change.history_depth).await?;
    // R9: the audit log says that the password changed, never to what.
    let mut changes = Changes::new();
    changes.note("password", "changed").field("must_change_password", row.must_change_password, change.must_change);
    let target = AuditTarget::user(&row.id, &row.login_name);
    audit_change(transaction, Some(change.account_id), change.action, target, changes, now, context).await?;
    Ok(updated)
}

fn token_not_found(purpose: TokenPurpose) -> DomainError {
    match purpose {
        TokenPurpose::Invitation => invitation_not_found(),
        TokenPurpose::PasswordReset => DomainError::NotFound { entity: "reset token", reason: "RESET_TOKEN_NOT_FOUND" },
    }
}

#[async_trait]
impl PasswordRepository for SeaDirectoryStore {
    async fn password_history(
        &self,
        account_id: AccountId,
        user_id: UserId,
        depth: u32,
    ) -> Result<Vec<PasswordHash>, DomainError> {
        let _ = account_id;
        let hashes: Vec<String> = password_history::Entity::find()
            .select_only()
            .column(password_history::Column::PasswordHash)
            .filter(password_history::Column::UserId.eq(user_id.to_string()))
            .order_by_desc(password_history::Column::Id)
            .limit(u64::from(depth))
            .into_tuple()
            .all(&self.database)
            .await
            .map_err(failed("reading password history"))?;
        let mut history: Vec<PasswordHash> = hashes.into_iter().map(PasswordHash::from_stored).collect();
        // Users from before the history existed: their current password counts.
        if history.is_empty() {
            if let Some((current, _)) = self.current_password(account_id, user_id).await? {
                history.push(current);
            }
        }
        Ok(history)
    }

    async fn current_password(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Option<(PasswordHash, Option<DateTime<Utc>>)>, DomainError> {
        let row = find_user_row(&self.database, &account_id.to_string(), &user_id.to_string()).await?;
        Ok(row.and_then(|row| row.password_hash.map(|hash| (PasswordHash::from_stored(hash), row.password_changed_at))))
    }

    #[tracing::instrument(name = "directory_store.change_password", skip_all, fields(account.id = %change.account_id, user.id = %change.user_id, action = change.action))]
    async fn change_password(
        &self,
        change: PasswordChange,
        mail: Option<OutgoingMail>,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let now = self.now();
        let (transaction, account, row) = self.begin_user_write(change.account_id, change.user_id).await?;
        let updated = apply_password_change(&transaction, &row, &change, now, context).await?;
        if let Some(mail) = &mail {
            queue_mail(&transaction, Some(change.account_id), mail, now).await?;
        }
        transaction.commit().await.map_err(failed("committing a password change"))?;
        user_from_row(&updated, owner_of(&account)?)
    }

    async fn find_token(
        &self,
        account: &AccountKey,
        purpose: TokenPurpose,
        digest: &TokenDigest,
    ) -> Result<Option<TokenHolder>, DomainError> {
        let Some(account_row) = find_account_row(&self.database, account).await? else {
            return Ok(None);
        };
        let token = user_tokens::Entity::find()
            .filter(user_tokens::Column::TokenDigest.eq(digest.as_hex()))
            .filter(user_tokens::Column::Purpose.eq(purpose.as_str()))
            .filter(user_tokens::Column::AccountId.eq(account_row.id.as_str()))
            .one(&self.database)
            .await
            .map_err(failed("finding a token"))?;
        let Some(token) = token else {
            return Ok(None);
        };
        let Some(user_row) = find_user_row(&self.database, &account_row.id, &token.user_id).await? else {
            return Ok(None);
        };
        let owner = owner_of(&account_row)?;
        Ok(Some(TokenHolder {
            user: user_from_row(&user_row, owner)?,
            account: account_from_row(account_row)?,
            stored_state: token.state,
            expires_at: token.expires_at,
        }))
    }

    #[tracing::instrument(name = "directory_store.spend_token", skip_all, fields(account.id = %token.account_id, purpose = token.purpose.as_str()))]
    async fn spend_token(
        &self,
        token: TokenUse,
        change: PasswordChange,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let now = self.now();
        let (transaction, account, row) = self.begin_user_write(change.account_id, change.user_id).await?;
        // Read under the account's write lock: a racing use waits for this
        // transaction and then sees the token spent.
        let stored = user_tokens::Entity::find()
            .filter(user_tokens::Column::TokenDigest.eq(token.digest.as_hex()))
            .filter(user_tokens::Column::Purpose.eq(token.purpose.as_str()))
            .filter(user_tokens::Column::UserId.eq(row.id.as_str()))
            .one(&transaction)
            .await
            .map_err(failed("finding a token"))?
            .ok_or_else(|| token_not_found(token.purpose))?;
        let state = InvitationState::at(&stored.state, stored.expires_at, token.now)
            .ok_or_else(|| crate::error::corrupt_row("user_tokens", "state", &stored.state))?;
        if let Some(error) = token_state_error(token.purpose, state) {
            return Err(error);
        }
        let spent = user_tokens::ActiveModel {
            id: Set(stored.id.clone()),
            state: Set("accepted".to_owned()),
            used_at: Set(Some(now)),
            ..Default::default()
        };
        user_tokens::Entity::update(spent).exec(&transaction).await.map_err(failed("spending a token"))?;
        let updated = apply_password_change(&transaction, &row, &change, now, context).await?;
        transaction.commit().await.map_err(failed("committing a token's use"))?;
        user_from_row(&updated, owner_of(&account)?)
    }

    async fn find_user_by_email(
        &self,
        account_id: AccountId,
        email: &EmailAddress,
    ) -> Result<Option<User>, DomainError> {
        let Some(account_row) = find_account_row(&self.database, &AccountKey::Id(account_id)).await? else {
            return Ok(None);
        };
        let row = users::Entity::find()
            .filter(users::Column::AccountId.eq(account_row.id.as_str()))
            .filter(users::Column::EmailKey.eq(email.key()))
            .one(&self.database)
            .await
            .map_err(failed("finding a user by email"))?;
        row.map(|row| user_from_row(&row, owner_of(&account_row)?)).transpose()
    }

    #[tracing::instrument(name = "directory_store.request_password_reset", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn request_password_reset(
        &self,
        account_id: AccountId,
        user_id: UserId,
        digest: TokenDigest,
        expires_at: DateTime<Utc>,
        mail: OutgoingMail,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let now = self.now();
        let (transaction, account, row) = self.begin_user_write(account_id, user_id).await?;
        let superseded =
            end_pending_tokens(&transaction, &row.id, TokenPurpose::PasswordReset, "superseded", now).await?;
        insert_token(
            &transaction,
            &account.id,
            &row.id,
            TokenPurpose::PasswordReset,
            digest.as_hex(),
            None,
            now,
            expires_at,
        )
        .await?;
        queue_mail(&transaction, Some(account_id), &mail, now).await?;
        let mut changes = Changes::new();
        changes.note("delivery", "link").note("superseded_resets", superseded);
        let target = AuditTarget::user(&row.id, &row.login_name);
        audit_change(&transaction, Some(account_id), "user.request_password_reset", target, changes, now, context)
            .await?;
        transaction.commit().await.map_err(failed("committing a reset request"))?;
        Ok(())
    }

    async fn record_unknown_reset(
        &self,
        account_id: Option<AccountId>,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let record = AuditRecord {
            account_id,
            action: "user.request_password_reset",
            target_type: "user",
            target_id: None,
            target_name: None,
            changes: json!({}),
            outcome: AuditOutcome::Failure,
            reason: Some("UNKNOWN_EMAIL".to_owned()),
            occurred_at: self.now(),
        };
        append_audit_event(&self.database, record, context).await.map_err(failed("auditing a reset request"))?;
        Ok(())
    }
}
