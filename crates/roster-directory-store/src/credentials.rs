//! [`CredentialRepository`]: what a login needs, its lockout (R39), and its
//! audit trail.
//!
//! The lockout columns (`failed_login_count`, `pending_logins`,
//! `locked_until`) are not in the `users` entity: only this module reads or
//! writes them, through the query builder, so that every other read and
//! write of users stays as it was. A reservation of an unlocked credential
//! below the limit's edge is one conditional `UPDATE` (`LockoutPolicy::
//! counted_below`); any other reads and writes them under the row's write
//! lock and applies `roster_domain::lockout`'s rule. The end of an attempt
//! is one atomic `UPDATE`.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use roster_domain::audit::{AuditOutcome, AuditRecord, RequestContext};
use roster_domain::ids::{AccountId, AuditEventId, UserId};
use roster_domain::lockout::{AttemptReservation, LockoutPolicy, LockoutState};
use roster_domain::names::{AccountKey, LoginName};
use roster_domain::password::PasswordHash;
use roster_domain::repository::{CredentialRepository, LoginAttempt, LoginCandidate};
use roster_domain::DomainError;
use sea_orm::sea_query::{Condition, Expr, LockType, Query, SimpleExpr, UpdateStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DeriveIden, EntityTrait, FromQueryResult,
    JoinType, QueryFilter, QuerySelect, RelationDef, Statement, TransactionTrait,
};
use serde_json::json;

use crate::accounts::{account_is, user_account};
use crate::audit::{append_audit_event, audit_change, AuditTarget};
use crate::changes::Changes;
use crate::convert::{
    account_from_row, ip_allowlist_from_row, membership_from_row, password_hash_from_row, storable_time, user_from_row,
};
use crate::entity::{accounts, groups, role_assignments, users};
use crate::error::{corrupt_row, failed, user_not_found};
use crate::store::SeaDirectoryStore;

/// The lockout columns of `users` (R39), added by the third migration.
#[derive(DeriveIden)]
enum Lockout {
    FailedLoginCount,
    PendingLogins,
    LockedUntil,
}

/// The lockout columns of one user row, as read.
#[derive(Debug, FromQueryResult)]
struct LockoutRow {
    failed_login_count: i32,
    pending_logins: i32,
    locked_until: Option<DateTime<Utc>>,
}

impl LockoutRow {
    fn into_state(self) -> Result<LockoutState, DomainError> {
        let count = |column: &'static str, value: i32| {
            u32::try_from(value).map_err(|error| corrupt_row("users", column, error))
        };
        Ok(LockoutState {
            failed_login_count: count("failed_login_count", self.failed_login_count)?,
            pending_logins: count("pending_logins", self.pending_logins)?,
            locked_until: self.locked_until,
        })
    }
}

/// `pending_logins - 1`, never below zero (`lockout::after_release`).
const ONE_PENDING_FEWER: &str = "CASE WHEN pending_logins > 0 THEN pending_logins - 1 ELSE 0 END";

fn one_pending_fewer() -> SimpleExpr {
    Expr::cust(ONE_PENDING_FEWER)
}

/// The end of an allowed attempt that failed: `lockout::after_release`.
fn release_statement(this_user: Condition) -> UpdateStatement {
    Query::update()
        .table(users::Entity)
        .value(Lockout::PendingLogins, one_pending_fewer())
        .cond_where(this_user)
        .to_owned()
}

/// The common reservation in one statement (issue 6): what
/// `LockoutPolicy::reserve` does to an unlocked count below
/// `counted_below`, as a conditional write that the row's lock orders
/// against every other one. It matches no row otherwise.
fn counted_statement(this_user: Condition, policy: LockoutPolicy) -> UpdateStatement {
    Query::update()
        .table(users::Entity)
        .value(Lockout::FailedLoginCount, Expr::col(Lockout::FailedLoginCount).add(1))
        .value(Lockout::PendingLogins, Expr::col(Lockout::PendingLogins).add(1))
        .cond_where(
            this_user
                .add(Expr::col(Lockout::LockedUntil).is_null())
                .add(Expr::col(Lockout::FailedLoginCount).lt(i64::from(policy.counted_below()))),
        )
        .to_owned()
}

