//! [`AuditRepository`]: denied calls, and listing the append-only log (R43,
//! R44), newest first.

use async_trait::async_trait;
use roster_domain::audit::{AuditOutcome, AuditRecord, RequestContext};
use roster_domain::ids::{AccountId, AuditEventId};
use roster_domain::paging::{Page, PageRequest};
use roster_domain::repository::{AuditEvent, AuditFilter, AuditRepository, DeniedCall};
use roster_domain::DomainError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;

use crate::audit::append_audit_event;
use crate::convert::audit_event_from_row;
use crate::entity::audit_events;
use crate::error::{failed, invalid_page_token};
use crate::profiles::page_size;
use crate::store::SeaDirectoryStore;

#[async_trait]
impl AuditRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.record_denied", skip_all, fields(action = denied.action, reason = denied.reason))]
    async fn record_denied(&self, denied: &DeniedCall, context: &RequestContext) -> Result<(), DomainError> {
        let record = AuditRecord {
            account_id: denied.account_id,
            action: denied.action,
            target_type: denied.target_type,
            target_id: denied.target_id.clone(),
            target_name: None,
            changes: json!({}),
            outcome: AuditOutcome::Denied,
            reason: Some(denied.reason.to_owned()),
            occurred_at: self.now(),
        };
        // One statement: atomic on its own.
        append_audit_event(&self.database, record, context).await.map_err(failed("auditing a denied call"))?;
        Ok(())
    }

    #[tracing::instrument(name = "directory_store.list_audit_events", skip_all)]
    async fn list_audit_events(
        &self,
        account_id: Option<AccountId>,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, DomainError> {
        let before = page
            .after
            .as_deref()
            .map(|cursor| AuditEventId::parse("page_token", cursor).map_err(|_| invalid_page_token()))
            .transpose()?;
        let size = page_size(page);
        let mut query = audit_events::Entity::find();
        if let Some(account_id) = account_id {
            query = query.filter(audit_events::Column::AccountId.eq(account_id.to_string()));
        }
        if let Some(actor_id) = filter.actor_id {
            query = query.filter(audit_events::Column::ActorId.eq(actor_id.to_string()));
        }
        if let Some(action) = &filter.action {
            query = query.filter(audit_events::Column::Action.eq(action.as_str()));
        }
        if let Some(target_id) = &filter.target_id {
            query = query.filter(audit_events::Column::TargetId.eq(target_id.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(audit_events::Column::OccurredAt.gte(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(audit_events::Column::OccurredAt.lt(to));
        }
        // Ids are v7 UUIDs made at write time: newest first is id order.
        if let Some(before) = before {
            query = query.filter(audit_events::Column::Id.lt(before.to_string()));
        }
        let mut rows = query
            .order_by_desc(audit_events::Column::Id)
            .limit(size + 1)
            .all(&self.database)
            .await
            .map_err(failed("listing audit events"))?;
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let next = if more { rows.last().map(|row| row.id.clone()) } else { None };
        let items = rows.into_iter().map(audit_event_from_row).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }
}
