//! Users and their roles (R5–R17, R24, R28, R31, R32), every act authorized
//! by the policy in `roster_domain::access::policy` and audited.

use std::collections::BTreeSet;

use roster_domain::access::policy::{
    check_assign_role, check_block_user, check_delete_user, check_edit_user, check_manage_user, check_outranks,
    check_override, check_unassign_role, TargetUser,
};
use roster_domain::access::{PermissionOverride, RoleAssignment};
use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::filters::DataFilters;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{DisplayName, EmailAddress, LoginName};
use roster_domain::network::IpAllowlist;
use roster_domain::paging::{Page, PageRequest};
use roster_domain::password::Password;
use roster_domain::users::{NewUser, UserFilter, UserPatch, UserProfile};
use roster_domain::DomainError;

use super::admin::{Act, AdminScope};
use super::Directory;

/// A parsed `CreateUser`.
#[derive(Debug)]
pub struct CreateUser {
    pub login_name: LoginName,
    pub email: EmailAddress,
    pub display_name: DisplayName,
    /// `None`: generate a temporary one (R10).
    pub password: Option<Password>,
    pub ip_allowlist: IpAllowlist,
    pub data_filters: DataFilters,
    pub assignments: BTreeSet<RoleAssignment>,
    pub overrides: BTreeSet<PermissionOverride>,
}

/// A parsed `CopyUser` (R13): new identity, everything else from the source.
#[derive(Debug)]
pub struct CopyUser {
    pub source_user_id: UserId,
    pub login_name: LoginName,
    pub email: EmailAddress,
    pub display_name: DisplayName,
}

/// A user just created, with the password shown once when generated.
#[derive(Debug)]
pub struct CreatedUser {
    pub profile: UserProfile,
    pub temporary_password: Option<Password>,
    /// The account's access facts, whose groups name the user's
    /// assignments.
    pub snapshot: std::sync::Arc<roster_domain::repository::AccessSnapshot>,
}

fn user_not_found() -> DomainError {
    DomainError::NotFound { entity: "user", reason: "USER_NOT_FOUND" }
}

fn target(profile: &UserProfile) -> TargetUser<'_> {
    TargetUser { user_id: profile.user.id, is_owner: profile.user.is_owner, assignments: &profile.assignments }
}

impl Directory {
    async fn target_profile(&self, scope: &AdminScope, user_id: UserId) -> Result<UserProfile, DomainError> {
        self.repository.user_profile(scope.account_id(), user_id).await?.ok_or_else(user_not_found)
    }

    /// The user an act is about, whose roles the caller must outrank (R32):
    /// a manager cannot take over a store-scoped administrator.
    async fn existing_target(
        &self,
        scope: &AdminScope,
        act: Act<'_>,
        user_id: UserId,
    ) -> Result<UserProfile, DomainError> {
        let profile = self.target_profile(scope, user_id).await?;
        let check = check_outranks(
            &scope.actor(),
            &target(&profile),
            &scope.snapshot.catalog,
            &scope.snapshot.groups,
            scope.facts(),
        );
        self.authorize(scope, act, check).await?;
        Ok(profile)
    }

    /// Checks what handing out `assignments` and `overrides` needs (R32).
    pub(crate) async fn authorize_grants(
        &self,
        scope: &AdminScope,
        act: Act<'_>,
        assignments: &BTreeSet<RoleAssignment>,
        overrides: &BTreeSet<PermissionOverride>,
    ) -> Result<(), DomainError> {
        let actor = scope.actor();
        for assignment in assignments {
            let check =
                check_assign_role(&actor, &scope.snapshot.catalog, &scope.snapshot.groups, scope.facts(), assignment);
            self.authorize(scope, act, check).await?;
        }
        for permission_override in overrides {
            let check = check_override(&actor, &scope.snapshot.catalog, scope.facts(), permission_override);
            self.authorize(scope, act, check).await?;
        }
        Ok(())
    }

