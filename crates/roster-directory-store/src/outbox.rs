//! [`MailOutbox`]: mails written in the transaction of the change that
//! causes them ([`queue_mail`]), claimed and marked by the delivery worker.
//!
//! Claiming is one statement on both backends, so a mail is claimed by one
//! worker at a time even with several directory replicas:
//! - PostgreSQL: `UPDATE ... WHERE id IN (SELECT id ... FOR UPDATE SKIP
//!   LOCKED) RETURNING *`: concurrent workers skip each other's rows instead
//!   of waiting for them.
//! - SQLite: the same `UPDATE ... RETURNING *` without the lock clause: SQLite
//!   has one writer at a time, so the statement claims atomically.
//!
//! A claim is a lease (`claimed_until`); a worker that dies mid-delivery
//! leaves its rows to be claimed again when the lease runs out.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use roster_domain::ids::AccountId;
use roster_domain::lifecycle::{MailOutbox, QueuedMail};
use roster_domain::mail::{MailKind, OutgoingMail};
use roster_domain::names::EmailAddress;
use roster_domain::DomainError;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, Statement,
};
use uuid::Uuid;

use crate::convert::storable_time;
use crate::entity::mail_outbox;
use crate::error::{corrupt_row, failed};
use crate::store::SeaDirectoryStore;

/// Queues `mail` through the caller's transaction: it commits, or is lost,
/// with the change that caused it.
pub(crate) async fn queue_mail(
    connection: &impl ConnectionTrait,
    account_id: Option<AccountId>,
    mail: &OutgoingMail,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let row = mail_outbox::ActiveModel {
        id: Set(Uuid::now_v7().to_string()),
        account_id: Set(account_id.map(|account_id| account_id.to_string())),
        kind: Set(mail.kind.as_str().to_owned()),
        recipient: Set(mail.to.as_str().to_owned()),
        subject: Set(mail.subject.clone()),
        text_body: Set(mail.text_body.clone()),
        html_body: Set(mail.html_body.clone()),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_until: Set(None),
        sent_at: Set(None),
        last_error: Set(None),
    };
    mail_outbox::Entity::insert(row).exec_without_returning(connection).await.map_err(failed("queueing a mail"))?;
    Ok(())
}

fn queued_from_row(row: mail_outbox::Model) -> Result<QueuedMail, DomainError> {
    let kind = MailKind::parse_stored(&row.kind).ok_or_else(|| corrupt_row("mail_outbox", "kind", &row.kind))?;
    let to = EmailAddress::parse("recipient", &row.recipient)
        .map_err(|violation| corrupt_row("mail_outbox", "recipient", violation))?;
    let attempts = u32::try_from(row.attempts).map_err(|error| corrupt_row("mail_outbox", "attempts", error))?;
    Ok(QueuedMail {
        id: row.id,
        mail: OutgoingMail { kind, to, subject: row.subject, text_body: row.text_body, html_body: row.html_body },
        attempts,
    })
}

/// The claiming statement for `backend`, with `$1` now, `$2` the lease's
/// end and `$3` the limit (SQLite takes `$n` too).
fn claim_sql(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::Postgres => {
            "UPDATE mail_outbox SET claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM mail_outbox \
                 WHERE sent_at IS NULL AND next_attempt_at <= $1 \
                 AND (claimed_until IS NULL OR claimed_until <= $1) \
                 ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING *"
        }
        _ => {
            "UPDATE mail_outbox SET claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM mail_outbox \
                 WHERE sent_at IS NULL AND next_attempt_at <= $1 \
                 AND (claimed_until IS NULL OR claimed_until <= $1) \
                 ORDER BY next_attempt_at, id LIMIT $3) \
             RETURNING *"
        }
    }
}

#[async_trait]
impl MailOutbox for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.claim_mail", skip_all, fields(limit))]
    async fn claim_mail(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, DomainError> {
        let backend = self.database.get_database_backend();
        let now = storable_time(now);
        let statement = Statement::from_sql_and_values(
            backend,
            claim_sql(backend),
            [now.into(), storable_time(now + lease).into(), i64::from(limit).into()],
        );
        let rows = mail_outbox::Model::find_by_statement(statement)
            .all(&self.database)
            .await
            .map_err(failed("claiming mail"))?;
        let mut claimed: Vec<QueuedMail> = rows.into_iter().map(queued_from_row).collect::<Result<_, _>>()?;
        // RETURNING gives no order; send the oldest first.
        claimed.sort_by(|first, second| first.id.cmp(&second.id));
        Ok(claimed)
    }

    #[tracing::instrument(name = "directory_store.mark_mail_sent", skip_all)]
    async fn mark_mail_sent(&self, id: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::SentAt, Expr::value(storable_time(now)))
            .col_expr(mail_outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(mail_outbox::Column::LastError, Expr::value(Option::<String>::None))
            // The bodies may hold a token or a temporary password: once sent,
            // the outbox forgets them.
            .col_expr(mail_outbox::Column::TextBody, Expr::value(""))
            .col_expr(mail_outbox::Column::HtmlBody, Expr::value(""))
            .filter(mail_outbox::Column::Id.eq(id))
            .exec(&self.database)
            .await
            .map_err(failed("marking a mail sent"))?;
        Ok(())
    }

    #[tracing::instrument(name = "directory_store.mark_mail_failed", skip_all)]
    async fn mark_mail_failed(&self, id: &str, error: &str, retry_at: DateTime<Utc>) -> Result<(), DomainError> {
        let error: String = error.chars().take(500).collect();
        mail_outbox::Entity::update_many()
            .col_expr(mail_outbox::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(storable_time(retry_at)))
            .col_expr(mail_outbox::Column::LastError, Expr::value(Some(error)))
            .filter(mail_outbox::Column::Id.eq(id))
            .filter(mail_outbox::Column::SentAt.is_null())
            .exec(&self.database)
            .await
            .map_err(failed("marking a mail failed"))?;
        Ok(())
    }

    async fn pending_mail_count(&self) -> Result<u64, DomainError> {
        mail_outbox::Entity::find()
            .filter(mail_outbox::Column::SentAt.is_null())
            .count(&self.database)
            .await
            .map_err(failed("counting pending mail"))
    }
}
