//! [`UserRepository`]: creating, editing, blocking and deleting users
//! (R7–R17). Each mutation locks its account (`write`), checks inside the
//! transaction, and writes its audit event there too (R43). Role
//! assignments are in `roles`; reads are in `profiles`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_domain::access::RoleAssignment;
use roster_domain::account::{User, UserStatus};
use roster_domain::audit::RequestContext;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::invitation::Invitation;
use roster_domain::paging::{Page, PageRequest};
use roster_domain::password::PasswordHash;
use roster_domain::repository::UserRepository;
use roster_domain::users::{NewUser, UserFilter, UserPatch, UserProfile};
use roster_domain::DomainError;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::audit::{audit_change, AuditTarget};
use crate::changes::Changes;
use crate::convert::{data_filters_from_row, ip_allowlist_from_row, json_text, user_from_row, user_id_from};
use crate::entity::{accounts, users};
use crate::error::{failed, is_foreign_key_violation, user_not_found};
use crate::grants::{
    assignment_json, insert_assignments, insert_overrides, load_grants, overrides_json, replace_overrides,
};
use crate::passwords::record_password_history;
use crate::profiles::{find_user_row, load_profile};
use crate::references::check_user_grants;
use crate::store::SeaDirectoryStore;

/// R5: the owner can be neither deleted nor blocked.
fn owner_protected(act: &str) -> DomainError {
    DomainError::FailedPrecondition {
        rule: "R5",
        reason: "OWNER_PROTECTED",
        message: format!("the account owner cannot be {act}; transfer ownership first"),
    }
}

/// The account's owner, from its locked row.
pub(crate) fn owner_of(account: &accounts::Model) -> Result<UserId, DomainError> {
    user_id_from("accounts", "owner_user_id", &account.owner_user_id)
}

/// Inserts `user` (status `invited`, R17) with its assignments, overrides
/// and first password (in the history too, PCI 8.3.7), inside the caller's
/// transaction, which holds the account's write lock. Returns the new id
/// and the audited fields.
pub(crate) async fn insert_new_user(
    transaction: &DatabaseTransaction,
    account: &accounts::Model,
    user: &NewUser,
    now: DateTime<Utc>,
) -> Result<(UserId, Changes), DomainError> {
    let group_names = check_user_grants(transaction, &account.id, &user.assignments, &user.overrides).await?;
    let user_id = UserId::generate();
    let id = user_id.to_string();
    let row = users::ActiveModel {
        id: Set(id.clone()),
        account_id: Set(account.id.clone()),
        login_name: Set(user.login_name.display().to_owned()),
        login_key: Set(user.login_name.key().to_owned()),
        email: Set(user.email.as_str().to_owned()),
        email_key: Set(user.email.key()),
        display_name: Set(user.display_name.as_str().to_owned()),
        status: Set(UserStatus::Invited.as_str().to_owned()),
        password_hash: Set(user.password_hash.as_ref().map(|hash| hash.as_phc().to_owned())),
        must_change_password: Set(user.must_change_password),
        password_changed_at: Set(user.password_hash.as_ref().map(|_| now)),
        last_login_at: Set(None),
        ip_allowlist: Set(json_text(&user.ip_allowlist)?),
        data_filters: Set(json_text(&user.data_filters)?),
        created_at: Set(now),
        updated_at: Set(now),
    };
    users::Entity::insert(row).exec_without_returning(transaction).await.map_err(failed("inserting a user"))?;
    insert_assignments(transaction, &account.id, &id, &user.assignments, now).await?;
    // A new user has no overrides to replace.
    insert_overrides(transaction, &id, &user.overrides).await?;
    if let Some(hash) = &user.password_hash {
        record_password_history(transaction, &id, hash, now).await?;
    }

    let mut changes = Changes::new();
    changes
        .created("login_name", user.login_name.display())
        .created("email", user.email.as_str())
        .created("display_name", user.display_name.as_str())
        .created("status", UserStatus::Invited.as_str())
        .created("must_change_password", user.must_change_password)
        .created("ip_allowlist", user.ip_allowlist.entries())
        .created("data_filters", &user.data_filters);
    if !user.assignments.is_empty() {
        let assignments: Vec<Value> = user
            .assignments
            .iter()
            .map(|assignment| assignment_json(assignment, group_names.get(&assignment.group_id).map(String::as_str)))
            .collect();
        changes.created("assignments", assignments);
    }
    if !user.overrides.is_empty() {
        changes.created("overrides", overrides_json(&user.overrides));
    }
    Ok((user_id, changes))
}

