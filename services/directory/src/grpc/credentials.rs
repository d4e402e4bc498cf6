//! `roster.directory.v1.CredentialService`: internal, for the broker.

use roster_domain::error::{FieldViolation, Violations};
use roster_domain::names::{AccountKey, LoginName};
use roster_domain::password::Password;
use roster_domain::DomainError;
use roster_proto::directory::v1::credential_service_server::CredentialService;
use roster_proto::directory::v1::{VerifiedPrincipal, VerifyCredentialsRequest, VerifyCredentialsResponse};
use roster_server::errors::status_from_error;
use roster_server::metadata::request_context;
use tonic::{Request, Response, Status};

use crate::auth::Authenticator;
use crate::service::credentials::LoginCheck;
use crate::service::Directory;

pub struct CredentialGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

fn parse_login_check(request: &VerifyCredentialsRequest) -> Result<LoginCheck, DomainError> {
    let mut violations = Violations::new();
    let account = violations.check(AccountKey::parse("account", &request.account));
    let login_name = violations.check(LoginName::parse("login_name", &request.login_name));
    if request.password.is_empty() {
        violations.push(FieldViolation::new("password", "is required"));
    }
    let client_address = match request.client_address.trim() {
        "" => None,
        text => violations.check(
            text.parse::<std::net::IpAddr>()
                .map_err(|_| FieldViolation::new("client_address", "must be an IPv4 or IPv6 address")),
        ),
    };
    violations.finish()?;
    match (account, login_name) {
        (Some(account), Some(login_name)) => Ok(LoginCheck {
            account,
            login_name,
            password: Password::for_verification(&request.password),
            client_address,
        }),
        _ => Err(DomainError::internal("parsing a login", "a field was neither parsed nor reported")),
    }
}

#[tonic::async_trait]
impl CredentialService for CredentialGrpc {
    async fn verify_credentials(
        &self,
        request: Request<VerifyCredentialsRequest>,
    ) -> Result<Response<VerifyCredentialsResponse>, Status> {
        self.authenticator.require_internal(request.metadata()).map_err(status_from_error)?;
        let mut context = request_context(&request);
        let message = request.into_inner();
        // The broker forwards the end user's address and agent; the peer is the broker itself.
        if !message.client_address.is_empty() {
            context.client_address = Some(message.client_address.clone());
        }
        if !message.user_agent.is_empty() {
            context.user_agent = Some(message.user_agent.chars().take(512).collect());
        }
        let check = parse_login_check(&message).map_err(status_from_error)?;
        let principal = self.directory.verify_credentials(context, check).await.map_err(status_from_error)?;
        Ok(Response::new(VerifyCredentialsResponse {
            principal: Some(VerifiedPrincipal {
                user_id: principal.user_id.to_string(),
                account_id: principal.account_id.to_string(),
                account_slug: principal.account_slug.to_string(),
                login_name: principal.login_name,
                display_name: principal.display_name,
                group_ids: principal.groups.iter().map(|(id, _)| id.to_string()).collect(),
                group_names: principal.groups.into_iter().map(|(_, name)| name).collect(),
                is_owner: principal.is_owner,
                is_platform_operator: principal.is_platform_operator,
                must_change_password: principal.must_change_password,
            }),
        }))
    }
}
