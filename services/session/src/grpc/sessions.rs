//! `roster.session.v1.SessionService`.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use roster_domain::error::{FieldViolation, Violations};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::DomainError;
use roster_proto::session::v1::session_service_server::SessionService;
use roster_proto::session::v1::{
    LoginRequest, LoginResponse, LogoutRequest, LogoutResponse, Principal, RevokeUserSessionsRequest,
    RevokeUserSessionsResponse, ValidateSessionRequest, ValidateSessionResponse,
};
use roster_server::errors::status_from_error;
use roster_server::internal::InternalToken;
use roster_server::metadata::request_context;
use secrecy::SecretString;
use tonic::{Request, Response, Status};

use crate::service::principal::StoredPrincipal;
use crate::service::sessions::{Broker, LoginAttempt};

pub struct SessionGrpc {
    pub broker: Broker,
    pub internal_token: InternalToken,
}

fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp { seconds: time.timestamp(), nanos: time.timestamp_subsec_nanos() as i32 }
}

fn principal_message(
    principal: StoredPrincipal,
    session_id: String,
    idle: DateTime<Utc>,
    absolute: DateTime<Utc>,
) -> Principal {
    Principal {
        user_id: principal.user_id.to_string(),
        account_id: principal.account_id.to_string(),
        account_slug: principal.account_slug,
        session_id,
        login_name: principal.login_name,
        display_name: principal.display_name,
        group_ids: principal.group_ids,
        group_names: principal.group_names,
        is_owner: principal.is_owner,
        is_platform_operator: principal.is_platform_operator,
        restricted_to_password_change: principal.restricted_to_password_change,
        expire_time: Some(timestamp(absolute)),
        idle_expire_time: Some(timestamp(idle)),
    }
}

fn required(field: &str, value: &str, violations: &mut Violations) {
    if value.trim().is_empty() {
        violations.push(FieldViolation::new(field, "is required"));
    }
}

fn invalid(violation: FieldViolation) -> Status {
    status_from_error(DomainError::invalid_fields(vec![violation]))
}

#[tonic::async_trait]
impl SessionService for SessionGrpc {
    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let context = request_context(&request);
        let message = request.into_inner();
        let mut violations = Violations::new();
        required("account", &message.account, &mut violations);
        required("login_name", &message.login_name, &mut violations);
        if message.password.is_empty() {
            violations.push(FieldViolation::new("password", "is required"));
        }
        if !message.client_address.is_empty() && message.client_address.parse::<std::net::IpAddr>().is_err() {
            violations.push(FieldViolation::new("client_address", "must be an IPv4 or IPv6 address"));
        }
        violations.finish().map_err(status_from_error)?;
        let attempt = LoginAttempt {
            account: message.account,
            login_name: message.login_name,
            password: SecretString::from(message.password),
            client_address: if message.client_address.is_empty() {
                context.client_address.unwrap_or_default()
            } else {
                message.client_address
            },
            user_agent: if message.user_agent.is_empty() {
                context.user_agent.unwrap_or_default()
            } else {
                message.user_agent
            },
        };
        let opened = self.broker.login(attempt).await.map_err(status_from_error)?;
        let session_id = opened.session_id.to_string();
        Ok(Response::new(LoginResponse {
            token: opened.token.expose().to_owned(),
            session_id: session_id.clone(),
            expire_time: Some(timestamp(opened.absolute_expires_at)),
            idle_expire_time: Some(timestamp(opened.idle_expires_at)),
            principal: Some(principal_message(
                opened.principal,
                session_id,
                opened.idle_expires_at,
                opened.absolute_expires_at,
            )),
        }))
    }

    async fn validate_session(
        &self,
        request: Request<ValidateSessionRequest>,
    ) -> Result<Response<ValidateSessionResponse>, Status> {
        let token = &request.get_ref().token;
        if token.is_empty() {
            return Err(invalid(FieldViolation::new("token", "is required")));
        }
        let session = self.broker.validate(token).await.map_err(status_from_error)?;
        let principal = principal_message(
            session.principal,
            session.session_id.to_string(),
            session.idle_expires_at,
            session.absolute_expires_at,
        );
        Ok(Response::new(ValidateSessionResponse { principal: Some(principal) }))
    }

    async fn logout(&self, request: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        let token = &request.get_ref().token;
        if token.is_empty() {
            return Err(invalid(FieldViolation::new("token", "is required")));
        }
        self.broker.logout(token).await.map_err(status_from_error)?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn revoke_user_sessions(
        &self,
        request: Request<RevokeUserSessionsRequest>,
    ) -> Result<Response<RevokeUserSessionsResponse>, Status> {
        if !self.internal_token.is_presented_in(request.metadata()) {
            return Err(status_from_error(DomainError::permission_denied(
                "INTERNAL_CREDENTIAL_REQUIRED",
                "this rpc is for roster's own services",
            )));
        }
        let message = request.into_inner();
        let mut violations = Violations::new();
        let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
        let user_id = violations.check(UserId::parse("user_id", &message.user_id));
        violations.finish().map_err(status_from_error)?;
        let (Some(account_id), Some(user_id)) = (account_id, user_id) else {
            return Err(status_from_error(DomainError::internal(
                "parsing a revocation",
                "a field was neither parsed nor reported",
            )));
        };
        let reason = if message.reason.is_empty() { "revoked" } else { message.reason.as_str() };
        let revoked = self.broker.revoke_user_sessions(account_id, user_id, reason).await.map_err(status_from_error)?;
        Ok(Response::new(RevokeUserSessionsResponse {
            revoked_session_ids: revoked.iter().map(ToString::to_string).collect(),
        }))
    }
}
