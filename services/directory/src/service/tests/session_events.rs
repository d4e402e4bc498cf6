//! `record_session_events` (R43): what the broker reports lands in the
//! audit log, under the reporting call's trace when it has none of its own.

use std::collections::BTreeSet;

use roster_domain::audit::{AuditOutcome, RequestContext};
use roster_domain::filters::DataFilters;
use roster_domain::ids::SessionId;
use roster_domain::paging::PageRequest;
use roster_domain::repository::{AuditFilter, SessionAuditAction, SessionAuditEvent};

use super::{context, Harness};

#[tokio::test]
async fn r43_reported_session_events_are_audited() {
    let harness = Harness::start().await;
    let acme = harness.sign_up("acme").await;
    let kenji = harness.create_user(&acme, "kenji", BTreeSet::new(), DataFilters::default()).await;
    let (evicted, newer) = (SessionId::generate(), SessionId::generate());
    let own_trace = "4bf92f3577b34da6a3ce929d0e0e4736".to_owned();
    let event = |session_id: SessionId, trace_id: Option<String>| SessionAuditEvent {
        account_id: Some(acme.account_id),
        action: SessionAuditAction::parse("action", SessionAuditAction::REPLACED).unwrap(),
        user_id: Some(kenji),
        session_id: Some(session_id),
        outcome: AuditOutcome::Success,
        reason: Some("replaced by a newer login".to_owned()),
        replaced_by_session_id: Some(newer),
        context: RequestContext {
            client_address: Some("203.0.113.5".to_owned()),
            trace_id,
            ..RequestContext::default()
        },
        occurred_at: None,
    };
    let other = SessionId::generate();
    let events = vec![event(evicted, Some(own_trace.clone())), event(other, None)];
    harness.directory.record_session_events(&context(), events).await.unwrap();

    let filter = AuditFilter { action: Some("session.replaced".to_owned()), ..AuditFilter::default() };
    let listed = harness
        .directory
        .list_audit_events(
            &acme.caller,
            context(),
            Some(acme.account_id),
            &filter,
            &PageRequest { size: 10, after: None },
        )
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 2);
    let trace_of = |session_id: SessionId| {
        let event = listed.iter().find(|event| event.target_id == Some(session_id.to_string())).unwrap();
        assert_eq!(event.target_type, "session");
        assert_eq!(event.target_name.as_deref(), Some("kenji"));
        assert_eq!(event.client_address.as_deref(), Some("203.0.113.5"));
        event.trace_id.clone()
    };
    assert_eq!(trace_of(evicted), Some(own_trace));
    assert_eq!(trace_of(other), context().trace_id, "the reporting call's trace");
    // Nothing for the broker to drop: an audit write changes no access.
    assert!(harness.broker_calls().is_empty());
}
