//! [`InvitationRepository`] (R17, R18): invited users, their one-time
//! tokens (digests only) and the invitation mails, each written with its
//! audit event in one transaction that holds the account's write lock.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_domain::account::UserStatus;
use roster_domain::audit::RequestContext;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::invitation::{Invitation, InvitationState, NewInvitation};
use roster_domain::lifecycle::{InvitationRepository, TokenPurpose};
use roster_domain::mail::OutgoingMail;
use roster_domain::users::{NewUser, UserProfile};
use roster_domain::DomainError;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::audit::{audit_change, AuditTarget};
use crate::changes::Changes;
use crate::convert::user_id_from;
use crate::entity::{user_tokens, users};
use crate::error::{corrupt_row, failed};
use crate::outbox::queue_mail;
use crate::store::SeaDirectoryStore;
use crate::users::{insert_new_user, new_user_profile};

const INVITATION: &str = "invitation";

/// The latest invitation of each of `user_ids` that has one, as seen at
/// `now` (a pending one past its expiry is `expired`).
pub(crate) async fn latest_invitations(
    connection: &impl ConnectionTrait,
    user_ids: &[String],
    now: DateTime<Utc>,
) -> Result<HashMap<UserId, Invitation>, DomainError> {
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = user_tokens::Entity::find()
        .filter(user_tokens::Column::UserId.is_in(user_ids.iter().cloned()))
        .filter(user_tokens::Column::Purpose.eq(INVITATION))
        .order_by_asc(user_tokens::Column::CreatedAt)
        .order_by_asc(user_tokens::Column::Id)
        .all(connection)
        .await
        .map_err(failed("reading invitations"))?;
    let inviter_ids: Vec<String> = rows.iter().filter_map(|row| row.created_by.clone()).collect();
    let inviters: HashMap<String, String> = if inviter_ids.is_empty() {
        HashMap::new()
    } else {
        users::Entity::find()
            .select_only()
            .columns([users::Column::Id, users::Column::LoginName])
            .filter(users::Column::Id.is_in(inviter_ids))
            .into_tuple::<(String, String)>()
            .all(connection)
            .await
            .map_err(failed("reading inviters"))?
            .into_iter()
            .collect()
    };
    let mut latest = HashMap::new();
    // Oldest first, so the newest of each user stays.
    for row in rows {
        let invited_by = row.created_by.as_ref().and_then(|id| inviters.get(id)).cloned();
        let invitation = invitation_from_row(&row, invited_by, now)?;
        latest.insert(invitation.user_id, invitation);
    }
    Ok(latest)
}

fn invitation_from_row(
    row: &user_tokens::Model,
    invited_by: Option<String>,
    now: DateTime<Utc>,
) -> Result<Invitation, DomainError> {
    let state = InvitationState::at(&row.state, row.expires_at, now)
        .ok_or_else(|| corrupt_row("user_tokens", "state", &row.state))?;
    Ok(Invitation {
        user_id: user_id_from("user_tokens", "user_id", &row.user_id)?,
        state,
        created_at: row.created_at,
        expires_at: row.expires_at,
        invited_by,
    })
}

