//! Writing audit events (R43), always through the caller's transaction.

use chrono::{DateTime, Utc};
use roster_domain::audit::{AuditOutcome, AuditRecord, RequestContext};
use roster_domain::ids::{AccountId, AuditEventId};
use roster_domain::DomainError;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::changes::Changes;
use crate::entity::audit_events;
use crate::error::failed;

/// Appends `record` with the request facts of `context`. The id is a v7
/// UUID made here, so ids order events by time (R44 paging relies on it).
pub(crate) async fn append_audit_event(
    connection: &impl ConnectionTrait,
    record: AuditRecord,
    context: &RequestContext,
) -> Result<AuditEventId, DbErr> {
    let id = AuditEventId::generate();
    let row = audit_events::ActiveModel {
        id: Set(id.to_string()),
        account_id: Set(record.account_id.map(|account_id| account_id.to_string())),
        occurred_at: Set(record.occurred_at),
        actor_id: Set(context.actor_id.map(|actor_id| actor_id.to_string())),
        actor_name: Set(context.actor_name.clone()),
        action: Set(record.action.to_owned()),
        target_type: Set(record.target_type.to_owned()),
        target_id: Set(record.target_id),
        target_name: Set(record.target_name),
        changes: Set(record.changes.to_string()),
        client_address: Set(context.client_address.clone()),
        user_agent: Set(context.user_agent.clone()),
        trace_id: Set(context.trace_id.clone()),
        outcome: Set(record.outcome.as_str().to_owned()),
        reason: Set(record.reason),
    };
    audit_events::Entity::insert(row).exec_without_returning(connection).await?;
    Ok(id)
}

/// Whom or what an audited change touched.
#[derive(Debug, Clone)]
pub(crate) struct AuditTarget {
    pub kind: &'static str,
    pub id: Option<String>,
    pub name: Option<String>,
}

impl AuditTarget {
    /// A user, named by login name (R8: kept after deletion).
    pub(crate) fn user(id: &str, login_name: &str) -> Self {
        Self { kind: "user", id: Some(id.to_owned()), name: Some(login_name.to_owned()) }
    }

    pub(crate) fn group(id: &str, name: &str) -> Self {
        Self { kind: "group", id: Some(id.to_owned()), name: Some(name.to_owned()) }
    }

    pub(crate) fn store(id: &str, name: &str) -> Self {
        Self { kind: "store", id: Some(id.to_owned()), name: Some(name.to_owned()) }
    }

    pub(crate) fn account(id: &str, display_name: &str) -> Self {
        Self { kind: "account", id: Some(id.to_owned()), name: Some(display_name.to_owned()) }
    }
}

/// Appends the `success` event of a change, in the change's transaction.
pub(crate) async fn audit_change(
    connection: &impl ConnectionTrait,
    account_id: Option<AccountId>,
    action: &'static str,
    target: AuditTarget,
    changes: Changes,
    now: DateTime<Utc>,
    context: &RequestContext,
) -> Result<(), DomainError> {
    let record = AuditRecord {
        account_id,
        action,
        target_type: target.kind,
        target_id: target.id,
        target_name: target.name,
        changes: changes.into_json(),
        outcome: AuditOutcome::Success,
        reason: None,
        occurred_at: now,
    };
    append_audit_event(connection, record, context).await.map_err(failed("writing an audit event"))?;
    Ok(())
}
