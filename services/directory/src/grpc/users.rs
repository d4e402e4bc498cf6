//! `roster.directory.v1.UserService` and `RoleService`.

use roster_domain::account::UserStatus;
use roster_domain::error::Violations;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{DisplayName, EmailAddress, LoginName};
use roster_domain::password::Password;
use roster_domain::users::{UserFilter, UserPatch};
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::role_service_server::RoleService;
use roster_proto::directory::v1::user_service_server::UserService;
use roster_server::errors::status_from_error;
use tonic::{Request, Response, Status};

use super::convert::{role_assignment_message, user_profile_message};
use super::parse::{self, account_and_user, page_request, page_token};
use super::{caller_of, unparsed};
use crate::auth::Authenticator;
use crate::service::users::{CopyUser, CreateUser, CreatedUser};
use crate::service::Directory;

pub struct UserGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

fn optional_password(field: &str, text: &str) -> Result<Option<Password>, roster_domain::FieldViolation> {
    if text.is_empty() {
        return Ok(None);
    }
    Password::parse_new(field, text).map(Some)
}

fn parse_create_user(message: &proto::CreateUserRequest) -> Result<(AccountId, CreateUser), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let login_name = violations.check(LoginName::parse("login_name", &message.login_name));
    let email = violations.check(EmailAddress::parse("email", &message.email));
    let display_name = violations.check(DisplayName::parse("display_name", &message.display_name));
    let password = violations.check(optional_password("password", &message.password));
    let ip_allowlist = violations.check(parse::ip_allowlist("ip_allowlist", &message.ip_allowlist));
    let data_filters = violations.check(parse::data_filters("data_filters", &message.data_filters));
    let assignments = parse::role_assignments("role_assignments", &message.role_assignments, &mut violations);
    let overrides = parse::overrides("permission_overrides", &message.permission_overrides, &mut violations);
    violations.finish()?;
    match (account_id, login_name, email, display_name, password, ip_allowlist, data_filters) {
        (
            Some(account_id),
            Some(login_name),
            Some(email),
            Some(display_name),
            Some(password),
            Some(ip_allowlist),
            Some(data_filters),
        ) => Ok((
            account_id,
            CreateUser {
                login_name,
                email,
                display_name,
                password,
                ip_allowlist,
                data_filters,
                assignments,
                overrides,
            },
        )),
        _ => Err(unparsed()),
    }
}

fn parse_copy_user(message: &proto::CopyUserRequest) -> Result<(AccountId, CopyUser), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let source_user_id = violations.check(UserId::parse("source_user_id", &message.source_user_id));
    let login_name = violations.check(LoginName::parse("login_name", &message.login_name));
    let email = violations.check(EmailAddress::parse("email", &message.email));
    let display_name = violations.check(DisplayName::parse("display_name", &message.display_name));
    violations.finish()?;
    match (account_id, source_user_id, login_name, email, display_name) {
        (Some(account_id), Some(source_user_id), Some(login_name), Some(email), Some(display_name)) => {
            Ok((account_id, CopyUser { source_user_id, login_name, email, display_name }))
        }
        _ => Err(unparsed()),
    }
}

const USER_MASK_PATHS: &[&str] = &["email", "display_name", "ip_allowlist", "data_filters", "permission_overrides"];

fn parse_update_user(message: &proto::UpdateUserRequest) -> Result<(AccountId, UserId, UserPatch), DomainError> {
    let user = message.user.as_ref().ok_or_else(|| DomainError::invalid_field("user", "is required"))?;
    let (account_id, user_id) =
        account_and_user(&user.account_id, &user.id).map_err(|error| prefix_fields(error, "user"))?;
    let paths = parse::mask_paths(message.update_mask.as_ref(), USER_MASK_PATHS)?;
    let mut violations = Violations::new();
    let mut patch = UserPatch::default();
    if paths.contains("email") {
        patch.email = violations.check(EmailAddress::parse("user.email", &user.email));
    }
    if paths.contains("display_name") {
        patch.display_name = violations.check(DisplayName::parse("user.display_name", &user.display_name));
    }
    if paths.contains("ip_allowlist") {
        patch.ip_allowlist =
            violations.check(roster_domain::network::IpAllowlist::parse("user.ip_allowlist", &user.ip_allowlist));
    }
    if paths.contains("data_filters") {
        patch.data_filters = violations.check(parse::data_filters("user.data_filters", &user.data_filters));
    }
    if paths.contains("permission_overrides") {
        patch.overrides =
            Some(parse::overrides("user.permission_overrides", &user.permission_overrides, &mut violations));
    }
    violations.finish()?;
    Ok((account_id, user_id, patch))
}

