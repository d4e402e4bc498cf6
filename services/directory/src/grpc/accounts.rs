//! `roster.directory.v1.AccountService`.

use roster_domain::account::billing_level_from_wire;
use roster_domain::error::{FieldViolation, Violations};
use roster_domain::names::{AccountKey, AccountSlug, DisplayName, EmailAddress, LoginName};
use roster_domain::password::Password;
use roster_domain::DomainError;
use roster_proto::directory::v1::account_service_server::AccountService;
use roster_proto::directory::v1::{Account, CreateAccountRequest, CreateAccountResponse, GetAccountRequest};
use roster_server::errors::status_from_error;
use roster_server::metadata::request_context;
use tonic::{Request, Response, Status};

use super::convert::{account_message, user_message};
use crate::auth::Authenticator;
use crate::service::accounts::SignUp;
use crate::service::Directory;

pub struct AccountGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

fn parse_sign_up(request: CreateAccountRequest) -> Result<SignUp, DomainError> {
    let mut violations = Violations::new();
    let slug = violations.check(AccountSlug::parse("slug", &request.slug));
    let display_name = violations.check(DisplayName::parse("display_name", &request.display_name));
    let billing_level = violations.check(billing_level_from_wire("billing_level", request.billing_level));
    let Some(owner) = request.owner else {
        violations.push(FieldViolation::new("owner", "is required"));
        return Err(violations.finish().unwrap_err());
    };
    let owner_login_name = violations.check(LoginName::parse("owner.login_name", &owner.login_name));
    let owner_email = violations.check(EmailAddress::parse("owner.email", &owner.email));
    let owner_display_name = violations.check(DisplayName::parse("owner.display_name", &owner.display_name));
    let owner_password = violations.check(Password::parse_new("owner.password", &owner.password));
    violations.finish()?;
    match (slug, display_name, billing_level, owner_login_name, owner_email, owner_display_name, owner_password) {
        (
            Some(slug),
            Some(display_name),
            Some(billing_level),
            Some(owner_login_name),
            Some(owner_email),
            Some(owner_display_name),
            Some(owner_password),
        ) => Ok(SignUp {
            slug,
            display_name,
            billing_level,
            owner_login_name,
            owner_email,
            owner_display_name,
            owner_password,
        }),
        _ => Err(DomainError::internal("parsing a sign-up", "a field was neither parsed nor reported")),
    }
}

#[tonic::async_trait]
impl AccountService for AccountGrpc {
    async fn create_account(
        &self,
        request: Request<CreateAccountRequest>,
    ) -> Result<Response<CreateAccountResponse>, Status> {
        let context = request_context(&request);
        let caller = self.authenticator.authenticate(request.metadata()).await.map_err(status_from_error)?;
        let sign_up = parse_sign_up(request.into_inner()).map_err(status_from_error)?;
        let (account, owner) =
            self.directory.create_account(&caller, context, sign_up).await.map_err(status_from_error)?;
        Ok(Response::new(CreateAccountResponse {
            account: Some(account_message(&account)),
            owner: Some(user_message(&owner)),
        }))
    }

    async fn get_account(&self, request: Request<GetAccountRequest>) -> Result<Response<Account>, Status> {
        let caller = self.authenticator.authenticate(request.metadata()).await.map_err(status_from_error)?;
        let key = AccountKey::parse("account", &request.get_ref().account)
            .map_err(|violation| status_from_error(DomainError::invalid_fields(vec![violation])))?;
        let account = self.directory.get_account(&caller, &key).await.map_err(status_from_error)?;
        Ok(Response::new(account_message(&account)))
    }
}
