//! The password lifecycle (R9, R10, R11, R38, R42; PCI DSS v4 8.3):
//! changing one's own password, asking for a reset by email without
//! learning whether the address exists, and completing a reset. Every new
//! password meets the deployment's policy, history included; every change
//! ends the user's sessions through the broker after it commits.

use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::invitation::InvitationState;
use roster_domain::lifecycle::{PasswordChange, TokenPurpose, TokenUse};
use roster_domain::mail::{password_reset_mail, temporary_password_mail, MailContext};
use roster_domain::names::{AccountKey, EmailAddress};
use roster_domain::password::Password;
use roster_domain::password_policy::PolicyRule;
use roster_domain::tokens::OneTimeToken;
use roster_domain::{DomainError, FieldViolation};

use super::Directory;
use crate::settings::ResetDelivery;

/// A parsed `RequestPasswordReset`.
#[derive(Debug)]
pub struct RequestReset {
    pub account: AccountKey,
    pub email: EmailAddress,
}

/// A parsed `CompletePasswordReset`.
#[derive(Debug)]
pub struct CompleteReset {
    pub account: AccountKey,
    pub token: OneTimeToken,
    pub new_password: Password,
}

impl Directory {
    /// PCI 8.3.6/8.3.7: the policy's rules, then the history: the new
    /// password may equal none of the user's last `history` ones (checked
    /// on the hashing pool against the stored argon2 hashes).
    async fn check_new_password(
        &self,
        account_id: AccountId,
        user_id: UserId,
        new_password: &Password,
    ) -> Result<(), DomainError> {
        self.check_password_for("new_password", account_id, user_id, new_password).await
    }

    /// [`Self::check_new_password`] for a password given in `field`.
    pub(crate) async fn check_password_for(
        &self,
        field: &str,
        account_id: AccountId,
        user_id: UserId,
        new_password: &Password,
    ) -> Result<(), DomainError> {
        let policy = self.lifecycle.password_policy;
        policy.check(field, new_password)?;
        if policy.history == 0 {
            return Ok(());
        }
        for stored in self.repository.password_history(account_id, user_id, policy.history).await? {
            if self.hashing.verify(new_password.clone(), Some(stored)).await? {
                return Err(policy.refusal(field, PolicyRule::History));
            }
        }
        Ok(())
    }

    fn history_depth(&self) -> u32 {
        self.lifecycle.password_policy.history.max(1)
    }

    /// R9, R38, R42: oneself, with the current password; allowed to a
    /// restricted session, which is how it stops being one. Ends every
    /// session of the user: they log in again with the new password.
    pub async fn change_password(
        &self,
        caller: &Caller,
        mut context: RequestContext,
        current_password: Password,
        new_password: Password,
    ) -> Result<(), DomainError> {
        let Some(user) = caller.user() else {
            return Err(DomainError::unauthenticated("SESSION_REQUIRED", "a session token is required"));
        };
        context.actor_id = Some(user.user_id);
        context.actor_name = Some(user.login_name.clone());
        let stored = self.repository.current_password(user.account_id, user.user_id).await?.map(|(hash, _)| hash);
        if !self.hashing.verify(current_password, stored).await? {
            return Err(DomainError::InvalidArgument {
                reason: "CURRENT_PASSWORD_WRONG",
                violations: vec![FieldViolation::new("current_password", "does not match your password (R9)")],
            });
        }
        self.check_new_password(user.account_id, user.user_id, &new_password).await?;
        let change = PasswordChange {
            account_id: user.account_id,
            user_id: user.user_id,
            password_hash: self.hashing.hash(new_password).await?,
            must_change: false,
            history_depth: self.history_depth(),
            action: "user.change_password",
        };
        self.repository.change_password(change, None, &context).await?;
        self.end_sessions(user.account_id, user.user_id, "password_changed").await
    }

