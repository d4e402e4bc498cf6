//! Writing audit events (R43), always through the caller's transaction.

use roster_domain::audit::{AuditRecord, RequestContext};
use roster_domain::ids::AuditEventId;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};

use crate::entity::audit_events;

/// Appends `record` with the request facts of `context`.
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
