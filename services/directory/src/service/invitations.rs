//! Invitations (R17, R18, R19, R32): inviting by email, resending,
//! revoking, and accepting with a password of one's own. Inviting hashes no
//! password: the user has none until they accept.

use std::collections::BTreeSet;

use roster_domain::access::policy::check_invite_user;
use roster_domain::access::RoleAssignment;
use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::filters::DataFilters;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::invitation::{invitation_not_found, Invitation, InvitationState, NewInvitation};
use roster_domain::lifecycle::{PasswordChange, TokenPurpose, TokenUse};
use roster_domain::mail::{invitation_mail, MailContext, OutgoingMail};
use roster_domain::names::{AccountKey, DisplayName, EmailAddress, LoginName};
use roster_domain::network::IpAllowlist;
use roster_domain::password::Password;
use roster_domain::tokens::OneTimeToken;
use roster_domain::users::{NewUser, UserProfile};
use roster_domain::DomainError;

use super::admin::{Act, AdminScope};
use super::Directory;

/// A parsed `InviteUser`.
#[derive(Debug)]
pub struct InviteUser {
    pub email: EmailAddress,
    pub login_name: LoginName,
    pub display_name: DisplayName,
    pub assignments: BTreeSet<RoleAssignment>,
}

/// A parsed `AcceptInvitation`: the token is the credential.
#[derive(Debug)]
pub struct AcceptInvitation {
    pub account: AccountKey,
    pub token: OneTimeToken,
    pub new_password: Password,
}

/// The user who accepted.
#[derive(Debug)]
pub struct AcceptedInvitation {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub login_name: String,
}

impl Directory {
    fn invitation_mail(
        &self,
        scope: &AdminScope,
        to: &EmailAddress,
        recipient_name: &str,
        login_name: &str,
        token: &OneTimeToken,
        invitation: &NewInvitation,
    ) -> OutgoingMail {
        let account = &scope.snapshot.account;
        let context = MailContext {
            account_name: account.display_name.as_str(),
            account_slug: account.slug.as_str(),
            recipient_name,
            link_base: self.lifecycle.link_base.as_deref(),
        };
        invitation_mail(to, &context, login_name, &scope.caller.display_name, token.expose(), invitation.expires_at)
    }

    fn new_invitation(&self) -> (OneTimeToken, NewInvitation) {
        let token = OneTimeToken::generate();
        let invitation = NewInvitation {
            token_digest: token.digest(),
            expires_at: self.clock.now() + self.lifecycle.invitation_validity,
        };
        (token, invitation)
    }

    /// R18, R19, R32: creates the user `invited`, with the groups and store
    /// scopes the caller may hand out, and queues the invitation mail, all
    /// in one transaction with the audit event. Needs `users.invite` in
    /// every scope the invitation grants.
    pub async fn invite_user(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        request: InviteUser,
    ) -> Result<(UserProfile, Invitation, AdminScope), DomainError> {
        let act = Act::new("user.invite", "user", None);
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        self.authorize(&scope, act, check_invite_user(&scope.actor(), &request.assignments)).await?;
        self.authorize_grants(&scope, act, &request.assignments, &BTreeSet::new()).await?;
        let (token, invitation) = self.new_invitation();
        let mail = self.invitation_mail(
            &scope,
            &request.email,
            request.display_name.as_str(),
            request.login_name.display(),
            &token,
            &invitation,
        );
        let new_user = NewUser {
            account_id,
            login_name: request.login_name,
            email: request.email,
            display_name: request.display_name,
            password_hash: None,
            must_change_password: false,
            ip_allowlist: IpAllowlist::Anywhere,
            data_filters: DataFilters::default(),
            assignments: request.assignments,
            overrides: BTreeSet::new(),
            copied_from: None,
        };
        let (profile, invitation) = self.repository.invite_user(new_user, invitation, mail, &scope.context).await?;
        Ok((profile, invitation, scope))
    }

    /// The invited user an act is about, checked like the invitation was:
    /// `users.invite` where the user's assignments reach.
    async fn invited_target(
        &self,
        scope: &AdminScope,
        act: Act<'_>,
        user_id: UserId,
    ) -> Result<UserProfile, DomainError> {
        let profile = self
            .repository
            .user_profile(scope.account_id(), user_id)
            .await?
            .ok_or(DomainError::NotFound { entity: "user", reason: "USER_NOT_FOUND" })?;
        self.authorize(scope, act, check_invite_user(&scope.actor(), &profile.assignments)).await?;
        Ok(profile)
    }

    /// R18: a new token and a new mail; the previous token stops working.
    pub async fn resend_invitation(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Invitation, DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new("invitation.resend", "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let profile = self.invited_target(&scope, act, user_id).await?;
        let (token, invitation) = self.new_invitation();
        let user = &profile.user;
        let mail = self.invitation_mail(
            &scope,
            &user.email,
            user.display_name.as_str(),
            user.login_name.display(),
            &token,
            &invitation,
        );
        self.repository.resend_invitation(account_id, user_id, invitation, mail, &scope.context).await
    }

    /// R18: the pending token stops working.
    pub async fn revoke_invitation(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Invitation, DomainError> {
        let target_id = user_id.to_string();
        let act = Act::new("invitation.revoke", "user", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        self.invited_target(&scope, act, user_id).await?;
        self.repository.revoke_invitation(account_id, user_id, &scope.context).await
    }

    /// R17, R18: the token's holder sets their own password (the policy
    /// applies; there is no history yet). The user stays `invited` until the
    /// first successful login. A used, revoked or expired token says so; the
    /// check is repeated inside the transaction that spends it.
    pub async fn accept_invitation(
        &self,
        mut context: RequestContext,
        request: AcceptInvitation,
    ) -> Result<AcceptedInvitation, DomainError> {
        let AcceptInvitation { account, token, new_password } = request;
        let digest = token.digest();
        let holder = self
            .repository
            .find_token(&account, TokenPurpose::Invitation, &digest)
            .await?
            .ok_or_else(invitation_not_found)?;
        let now = self.clock.now();
        let state = InvitationState::at(&holder.stored_state, holder.expires_at, now)
            .ok_or_else(|| DomainError::internal("accepting an invitation", "unknown token state"))?;
        state.check_acceptable()?;
        self.lifecycle.password_policy.check("new_password", &new_password)?;
        let password_hash = self.hashing.hash(new_password).await?;
        // The invitee acts on their own behalf.
        context.actor_id = Some(holder.user.id);
        context.actor_name = Some(holder.user.login_name.display().to_owned());
        let token_use = TokenUse { account_id: holder.account.id, purpose: TokenPurpose::Invitation, digest, now };
        let change = PasswordChange {
            account_id: holder.account.id,
            user_id: holder.user.id,
            password_hash,
            must_change: false,
            history_depth: self.lifecycle.password_policy.history.max(1),
            action: "invitation.accept",
        };
        let user = self.repository.spend_token(token_use, change, &context).await?;
        Ok(AcceptedInvitation {
            user_id: user.id,
            account_id: user.account_id,
            login_name: user.login_name.display().to_owned(),
        })
    }
}
