//! [`AuditRepository`]: denied calls, the session broker's events, and
//! listing the append-only log (R43, R44), newest first.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_domain::audit::{AuditOutcome, AuditRecord, RequestContext};
use roster_domain::ids::{AccountId, AuditEventId};
use roster_domain::mail::OutgoingMail;
use roster_domain::paging::{Page, PageRequest};
use roster_domain::repository::{AuditEvent, AuditFilter, AuditRepository, DeniedCall, SessionAuditEvent};
use roster_domain::DomainError;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::json;

use crate::audit::append_audit_event;
use crate::changes::Changes;
use crate::convert::{audit_event_from_row, storable_time};
use crate::entity::{audit_events, users};
use crate::error::{failed, invalid_page_token};
use crate::profiles::page_size;
use crate::store::SeaDirectoryStore;

/// The account id and login name of the events' users, by user id, for the
/// users that still exist (R8: an event about a deleted user keeps its id
/// in `changes`).
async fn login_names(
    connection: &impl ConnectionTrait,
    events: &[SessionAuditEvent],
) -> Result<HashMap<String, (String, String)>, DomainError> {
    let user_ids: BTreeSet<String> =
        events.iter().filter_map(|event| event.user_id).map(|user_id| user_id.to_string()).collect();
    if user_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, String)> = users::Entity::find()
        .select_only()
        .columns([users::Column::AccountId, users::Column::Id, users::Column::LoginName])
        .filter(users::Column::Id.is_in(user_ids))
        .into_tuple()
        .all(connection)
        .await
        .map_err(failed("reading the users of session events"))?;
    Ok(rows.into_iter().map(|(account_id, user_id, login_name)| (user_id, (account_id, login_name))).collect())
}

/// One session event as an audit row: on the session, with the broker's
/// request facts.
fn session_event_row(
    event: &SessionAuditEvent,
    target_name: Option<String>,
    now: DateTime<Utc>,
) -> audit_events::ActiveModel {
    let mut changes = Changes::new();
    if let Some(user_id) = event.user_id {
        changes.note("user_id", user_id.to_string());
    }
    if let Some(replaced_by) = event.replaced_by_session_id {
        changes.note("replaced_by_session_id", replaced_by.to_string());
    }
    let context = &event.context;
    audit_events::ActiveModel {
        id: Set(AuditEventId::generate().to_string()),
        account_id: Set(event.account_id.map(|account_id| account_id.to_string())),
        occurred_at: Set(event.occurred_at.map_or(now, storable_time)),
        actor_id: Set(context.actor_id.map(|actor_id| actor_id.to_string())),
        actor_name: Set(context.actor_name.clone()),
        action: Set(event.action.as_str().to_owned()),
        target_type: Set("session".to_owned()),
        target_id: Set(event.session_id.map(|session_id| session_id.to_string())),
        target_name: Set(target_name),
        changes: Set(changes.into_json().to_string()),
        client_address: Set(context.client_address.clone()),
        user_agent: Set(context.user_agent.clone()),
        trace_id: Set(context.trace_id.clone()),
        outcome: Set(event.outcome.as_str().to_owned()),
        reason: Set(event.reason.clone()),
    }
}

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

    #[tracing::instrument(name = "directory_store.record_session_events", skip_all, fields(count = events.len()))]
    async fn record_session_events(
        &self,
        events: &[SessionAuditEvent],
        mails: &[(AccountId, OutgoingMail)],
    ) -> Result<(), DomainError> {
        if events.is_empty() {
            return Ok(());
        }
        let now = self.now();
        // Read before the transaction, which then only writes: on SQLite a
        // transaction that reads and then writes must upgrade its lock, and
        // under concurrent logins that upgrade fails at once as "database is
        // locked" instead of waiting. The names only label the events.
        let login_names = login_names(&self.database, events).await?;
        let transaction = self.database.begin().await.map_err(failed("starting to record session events"))?;
        let rows: Vec<audit_events::ActiveModel> = events
            .iter()
            .map(|event| {
                // A user of another account than the event's is not its user.
                let target_name = event
                    .user_id
                    .and_then(|user_id| login_names.get(&user_id.to_string()))
                    .filter(|(account_id, _)| {
                        event.account_id.is_none_or(|expected| expected.to_string() == *account_id)
                    })
                    .map(|(_, login_name)| login_name.clone());
                session_event_row(event, target_name, now)
            })
            .collect();
        audit_events::Entity::insert_many(rows)
            .exec_without_returning(&transaction)
            .await
            .map_err(failed("auditing session events"))?;
        // The notices these events cause (R36's replaced-session mail)
        // commit with them, or not at all.
        for (account_id, mail) in mails {
            crate::outbox::queue_mail(&transaction, Some(*account_id), mail, now).await?;
        }
        transaction.commit().await.map_err(failed("committing session events"))?;
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
