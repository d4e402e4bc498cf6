//! `roster.directory.v1.CredentialService`: internal, for the broker.

use roster_domain::audit::{AuditOutcome, RequestContext};
use roster_domain::error::{FieldViolation, Violations};
use roster_domain::ids::{AccountId, SessionId, UserId};
use roster_domain::names::{AccountKey, LoginName};
use roster_domain::password::Password;
use roster_domain::repository::{SessionAuditAction, SessionAuditEvent};
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::credential_service_server::CredentialService;
use roster_proto::directory::v1::{VerifiedPrincipal, VerifyCredentialsRequest, VerifyCredentialsResponse};
use roster_server::errors::status_from_error;
use roster_server::metadata::request_context;
use tonic::{Request, Response, Status};

use super::convert::principal_access_message;
use super::parse::{optional_text, optional_time};
use super::unparsed;
use crate::auth::Authenticator;
use crate::service::credentials::LoginCheck;
use crate::service::principal::AccessAnswer;
use crate::service::Directory;

/// The most session events one `RecordSessionEvents` call may carry.
const MAX_SESSION_EVENTS: usize = 500;
/// Longest user agent kept, in characters (as at login).
const MAX_USER_AGENT_CHARS: usize = 512;
/// Longest actor name and reason accepted, in characters.
const MAX_TEXT_CHARS: usize = 200;

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

fn parse_access_request(request: &proto::GetPrincipalAccessRequest) -> Result<(AccountId, UserId), DomainError> {
    let mut violations = Violations::new();
    let account_id = violations.check(AccountId::parse("account_id", &request.account_id));
    let user_id = violations.check(UserId::parse("user_id", &request.user_id));
    violations.finish()?;
    match (account_id, user_id) {
        (Some(account_id), Some(user_id)) => Ok((account_id, user_id)),
        _ => Err(unparsed()),
    }
}

/// An optional id: empty means none.
fn optional_id<T>(
    field: String,
    text: &str,
    parse: fn(&str, &str) -> Result<T, FieldViolation>,
    violations: &mut Violations,
) -> Option<T> {
    match text.trim() {
        "" => None,
        text => violations.check(parse(&field, text)),
    }
}

/// Optional printable text of at most [`MAX_TEXT_CHARS`].
fn optional_short_text(field: String, text: &str, violations: &mut Violations) -> Option<String> {
    let text = optional_text(text)?;
    if text.chars().count() > MAX_TEXT_CHARS || text.chars().any(char::is_control) {
        violations.push(FieldViolation::new(field, "must be at most 200 printable characters"));
        return None;
    }
    Some(text)
}

/// A W3C trace id: 32 lowercase hex digits, not all zero.
fn optional_trace_id(field: String, text: &str, violations: &mut Violations) -> Option<String> {
    let text = optional_text(text)?;
    let valid = text.len() == 32
        && text.chars().all(|digit| digit.is_ascii_digit() || ('a'..='f').contains(&digit))
        && text.chars().any(|digit| digit != '0');
    if !valid {
        violations.push(FieldViolation::new(field, "must be a W3C trace id (32 lowercase hex digits)"));
        return None;
    }
    Some(text)
}

