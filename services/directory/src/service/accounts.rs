//! Sign-up and account reads (R2).

use roster_domain::account::{Account, BillingLevel, NewAccount, NewOwner, User};
use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountKey, AccountSlug, DisplayName, EmailAddress, LoginName};
use roster_domain::password::Password;
use roster_domain::presets::PermissionName;
use roster_domain::repository::{AccountPatch, OwnershipTransfer};
use roster_domain::DomainError;

use super::admin::Act;
use super::Directory;
use crate::settings::SignupPolicy;

/// A parsed sign-up request.
#[derive(Debug)]
pub struct SignUp {
    pub slug: AccountSlug,
    pub display_name: DisplayName,
    pub billing_level: BillingLevel,
    pub owner_login_name: LoginName,
    pub owner_email: EmailAddress,
    pub owner_display_name: DisplayName,
    pub owner_password: Password,
}

impl Directory {
    /// R2: the account, its owner and its default groups, in one
    /// transaction with the audit event.
    pub async fn create_account(
        &self,
        caller: &Caller,
        mut context: RequestContext,
        sign_up: SignUp,
    ) -> Result<(Account, User), DomainError> {
        if self.signup == SignupPolicy::PlatformOnly && !caller.user().is_some_and(|user| user.is_platform_operator) {
            return Err(DomainError::permission_denied(
                "SIGNUP_RESTRICTED",
                "only platform operators may create accounts here",
            ));
        }
        if let Some(user) = caller.user() {
            context.actor_id = Some(user.user_id);
            context.actor_name = Some(user.login_name.clone());
        }
        let password_hash = self.hashing.hash(sign_up.owner_password).await?;
        let new_account = NewAccount {
            slug: sign_up.slug,
            display_name: sign_up.display_name,
            billing_level: sign_up.billing_level,
            owner: NewOwner {
                login_name: sign_up.owner_login_name,
                email: sign_up.owner_email,
                display_name: sign_up.owner_display_name,
                password_hash,
            },
        };
        let (account, owner) = self.repository.create_account(new_account, &self.presets, &context).await?;
        tracing::info!(account_id = %account.id, slug = %account.slug, "account created");
        Ok((account, owner))
    }

    /// Members of the account, platform operators and Roster's services may
    /// read an account.
    pub async fn get_account(&self, caller: &Caller, key: &AccountKey) -> Result<Account, DomainError> {
        if matches!(caller, Caller::Anonymous) {
            return Err(DomainError::unauthenticated("SESSION_REQUIRED", "a session token is required"));
        }
        let account = self
            .repository
            .find_account(key)
            .await?
            .ok_or(DomainError::NotFound { entity: "account", reason: "ACCOUNT_NOT_FOUND" })?;
        let allowed = match caller {
            Caller::InternalService => true,
            Caller::User(user) => user.is_platform_operator || user.account_id == account.id,
            Caller::Anonymous => false,
        };
        if !allowed {
            return Err(DomainError::permission_denied("OTHER_ACCOUNT", "the account belongs to another tenant"));
        }
        Ok(account)
    }
}

/// The platform permission that allows a forced ownership change (R4).
const FORCE_OWNERSHIP: &str = "platform.ownership.force";

impl Directory {
    /// R6, R30: editing the account's details is the owner's alone.
    pub async fn update_account(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        patch: AccountPatch,
    ) -> Result<Account, DomainError> {
        let target_id = account_id.to_string();
        let act = Act::new("account.update", "account", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let check = if scope.grants.is_owner {
            Ok(())
        } else {
            Err(DomainError::permission_denied("OWNER_ONLY", "R6: only the owner edits the account's details"))
        };
        self.authorize(&scope, act, check).await?;
        let account = self.repository.update_account(account_id, patch, &scope.context).await?;
        // R30: the billing level moves billing permissions between account
        // and store level, for everyone; the display name is no one's access.
        if account.billing_level != scope.snapshot.account.billing_level {
            self.access_changed(account_id, &[]).await;
        }
        Ok(account)
    }

    /// R3, R38: the owner hands ownership to another active user; both
    /// users' sessions end.
    pub async fn transfer_ownership(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        new_owner: UserId,
    ) -> Result<Account, DomainError> {
        let target_id = account_id.to_string();
        let act = Act::new("account.transfer_ownership", "account", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let check = if !scope.grants.is_owner {
            Err(DomainError::permission_denied("OWNER_ONLY", "R3: only the owner can hand ownership on"))
        } else if scope.is_self(new_owner) {
            Err(DomainError::FailedPrecondition {
                rule: "R3",
                reason: "ALREADY_OWNER",
                message: "the new owner must be another user".to_owned(),
            })
        } else {
            Ok(())
        };
        self.authorize(&scope, act, check).await?;
        let transfer =
            OwnershipTransfer { account_id, expected_owner: scope.caller.user_id, new_owner, evidence: None };
        let account = self.repository.transfer_ownership(transfer, &scope.context).await?;
        self.access_changed(account_id, &[scope.caller.user_id, new_owner]).await;
        self.end_sessions(account_id, scope.caller.user_id, "ownership_changed").await?;
        self.end_sessions(account_id, new_owner, "ownership_changed").await?;
        Ok(account)
    }

    /// R4: a platform operator holding `platform.ownership.force` reassigns
    /// the owner, recording the evidence; both users' sessions end.
    pub async fn force_transfer_ownership(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        new_owner: UserId,
        evidence: String,
    ) -> Result<Account, DomainError> {
        let target_id = account_id.to_string();
        let act = Act::new("account.force_transfer_ownership", "account", Some(&target_id));
        let operator_account = match caller.user() {
            Some(user) if user.is_platform_operator => user.account_id,
            Some(user) => {
                let mut audited = context.clone();
                audited.actor_id = Some(user.user_id);
                audited.actor_name = Some(user.login_name.clone());
                let error = DomainError::permission_denied(
                    "PLATFORM_OPERATOR_REQUIRED",
                    "R4: only platform operators force an ownership change",
                );
                return Err(self.audit_denial(Some(account_id), &audited, act, error).await);
            }
            None => return Err(DomainError::unauthenticated("SESSION_REQUIRED", "a session token is required")),
        };
        let scope = self.admin_scope(caller, operator_account, context, act).await?;
        let permission = PermissionName::parse("permission", FORCE_OWNERSHIP).map_err(DomainError::from)?;
        let check = if scope.permissions.holds(&permission, None) {
            Ok(())
        } else {
            Err(DomainError::permission_denied("MISSING_PERMISSION", "R4: platform.ownership.force is required"))
        };
        if let Err(error) = check {
            return Err(self.audit_denial(Some(account_id), &scope.context, act, error).await);
        }
        let account = self
            .repository
            .find_account(&AccountKey::Id(account_id))
            .await?
            .ok_or(DomainError::NotFound { entity: "account", reason: "ACCOUNT_NOT_FOUND" })?;
        let previous_owner = account.owner_user_id;
        let transfer =
            OwnershipTransfer { account_id, expected_owner: previous_owner, new_owner, evidence: Some(evidence) };
        let account = self.repository.transfer_ownership(transfer, &scope.context).await?;
        self.access_changed(account_id, &[previous_owner, new_owner]).await;
        self.end_sessions(account_id, previous_owner, "ownership_changed").await?;
        self.end_sessions(account_id, new_owner, "ownership_changed").await?;
        Ok(account)
    }
}
