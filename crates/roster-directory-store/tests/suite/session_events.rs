//! What the session broker reports (R36, R38, R43): one audit event per
//! session event, on the session, all of a call in one transaction.

use chrono::{TimeZone, Utc};
use roster_domain::audit::{AuditOutcome, RequestContext};
use roster_domain::ids::{SessionId, UserId};
use roster_domain::lifecycle::MailOutbox;
use roster_domain::mail::{session_replaced_mail, MailContext};
use roster_domain::names::EmailAddress;
use roster_domain::paging::PageRequest;
use roster_domain::repository::{AuditFilter, AuditRepository, SessionAuditAction, SessionAuditEvent, UserRepository};
use sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::common::backends::TestDatabase;
use crate::common::directory::{acting, audit_count, create_user, sign_up};

fn action(text: &str) -> SessionAuditAction {
    SessionAuditAction::parse("action", text).unwrap()
}

/// The request facts the broker saw for one event.
fn seen_by_broker(actor: Option<(UserId, &str)>) -> RequestContext {
    RequestContext {
        actor_id: actor.map(|(actor_id, _)| actor_id),
        actor_name: actor.map(|(_, name)| name.to_owned()),
        client_address: Some("203.0.113.9".to_owned()),
        user_agent: Some("shop-app/7".to_owned()),
        trace_id: Some("5bf92f3577b34da6a3ce929d0e0e4737".to_owned()),
    }
}

pub async fn r43_session_events_are_audited_on_the_session(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let account_id = acme.account.id;
    let kenji = create_user(&store, &acme, "kenji").await;
    let gone = create_user(&store, &acme, "gone").await;
    store.delete_user(account_id, gone, &acting(&acme.owner)).await.unwrap();
    let (evicted, newer, revoked, gone_session) =
        (SessionId::generate(), SessionId::generate(), SessionId::generate(), SessionId::generate());
    let replaced_at = Utc.with_ymd_and_hms(2025, 6, 1, 9, 30, 0).unwrap();
    let events = vec![
        SessionAuditEvent {
            account_id: Some(account_id),
            action: action(SessionAuditAction::REPLACED),
            user_id: Some(kenji),
            session_id: Some(evicted),
            outcome: AuditOutcome::Success,
            reason: Some("replaced by a newer login".to_owned()),
            replaced_by_session_id: Some(newer),
            context: seen_by_broker(None),
            occurred_at: Some(replaced_at),
        },
        SessionAuditEvent {
            account_id: Some(account_id),
            action: action(SessionAuditAction::REVOKE),
            user_id: Some(kenji),
            session_id: Some(revoked),
            outcome: AuditOutcome::Success,
            reason: Some("user_blocked".to_owned()),
            replaced_by_session_id: None,
            context: seen_by_broker(Some((acme.owner.id, "owner-acme"))),
            occurred_at: None,
        },
        SessionAuditEvent {
            account_id: Some(account_id),
            action: action(SessionAuditAction::REVOKE),
            user_id: Some(gone),
            session_id: Some(gone_session),
            outcome: AuditOutcome::Success,
            reason: Some("user_deleted".to_owned()),
            replaced_by_session_id: None,
            context: RequestContext::default(),
            occurred_at: None,
        },
        SessionAuditEvent {
            account_id: Some(account_id),
            action: action("session.list"),
            user_id: None,
            session_id: None,
            outcome: AuditOutcome::Denied,
            reason: Some("MISSING_PERMISSION".to_owned()),
            replaced_by_session_id: None,
            context: seen_by_broker(Some((kenji, "kenji"))),
            occurred_at: None,
        },
    ];
    let before = audit_count(&store).await;
    store.record_session_events(&events, &[]).await.unwrap();
    assert_eq!(audit_count(&store).await, before + 4);
    store.record_session_events(&[], &[]).await.unwrap();
    assert_eq!(audit_count(&store).await, before + 4, "no events, nothing written");

    let listed = |action: &str| {
        let store = store.clone();
        let filter = AuditFilter { action: Some(action.to_owned()), ..Default::default() };
        async move {
            let page = store.list_audit_events(Some(account_id), &filter, &PageRequest { size: 50, after: None });
            page.await.unwrap().items
        }
    };
    let replaced = listed("session.replaced").await;
    assert_eq!(replaced.len(), 1);
    let replaced = &replaced[0];
    assert_eq!(replaced.target_type, "session");
    assert_eq!(replaced.target_id, Some(evicted.to_string()));
    assert_eq!(replaced.target_name.as_deref(), Some("kenji"));
    assert_eq!(replaced.actor_id, None);
    assert_eq!(replaced.actor_name, None);
    assert_eq!(replaced.outcome, AuditOutcome::Success);
    assert_eq!(replaced.reason.as_deref(), Some("replaced by a newer login"));
    assert_eq!(replaced.occurred_at, replaced_at);
    assert_eq!(replaced.client_address.as_deref(), Some("203.0.113.9"));
    assert_eq!(replaced.user_agent.as_deref(), Some("shop-app/7"));
    assert_eq!(replaced.trace_id.as_deref(), Some("5bf92f3577b34da6a3ce929d0e0e4737"));
    assert_eq!(
        replaced.changes,
        serde_json::json!({ "user_id": kenji.to_string(), "replaced_by_session_id": newer.to_string() })
    );

    let revokes = listed("session.revoke").await;
    assert_eq!(revokes.len(), 2);
    let by_owner = revokes.iter().find(|event| event.target_id == Some(revoked.to_string())).unwrap();
    assert_eq!(by_owner.actor_id, Some(acme.owner.id));
    assert_eq!(by_owner.actor_name.as_deref(), Some("owner-acme"));
    assert_eq!(by_owner.changes, serde_json::json!({ "user_id": kenji.to_string() }));
    // A deleted user keeps their id in the event (R8), without a name.
    let of_gone = revokes.iter().find(|event| event.target_id == Some(gone_session.to_string())).unwrap();
    assert_eq!(of_gone.target_name, None);
    assert_eq!(of_gone.changes, serde_json::json!({ "user_id": gone.to_string() }));
    assert!(of_gone.occurred_at > replaced_at, "no time given: now");

    let denied = listed("session.list").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].outcome, AuditOutcome::Denied);
    assert_eq!(denied[0].target_id, None);
    assert_eq!(denied[0].actor_id, Some(kenji));
    assert_eq!(denied[0].reason.as_deref(), Some("MISSING_PERMISSION"));

    // Listed by the session they are about.
    let filter = AuditFilter { target_id: Some(evicted.to_string()), ..Default::default() };
    let about = store.list_audit_events(Some(account_id), &filter, &PageRequest { size: 10, after: None }).await;
    assert_eq!(about.unwrap().items.len(), 1);

    // A refusal about no account is listed platform-wide; a user named under
    // another account is not that account's user, so the event has no name.
    let globex = sign_up(&store, "globex").await;
    let stray = |account_id, session_id| SessionAuditEvent {
        account_id,
        action: action("session.watch"),
        user_id: Some(kenji),
        session_id,
        outcome: AuditOutcome::Denied,
        reason: Some("OTHER_ACCOUNT".to_owned()),
        replaced_by_session_id: None,
        context: RequestContext::default(),
        occurred_at: None,
    };
    let foreign = SessionId::generate();
    store
        .record_session_events(&[stray(None, None), stray(Some(globex.account.id), Some(foreign))], &[])
        .await
        .unwrap();
    let filter = AuditFilter { action: Some("session.watch".to_owned()), ..Default::default() };
    let everywhere = store.list_audit_events(None, &filter, &PageRequest { size: 10, after: None }).await.unwrap();
    assert_eq!(everywhere.items.len(), 2);
    let without_account = everywhere.items.iter().find(|event| event.account_id.is_none()).unwrap();
    assert_eq!(without_account.target_name.as_deref(), Some("kenji"));
    let under_globex = everywhere.items.iter().find(|event| event.account_id == Some(globex.account.id)).unwrap();
    assert_eq!(under_globex.target_id, Some(foreign.to_string()));
    assert_eq!(under_globex.target_name, None);
}