/// One reported event; each bad field is named `events[<index>].<field>`.
/// Something that happened (`success`) names its account, user and
/// session; a refusal (`denied`) may be about no session at all (a
/// listing).
fn parse_session_event(
    index: usize,
    message: &proto::SessionAuditEvent,
    violations: &mut Violations,
) -> Option<SessionAuditEvent> {
    let field = |name: &str| format!("events[{index}].{name}");
    let account_id = optional_id(field("account_id"), &message.account_id, AccountId::parse, violations);
    let action = violations.check(SessionAuditAction::parse(&field("action"), &message.action));
    let outcome = match message.outcome.trim() {
        "success" => Some(AuditOutcome::Success),
        "denied" => Some(AuditOutcome::Denied),
        _ => {
            violations.push(FieldViolation::new(field("outcome"), "must be success or denied"));
            None
        }
    };
    let user_id = optional_id(field("target_user_id"), &message.target_user_id, UserId::parse, violations);
    let session_id = optional_id(field("target_session_id"), &message.target_session_id, SessionId::parse, violations);
    if outcome == Some(AuditOutcome::Success) {
        let identified = [
            ("account_id", &message.account_id),
            ("target_user_id", &message.target_user_id),
            ("target_session_id", &message.target_session_id),
        ];
        for (name, text) in identified {
            if text.trim().is_empty() {
                violations.push(FieldViolation::new(field(name), "is required for an event that happened"));
            }
        }
    }
    let replaced_by_session_id =
        optional_id(field("replaced_by_session_id"), &message.replaced_by_session_id, SessionId::parse, violations);
    let actor_id = optional_id(field("actor_user_id"), &message.actor_user_id, UserId::parse, violations);
    let actor_name = optional_short_text(field("actor_name"), &message.actor_name, violations);
    let reason = optional_short_text(field("reason"), &message.reason, violations);
    let client_address = match message.client_address.trim() {
        "" => None,
        text => violations.check(
            text.parse::<std::net::IpAddr>()
                .map(|address| address.to_string())
                .map_err(|_| FieldViolation::new(field("client_address"), "must be an IPv4 or IPv6 address")),
        ),
    };
    let user_agent = optional_text(&message.user_agent).map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect());
    let trace_id = optional_trace_id(field("trace_id"), &message.trace_id, violations);
    let occurred_at = violations.check(optional_time(&field("occur_time"), message.occur_time.as_ref())).flatten();
    Some(SessionAuditEvent {
        account_id,
        action: action?,
        user_id,
        session_id,
        outcome: outcome?,
        reason,
        replaced_by_session_id,
        context: RequestContext { actor_id, actor_name, client_address, user_agent, trace_id },
        occurred_at,
    })
}

