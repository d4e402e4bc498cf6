//! `roster.directory.v1.AuthorizationService`.

use roster_domain::error::Violations;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::presets::PermissionName;
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::authorization_service_server::AuthorizationService;
use roster_server::errors::status_from_error;
use tonic::{Request, Response, Status};

use super::parse;
use super::{caller_of, unparsed};
use crate::auth::Authenticator;
use crate::service::authorization::PermissionQuestion;
use crate::service::Directory;

pub struct AuthorizationGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

/// An empty `user_id` asks about an anonymous principal (R34). A malformed
/// permission name is bad input; a well-formed unknown one simply does not
/// hold.
fn parse_check(message: &proto::CheckPermissionRequest) -> Result<(AccountId, PermissionQuestion), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let subject = match message.user_id.trim() {
        "" => Some(None),
        user_id => violations.check(UserId::parse("user_id", user_id)).map(Some),
    };
    let permission = violations.check(PermissionName::parse("permission", &message.permission));
    let store = violations.check(parse::optional_store("store_id", &message.store_id));
    violations.finish()?;
    match (account_id, subject, permission, store) {
        (Some(account_id), Some(subject), Some(permission), Some(store)) => {
            Ok((account_id, PermissionQuestion { subject, permission, store }))
        }
        _ => Err(unparsed()),
    }
}

fn parse_effective(message: &proto::GetEffectivePermissionsRequest) -> Result<(AccountId, UserId), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
    let user_id = violations.check(UserId::parse("user_id", &message.user_id));
    violations.finish()?;
    match (account_id, user_id) {
        (Some(account_id), Some(user_id)) => Ok((account_id, user_id)),
        _ => Err(unparsed()),
    }
}

fn names<'a>(permissions: impl IntoIterator<Item = &'a PermissionName>) -> Vec<String> {
    permissions.into_iter().map(ToString::to_string).collect()
}

#[tonic::async_trait]
impl AuthorizationService for AuthorizationGrpc {
    async fn check_permission(
        &self,
        request: Request<proto::CheckPermissionRequest>,
    ) -> Result<Response<proto::CheckPermissionResponse>, Status> {
        let (caller, _context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, question) = parse_check(request.get_ref()).map_err(status_from_error)?;
        let allowed =
            self.directory.check_permission(&caller, account_id, &question).await.map_err(status_from_error)?;
        Ok(Response::new(proto::CheckPermissionResponse { allowed }))
    }

    async fn get_effective_permissions(
        &self,
        request: Request<proto::GetEffectivePermissionsRequest>,
    ) -> Result<Response<proto::GetEffectivePermissionsResponse>, Status> {
        let (caller, _context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, user_id) = parse_effective(request.get_ref()).map_err(status_from_error)?;
        let held =
            self.directory.effective_permissions(&caller, account_id, user_id).await.map_err(status_from_error)?;
        Ok(Response::new(proto::GetEffectivePermissionsResponse {
            is_owner: held.is_owner,
            account_permissions: names(&held.account),
            every_store_permissions: names(&held.every_store),
            store_permissions: held
                .per_store
                .iter()
                .map(|(store_id, permissions)| proto::StorePermissions {
                    store_id: store_id.to_string(),
                    permissions: names(permissions),
                })
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_user_is_the_anonymous_principal_and_bad_fields_are_all_named() {
        let account_id = AccountId::generate().to_string();
        let anonymous = proto::CheckPermissionRequest {
            account_id: account_id.clone(),
            permission: "storefront.browse".to_owned(),
            ..Default::default()
        };
        let (_, question) = parse_check(&anonymous).unwrap();
        assert_eq!((question.subject, question.store), (None, None));
        let bad = proto::CheckPermissionRequest {
            account_id,
            user_id: "someone".to_owned(),
            permission: "Browse".to_owned(),
            store_id: "x".to_owned(),
        };
        let error = parse_check(&bad).unwrap_err();
        let fields: Vec<&str> = error.field_violations().iter().map(|violation| violation.field.as_str()).collect();
        assert_eq!(fields, ["user_id", "permission", "store_id"]);
    }
}
