//! `roster.directory.v1.PermissionService`.

use std::collections::BTreeSet;

use roster_domain::error::{FieldViolation, Violations};
use roster_domain::names::DisplayName;
use roster_domain::presets::{PermissionName, PermissionSpec, ScopeLevel};
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::permission_service_server::PermissionService;
use roster_server::errors::status_from_error;
use tonic::{Request, Response, Status};

use super::caller_of;
use super::convert::permission_message;
use crate::auth::Authenticator;
use crate::service::permissions::Registration;
use crate::service::Directory;

pub struct PermissionGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

/// The longest permission description.
const MAX_DESCRIPTION_CHARS: usize = 500;

fn scope_level(field: &str, value: i32) -> Result<ScopeLevel, FieldViolation> {
    match proto::ScopeLevel::try_from(value) {
        Ok(proto::ScopeLevel::Account) => Ok(ScopeLevel::Account),
        Ok(proto::ScopeLevel::Store) => Ok(ScopeLevel::Store),
        Ok(proto::ScopeLevel::Platform) => Ok(ScopeLevel::Platform),
        Ok(proto::ScopeLevel::Unspecified) | Err(_) => {
            Err(FieldViolation::new(field, "must be SCOPE_LEVEL_ACCOUNT, SCOPE_LEVEL_STORE or SCOPE_LEVEL_PLATFORM"))
        }
    }
}

fn description(field: &str, text: &str) -> Result<String, FieldViolation> {
    let text = text.trim();
    let length = text.chars().count();
    if length == 0 || length > MAX_DESCRIPTION_CHARS {
        return Err(FieldViolation::new(field, format!("must be 1 to {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(text.to_owned())
}

fn parse_registration(message: &proto::RegisterPermissionsRequest) -> Result<Registration, DomainError> {
    let mut violations = Violations::new();
    let service_name = violations.check(DisplayName::parse("service_name", &message.service_name));
    if message.permissions.is_empty() {
        violations.push(FieldViolation::new("permissions", "must name at least one permission"));
    }
    let mut seen = BTreeSet::new();
    let mut permissions = Vec::with_capacity(message.permissions.len());
    for (index, permission) in message.permissions.iter().enumerate() {
        let prefix = format!("permissions[{index}]");
        let name = violations.check(PermissionName::parse(&format!("{prefix}.name"), &permission.name));
        if let Some(name) = &name {
            if !seen.insert(name.clone()) {
                violations.push(FieldViolation::new(format!("{prefix}.name"), "is listed twice"));
            }
        }
        let scope = violations.check(scope_level(&format!("{prefix}.scope_level"), permission.scope_level));
        let description = violations.check(description(&format!("{prefix}.description"), &permission.description));
        if let (Some(name), Some(scope), Some(description)) = (name, scope, description) {
            permissions.push(PermissionSpec {
                name,
                description,
                scope,
                billing: permission.billing,
                owner_only: permission.owner_only,
            });
        }
    }
    violations.finish()?;
    let service_name = service_name.ok_or_else(super::unparsed)?;
    Ok(Registration { service_name, permissions })
}

#[tonic::async_trait]
impl PermissionService for PermissionGrpc {
    async fn list_permissions(
        &self,
        request: Request<proto::ListPermissionsRequest>,
    ) -> Result<Response<proto::ListPermissionsResponse>, Status> {
        let (caller, _context) = caller_of(&self.authenticator, &request).await?;
        let permissions = self.directory.list_permissions(&caller).await.map_err(status_from_error)?;
        Ok(Response::new(proto::ListPermissionsResponse {
            permissions: permissions.iter().map(permission_message).collect(),
        }))
    }

    async fn register_permissions(
        &self,
        request: Request<proto::RegisterPermissionsRequest>,
    ) -> Result<Response<proto::RegisterPermissionsResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        // Internal only: outsiders are refused before their input is looked at.
        self.directory.authorize_registration(&caller, &context).await.map_err(status_from_error)?;
        let registration = parse_registration(request.get_ref()).map_err(status_from_error)?;
        self.directory.register_permissions(&caller, context, registration).await.map_err(status_from_error)?;
        Ok(Response::new(proto::RegisterPermissionsResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_names_every_bad_field() {
        let permission = |name: &str, scope_level: proto::ScopeLevel, description: &str| proto::Permission {
            name: name.to_owned(),
            description: description.to_owned(),
            scope_level: scope_level as i32,
            ..Default::default()
        };
        let request = proto::RegisterPermissionsRequest {
            service_name: String::new(),
            permissions: vec![
                permission("orders.refund", proto::ScopeLevel::Store, "Refund orders"),
                permission("Refund", proto::ScopeLevel::Unspecified, ""),
                permission("orders.refund", proto::ScopeLevel::Account, &"x".repeat(501)),
            ],
        };
        let error = parse_registration(&request).unwrap_err();
        let fields: Vec<&str> = error.field_violations().iter().map(|violation| violation.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "service_name",
                "permissions[1].name",
                "permissions[1].scope_level",
                "permissions[1].description",
                "permissions[2].name",
                "permissions[2].description",
            ]
        );
    }
}