    /// R7, R10, R32: creates a user whose assignments and overrides the
    /// caller may hand out. The password, given or generated, must be
    /// changed at first login (PCI DSS 8.3.5).
    pub async fn create_user(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        request: CreateUser,
    ) -> Result<CreatedUser, DomainError> {
        let act = Act::new("user.create", "user", None);
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let new_user_id = UserId::generate();
        let check = check_manage_user(
            &scope.actor(),
            &TargetUser { user_id: new_user_id, is_owner: false, assignments: &request.assignments },
        );
        self.authorize(&scope, act, check).await?;
        self.authorize_grants(&scope, act, &request.assignments, &request.overrides).await?;
        let (password, temporary_password) = match request.password {
            Some(password) => (password, None),
            None => {
                let generated = Password::generate_temporary();
                (generated.clone(), Some(generated))
            }
        };
        let new_user = NewUser {
            account_id,
            login_name: request.login_name,
            email: request.email,
            display_name: request.display_name,
            password_hash: Some(self.hashing.hash(password).await?),
            must_change_password: true,
            ip_allowlist: request.ip_allowlist,
            data_filters: request.data_filters,
            assignments: request.assignments,
            overrides: request.overrides,
            copied_from: None,
        };
        let profile = self.repository.create_user(new_user, &scope.context).await?;
        Ok(CreatedUser { profile, temporary_password, snapshot: scope.snapshot })
    }

