//! [`CredentialRepository`]: what a login needs, and its audit trail.

use async_trait::async_trait;
use roster_domain::audit::{AuditOutcome, AuditRecord, RequestContext};
use roster_domain::names::{AccountKey, LoginName};
use roster_domain::repository::{CredentialRepository, LoginAttempt, LoginCandidate};
use roster_domain::DomainError;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};
use serde_json::json;

use crate::accounts::find_account_row;
use crate::audit::append_audit_event;
use crate::convert::{
    account_from_row, ip_allowlist_from_row, membership_from_row, password_hash_from_row, user_from_row,
};
use crate::entity::{groups, role_assignments, users};
use crate::error::failed;
use crate::store::SeaDirectoryStore;

#[async_trait]
impl CredentialRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.find_login_candidate", skip_all)]
    async fn find_login_candidate(
        &self,
        account: &AccountKey,
        login: &LoginName,
    ) -> Result<Option<LoginCandidate>, DomainError> {
        let Some(account_row) = find_account_row(&self.database, account).await? else {
            return Ok(None);
        };
        let user_row = users::Entity::find()
            .filter(users::Column::AccountId.eq(account_row.id.as_str()))
            .filter(users::Column::LoginKey.eq(login.key()))
            .one(&self.database)
            .await
            .map_err(failed("finding a login"))?;
        let Some(user_row) = user_row else {
            return Ok(None);
        };
        // Distinct by construction: each group once, however many scopes
        // the user holds it in.
        let assigned_groups = Query::select()
            .column(role_assignments::Column::GroupId)
            .from(role_assignments::Entity)
            .and_where(role_assignments::Column::UserId.eq(user_row.id.as_str()))
            .to_owned();
        let group_rows = groups::Entity::find()
            .filter(groups::Column::Id.in_subquery(assigned_groups))
            .order_by_asc(groups::Column::NameKey)
            .all(&self.database)
            .await
            .map_err(failed("loading a login's groups"))?;

        let account = account_from_row(account_row)?;
        let user = user_from_row(&user_row, account.owner_user_id)?;
        let password_hash = password_hash_from_row(&user_row);
        let ip_allowlist = ip_allowlist_from_row(&user_row)?;
        let groups = group_rows.into_iter().map(membership_from_row).collect::<Result<_, _>>()?;
        Ok(Some(LoginCandidate { account, user, password_hash, groups, ip_allowlist }))
    }

    #[tracing::instrument(
        name = "directory_store.record_login",
        skip_all,
        fields(outcome = attempt.outcome.as_str(), reason = attempt.reason)
    )]
    async fn record_login(&self, attempt: &LoginAttempt, context: &RequestContext) -> Result<(), DomainError> {
        let now = self.now();
        let mut changes = json!({ "login_name": attempt.login_name });
        let transaction = self.database.begin().await.map_err(failed("starting to record a login"))?;
        if let (AuditOutcome::Success, Some(user_id)) = (attempt.outcome, attempt.user_id) {
            let mut this_user = users::Column::Id.eq(user_id.to_string());
            if let Some(account_id) = attempt.account_id {
                this_user = this_user.and(users::Column::AccountId.eq(account_id.to_string()));
            }
            users::Entity::update_many()
                .col_expr(users::Column::LastLoginAt, Expr::value(now))
                .filter(this_user.clone())
                .exec(&transaction)
                .await
                .map_err(failed("recording a login time"))?;
            // R17: the first successful login turns an invitation active.
            let activated = users::Entity::update_many()
                .col_expr(users::Column::Status, Expr::value("active"))
                .col_expr(users::Column::UpdatedAt, Expr::value(now))
                .filter(this_user)
                .filter(users::Column::Status.eq("invited"))
                .exec(&transaction)
                .await
                .map_err(failed("activating an invited user"))?;
            if activated.rows_affected > 0 {
                changes["status"] = json!({ "before": "invited", "after": "active" });
            }
        }
        let record = AuditRecord {
            account_id: attempt.account_id,
            action: "session.login",
            target_type: "user",
            target_id: attempt.user_id.map(|user_id| user_id.to_string()),
            target_name: Some(attempt.login_name.clone()),
            changes,
            outcome: attempt.outcome,
            reason: attempt.reason.map(str::to_owned),
            occurred_at: now,
        };
        append_audit_event(&transaction, record, context).await.map_err(failed("auditing a login"))?;
        transaction.commit().await.map_err(failed("committing a login record"))?;
        Ok(())
    }
}
