//! `roster.directory.v1.InvitationService` (R17, R18, R19).

use roster_domain::error::Violations;
use roster_domain::ids::AccountId;
use roster_domain::names::{AccountKey, DisplayName, EmailAddress, LoginName};
use roster_domain::password::Password;
use roster_domain::tokens::OneTimeToken;
use roster_domain::{DomainError, FieldViolation};
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::invitation_service_server::InvitationService;
use roster_server::errors::status_from_error;
use roster_server::metadata::request_context;
use tonic::{Request, Response, Status};

use super::convert::{invitation_message, user_profile_message};
use super::parse::account_and_user;
use super::{caller_of, parse, unparsed};
use crate::auth::Authenticator;
use crate::service::invitations::{AcceptInvitation, InviteUser};
use crate::service::Directory;

pub struct InvitationGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

fn parse_invite_user(message: &proto::InviteUserRequest) -> Result<(AccountId, InviteUser), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let email = violations.check(EmailAddress::parse("email", &message.email));
    // Without a login name of its own, the address is the login.
    let login_text = if message.login_name.trim().is_empty() { message.email.as_str() } else { &message.login_name };
    let login_name = violations.check(LoginName::parse("login_name", login_text));
    let display_name = violations.check(DisplayName::parse("display_name", &message.display_name));
    let assignments = parse::role_assignments("role_assignments", &message.role_assignments, &mut violations);
    violations.finish()?;
    match (account_id, email, login_name, display_name) {
        (Some(account_id), Some(email), Some(login_name), Some(display_name)) => {
            Ok((account_id, InviteUser { email, login_name, display_name, assignments }))
        }
        _ => Err(unparsed()),
    }
}

/// A new password as offered: normalised here, judged by the policy in the
/// service (which names the rule that failed).
pub fn new_password(field: &str, text: &str) -> Result<Password, FieldViolation> {
    if text.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    Ok(Password::for_verification(text))
}

fn parse_accept(message: &proto::AcceptInvitationRequest) -> Result<AcceptInvitation, DomainError> {
    let mut violations = Violations::new();
    let account = violations.check(AccountKey::parse("account", &message.account));
    let token = violations.check(OneTimeToken::parse("token", &message.token));
    let new_password = violations.check(new_password("new_password", &message.new_password));
    violations.finish()?;
    match (account, token, new_password) {
        (Some(account), Some(token), Some(new_password)) => Ok(AcceptInvitation { account, token, new_password }),
        _ => Err(unparsed()),
    }
}

#[tonic::async_trait]
impl InvitationService for InvitationGrpc {
    async fn invite_user(
        &self,
        request: Request<proto::InviteUserRequest>,
    ) -> Result<Response<proto::InviteUserResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, command) = parse_invite_user(request.get_ref()).map_err(status_from_error)?;
        let (profile, invitation, scope) =
            self.directory.invite_user(&caller, context, account_id, command).await.map_err(status_from_error)?;
        Ok(Response::new(proto::InviteUserResponse {
            user: Some(user_profile_message(&profile, &scope.snapshot.groups)),
            invitation: Some(invitation_message(&invitation)),
        }))
    }

    async fn resend_invitation(
        &self,
        request: Request<proto::ResendInvitationRequest>,
    ) -> Result<Response<proto::Invitation>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, user_id) =
            account_and_user(&message.account_id, &message.user_id).map_err(status_from_error)?;
        let invitation =
            self.directory.resend_invitation(&caller, context, account_id, user_id).await.map_err(status_from_error)?;
        Ok(Response::new(invitation_message(&invitation)))
    }

    async fn revoke_invitation(
        &self,
        request: Request<proto::RevokeInvitationRequest>,
    ) -> Result<Response<proto::Invitation>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, user_id) =
            account_and_user(&message.account_id, &message.user_id).map_err(status_from_error)?;
        let invitation =
            self.directory.revoke_invitation(&caller, context, account_id, user_id).await.map_err(status_from_error)?;
        Ok(Response::new(invitation_message(&invitation)))
    }

    async fn accept_invitation(
        &self,
        request: Request<proto::AcceptInvitationRequest>,
    ) -> Result<Response<proto::AcceptInvitationResponse>, Status> {
        // The token is the credential: no session is needed or looked at.
        let context = request_context(&request);
        let command = parse_accept(request.get_ref()).map_err(status_from_error)?;
        let accepted = self.directory.accept_invitation(context, command).await.map_err(status_from_error)?;
        Ok(Response::new(proto::AcceptInvitationResponse {
            user_id: accepted.user_id.to_string(),
            account_id: accepted.account_id.to_string(),
            login_name: accepted.login_name,
        }))
    }
}
