//! `roster.directory.v1.AuditService`.

use roster_domain::error::{FieldViolation, Violations};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::paging::PageRequest;
use roster_domain::repository::AuditFilter;
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;
use roster_proto::directory::v1::audit_service_server::AuditService;
use roster_server::errors::status_from_error;
use tonic::{Request, Response, Status};

use super::convert::audit_event_message;
use super::parse::{self, page_request, page_token};
use super::{caller_of, unparsed};
use crate::auth::Authenticator;
use crate::service::Directory;

pub struct AuditGrpc {
    pub directory: Directory,
    pub authenticator: Authenticator,
}

/// An empty `account_id` asks for every account (platform operators only:
/// the operation decides).
fn parse_list(
    message: &proto::ListAuditEventsRequest,
) -> Result<(Option<AccountId>, AuditFilter, PageRequest), DomainError> {
    let mut violations = Violations::new();
    let account_id = match message.account_id.trim() {
        "" => Some(None),
        account_id => violations.check(AccountId::parse("account_id", account_id)).map(Some),
    };
    let actor_id = match message.actor_id.trim() {
        "" => None,
        actor_id => violations.check(UserId::parse("actor_id", actor_id)),
    };
    let from = violations.check(parse::optional_time("start_time", message.start_time.as_ref())).flatten();
    let to = violations.check(parse::optional_time("end_time", message.end_time.as_ref())).flatten();
    if let (Some(from), Some(to)) = (from, to) {
        if to <= from {
            violations.push(FieldViolation::new("end_time", "must be after start_time"));
        }
    }
    let page = violations.check(page_request(message.page_size, &message.page_token));
    violations.finish()?;
    let filter = AuditFilter {
        actor_id,
        action: parse::optional_text(&message.action),
        target_id: parse::optional_text(&message.target_id),
        from,
        to,
    };
    match (account_id, page) {
        (Some(account_id), Some(page)) => Ok((account_id, filter, page)),
        _ => Err(unparsed()),
    }
}

#[tonic::async_trait]
impl AuditService for AuditGrpc {
    async fn list_audit_events(
        &self,
        request: Request<proto::ListAuditEventsRequest>,
    ) -> Result<Response<proto::ListAuditEventsResponse>, Status> {
        let (caller, context) = caller_of(&self.authenticator, &request).await?;
        let (account_id, filter, page) = parse_list(request.get_ref()).map_err(status_from_error)?;
        let listed = self
            .directory
            .list_audit_events(&caller, context, account_id, &filter, &page)
            .await
            .map_err(status_from_error)?;
        Ok(Response::new(proto::ListAuditEventsResponse {
            events: listed.items.iter().map(audit_event_message).collect(),
            next_page_token: page_token(listed.next),
        }))
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;

    use super::*;

    #[test]
    fn filters_are_parsed_and_every_bad_one_named() {
        let good = proto::ListAuditEventsRequest {
            action: " user.delete ".to_owned(),
            start_time: Some(Timestamp { seconds: 10, nanos: 0 }),
            end_time: Some(Timestamp { seconds: 20, nanos: 0 }),
            ..Default::default()
        };
        let (account_id, filter, page) = parse_list(&good).unwrap();
        assert_eq!(account_id, None);
        assert_eq!(filter.action.as_deref(), Some("user.delete"));
        assert_eq!(filter.from.map(|time| time.timestamp()), Some(10));
        assert_eq!(page.size, PageRequest::DEFAULT_SIZE);
        let bad = proto::ListAuditEventsRequest {
            account_id: "x".to_owned(),
            actor_id: "y".to_owned(),
            start_time: Some(Timestamp { seconds: 20, nanos: 0 }),
            end_time: Some(Timestamp { seconds: 10, nanos: 0 }),
            page_size: -1,
            ..Default::default()
        };
        let error = parse_list(&bad).unwrap_err();
        let fields: Vec<&str> = error.field_violations().iter().map(|violation| violation.field.as_str()).collect();
        assert_eq!(fields, ["account_id", "actor_id", "end_time", "page_size"]);
    }
}