const INVITED: &str = "invited";
const ACTIVE: &str = "active";

/// The `status` entry of a login event's changes when it activated an
/// invited user (R17).
fn activation() -> serde_json::Value {
    json!({ "before": INVITED, "after": ACTIVE })
}

/// The audit event of a login attempt (R43).
fn login_record(attempt: &LoginAttempt, changes: serde_json::Value, now: DateTime<Utc>) -> AuditRecord {
    AuditRecord {
        account_id: attempt.account_id,
        action: "session.login",
        target_type: "user",
        target_id: attempt.user_id.map(|user_id| user_id.to_string()),
        target_name: Some(attempt.login_name.clone()),
        changes,
        outcome: attempt.outcome,
        reason: attempt.reason.map(str::to_owned),
        occurred_at: now,
    }
}

/// A success on PostgreSQL, in one statement and so one round trip, atomic
/// as a statement is: `previous` locks the user's row (`FOR NO KEY UPDATE`,
/// as the lockout's writes do) and reads its status; `updated` writes what
/// [`success_statement`] writes, plus R17's activation when that status was
/// `invited`, and answers the status it found; the event (`append_audit_event`'s
/// columns) says whether it activated. A user deleted meanwhile updates
/// nothing, and the event is still written, as in a transaction.
static POSTGRES_SUCCESS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "\
WITH previous AS (
    SELECT id, status FROM users WHERE id = $1 AND account_id = $2 FOR NO KEY UPDATE
), updated AS (
    UPDATE users SET
        last_login_at = $3,
        failed_login_count = 0,
        pending_logins = {ONE_PENDING_FEWER},
        locked_until = NULL,
        status = CASE WHEN previous.status = $4 THEN $5 ELSE users.status END,
        updated_at = CASE WHEN previous.status = $4 THEN $3 ELSE users.updated_at END
    FROM previous
    WHERE users.id = previous.id
    RETURNING previous.status AS before
)
INSERT INTO audit_events (id, account_id, occurred_at, actor_id, actor_name, action, target_type, target_id,
    target_name, changes, client_address, user_agent, trace_id, outcome, reason)
VALUES ($6, $2, $3, $7, $8, 'session.login', 'user', $1, $9,
    CASE WHEN (SELECT before FROM updated) = $4 THEN $10 ELSE $11 END, $12, $13, $14, 'success', NULL)"
    )
});

fn postgres_success_statement(
    attempt: &LoginAttempt,
    account_id: AccountId,
    user_id: UserId,
    changes: serde_json::Value,
    now: DateTime<Utc>,
    context: &RequestContext,
) -> Statement {
    let mut activated = changes.clone();
    activated["status"] = activation();
    let values: [sea_orm::Value; 14] = [
        user_id.to_string().into(),
        account_id.to_string().into(),
        now.into(),
        INVITED.into(),
        ACTIVE.into(),
        AuditEventId::generate().to_string().into(),
        context.actor_id.map(|actor_id| actor_id.to_string()).into(),
        context.actor_name.clone().into(),
        attempt.login_name.clone().into(),
        activated.to_string().into(),
        changes.to_string().into(),
        context.client_address.clone().into(),
        context.user_agent.clone().into(),
        context.trace_id.clone().into(),
    ];
    Statement::from_sql_and_values(DatabaseBackend::Postgres, POSTGRES_SUCCESS.as_str(), values)
}

