//! Role assignments one at a time (R28): `role.assign` and `role.unassign`.

use roster_domain::access::RoleAssignment;
use roster_domain::audit::RequestContext;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::DomainError;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::audit::{audit_change, AuditTarget};
use crate::changes::Changes;
use crate::entity::role_assignments;
use crate::error::{failed, failed_or_missing, user_not_found};
use crate::grants::{assignment_json, assignment_row};
use crate::references::groups_of_account;
use crate::store::SeaDirectoryStore;

impl SeaDirectoryStore {
    /// Adds (`assign`) or removes an assignment of `user_id`. `false`, with
    /// nothing written, when there was nothing to do.
    #[tracing::instrument(
        name = "directory_store.write_assignment",
        skip_all,
        fields(account.id = %account_id, user.id = %user_id, group.id = %assignment.group_id, assign)
    )]
    pub(crate) async fn write_assignment(
        &self,
        account_id: AccountId,
        user_id: UserId,
        assignment: RoleAssignment,
        assign: bool,
        context: &RequestContext,
    ) -> Result<bool, DomainError> {
        let now = self.now();
        let (transaction, account, user) = self.begin_user_write(account_id, user_id).await?;
        let group_names = groups_of_account(&transaction, &account.id, [assignment.group_id]).await?;
        let group_name = group_names.get(&assignment.group_id).map(String::as_str);
        let mut changes = Changes::new();
        let action = if assign {
            if let Some(store_id) = assignment.scope.store() {
                crate::references::check_stores_of_account(&transaction, &account.id, [store_id]).await?;
            }
            let inserted = role_assignments::Entity::insert(assignment_row(&account.id, &user.id, &assignment, now))
                .on_conflict(
                    OnConflict::columns([
                        role_assignments::Column::UserId,
                        role_assignments::Column::GroupId,
                        role_assignments::Column::ScopeKey,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&transaction)
                .await
                // A user deleted by a transaction that committed first.
                .map_err(failed_or_missing("assigning a role", user_not_found))?;
            if inserted == 0 {
                return Ok(false);
            }
            changes.created("assignment", assignment_json(&assignment, group_name));
            "role.assign"
        } else {
            let removed = role_assignments::Entity::delete_many()
                .filter(role_assignments::Column::UserId.eq(user.id.as_str()))
                .filter(role_assignments::Column::GroupId.eq(assignment.group_id.to_string()))
                .filter(role_assignments::Column::ScopeKey.eq(assignment.scope.key()))
                .exec(&transaction)
                .await
                .map_err(failed("removing a role"))?;
            if removed.rows_affected == 0 {
                return Ok(false);
            }
            changes.removed("assignment", assignment_json(&assignment, group_name));
            "role.unassign"
        };
        let target = AuditTarget::user(&user.id, &user.login_name);
        audit_change(&transaction, Some(account_id), action, target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a role change"))?;
        Ok(true)
    }
}
