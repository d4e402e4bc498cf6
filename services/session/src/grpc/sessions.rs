//! `roster.session.v1.SessionService`.

use std::pin::Pin;

use base64::Engine as _;
use futures::Stream;
use roster_domain::audit::RequestContext;
use roster_domain::error::{FieldViolation, Violations};
use roster_domain::ids::{AccountId, SessionId, StoreId, UserId};
use roster_domain::presets::PermissionName;
use roster_domain::DomainError;
use roster_proto::session::v1::session_event::Kind;
use roster_proto::session::v1::session_service_server::SessionService;
use roster_proto::session::v1::{
    InvalidateAccessRequest, InvalidateAccessResponse, ListSessionsRequest, ListSessionsResponse, LoginRequest,
    LoginResponse, LogoutRequest, LogoutResponse, PermissionCheck, Principal, RevokeSessionRequest,
    RevokeSessionResponse, RevokeUserSessionsRequest, RevokeUserSessionsResponse, SessionEvent as EventMessage,
    SessionInfo, ValidateSessionRequest, ValidateSessionResponse, WatchSessionEventsRequest,
};
use roster_server::access::permissions_message;
use roster_server::errors::status_from_error;
use roster_server::internal::InternalToken;
use roster_server::metadata::{bearer_token, request_context};
use roster_session_core::{EndReason, FeedMessage, SessionEvent};
use secrecy::SecretString;
use tokio::sync::broadcast;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::service::access::PrincipalAccess;
use crate::service::admin::{authorize, Requester, SessionAct, SessionTarget};
use crate::service::directory::{filters_message, timestamp, SessionAudit};
use crate::service::principal::StoredPrincipal;
use crate::service::sessions::{Broker, ListedSession, LoginAttempt, PermissionQuery};

pub struct SessionGrpc {
    pub broker: Broker,
    pub internal_token: InternalToken,
}

/// Sessions listed per page when the request does not say.
const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 500;

fn principal_message(
    principal: StoredPrincipal,
    access: &PrincipalAccess,
    session_id: String,
    idle: chrono::DateTime<chrono::Utc>,
    absolute: chrono::DateTime<chrono::Utc>,
) -> Principal {
    Principal {
        user_id: principal.user_id.to_string(),
        account_id: principal.account_id.to_string(),
        account_slug: principal.account_slug,
        session_id,
        login_name: principal.login_name,
        display_name: principal.display_name,
        group_ids: access.group_ids.clone(),
        group_names: access.group_names.clone(),
        is_owner: access.is_owner,
        is_platform_operator: access.is_platform_operator,
        restricted_to_password_change: principal.restricted_to_password_change,
        expire_time: Some(timestamp(absolute)),
        idle_expire_time: Some(timestamp(idle)),
        permissions: Some(permissions_message(&access.permissions)),
        data_filters: filters_message(&access.data_filters),
    }
}

fn session_info(listed: ListedSession) -> SessionInfo {
    let ListedSession { session, principal } = listed;
    SessionInfo {
        session_id: session.session_id.to_string(),
        account_id: session.credential.account_id.to_string(),
        user_id: session.credential.user_id.to_string(),
        login_name: principal.login_name,
        client_address: session.client_address,
        user_agent: session.user_agent,
        create_time: Some(timestamp(session.created_at)),
        last_use_time: Some(timestamp(session.last_used_at)),
        idle_expire_time: Some(timestamp(session.idle_expires_at)),
        expire_time: Some(timestamp(session.absolute_expires_at)),
        restricted_to_password_change: principal.restricted_to_password_change,
    }
}

fn event_message(event: SessionEvent) -> EventMessage {
    let kind = match event.kind {
        EndReason::Replaced => Kind::Replaced,
        EndReason::LoggedOut => Kind::LoggedOut,
        EndReason::Expired => Kind::Expired,
        EndReason::Revoked => Kind::Revoked,
    };
    EventMessage {
        kind: kind as i32,
        session_id: event.session_id.to_string(),
        account_id: event.account_id.to_string(),
        user_id: event.user_id.to_string(),
        reason: event.reason,
        occur_time: Some(timestamp(event.occurred_at)),
        replaced_by_session_id: event.replaced_by.map(|id| id.to_string()).unwrap_or_default(),
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

fn optional<T>(
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, FieldViolation>,
    violations: &mut Violations,
) -> Option<T> {
    if value.trim().is_empty() {
        return None;
    }
    violations.check(parse(value))
}

/// The reason given, or the default one; bounded, since it is stored.
fn reason_or(given: &str, default: &str) -> String {
    let given = given.trim();
    if given.is_empty() {
        return default.to_owned();
    }
    given.chars().take(200).collect()
}

fn encode_cursor(cursor: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor)
}

fn decode_cursor(token: &str) -> Result<String, FieldViolation> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| FieldViolation::new("page_token", "is not a token from a previous page"))
}