/// The end of an allowed attempt that succeeded, in one statement: the login
/// time, and `lockout::after_success` (R39: a success ends the run of
/// failures, and any lock). It answers the row's status, so that R17's
/// activation costs a statement only on a first login.
fn success_statement(this_user: Condition, now: DateTime<Utc>) -> UpdateStatement {
    Query::update()
        .table(users::Entity)
        .value(users::Column::LastLoginAt, now)
        .value(Lockout::FailedLoginCount, 0)
        .value(Lockout::PendingLogins, one_pending_fewer())
        .value(Lockout::LockedUntil, Option::<DateTime<Utc>>::None)
        .cond_where(this_user)
        .returning_col(users::Column::Status)
        .to_owned()
}

/// Stores `state` as the lockout columns of the user `this_user` selects.
async fn write_lockout(
    transaction: &DatabaseTransaction,
    this_user: Condition,
    state: LockoutState,
) -> Result<(), DomainError> {
    let count = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
    let statement = Query::update()
        .table(users::Entity)
        .value(Lockout::FailedLoginCount, count(state.failed_login_count))
        .value(Lockout::PendingLogins, count(state.pending_logins))
        .value(Lockout::LockedUntil, state.locked_until.map(storable_time))
        .cond_where(this_user)
        .to_owned();
    let backend = transaction.get_database_backend();
    transaction.execute(backend.build(&statement)).await.map_err(failed("writing a login lockout"))?;
    Ok(())
}

impl SeaDirectoryStore {
    /// `record_login`'s success as a transaction of up to three statements
    /// (SQLite, where a statement costs no round trip): the login time and
    /// R39's reset, R17's activation when the row was invited, the event.
    async fn record_success_in_transaction(
        &self,
        attempt: &LoginAttempt,
        user_id: UserId,
        mut changes: serde_json::Value,
        now: DateTime<Utc>,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let transaction = self.database.begin().await.map_err(failed("starting to record a login"))?;
        let mut this_user = users::Column::Id.eq(user_id.to_string());
        if let Some(account_id) = attempt.account_id {
            this_user = this_user.and(users::Column::AccountId.eq(account_id.to_string()));
        }
        let backend = transaction.get_database_backend();
        let ended = success_statement(Condition::all().add(this_user.clone()), now);
        let status = transaction
            .query_one(backend.build(&ended))
            .await
            .map_err(failed("recording a login time"))?
            .map(|row| row.try_get::<String>("", "status"))
            .transpose()
            .map_err(failed("reading a logged-in user's status"))?;
        // R17: the first successful login turns an invitation active. The
        // UPDATE above holds the row's lock, so the status it answered is
        // still the row's.
        if status.as_deref() == Some(INVITED) {
            users::Entity::update_many()
                .col_expr(users::Column::Status, Expr::value(ACTIVE))
                .col_expr(users::Column::UpdatedAt, Expr::value(now))
                .filter(this_user)
                .exec(&transaction)
                .await
                .map_err(failed("activating an invited user"))?;
            changes["status"] = activation();
        }
        append_audit_event(&transaction, login_record(attempt, changes, now), context)
            .await
            .map_err(failed("auditing a login"))?;
        transaction.commit().await.map_err(failed("committing a login record"))?;
        Ok(())
    }

    /// Begins a transaction holding the write lock of one user row and
    /// returns it with the row's lockout state, or `None` when the user is
    /// not there. PostgreSQL: `SELECT ... FOR NO KEY UPDATE` on the row, so
    /// only attempts at the same credential wait for each other. SQLite: the
    /// first statement is a no-op write of the row, which takes the
    /// database's write lock at once (see `write`).
    async fn begin_lockout_write(
        &self,
        this_user: Condition,
    ) -> Result<Option<(DatabaseTransaction, LockoutState)>, DomainError> {
        let transaction = self.database.begin().await.map_err(failed("starting a login reservation"))?;
        let backend = self.database.get_database_backend();
        let mut select = Query::select()
            .columns([Lockout::FailedLoginCount, Lockout::PendingLogins, Lockout::LockedUntil])
            .from(users::Entity)
            .cond_where(this_user.clone())
            .to_owned();
        if backend == DatabaseBackend::Postgres {
            select.lock(LockType::NoKeyUpdate);
        } else {
            let touched = Query::update()
                .table(users::Entity)
                .value(Lockout::FailedLoginCount, Expr::col(Lockout::FailedLoginCount))
                .cond_where(this_user)
                .to_owned();
            let touched = transaction
                .execute(backend.build(&touched))
                .await
                .map_err(failed("locking a login's lockout state"))?;
            if touched.rows_affected() == 0 {
                return Ok(None);
            }
        }
        let row = LockoutRow::find_by_statement(backend.build(&select))
            .one(&transaction)
            .await
            .map_err(failed("reading a login's lockout state"))?;
        match row {
            Some(row) => Ok(Some((transaction, row.into_state()?))),
            None => Ok(None),
        }
    }
}