    /// R13: a new user with the source's groups, store scopes, overrides,
    /// data filters and IP allowlist, and a new temporary password.
    pub async fn copy_user(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        request: CopyUser,
    ) -> Result<CreatedUser, DomainError> {
        let source_id = request.source_user_id.to_string();
        let act = Act::new("user.copy", "user", Some(&source_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let source = self.target_profile(&scope, request.source_user_id).await?;
        let check = check_manage_user(
            &scope.actor(),
            &TargetUser { user_id: UserId::generate(), is_owner: false, assignments: &source.assignments },
        );
        self.authorize(&scope, act, check).await?;
        self.authorize_grants(&scope, act, &source.assignments, &source.overrides).await?;
        let temporary = Password::generate_temporary();
        let new_user = NewUser {
            account_id,
            login_name: request.login_name,
            email: request.email,
            display_name: request.display_name,
            password_hash: Some(self.hashing.hash(temporary.clone()).await?),
            must_change_password: true,
            ip_allowlist: source.ip_allowlist.clone(),
            data_filters: source.data_filters.clone(),
            assignments: source.assignments.clone(),
            overrides: source.overrides.clone(),
            copied_from: Some(source.user.id),
        };
        let profile = self.repository.create_user(new_user, &scope.context).await?;
        Ok(CreatedUser { profile, temporary_password: Some(temporary), snapshot: scope.snapshot })
    }

    /// Oneself, or anyone of the account with `users.view`.
    pub async fn get_user(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<(UserProfile, AdminScope), DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new("user.get", "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        if !scope.is_self(user_id) {
            let check = require(&scope, "users.view", "R7: reading other users needs users.view");
            self.authorize(&scope, act, check).await?;
        }
        let profile = self.target_profile(&scope, user_id).await?;
        Ok((profile, scope))
    }

    /// R29: `users.view` is account-level, so a manager lists every team
    /// member.
    pub async fn list_users(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        filter: UserFilter,
        page: PageRequest,
    ) -> Result<(Page<UserProfile>, AdminScope), DomainError> {
        let act = Act::new("user.list", "account", None);
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let check = require(&scope, "users.view", "R7: listing users needs users.view");
        self.authorize(&scope, act, check).await?;
        let listed = self.repository.list_users(account_id, &filter, &page).await?;
        Ok((listed, scope))
    }

    /// R6, R7, R24, R32: a field-masked update; changed overrides must each
    /// be the caller's to grant or remove.
    pub async fn update_user(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
        patch: UserPatch,
    ) -> Result<(UserProfile, AdminScope), DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new("user.update", "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let current = self.existing_target(&scope, act, user_id).await?;
        self.authorize(&scope, act, check_edit_user(&scope.actor(), &target(&current))).await?;
        let access_fields_changed =
            patch.overrides.is_some() || patch.ip_allowlist.is_some() || patch.data_filters.is_some();
        if access_fields_changed && scope.is_self(user_id) && !scope.grants.is_owner {
            // Self-escalation (R32): one's own access settings are someone else's to change.
            let check = check_manage_user(&scope.actor(), &target(&current));
            self.authorize(&scope, act, check).await?;
        }
        if let Some(overrides) = &patch.overrides {
            let changed: BTreeSet<PermissionOverride> =
                overrides.symmetric_difference(&current.overrides).cloned().collect();
            self.authorize_grants(&scope, act, &BTreeSet::new(), &changed).await?;
        }
        let updated = self.repository.update_user(account_id, user_id, patch, &scope.context).await?;
        // R16, R24: filters and overrides are in the principal; names,
        // email and the allowlist are not.
        if updated.overrides != current.overrides || updated.data_filters != current.data_filters {
            self.access_changed(account_id, &[user_id]).await;
        }
        Ok((updated, scope))
    }

    /// R5, R8: permanent; the user's sessions end at once.
    pub async fn delete_user(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<(), DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new("user.delete", "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let current = self.existing_target(&scope, act, user_id).await?;
        self.authorize(&scope, act, check_delete_user(&scope.actor(), &target(&current))).await?;
        self.repository.delete_user(account_id, user_id, &scope.context).await?;
        self.access_changed(account_id, &[user_id]).await;
        self.end_sessions(account_id, user_id, "user_deleted").await
    }

    /// R5, R14: blocking ends the user's sessions at once; unblocking
    /// restores login.
    pub async fn set_user_blocked(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
        blocked: bool,
    ) -> Result<(UserProfile, AdminScope), DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new(if blocked { "user.block" } else { "user.unblock" }, "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let current = self.existing_target(&scope, act, user_id).await?;
        self.authorize(&scope, act, check_block_user(&scope.actor(), &target(&current))).await?;
        let user = self.repository.set_user_blocked(account_id, user_id, blocked, &scope.context).await?;
        if user.status != current.user.status {
            self.access_changed(account_id, &[user_id]).await;
        }
        if blocked {
            self.end_sessions(account_id, user_id, "user_blocked").await?;
        }
        let updated = self.target_profile(&scope, user_id).await?;
        Ok((updated, scope))
    }

    /// R9, R10, R38: an administrator sets another user's password (to be
    /// changed at next login); the user's sessions end. Returns the
    /// generated password when none was given.
    pub async fn set_user_password(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
        password: Option<Password>,
    ) -> Result<Option<Password>, DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new("user.set_password", "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        if scope.is_self(user_id) {
            let refusal = Err(DomainError::FailedPrecondition {
                rule: "R9",
                reason: "CURRENT_PASSWORD_REQUIRED",
                message: "changing one's own password requires the current password".to_owned(),
            });
            return self.authorize(&scope, act, refusal).await.map(|()| None);
        }
        let current = self.existing_target(&scope, act, user_id).await?;
        self.authorize(&scope, act, check_edit_user(&scope.actor(), &target(&current))).await?;
        let (password, generated) = match password {
            // A password an administrator chose meets the whole policy, the
            // common list and the user's history included (PCI 8.3.6, 8.3.7).
            Some(password) => {
                self.check_password_for("password", account_id, user_id, &password).await?;
                (password, None)
            }
            None => {
                let generated = Password::generate_temporary();
                (generated.clone(), Some(generated))
            }
        };
        let hash = self.hashing.hash(password).await?;
        self.repository.set_password(account_id, user_id, hash, true, &scope.context).await?;
        self.end_sessions(account_id, user_id, "password_changed").await?;
        Ok(generated)
    }

    /// R28, R31, R32: gives a group to a user in a scope.
    pub async fn assign_role(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
        assignment: RoleAssignment,
    ) -> Result<AdminScope, DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new("role.assign", "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let current = self.existing_target(&scope, act, user_id).await?;
        let actor = scope.actor();
        self.authorize(&scope, act, check_manage_user(&actor, &target(&current))).await?;
        let check =
            check_assign_role(&actor, &scope.snapshot.catalog, &scope.snapshot.groups, scope.facts(), &assignment);
        self.authorize(&scope, act, check).await?;
        if self.repository.assign_role(account_id, user_id, assignment, &scope.context).await? {
            self.access_changed(account_id, &[user_id]).await;
        }
        Ok(scope)
    }

    /// R5, R31, R32: removing is held to the same rules as granting.
    pub async fn unassign_role(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
        assignment: RoleAssignment,
    ) -> Result<bool, DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new("role.unassign", "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let current = self.existing_target(&scope, act, user_id).await?;
        let actor = scope.actor();
        self.authorize(&scope, act, check_manage_user(&actor, &target(&current))).await?;
        let check = check_unassign_role(
            &actor,
            &target(&current),
            &scope.snapshot.catalog,
            &scope.snapshot.groups,
            scope.facts(),
            &assignment,
        );
        self.authorize(&scope, act, check).await?;
        let unassigned = self.repository.unassign_role(account_id, user_id, assignment, &scope.context).await?;
        if unassigned {
            self.access_changed(account_id, &[user_id]).await;
        }
        Ok(unassigned)
    }
}

/// `Ok` when the scope's user holds `permission` account-wide.
pub fn require(scope: &AdminScope, permission: &str, message: &str) -> Result<(), DomainError> {
    let name = roster_domain::presets::PermissionName::parse("permission", permission).map_err(DomainError::from)?;
    if scope.permissions.holds(&name, None) {
        return Ok(());
    }
    Err(DomainError::permission_denied("MISSING_PERMISSION", message))
}