/// Inserts a pending token through the caller's transaction.
pub(crate) async fn insert_token(
    connection: &impl ConnectionTrait,
    account_id: &str,
    user_id: &str,
    purpose: TokenPurpose,
    digest: &str,
    created_by: Option<UserId>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let row = user_tokens::ActiveModel {
        id: Set(Uuid::now_v7().to_string()),
        account_id: Set(account_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        purpose: Set(purpose.as_str().to_owned()),
        token_digest: Set(digest.to_owned()),
        state: Set("pending".to_owned()),
        created_by: Set(created_by.map(|id| id.to_string())),
        created_at: Set(now),
        expires_at: Set(crate::convert::storable_time(expires_at)),
        used_at: Set(None),
    };
    user_tokens::Entity::insert(row).exec_without_returning(connection).await.map_err(failed("storing a token"))?;
    Ok(())
}

/// Marks the user's pending tokens of `purpose` as `to_state`; returns how
/// many there were.
pub(crate) async fn end_pending_tokens(
    connection: &impl ConnectionTrait,
    user_id: &str,
    purpose: TokenPurpose,
    to_state: &str,
    now: DateTime<Utc>,
) -> Result<u64, DomainError> {
    let ended = user_tokens::Entity::update_many()
        .col_expr(user_tokens::Column::State, Expr::value(to_state))
        .col_expr(user_tokens::Column::UsedAt, Expr::value(Some(now)))
        .filter(user_tokens::Column::UserId.eq(user_id))
        .filter(user_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(user_tokens::Column::State.eq("pending"))
        .exec(connection)
        .await
        .map_err(failed("ending pending tokens"))?;
    Ok(ended.rows_affected)
}

fn invitation_already_accepted() -> DomainError {
    DomainError::FailedPrecondition {
        rule: "R18",
        reason: "INVITATION_ACCEPTED",
        message: "the user already set a password: there is nothing to resend or revoke".to_owned(),
    }
}

#[async_trait]
impl InvitationRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.invite_user", skip_all, fields(account.id = %user.account_id))]
    async fn invite_user(
        &self,
        user: NewUser,
        invitation: NewInvitation,
        mail: OutgoingMail,
        context: &RequestContext,
    ) -> Result<(UserProfile, Invitation), DomainError> {
        let now = self.now();
        let (transaction, account) = self.begin_adding_users(user.account_id).await?;
        let (user_id, mut changes) = insert_new_user(&transaction, &account, &user, now).await?;
        let id = user_id.to_string();
        let digest = invitation.token_digest.as_hex();
        let inviter = context.actor_id;
        insert_token(
            &transaction,
            &account.id,
            &id,
            TokenPurpose::Invitation,
            digest,
            inviter,
            now,
            invitation.expires_at,
        )
        .await?;
        queue_mail(&transaction, Some(user.account_id), &mail, now).await?;
        changes.created("invitation_expires_at", invitation.expires_at.to_rfc3339());
        let target = AuditTarget::user(&id, user.login_name.display());
        audit_change(&transaction, Some(user.account_id), "user.invite", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing an invitation"))?;
        tracing::info!(user.id = %user_id, "user invited");
        let invitation = Invitation {
            user_id,
            state: InvitationState::Pending,
            created_at: now,
            expires_at: crate::convert::storable_time(invitation.expires_at),
            invited_by: context.actor_name.clone(),
        };
        let profile = new_user_profile(&account, user_id, user, now, Some(invitation.clone()))?;
        Ok((profile, invitation))
    }

    async fn latest_invitation(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Option<Invitation>, DomainError> {
        let _ = account_id;
        let mut latest = latest_invitations(&self.database, &[user_id.to_string()], self.now()).await?;
        Ok(latest.remove(&user_id))
    }

    #[tracing::instrument(name = "directory_store.resend_invitation", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn resend_invitation(
        &self,
        account_id: AccountId,
        user_id: UserId,
        invitation: NewInvitation,
        mail: OutgoingMail,
        context: &RequestContext,
    ) -> Result<Invitation, DomainError> {
        let now = self.now();
        let (transaction, account, row) = self.begin_user_write(account_id, user_id).await?;
        if row.password_hash.is_some() || row.status != UserStatus::Invited.as_str() {
            return Err(invitation_already_accepted());
        }
        let superseded = end_pending_tokens(&transaction, &row.id, TokenPurpose::Invitation, "superseded", now).await?;
        let digest = invitation.token_digest.as_hex();
        insert_token(
            &transaction,
            &account.id,
            &row.id,
            TokenPurpose::Invitation,
            digest,
            context.actor_id,
            now,
            invitation.expires_at,
        )
        .await?;
        queue_mail(&transaction, Some(account_id), &mail, now).await?;
        let mut changes = Changes::new();
        changes
            .note("invitation_expires_at", invitation.expires_at.to_rfc3339())
            .note("superseded_invitations", superseded);
        let target = AuditTarget::user(&row.id, &row.login_name);
        audit_change(&transaction, Some(account_id), "invitation.resend", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a resent invitation"))?;
        Ok(Invitation {
            user_id,
            state: InvitationState::Pending,
            created_at: now,
            expires_at: crate::convert::storable_time(invitation.expires_at),
            invited_by: context.actor_name.clone(),
        })
    }

    #[tracing::instrument(name = "directory_store.revoke_invitation", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn revoke_invitation(
        &self,
        account_id: AccountId,
        user_id: UserId,
        context: &RequestContext,
    ) -> Result<Invitation, DomainError> {
        let now = self.now();
        let (transaction, _account, row) = self.begin_user_write(account_id, user_id).await?;
        if row.password_hash.is_some() {
            return Err(invitation_already_accepted());
        }
        let revoked = end_pending_tokens(&transaction, &row.id, TokenPurpose::Invitation, "revoked", now).await?;
        if revoked == 0 {
            return Err(DomainError::FailedPrecondition {
                rule: "R18",
                reason: "NO_PENDING_INVITATION",
                message: "the user has no pending invitation".to_owned(),
            });
        }
        let mut changes = Changes::new();
        changes.field("invitation", "pending", "revoked");
        let target = AuditTarget::user(&row.id, &row.login_name);
        audit_change(&transaction, Some(account_id), "invitation.revoke", target, changes, now, context).await?;
        let mut latest = latest_invitations(&transaction, std::slice::from_ref(&row.id), now).await?;
        transaction.commit().await.map_err(failed("committing a revoked invitation"))?;
        latest.remove(&user_id).ok_or_else(|| DomainError::internal("revoking an invitation", "it vanished"))
    }
}