fn parse_session_events(request: &proto::RecordSessionEventsRequest) -> Result<Vec<SessionAuditEvent>, DomainError> {
    if request.events.len() > MAX_SESSION_EVENTS {
        return Err(DomainError::invalid_field("events", "must hold at most 500 events per call"));
    }
    let mut violations = Violations::new();
    let events: Vec<Option<SessionAuditEvent>> = request
        .events
        .iter()
        .enumerate()
        .map(|(index, message)| parse_session_event(index, message, &mut violations))
        .collect();
    violations.finish()?;
    events.into_iter().map(|event| event.ok_or_else(unparsed)).collect()
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
            context.user_agent = Some(message.user_agent.chars().take(MAX_USER_AGENT_CHARS).collect());
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
                access: Some(principal_access_message(&principal.access)),
            }),
        }))
    }

    async fn get_principal_access(
        &self,
        request: Request<proto::GetPrincipalAccessRequest>,
    ) -> Result<Response<proto::PrincipalAccess>, Status> {
        self.authenticator.require_internal(request.metadata()).map_err(status_from_error)?;
        let (account_id, user_id) = parse_access_request(request.get_ref()).map_err(status_from_error)?;
        let held = request.get_ref().held_access_version;
        let answer =
            self.directory.principal_access_since(account_id, user_id, held).await.map_err(status_from_error)?;
        let message = match answer {
            AccessAnswer::Current(access) => principal_access_message(&access),
            AccessAnswer::Unchanged { access_version } => proto::PrincipalAccess {
                user_id: user_id.to_string(),
                account_id: account_id.to_string(),
                access_version: Some(access_version),
                unchanged: true,
                ..proto::PrincipalAccess::default()
            },
        };
        Ok(Response::new(message))
    }

    async fn record_session_events(
        &self,
        request: Request<proto::RecordSessionEventsRequest>,
    ) -> Result<Response<proto::RecordSessionEventsResponse>, Status> {
        self.authenticator.require_internal(request.metadata()).map_err(status_from_error)?;
        let context = request_context(&request);
        let events = parse_session_events(request.get_ref()).map_err(status_from_error)?;
        self.directory.record_session_events(&context, events).await.map_err(status_from_error)?;
        Ok(Response::new(proto::RecordSessionEventsResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;

    use super::*;

    fn eviction() -> proto::SessionAuditEvent {
        proto::SessionAuditEvent {
            account_id: AccountId::generate().to_string(),
            action: "session.replaced".to_owned(),
            target_user_id: UserId::generate().to_string(),
            target_session_id: SessionId::generate().to_string(),
            outcome: "success".to_owned(),
            reason: "replaced by a newer login".to_owned(),
            replaced_by_session_id: SessionId::generate().to_string(),
            client_address: "2001:db8::1".to_owned(),
            user_agent: "x".repeat(600),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            occur_time: Some(Timestamp { seconds: 1_750_000_000, nanos: 0 }),
            ..Default::default()
        }
    }

    fn fields(error: &DomainError) -> Vec<&str> {
        error.field_violations().iter().map(|violation| violation.field.as_str()).collect()
    }

    #[test]
    fn r43_session_events_parse_into_domain_events() {
        let message = eviction();
        let request = proto::RecordSessionEventsRequest { events: vec![message.clone()] };
        let events = parse_session_events(&request).unwrap();
        let event = &events[0];
        assert_eq!(event.action.as_str(), SessionAuditAction::REPLACED);
        assert_eq!(event.outcome, AuditOutcome::Success);
        assert_eq!(event.session_id.map(|id| id.to_string()), Some(message.target_session_id));
        assert_eq!(event.replaced_by_session_id.map(|id| id.to_string()), Some(message.replaced_by_session_id));
        assert_eq!(event.context.actor_id, None, "the broker itself evicts");
        assert_eq!(event.context.client_address.as_deref(), Some("2001:db8::1"));
        assert_eq!(event.context.user_agent.as_ref().map(|agent| agent.chars().count()), Some(512));
        assert_eq!(event.occurred_at.map(|time| time.timestamp()), Some(1_750_000_000));
    }

    #[test]
    fn a_denied_listing_names_no_session() {
        // An internal caller's refusal may concern no account either.
        let denied = proto::SessionAuditEvent {
            action: "session.list".to_owned(),
            actor_user_id: UserId::generate().to_string(),
            actor_name: "kenji".to_owned(),
            outcome: "denied".to_owned(),
            reason: "MISSING_PERMISSION".to_owned(),
            ..Default::default()
        };
        let events = parse_session_events(&proto::RecordSessionEventsRequest { events: vec![denied] }).unwrap();
        assert_eq!((events[0].account_id, events[0].user_id, events[0].session_id), (None, None, None));
        assert_eq!(events[0].context.actor_name.as_deref(), Some("kenji"));
    }

    #[test]
    fn every_bad_field_of_every_event_is_named() {
        let bad = proto::SessionAuditEvent {
            account_id: "acme".to_owned(),
            action: "user.delete".to_owned(),
            target_user_id: "someone".to_owned(),
            target_session_id: String::new(),
            outcome: "failure".to_owned(),
            actor_user_id: "x".to_owned(),
            replaced_by_session_id: "y".to_owned(),
            client_address: "localhost".to_owned(),
            trace_id: "XYZ".to_owned(),
            reason: "line\nbreak".to_owned(),
            occur_time: Some(Timestamp { seconds: 0, nanos: -1 }),
            ..Default::default()
        };
        let mut happened_without_ids = eviction();
        happened_without_ids.account_id.clear();
        happened_without_ids.target_user_id.clear();
        happened_without_ids.target_session_id = " ".to_owned();
        let request = proto::RecordSessionEventsRequest { events: vec![eviction(), bad, happened_without_ids] };
        let error = parse_session_events(&request).unwrap_err();
        assert_eq!(
            fields(&error),
            [
                "events[1].account_id",
                "events[1].action",
                "events[1].outcome",
                "events[1].target_user_id",
                "events[1].replaced_by_session_id",
                "events[1].actor_user_id",
                "events[1].reason",
                "events[1].client_address",
                "events[1].trace_id",
                "events[1].occur_time",
                "events[2].account_id",
                "events[2].target_user_id",
                "events[2].target_session_id",
            ]
        );
        let too_many = proto::RecordSessionEventsRequest { events: vec![eviction(); MAX_SESSION_EVENTS + 1] };
        assert_eq!(fields(&parse_session_events(&too_many).unwrap_err()), ["events"]);
    }

    #[test]
    fn principal_access_requests_name_bad_ids() {
        let request = proto::GetPrincipalAccessRequest {
            account_id: "acme".to_owned(),
            user_id: "ann".to_owned(),
            held_access_version: None,
        };
        assert_eq!(fields(&parse_access_request(&request).unwrap_err()), ["account_id", "user_id"]);
    }
}