/// Makes the insert of an event with reason `poison` fail.
async fn refuse_poisoned_events(store: &roster_directory_store::SeaDirectoryStore) {
    let statements = match store.connection().get_database_backend() {
        DatabaseBackend::Postgres => vec![
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.reason = 'poison' THEN RAISE EXCEPTION 'poisoned event'; END IF; RETURN NEW; END $$"
                .to_owned(),
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
                .to_owned(),
        ],
        _ => vec!["CREATE TRIGGER refuse_poison BEFORE INSERT ON audit_events WHEN NEW.reason = 'poison' \
                   BEGIN SELECT RAISE(ABORT, 'poisoned event'); END"
            .to_owned()],
    };
    for sql in statements {
        store.connection().execute_unprepared(&sql).await.unwrap();
    }
}

pub async fn r43_session_events_of_one_call_commit_together(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let kenji = create_user(&store, &acme, "kenji").await;
    refuse_poisoned_events(&store).await;
    let event = |reason: &str| SessionAuditEvent {
        account_id: Some(acme.account.id),
        action: action(SessionAuditAction::REVOKE),
        user_id: Some(kenji),
        session_id: Some(SessionId::generate()),
        outcome: AuditOutcome::Success,
        reason: Some(reason.to_owned()),
        replaced_by_session_id: None,
        context: RequestContext::default(),
        occurred_at: None,
    };
    // The notice an eviction causes (R36) commits with the events, or not.
    let to = EmailAddress::parse("email", "kenji@acme.example").unwrap();
    let context = MailContext { account_name: "Acme", account_slug: "acme", recipient_name: "Kenji", link_base: None };
    let notice = [(acme.account.id, session_replaced_mail(&to, &context, Utc::now(), Some("198.51.100.4")))];
    let before = audit_count(&store).await;
    let mails_before = store.pending_mail_count().await.unwrap();
    let outcome =
        store.record_session_events(&[event("administrator"), event("poison"), event("administrator")], &notice).await;
    assert!(outcome.is_err());
    assert_eq!(audit_count(&store).await, before, "none of the call's events, or all of them");
    assert_eq!(store.pending_mail_count().await.unwrap(), mails_before, "nor its mails");
    store.record_session_events(&[event("administrator"), event("administrator")], &notice).await.unwrap();
    assert_eq!(audit_count(&store).await, before + 2);
    assert_eq!(store.pending_mail_count().await.unwrap(), mails_before + 1);
}