/// Puts `prefix.` in front of every violated field.
fn prefix_fields(error: DomainError, prefix: &str) -> DomainError {
    match error {
        DomainError::InvalidArgument { reason, violations } => DomainError::InvalidArgument {
            reason,
            violations: violations.into_iter().map(|violation| violation.under(prefix)).collect(),
        },
        other => other,
    }
}

fn parse_user_filter(
    message: &proto::ListUsersRequest,
) -> Result<(AccountId, UserFilter, roster_domain::paging::PageRequest), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let page = violations.check(page_request(message.page_size, &message.page_token));
    let status = match proto::UserStatus::try_from(message.status) {
        Ok(proto::UserStatus::Unspecified) => None,
        Ok(proto::UserStatus::Invited) => Some(UserStatus::Invited),
        Ok(proto::UserStatus::Active) => Some(UserStatus::Active),
        Ok(proto::UserStatus::Blocked) => Some(UserStatus::Blocked),
        Err(_) => {
            violations.push(roster_domain::FieldViolation::new("status", "is not a user status"));
            None
        }
    };
    let group_id = violations.check(parse::optional_group("group_id", &message.group_id)).flatten();
    let store_id = violations.check(parse::optional_store("store_id", &message.store_id)).flatten();
    let text = Some(message.text.trim().to_owned()).filter(|text| !text.is_empty());
    violations.finish()?;
    match (account_id, page) {
        (Some(account_id), Some(page)) => Ok((account_id, UserFilter { status, group_id, store_id, text }, page)),
        _ => Err(unparsed()),
    }
}

/// A new user, with the generated password shown this once (R10, R13).
fn created_user_response(created: CreatedUser) -> proto::CreateUserResponse {
    proto::CreateUserResponse {
        user: Some(user_profile_message(&created.profile, &created.snapshot.groups)),
        temporary_password: created.temporary_password.map(|password| password.expose().to_owned()).unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl UserService for UserGrpc {
    async fn create_user(
        &self,
        request: Request<proto::CreateUserRequest>,
    ) -> Result<Response<proto::CreateUserResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, command) = parse_create_user(request.get_ref()).map_err(status_from_error)?;
        let created =
            self.directory.create_user(&caller, context, account_id, command).await.map_err(status_from_error)?;
        Ok(Response::new(created_user_response(created)))
    }

    async fn get_user(&self, request: Request<proto::GetUserRequest>) -> Result<Response<proto::User>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, user_id) =
            account_and_user(&request.get_ref().account_id, &request.get_ref().user_id).map_err(status_from_error)?;
        let (profile, scope) =
            self.directory.get_user(&caller, context, account_id, user_id).await.map_err(status_from_error)?;
        Ok(Response::new(user_profile_message(&profile, &scope.snapshot.groups)))
    }

    async fn list_users(
        &self,
        request: Request<proto::ListUsersRequest>,
    ) -> Result<Response<proto::ListUsersResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, filter, page) = parse_user_filter(request.get_ref()).map_err(status_from_error)?;
        let (listed, scope) =
            self.directory.list_users(&caller, context, account_id, filter, page).await.map_err(status_from_error)?;
        Ok(Response::new(proto::ListUsersResponse {
            users: listed.items.iter().map(|profile| user_profile_message(profile, &scope.snapshot.groups)).collect(),
            next_page_token: page_token(listed.next),
        }))
    }

    async fn update_user(&self, request: Request<proto::UpdateUserRequest>) -> Result<Response<proto::User>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, user_id, patch) = parse_update_user(request.get_ref()).map_err(status_from_error)?;
        let (profile, scope) = self
            .directory
            .update_user(&caller, context, account_id, user_id, patch)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(user_profile_message(&profile, &scope.snapshot.groups)))
    }

    async fn delete_user(
        &self,
        request: Request<proto::DeleteUserRequest>,
    ) -> Result<Response<proto::DeleteUserResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, user_id) =
            account_and_user(&request.get_ref().account_id, &request.get_ref().user_id).map_err(status_from_error)?;
        self.directory.delete_user(&caller, context, account_id, user_id).await.map_err(status_from_error)?;
        Ok(Response::new(proto::DeleteUserResponse {}))
    }

    async fn block_user(&self, request: Request<proto::BlockUserRequest>) -> Result<Response<proto::User>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, user_id) =
            account_and_user(&request.get_ref().account_id, &request.get_ref().user_id).map_err(status_from_error)?;
        let (profile, scope) = self
            .directory
            .set_user_blocked(&caller, context, account_id, user_id, true)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(user_profile_message(&profile, &scope.snapshot.groups)))
    }

    async fn unblock_user(&self, request: Request<proto::UnblockUserRequest>) -> Result<Response<proto::User>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, user_id) =
            account_and_user(&request.get_ref().account_id, &request.get_ref().user_id).map_err(status_from_error)?;
        let (profile, scope) = self
            .directory
            .set_user_blocked(&caller, context, account_id, user_id, false)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(user_profile_message(&profile, &scope.snapshot.groups)))
    }

    async fn copy_user(
        &self,
        request: Request<proto::CopyUserRequest>,
    ) -> Result<Response<proto::CreateUserResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, command) = parse_copy_user(request.get_ref()).map_err(status_from_error)?;
        let created =
            self.directory.copy_user(&caller, context, account_id, command).await.map_err(status_from_error)?;
        Ok(Response::new(created_user_response(created)))
    }

    async fn set_user_password(
        &self,
        request: Request<proto::SetUserPasswordRequest>,
    ) -> Result<Response<proto::SetUserPasswordResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, user_id) =
            account_and_user(&message.account_id, &message.user_id).map_err(status_from_error)?;
        let password = optional_password("password", &message.password)
            .map_err(|violation| status_from_error(violation.into()))?;
        let generated = self
            .directory
            .set_user_password(&caller, context, account_id, user_id, password)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(proto::SetUserPasswordResponse {
            temporary_password: generated.map(|password| password.expose().to_owned()).unwrap_or_default(),
        }))
    }
}

