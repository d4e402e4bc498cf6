//! Sign-up and account reads (R2).

use roster_domain::account::{Account, BillingLevel, NewAccount, NewOwner, User};
use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::names::{AccountKey, AccountSlug, DisplayName, EmailAddress, LoginName};
use roster_domain::password::Password;
use roster_domain::DomainError;

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