/// The profile of a user just inserted by [`insert_new_user`].
pub(crate) fn new_user_profile(
    account: &accounts::Model,
    user_id: UserId,
    user: NewUser,
    now: DateTime<Utc>,
    invitation: Option<Invitation>,
) -> Result<UserProfile, DomainError> {
    let owner = owner_of(account)?;
    Ok(UserProfile {
        user: User {
            id: user_id,
            account_id: user.account_id,
            login_name: user.login_name,
            email: user.email,
            display_name: user.display_name,
            status: UserStatus::Invited,
            is_owner: user_id == owner,
            must_change_password: user.must_change_password,
            created_at: now,
            updated_at: now,
        },
        ip_allowlist: user.ip_allowlist,
        data_filters: user.data_filters,
        assignments: user.assignments,
        overrides: user.overrides,
        last_login_at: None,
        invitation,
    })
}

impl SeaDirectoryStore {
    /// Locks the account and reads one of its users: `NOT_FOUND` for either.
    pub(crate) async fn begin_user_write(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<(DatabaseTransaction, accounts::Model, users::Model), DomainError> {
        let (transaction, account) = self.begin_account_write(account_id).await?;
        let row = find_user_row(&transaction, &account.id, &user_id.to_string()).await?.ok_or_else(user_not_found)?;
        Ok((transaction, account, row))
    }
}

#[async_trait]
impl UserRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.create_user", skip_all, fields(account.id = %user.account_id))]
    async fn create_user(&self, user: NewUser, context: &RequestContext) -> Result<UserProfile, DomainError> {
        let now = self.now();
        let (transaction, account) = self.begin_adding_users(user.account_id).await?;
        let (user_id, mut changes) = insert_new_user(&transaction, &account, &user, now).await?;
        let action = match user.copied_from {
            Some(source) => {
                changes.note("copied_from", source.to_string());
                "user.copy"
            }
            None => "user.create",
        };
        let target = AuditTarget::user(&user_id.to_string(), user.login_name.display());
        audit_change(&transaction, Some(user.account_id), action, target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a new user"))?;
        tracing::info!(user.id = %user_id, "user created");
        new_user_profile(&account, user_id, user, now, None)
    }

    #[tracing::instrument(name = "directory_store.user_profile", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn user_profile(&self, account_id: AccountId, user_id: UserId) -> Result<Option<UserProfile>, DomainError> {
        self.read_user_profile(account_id, user_id).await
    }

    #[tracing::instrument(name = "directory_store.list_users", skip_all, fields(account.id = %account_id))]
    async fn list_users(
        &self,
        account_id: AccountId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserProfile>, DomainError> {
        self.read_user_page(account_id, filter, page).await
    }

    #[tracing::instrument(name = "directory_store.update_user", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn update_user(
        &self,
        account_id: AccountId,
        user_id: UserId,
        patch: UserPatch,
        context: &RequestContext,
    ) -> Result<UserProfile, DomainError> {
        let now = self.now();
        let (transaction, account, row) = self.begin_user_write(account_id, user_id).await?;
        let owner = owner_of(&account)?;
        let mut changes = Changes::new();
        let mut update = users::ActiveModel { id: Set(row.id.clone()), ..Default::default() };
        if let Some(email) = &patch.email {
            if email.as_str() != row.email {
                changes.field("email", &row.email, email.as_str());
                update.email = Set(email.as_str().to_owned());
                update.email_key = Set(email.key());
            }
        }
        if let Some(display_name) = &patch.display_name {
            if display_name.as_str() != row.display_name {
                changes.field("display_name", &row.display_name, display_name.as_str());
                update.display_name = Set(display_name.as_str().to_owned());
            }
        }
        if let Some(allowlist) = &patch.ip_allowlist {
            let before = ip_allowlist_from_row(&row)?;
            if &before != allowlist {
                changes.field("ip_allowlist", before.entries(), allowlist.entries());
                update.ip_allowlist = Set(json_text(allowlist)?);
            }
        }
        if let Some(filters) = &patch.data_filters {
            let before = data_filters_from_row(&row)?;
            if &before != filters {
                changes.field("data_filters", &before, filters);
                update.data_filters = Set(json_text(filters)?);
            }
        }
        if let Some(overrides) = &patch.overrides {
            let mut grants = load_grants(&transaction, std::slice::from_ref(&row.id)).await?;
            let before = grants.overrides.remove(&user_id).unwrap_or_default();
            if &before != overrides {
                check_user_grants(&transaction, &account.id, [], overrides).await?;
                replace_overrides(&transaction, &row.id, overrides).await?;
                changes.field("overrides", overrides_json(&before), overrides_json(overrides));
            }
        }
        if changes.is_empty() {
            // Nothing changed: nothing to write, nothing to audit.
            return load_profile(&transaction, owner, row, now).await;
        }
        update.updated_at = Set(now);
        let updated = users::Entity::update(update)
            .filter(users::Column::AccountId.eq(account.id.as_str()))
            .exec(&transaction)
            .await
            .map_err(failed("updating a user"))?;
        let target = AuditTarget::user(&row.id, &row.login_name);
        audit_change(&transaction, Some(account_id), "user.update", target, changes, now, context).await?;
        let profile = load_profile(&transaction, owner, updated, now).await?;
        transaction.commit().await.map_err(failed("committing a user update"))?;
        Ok(profile)
    }

