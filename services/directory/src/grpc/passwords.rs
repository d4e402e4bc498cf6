//! `roster.directory.v1.PasswordService` (R9, R11, R42; PCI DSS v4 8.3).

use roster_domain::error::Violations;
use roster_domain::names::{AccountKey, EmailAddress};
use roster_domain::tokens::OneTimeToken;
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::password_service_server::PasswordService;
use roster_server::errors::status_from_error;
use roster_server::metadata::request_context;
use tonic::{Request, Response, Status};

use super::invitations::new_password;
use super::unparsed;
use crate::auth::Authenticator;
use crate::service::passwords::{CompleteReset, RequestReset};
use crate::service::Directory;

pub struct PasswordGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

#[tonic::async_trait]
impl PasswordService for PasswordGrpc {
    async fn change_password(
        &self,
        request: Request<proto::ChangePasswordRequest>,
    ) -> Result<Response<proto::ChangePasswordResponse>, Status> {
        // R42: the one RPC a restricted session may call.
        let context = request_context(&request);
        let caller =
            self.authenticator.authenticate_any_session(request.metadata()).await.map_err(status_from_error)?;
        let message = request.get_ref();
        let mut violations = Violations::new();
        let current = violations.check(new_password("current_password", &message.current_password));
        let new = violations.check(new_password("new_password", &message.new_password));
        violations.finish().map_err(status_from_error)?;
        let (Some(current), Some(new)) = (current, new) else { return Err(status_from_error(unparsed())) };
        self.directory.change_password(&caller, context, current, new).await.map_err(status_from_error)?;
        Ok(Response::new(proto::ChangePasswordResponse {}))
    }

    async fn request_password_reset(
        &self,
        request: Request<proto::RequestPasswordResetRequest>,
    ) -> Result<Response<proto::RequestPasswordResetResponse>, Status> {
        let context = request_context(&request);
        let message = request.get_ref();
        let mut violations = Violations::new();
        let account = violations.check(AccountKey::parse("account", &message.account));
        let email = violations.check(EmailAddress::parse("email", &message.email));
        violations.finish().map_err(status_from_error)?;
        let (Some(account), Some(email)) = (account, email) else { return Err(status_from_error(unparsed())) };
        self.directory.request_password_reset(context, RequestReset { account, email }).await;
        Ok(Response::new(proto::RequestPasswordResetResponse {}))
    }

    async fn complete_password_reset(
        &self,
        request: Request<proto::CompletePasswordResetRequest>,
    ) -> Result<Response<proto::CompletePasswordResetResponse>, Status> {
        let context = request_context(&request);
        let message = request.get_ref();
        let parsed = (|| -> Result<CompleteReset, DomainError> {
            let mut violations = Violations::new();
            let account = violations.check(AccountKey::parse("account", &message.account));
            let token = violations.check(OneTimeToken::parse("token", &message.token));
            let new_password = violations.check(new_password("new_password", &message.new_password));
            violations.finish()?;
            match (account, token, new_password) {
                (Some(account), Some(token), Some(new_password)) => Ok(CompleteReset { account, token, new_password }),
                _ => Err(unparsed()),
            }
        })()
        .map_err(status_from_error)?;
        self.directory.complete_password_reset(context, parsed).await.map_err(status_from_error)?;
        Ok(Response::new(proto::CompletePasswordResetResponse {}))
    }
}