    /// R11: sends a reset link (or a temporary password, as configured) if
    /// the address belongs to a user of the account, and answers the same
    /// either way, no sooner than the configured floor. Failures inside are
    /// logged, not told: the answer must not depend on the address.
    pub async fn request_password_reset(&self, context: RequestContext, request: RequestReset) {
        let started = tokio::time::Instant::now();
        if let Err(error) = self.send_reset(&context, request).await {
            tracing::warn!(%error, "a password reset request could not be served");
        }
        tokio::time::sleep_until(started + self.lifecycle.reset_answer_floor).await;
    }

    async fn send_reset(&self, context: &RequestContext, request: RequestReset) -> Result<(), DomainError> {
        let account = self.repository.find_account(&request.account).await?;
        let user = match &account {
            Some(account) => self.repository.find_user_by_email(account.id, &request.email).await?,
            None => None,
        };
        let account_id = account.as_ref().map(|account| account.id);
        let (Some(account), Some(user)) = (account, user) else {
            return self.repository.record_unknown_reset(account_id, context).await;
        };
        let mail_context = MailContext {
            account_name: account.display_name.as_str(),
            account_slug: account.slug.as_str(),
            recipient_name: user.display_name.as_str(),
            link_base: self.lifecycle.link_base.as_deref(),
        };
        let now = self.clock.now();
        match self.lifecycle.reset_delivery {
            ResetDelivery::Link => {
                let token = OneTimeToken::generate();
                let expires_at = now + self.lifecycle.reset_validity;
                let mail = password_reset_mail(&user.email, &mail_context, token.expose(), expires_at);
                self.repository
                    .request_password_reset(account.id, user.id, token.digest(), expires_at, mail, context)
                    .await
            }
            ResetDelivery::TemporaryPassword => {
                let temporary = Password::generate_temporary();
                let expires_at = now + self.lifecycle.temporary_validity;
                let mail = temporary_password_mail(
                    &user.email,
                    &mail_context,
                    user.login_name.display(),
                    temporary.expose(),
                    expires_at,
                );
                let change = PasswordChange {
                    account_id: account.id,
                    user_id: user.id,
                    password_hash: self.hashing.hash(temporary).await?,
                    must_change: true,
                    history_depth: self.history_depth(),
                    action: "user.reset_password",
                };
                self.repository.change_password(change, Some(mail), context).await?;
                self.end_sessions(account.id, user.id, "password_reset").await
            }
        }
    }

    /// R11, R38: the reset token's holder sets a new password (policy and
    /// history apply); every session of the user ends.
    pub async fn complete_password_reset(
        &self,
        mut context: RequestContext,
        request: CompleteReset,
    ) -> Result<(), DomainError> {
        let CompleteReset { account, token, new_password } = request;
        let digest = token.digest();
        let holder = self
            .repository
            .find_token(&account, TokenPurpose::PasswordReset, &digest)
            .await?
            .ok_or(DomainError::NotFound { entity: "reset token", reason: "RESET_TOKEN_NOT_FOUND" })?;
        let now = self.clock.now();
        let state = InvitationState::at(&holder.stored_state, holder.expires_at, now)
            .ok_or_else(|| DomainError::internal("completing a reset", "unknown token state"))?;
        if let Some(error) = roster_domain::lifecycle::token_state_error(TokenPurpose::PasswordReset, state) {
            return Err(error);
        }
        let (account_id, user_id) = (holder.account.id, holder.user.id);
        self.check_new_password(account_id, user_id, &new_password).await?;
        context.actor_id = Some(user_id);
        context.actor_name = Some(holder.user.login_name.display().to_owned());
        let token_use = TokenUse { account_id, purpose: TokenPurpose::PasswordReset, digest, now };
        let change = PasswordChange {
            account_id,
            user_id,
            password_hash: self.hashing.hash(new_password).await?,
            must_change: false,
            history_depth: self.history_depth(),
            action: "user.complete_password_reset",
        };
        self.repository.spend_token(token_use, change, &context).await?;
        self.end_sessions(account_id, user_id, "password_reset").await
    }
}