fn page_size(requested: i32) -> Result<usize, FieldViolation> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        size if size < 0 => Err(FieldViolation::new("page_size", "must not be negative")),
        size => Ok((size as usize).min(MAX_PAGE_SIZE)),
    }
}

impl SessionGrpc {
    /// The internal credential, or a user's live session by bearer token.
    async fn requester(&self, metadata: &MetadataMap) -> Result<Requester, Status> {
        if self.internal_token.is_presented_in(metadata) {
            return Ok(Requester::Internal);
        }
        let Some(token) = bearer_token(metadata) else {
            return Err(status_from_error(DomainError::unauthenticated(
                "SESSION_REQUIRED",
                "a session token or the internal credential is required",
            )));
        };
        let session = self.broker.validate(token, None).await.map_err(status_from_error)?;
        Ok(Requester::User(Box::new(session)))
    }

    /// Authorizes an administrative act; a refusal is audited (R43).
    async fn authorize(
        &self,
        requester: &Requester,
        act: SessionAct,
        action: &'static str,
        target: SessionTarget,
        context: &RequestContext,
    ) -> Result<(), Status> {
        let is_owner = match (requester, target.user_id) {
            (Requester::User(session), Some(user_id)) if user_id != session.principal.user_id => {
                self.broker.is_owner(target.account_id, user_id).await.map_err(status_from_error)?
            }
            _ => false,
        };
        let target = SessionTarget { is_owner, ..target };
        let Err(error) = authorize(requester, act, target) else {
            return Ok(());
        };
        if let Requester::User(session) = requester {
            self.broker.audit(SessionAudit {
                account_id: Some(session.principal.account_id),
                action,
                target_user_id: target.user_id,
                actor_user_id: Some(session.principal.user_id),
                actor_name: session.principal.login_name.clone(),
                outcome: "denied",
                reason: error.reason().to_owned(),
                client_address: context.client_address.clone().unwrap_or_default(),
                user_agent: context.user_agent.clone().unwrap_or_default(),
                trace_id: context.trace_id.clone().unwrap_or_default(),
                occurred_at: Some(self.broker.now()),
                ..SessionAudit::default()
            });
        }
        Err(status_from_error(error))
    }

    /// Audits an administrative revocation (R43).
    fn audit_revocation(
        &self,
        requester: &Requester,
        context: &RequestContext,
        revoked: (AccountId, UserId, SessionId),
        reason: &str,
    ) {
        let (account_id, user_id, session_id) = revoked;
        let (actor_user_id, actor_name) = match requester {
            Requester::User(session) => (Some(session.principal.user_id), session.principal.login_name.clone()),
            Requester::Internal => (None, String::new()),
        };
        self.broker.audit(SessionAudit {
            account_id: Some(account_id),
            action: "session.revoke",
            target_user_id: Some(user_id),
            target_session_id: Some(session_id),
            actor_user_id,
            actor_name,
            outcome: "success",
            reason: reason.to_owned(),
            client_address: context.client_address.clone().unwrap_or_default(),
            user_agent: context.user_agent.clone().unwrap_or_default(),
            trace_id: context.trace_id.clone().unwrap_or_default(),
            occurred_at: Some(self.broker.now()),
            ..SessionAudit::default()
        });
    }
}