pub struct RoleGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

fn parse_role_request(
    account_id: &str,
    user_id: &str,
    group_id: &str,
    store_id: &str,
) -> Result<(AccountId, UserId, roster_domain::access::RoleAssignment), DomainError> {
    let mut violations = Violations::new();
    let account = violations.check(AccountId::parse("account_id", account_id));
    let user = violations.check(UserId::parse("user_id", user_id));
    let assignment = match parse::role_assignment("", group_id, store_id) {
        Ok(assignment) => Some(assignment),
        Err(found) => {
            found.into_iter().for_each(|violation| violations.push(violation));
            None
        }
    };
    violations.finish()?;
    match (account, user, assignment) {
        (Some(account), Some(user), Some(assignment)) => Ok((account, user, assignment)),
        _ => Err(unparsed()),
    }
}

#[tonic::async_trait]
impl RoleService for RoleGrpc {
    async fn assign_role(
        &self,
        request: Request<proto::AssignRoleRequest>,
    ) -> Result<Response<proto::RoleAssignment>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, user_id, assignment) =
            parse_role_request(&message.account_id, &message.user_id, &message.group_id, &message.store_id)
                .map_err(status_from_error)?;
        let scope = self
            .directory
            .assign_role(&caller, context, account_id, user_id, assignment)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(role_assignment_message(&assignment, &scope.snapshot.groups)))
    }

    async fn unassign_role(
        &self,
        request: Request<proto::UnassignRoleRequest>,
    ) -> Result<Response<proto::UnassignRoleResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let message = request.get_ref();
        let (account_id, user_id, assignment) =
            parse_role_request(&message.account_id, &message.user_id, &message.group_id, &message.store_id)
                .map_err(status_from_error)?;
        let removed = self
            .directory
            .unassign_role(&caller, context, account_id, user_id, assignment)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(proto::UnassignRoleResponse { removed }))
    }

    async fn list_role_assignments(
        &self,
        request: Request<proto::ListRoleAssignmentsRequest>,
    ) -> Result<Response<proto::ListRoleAssignmentsResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, user_id) =
            account_and_user(&request.get_ref().account_id, &request.get_ref().user_id).map_err(status_from_error)?;
        let (profile, scope) =
            self.directory.get_user(&caller, context, account_id, user_id).await.map_err(status_from_error)?;
        Ok(Response::new(proto::ListRoleAssignmentsResponse {
            role_assignments: profile
                .assignments
                .iter()
                .map(|assignment| role_assignment_message(assignment, &scope.snapshot.groups))
                .collect(),
        }))
    }
}