/// Users to their role assignments (a left join: a user may hold none).
fn user_assignments() -> RelationDef {
    users::Entity::belongs_to(role_assignments::Entity)
        .from(users::Column::Id)
        .to(role_assignments::Column::UserId)
        .into()
}

/// Role assignments to their group.
fn assignment_group() -> RelationDef {
    role_assignments::Entity::belongs_to(groups::Entity)
        .from(role_assignments::Column::GroupId)
        .to(groups::Column::Id)
        .into()
}

/// The condition selecting `user_id` of `account_id`.
fn user_of_account(account_id: AccountId, user_id: UserId) -> Condition {
    Condition::all()
        .add(users::Column::Id.eq(user_id.to_string()))
        .add(users::Column::AccountId.eq(account_id.to_string()))
}

#[async_trait]
impl CredentialRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.find_login_candidate", skip_all)]
    async fn find_login_candidate(
        &self,
        account: &AccountKey,
        login: &LoginName,
    ) -> Result<Option<LoginCandidate>, DomainError> {
        // The user with their account and the groups they are assigned (in
        // any scope), in one statement (issue 6, scenario 2): a row per
        // distinct group, or one row with none.
        let rows = users::Entity::find()
            .join(JoinType::InnerJoin, user_account())
            .join(JoinType::LeftJoin, user_assignments())
            .join(JoinType::LeftJoin, assignment_group())
            .filter(account_is(account))
            .filter(users::Column::LoginKey.eq(login.key()))
            .select_also(accounts::Entity)
            .select_also(groups::Entity)
            .distinct()
            .all(&self.database)
            .await
            .map_err(failed("finding a login"))?;
        let mut rows = rows.into_iter();
        let Some((user_row, Some(account_row), first_group)) = rows.next() else {
            return Ok(None);
        };
        let mut group_rows: Vec<groups::Model> =
            first_group.into_iter().chain(rows.filter_map(|(_, _, group)| group)).collect();
        group_rows.sort_by(|left, right| (&left.name_key, &left.id).cmp(&(&right.name_key, &right.id)));
        group_rows.dedup_by(|left, right| left.id == right.id);

        let account = account_from_row(account_row)?;
        let user = user_from_row(&user_row, account.owner_user_id)?;
        let password_hash = password_hash_from_row(&user_row);
        let ip_allowlist = ip_allowlist_from_row(&user_row)?;
        let groups = group_rows.into_iter().map(membership_from_row).collect::<Result<_, _>>()?;
        let password_set_at = user_row.password_changed_at;
        Ok(Some(LoginCandidate { account, user, password_hash, password_set_at, groups, ip_allowlist }))
    }

    #[tracing::instrument(name = "directory_store.reserve_login_attempt", skip_all, fields(%user_id))]
    async fn reserve_login_attempt(
        &self,
        account_id: AccountId,
        user_id: UserId,
        now: DateTime<Utc>,
        policy: LockoutPolicy,
    ) -> Result<AttemptReservation, DomainError> {
        let this_user = user_of_account(account_id, user_id);
        let backend = self.database.get_database_backend();
        let counted = counted_statement(this_user.clone(), policy);
        let written =
            self.database.execute(backend.build(&counted)).await.map_err(failed("counting a login attempt"))?;
        if written.rows_affected() == 1 {
            return Ok(AttemptReservation::Allowed);
        }
        // Locked, at the limit's edge, or no such user: the whole rule,
        // under the row's lock.
        let Some((transaction, state)) = self.begin_lockout_write(this_user.clone()).await? else {
            return Err(user_not_found());
        };
        let (next, reservation) = policy.reserve(state, storable_time(now));
        if next != state {
            write_lockout(&transaction, this_user, next).await?;
        }
        transaction.commit().await.map_err(failed("committing a login reservation"))?;
        if let AttemptReservation::Locked { until } = reservation {
            tracing::debug!(%until, "credential locked");
        }
        Ok(reservation)
    }

    #[tracing::instrument(name = "directory_store.release_login_attempt", skip_all, fields(%user_id))]
    async fn release_login_attempt(&self, account_id: AccountId, user_id: UserId) -> Result<(), DomainError> {
        let backend = self.database.get_database_backend();
        let statement = release_statement(user_of_account(account_id, user_id));
        self.database.execute(backend.build(&statement)).await.map_err(failed("releasing a login attempt"))?;
        Ok(())
    }

    #[tracing::instrument(
        name = "directory_store.record_login",
        skip_all,
        fields(outcome = attempt.outcome.as_str(), reason = attempt.reason)
    )]
    async fn record_login(&self, attempt: &LoginAttempt, context: &RequestContext) -> Result<(), DomainError> {
        let now = self.now();
        let changes = json!({ "login_name": attempt.login_name });
        let (AuditOutcome::Success, Some(user_id)) = (attempt.outcome, attempt.user_id) else {
            // A failure only appends its event: one statement, atomic alone.
            let record = login_record(attempt, changes, now);
            append_audit_event(&self.database, record, context).await.map_err(failed("auditing a login"))?;
            return Ok(());
        };
        match (self.database.get_database_backend(), attempt.account_id) {
            (DatabaseBackend::Postgres, Some(account_id)) => {
                let statement = postgres_success_statement(attempt, account_id, user_id, changes, now, context);
                self.database.execute(statement).await.map_err(failed("recording a login"))?;
                Ok(())
            }
            _ => self.record_success_in_transaction(attempt, user_id, changes, now, context).await,
        }
    }

    #[tracing::instrument(name = "directory_store.upgrade_password_hash", skip_all, fields(%user_id))]
    async fn upgrade_password_hash(
        &self,
        account_id: AccountId,
        user_id: UserId,
        verified: &PasswordHash,
        upgraded: &PasswordHash,
        context: &RequestContext,
    ) -> Result<bool, DomainError> {
        let now = self.now();
        let id = user_id.to_string();
        let transaction = self.database.begin().await.map_err(failed("starting a password rehash"))?;
        // Compare-and-set in one statement: the row's write lock orders it
        // against a concurrent password change, and after one committed the
        // old hash no longer matches, so the change wins.
        let replaced = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(upgraded.as_phc().to_owned()))
            .filter(users::Column::Id.eq(id.as_str()))
            .filter(users::Column::AccountId.eq(account_id.to_string()))
            .filter(users::Column::PasswordHash.eq(verified.as_phc()))
            .exec(&transaction)
            .await
            .map_err(failed("upgrading a password hash"))?;
        if replaced.rows_affected == 0 {
            // Dropping the transaction rolls it back; nothing was written.
            return Ok(false);
        }
        let login_name = users::Entity::find_by_id(id.as_str())
            .one(&transaction)
            .await
            .map_err(failed("reading a rehashed user"))?
            .map(|row| row.login_name);
        // R9: which parameters, never a hash or a salt.
        let mut changes = Changes::new();
        changes
            .note("password", "rehashed")
            .note("hash_parameters", json!({ "before": verified.cost_summary(), "after": upgraded.cost_summary() }));
        let target = AuditTarget { kind: "user", id: Some(id), name: login_name };
        audit_change(&transaction, Some(account_id), "user.password_rehash", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a password rehash"))?;
        Ok(true)
    }
}