/// The account a user requester acts in, when the request names none.
fn account_of(requester: &Requester, given: Option<AccountId>) -> Result<AccountId, Status> {
    match (given, requester) {
        (Some(account_id), _) => Ok(account_id),
        (None, Requester::User(session)) => Ok(session.principal.account_id),
        (None, Requester::Internal) => Err(invalid(FieldViolation::new("account_id", "is required"))),
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<EventMessage, Status>> + Send>>;

/// R41: the feed's session events as a stream, filtered by account. A
/// feed that lost messages ends the stream with `UNAVAILABLE`, so the
/// watcher knows to drop what it cached and subscribe again.
fn event_stream(feed: broadcast::Receiver<FeedMessage>, account: Option<AccountId>) -> EventStream {
    Box::pin(futures::stream::unfold(Some(feed), move |feed| async move {
        let mut feed = feed?;
        loop {
            match feed.recv().await {
                Ok(FeedMessage::Session(event)) => {
                    if account.is_none_or(|account_id| account_id == event.account_id) {
                        return Some((Ok(event_message(event)), Some(feed)));
                    }
                }
                Ok(FeedMessage::AccessChanged { .. } | FeedMessage::FeedRestored) => {}
                Ok(FeedMessage::FeedLost) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    let lost = Status::unavailable("session events were lost; drop cached sessions and watch again");
                    return Some((Err(lost), None));
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Some((Err(Status::unavailable("the broker is shutting down")), None));
                }
            }
        }
    }))
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
            trace_id: context.trace_id.unwrap_or_default(),
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
                &opened.access,
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
        let message = request.get_ref();
        let mut violations = Violations::new();
        required("token", &message.token, &mut violations);
        let permission =
            optional(&message.permission, |text| PermissionName::parse("permission", text), &mut violations);
        let store = optional(&message.store_id, |text| StoreId::parse("store_id", text), &mut violations);
        if store.is_some() && permission.is_none() {
            violations.push(FieldViolation::new("store_id", "needs a permission to check"));
        }
        violations.finish().map_err(status_from_error)?;
        let query = permission.map(|permission| PermissionQuery { permission, store });
        let session = self.broker.validate(&message.token, query.as_ref()).await.map_err(status_from_error)?;
        let check = query.zip(session.check).map(|(query, allowed)| PermissionCheck {
            permission: query.permission.as_str().to_owned(),
            store_id: query.store.map(|store| store.to_string()).unwrap_or_default(),
            allowed,
        });
        let principal = principal_message(
            session.principal,
            &session.access,
            session.session_id.to_string(),
            session.idle_expires_at,
            session.absolute_expires_at,
        );
        Ok(Response::new(ValidateSessionResponse { principal: Some(principal), check }))
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
        let context = request_context(&request);
        let requester = self.requester(request.metadata()).await?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let account_id = optional(&message.account_id, |text| AccountId::parse("account_id", text), &mut violations);
        required("user_id", &message.user_id, &mut violations);
        let user_id = optional(&message.user_id, |text| UserId::parse("user_id", text), &mut violations);
        violations.finish().map_err(status_from_error)?;
        let account_id = account_of(&requester, account_id)?;
        let Some(user_id) = user_id else {
            return Err(invalid(FieldViolation::new("user_id", "is required")));
        };
        let target = SessionTarget { account_id, user_id: Some(user_id), is_owner: false };
        self.authorize(&requester, SessionAct::Revoke, "session.revoke", target, &context).await?;
        let reason = reason_or(&message.reason, "revoked");
        let revoked =
            self.broker.revoke_user_sessions(account_id, user_id, &reason).await.map_err(status_from_error)?;
        // The directory audits its own causes (block, delete, ...); what
        // users and other services ask for is audited here.
        if matches!(requester, Requester::User(_)) {
            for session_id in &revoked {
                self.audit_revocation(&requester, &context, (account_id, user_id, *session_id), &reason);
            }
        }
        Ok(Response::new(RevokeUserSessionsResponse {
            revoked_session_ids: revoked.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        let context = request_context(&request);
        let requester = self.requester(request.metadata()).await?;
        let message = request.into_inner();
        let session_id = SessionId::parse("session_id", &message.session_id)
            .map_err(|violation| status_from_error(DomainError::invalid_fields(vec![violation])))?;
        let not_found = || status_from_error(DomainError::NotFound { entity: "session", reason: "SESSION_NOT_FOUND" });
        let Some(found) = self.broker.find_session(session_id).await.map_err(status_from_error)? else {
            return Err(not_found());
        };
        let (account_id, user_id) = (found.session.credential.account_id, found.session.credential.user_id);
        // Another tenant's session is as unknown as a missing one.
        if let Requester::User(session) = &requester {
            if session.principal.account_id != account_id {
                return Err(not_found());
            }
        }
        let target = SessionTarget { account_id, user_id: Some(user_id), is_owner: false };
        self.authorize(&requester, SessionAct::Revoke, "session.revoke", target, &context).await?;
        let reason = reason_or(&message.reason, "administrator");
        let Some(revoked) = self.broker.revoke_session(session_id, &reason).await.map_err(status_from_error)? else {
            return Err(not_found());
        };
        self.audit_revocation(&requester, &context, (account_id, user_id, revoked.session_id), &reason);
        Ok(Response::new(RevokeSessionResponse {
            session_id: revoked.session_id.to_string(),
            account_id: account_id.to_string(),
            user_id: user_id.to_string(),
        }))
    }

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let context = request_context(&request);
        let requester = self.requester(request.metadata()).await?;
        let message = request.into_inner();
        let mut violations = Violations::new();
        let account_id = optional(&message.account_id, |text| AccountId::parse("account_id", text), &mut violations);
        let user_id = optional(&message.user_id, |text| UserId::parse("user_id", text), &mut violations);
        let limit = violations.check(page_size(message.page_size));
        let cursor = optional(&message.page_token, decode_cursor, &mut violations);
        violations.finish().map_err(status_from_error)?;
        let account_id = account_of(&requester, account_id)?;
        let target = SessionTarget { account_id, user_id, is_owner: false };
        self.authorize(&requester, SessionAct::View, "session.list", target, &context).await?;
        let page = self
            .broker
            .list_sessions(account_id, user_id, cursor.as_deref(), limit.unwrap_or(DEFAULT_PAGE_SIZE))
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(ListSessionsResponse {
            sessions: page.sessions.into_iter().map(session_info).collect(),
            next_page_token: page.next_cursor.as_deref().map(encode_cursor).unwrap_or_default(),
        }))
    }

    type WatchSessionEventsStream = EventStream;

    async fn watch_session_events(
        &self,
        request: Request<WatchSessionEventsRequest>,
    ) -> Result<Response<Self::WatchSessionEventsStream>, Status> {
        let context = request_context(&request);
        let requester = self.requester(request.metadata()).await?;
        let message = request.into_inner();
        let account_id =
            optional(&message.account_id, |text| AccountId::parse("account_id", text), &mut Violations::new());
        if !message.account_id.trim().is_empty() && account_id.is_none() {
            return Err(invalid(FieldViolation::new("account_id", "is not a valid id")));
        }
        // Subscribed before answering: nothing after the answer is missed.
        let feed = self.broker.subscribe();
        let account_id = match &requester {
            Requester::Internal => account_id,
            Requester::User(session) => {
                let account_id = account_id.unwrap_or(session.principal.account_id);
                let target = SessionTarget { account_id, user_id: None, is_owner: false };
                self.authorize(&requester, SessionAct::View, "session.watch", target, &context).await?;
                Some(account_id)
            }
        };
        Ok(Response::new(event_stream(feed, account_id)))
    }

    async fn invalidate_access(
        &self,
        request: Request<InvalidateAccessRequest>,
    ) -> Result<Response<InvalidateAccessResponse>, Status> {
        if !self.internal_token.is_presented_in(request.metadata()) {
            return Err(status_from_error(DomainError::permission_denied(
                "INTERNAL_CREDENTIAL_REQUIRED",
                "this rpc is for roster's own services",
            )));
        }
        let message = request.into_inner();
        let mut violations = Violations::new();
        let account_id = violations.check(AccountId::parse("account_id", &message.account_id));
        let user_ids: Vec<UserId> =
            message.user_ids.iter().filter_map(|text| violations.check(UserId::parse("user_ids", text))).collect();
        violations.finish().map_err(status_from_error)?;
        let Some(account_id) = account_id else {
            return Err(invalid(FieldViolation::new("account_id", "is required")));
        };
        self.broker.invalidate_access(account_id, &user_ids).await.map_err(status_from_error)?;
        Ok(Response::new(InvalidateAccessResponse {}))
    }
}