    #[tracing::instrument(name = "directory_store.delete_user", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn delete_user(
        &self,
        account_id: AccountId,
        user_id: UserId,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let now = self.now();
        let (transaction, account, row) = self.begin_user_write(account_id, user_id).await?;
        let owner = owner_of(&account)?;
        if owner == user_id {
            return Err(owner_protected("deleted"));
        }
        let user = user_from_row(&row, owner)?;
        // Assignments and overrides go with the row (ON DELETE CASCADE).
        users::Entity::delete_by_id(row.id.as_str())
            .filter(users::Column::AccountId.eq(account.id.as_str()))
            .exec(&transaction)
            .await
            .map_err(failed("deleting a user"))?;
        let mut changes = Changes::new();
        changes
            .removed("login_name", &row.login_name)
            .removed("email", &row.email)
            .removed("display_name", &row.display_name);
        let target = AuditTarget::user(&row.id, &row.login_name);
        audit_change(&transaction, Some(account_id), "user.delete", target, changes, now, context).await?;
        // The deferred owner key is checked here; the lock makes a failure
        // impossible short of a bug, but it would still mean R5.
        transaction.commit().await.map_err(|error| {
            if is_foreign_key_violation(&error) {
                owner_protected("deleted")
            } else {
                crate::error::database_error("committing a user deletion", error)
            }
        })?;
        tracing::info!(user.id = %user_id, "user deleted");
        Ok(user)
    }

    #[tracing::instrument(name = "directory_store.set_user_blocked", skip_all, fields(account.id = %account_id, user.id = %user_id, blocked))]
    async fn set_user_blocked(
        &self,
        account_id: AccountId,
        user_id: UserId,
        blocked: bool,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let now = self.now();
        let (transaction, account, row) = self.begin_user_write(account_id, user_id).await?;
        let owner = owner_of(&account)?;
        if blocked && owner == user_id {
            return Err(owner_protected("blocked"));
        }
        let status = match (blocked, row.status.as_str()) {
            (true, _) => UserStatus::Blocked,
            // R17: back to what the user was before the block.
            (false, "blocked") if row.last_login_at.is_some() => UserStatus::Active,
            (false, "blocked") => UserStatus::Invited,
            (false, _) => return user_from_row(&row, owner),
        };
        if status.as_str() == row.status {
            return user_from_row(&row, owner);
        }
        let update = users::ActiveModel {
            id: Set(row.id.clone()),
            status: Set(status.as_str().to_owned()),
            updated_at: Set(now),
            ..Default::default()
        };
        let updated = users::Entity::update(update).exec(&transaction).await.map_err(failed("blocking a user"))?;
        let mut changes = Changes::new();
        changes.field("status", &row.status, status.as_str());
        let action = if blocked { "user.block" } else { "user.unblock" };
        let target = AuditTarget::user(&row.id, &row.login_name);
        audit_change(&transaction, Some(account_id), action, target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a block"))?;
        user_from_row(&updated, owner)
    }

    #[tracing::instrument(name = "directory_store.set_password", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn set_password(
        &self,
        account_id: AccountId,
        user_id: UserId,
        password_hash: PasswordHash,
        must_change: bool,
        context: &RequestContext,
    ) -> Result<User, DomainError> {
        let now = self.now();
        let (transaction, account, row) = self.begin_user_write(account_id, user_id).await?;
        let update = users::ActiveModel {
            id: Set(row.id.clone()),
            password_hash: Set(Some(password_hash.as_phc().to_owned())),
            must_change_password: Set(must_change),
            password_changed_at: Set(Some(now)),
            updated_at: Set(now),
            ..Default::default()
        };
        let updated = users::Entity::update(update).exec(&transaction).await.map_err(failed("setting a password"))?;
        // R9: the audit log says that the password changed, never to what.
        let mut changes = Changes::new();
        changes.note("password", "changed").field("must_change_password", row.must_change_password, must_change);
        let target = AuditTarget::user(&row.id, &row.login_name);
        audit_change(&transaction, Some(account_id), "user.set_password", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a password change"))?;
        user_from_row(&updated, owner_of(&account)?)
    }

    async fn assign_role(
        &self,
        account_id: AccountId,
        user_id: UserId,
        assignment: RoleAssignment,
        context: &RequestContext,
    ) -> Result<bool, DomainError> {
        self.write_assignment(account_id, user_id, assignment, true, context).await
    }

    async fn unassign_role(
        &self,
        account_id: AccountId,
        user_id: UserId,
        assignment: RoleAssignment,
        context: &RequestContext,
    ) -> Result<bool, DomainError> {
        self.write_assignment(account_id, user_id, assignment, false, context).await
    }
}
