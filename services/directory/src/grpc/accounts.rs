//! `roster.directory.v1.AccountService`.

use roster_domain::account::billing_level_from_wire;
use roster_domain::error::{FieldViolation, Violations};
use roster_domain::names::{AccountKey, AccountSlug, DisplayName, EmailAddress, LoginName};
use roster_domain::password::Password;
use roster_domain::DomainError;
use roster_proto::directory::v1::account_service_server::AccountService;
use roster_proto::directory::v1::{
    Account, CreateAccountRequest, CreateAccountResponse, ForceTransferOwnershipRequest, GetAccountRequest,
    TransferOwnershipRequest, UpdateAccountRequest,
};
use roster_server::errors::status_from_error;
use roster_server::metadata::request_context;
use tonic::{Request, Response, Status};

use super::convert::{account_message, user_message};
use super::parse::mask_paths;
use super::{caller_of, unparsed};
use crate::auth::Authenticator;
use crate::service::accounts::SignUp;
use crate::service::Directory;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::repository::AccountPatch;

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

    async fn update_account(&self, request: Request<UpdateAccountRequest>) -> Result<Response<Account>, Status> {
        self.update_account_impl(request).await
    }

    async fn transfer_ownership(
        &self,
        request: Request<TransferOwnershipRequest>,
    ) -> Result<Response<Account>, Status> {
        self.transfer_ownership_impl(request).await
    }

    async fn force_transfer_ownership(
        &self,
        request: Request<ForceTransferOwnershipRequest>,
    ) -> Result<Response<Account>, Status> {
        self.force_transfer_ownership_impl(request).await
    }
}

const ACCOUNT_MASK_PATHS: &[&str] = &["display_name", "billing_level"];

fn parse_account_id(field: &str, text: &str) -> Result<AccountId, Status> {
    AccountId::parse(field, text).map_err(|violation| status_from_error(violation.into()))
}

fn parse_update_account(message: &UpdateAccountRequest) -> Result<(AccountId, AccountPatch), DomainError> {
    let account = message.account.as_ref().ok_or_else(|| DomainError::invalid_field("account", "is required"))?;
    let account_id = AccountId::parse("account.id", &account.id)?;
    let paths = mask_paths(message.update_mask.as_ref(), ACCOUNT_MASK_PATHS)?;
    let mut violations = Violations::new();
    let mut patch = AccountPatch::default();
    if paths.contains("display_name") {
        patch.display_name = violations.check(DisplayName::parse("account.display_name", &account.display_name));
    }
    if paths.contains("billing_level") {
        patch.billing_level = violations.check(billing_level_from_wire("account.billing_level", account.billing_level));
    }
    violations.finish()?;
    Ok((account_id, patch))
}

fn parse_transfer(account_id: &str, new_owner: &str) -> Result<(AccountId, UserId), DomainError> {
    let mut violations = Violations::new();
    let account = violations.check(AccountId::parse("account_id", account_id));
    let user = violations.check(UserId::parse("new_owner_user_id", new_owner));
    violations.finish()?;
    match (account, user) {
        (Some(account), Some(user)) => Ok((account, user)),
        _ => Err(unparsed()),
    }
}

impl AccountGrpc {
    pub async fn update_account_impl(
        &self,
        request: Request<UpdateAccountRequest>,
    ) -> Result<Response<Account>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, patch) = parse_update_account(request.get_ref()).map_err(status_from_error)?;
        let account =
            self.directory.update_account(&caller, context, account_id, patch).await.map_err(status_from_error)?;
        Ok(Response::new(account_message(&account)))
    }

    pub async fn transfer_ownership_impl(
        &self,
        request: Request<TransferOwnershipRequest>,
    ) -> Result<Response<Account>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, new_owner) =
            parse_transfer(&message.account_id, &message.new_owner_user_id).map_err(status_from_error)?;
        let account = self
            .directory
            .transfer_ownership(&caller, context, account_id, new_owner)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(account_message(&account)))
    }

    pub async fn force_transfer_ownership_impl(
        &self,
        request: Request<ForceTransferOwnershipRequest>,
    ) -> Result<Response<Account>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, new_owner) =
            parse_transfer(&message.account_id, &message.new_owner_user_id).map_err(status_from_error)?;
        let evidence = message.evidence_reference.trim();
        if evidence.is_empty() || evidence.chars().count() > 500 {
            let _ = parse_account_id("account_id", &message.account_id)?;
            return Err(status_from_error(DomainError::invalid_field(
                "evidence_reference",
                "R4: a forced change needs an evidence reference (1 to 500 characters)",
            )));
        }
        let account = self
            .directory
            .force_transfer_ownership(&caller, context, account_id, new_owner, evidence.to_owned())
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(account_message(&account)))
    }
}
