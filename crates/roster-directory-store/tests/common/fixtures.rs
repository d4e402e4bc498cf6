//! Inputs and raw-SQL helpers shared by the suite.

use roster_directory_store::SeaDirectoryStore;
use roster_domain::account::{BillingLevel, NewAccount, NewOwner};
use roster_domain::audit::RequestContext;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::{AccountSlug, DisplayName, EmailAddress, LoginName};
use roster_domain::password::PasswordHash;
use roster_domain::presets::Presets;
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, TransactionTrait};

/// A stand-in hash: storage never verifies it.
pub const FAKE_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$ZmFrZWhhc2hmYWtlaGFzaA";

pub fn fake_hash() -> PasswordHash {
    PasswordHash::from_stored(FAKE_HASH.to_owned())
}

pub fn presets() -> Presets {
    Presets::builtin()
}

pub fn new_owner(login: &str, email: &str) -> NewOwner {
    NewOwner {
        login_name: LoginName::parse("owner.login_name", login).unwrap(),
        email: EmailAddress::parse("owner.email", email).unwrap(),
        display_name: DisplayName::parse("owner.display_name", "Owner Person").unwrap(),
        password_hash: fake_hash(),
    }
}

pub fn new_account(slug: &str, login: &str, email: &str) -> NewAccount {
    NewAccount {
        slug: AccountSlug::parse("slug", slug).unwrap(),
        display_name: DisplayName::parse("display_name", &format!("{slug} ltd")).unwrap(),
        billing_level: BillingLevel::Store,
        owner: new_owner(login, email),
    }
}

/// A request context as the gRPC adapter would build it.
pub fn context() -> RequestContext {
    RequestContext {
        actor_id: None,
        actor_name: Some("sign-up form".to_owned()),
        client_address: Some("192.0.2.10".to_owned()),
        user_agent: Some("conformance-test/1".to_owned()),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
    }
}

fn statement(store: &SeaDirectoryStore, sql: &str) -> Statement {
    Statement::from_string(store.connection().get_database_backend(), sql.to_owned())
}

/// Rows of a raw query.
pub async fn query(store: &SeaDirectoryStore, sql: &str) -> Vec<QueryResult> {
    store.connection().query_all(statement(store, sql)).await.unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// `SELECT COUNT(*)` of a table.
pub async fn count(store: &SeaDirectoryStore, table: &str) -> i64 {
    let rows = query(store, &format!("SELECT COUNT(*) AS n FROM {table}")).await;
    rows[0].try_get::<i64>("", "n").unwrap()
}

/// Row counts of every table an account touches, for before/after checks.
pub async fn table_counts(store: &SeaDirectoryStore) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in [
        "accounts",
        "users",
        "\"groups\"",
        "group_permissions",
        "group_assignable",
        "role_assignments",
        "audit_events",
        "permissions",
    ] {
        counts.push((table, count(store, table).await));
    }
    counts
}

/// Runs `statements` in one transaction and commits. `Err` carries which step
/// failed: `("statement", error)` or `("commit", error)`.
pub async fn in_transaction(store: &SeaDirectoryStore, statements: &[String]) -> Result<(), (&'static str, DbErr)> {
    let transaction = store.connection().begin().await.map_err(|error| ("begin", error))?;
    for sql in statements {
        transaction.execute(statement(store, sql)).await.map_err(|error| ("statement", error))?;
    }
    transaction.commit().await.map_err(|error| ("commit", error))
}

/// An `INSERT` of a user, bypassing the repositories (ids are UUIDs and the
/// other values are test literals, so inlining them is safe).
pub fn insert_user_sql(account_id: AccountId, user_id: UserId, login: &str, email: &str, status: &str) -> String {
    let login = LoginName::parse("login_name", login).unwrap();
    let email = EmailAddress::parse("email", email).unwrap();
    format!(
        "INSERT INTO users (id, account_id, login_name, login_key, email, email_key, display_name, status, \
         password_hash, must_change_password, created_at, updated_at) VALUES ('{user_id}', '{account_id}', '{}', \
         '{}', '{}', '{}', 'Raw User', '{status}', '{FAKE_HASH}', FALSE, '2025-01-01T00:00:00+00:00', \
         '2025-01-01T00:00:00+00:00')",
        login.display(),
        login.key(),
        email.as_str(),
        email.key(),
    )
}

/// Inserts a user directly, in its own transaction.
pub async fn insert_user(
    store: &SeaDirectoryStore,
    account_id: AccountId,
    login: &str,
    email: &str,
    status: &str,
) -> UserId {
    let user_id = UserId::generate();
    in_transaction(store, &[insert_user_sql(account_id, user_id, login, email, status)])
        .await
        .unwrap_or_else(|(step, error)| panic!("inserting user {login} ({step}): {error}"));
    user_id
}

/// One stored audit event, as the suite checks it.
pub struct AuditRow {
    pub account_id: Option<String>,
    pub target_id: Option<String>,
    pub target_name: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub changes: serde_json::Value,
    pub actor_name: Option<String>,
    pub client_address: Option<String>,
    pub trace_id: Option<String>,
}

/// The audit events of `action`, oldest first.
pub async fn audit_rows(store: &SeaDirectoryStore, action: &str) -> Vec<AuditRow> {
    let rows = query(
        store,
        &format!(
            "SELECT account_id, target_id, target_name, outcome, reason, changes, actor_name, client_address, trace_id \
             FROM audit_events WHERE action = '{action}' ORDER BY occurred_at, id"
        ),
    )
    .await;
    rows.iter()
        .map(|row| AuditRow {
            account_id: row.try_get("", "account_id").unwrap(),
            target_id: row.try_get("", "target_id").unwrap(),
            target_name: row.try_get("", "target_name").unwrap(),
            outcome: row.try_get("", "outcome").unwrap(),
            reason: row.try_get("", "reason").unwrap(),
            changes: serde_json::from_str(&row.try_get::<String>("", "changes").unwrap()).unwrap(),
            actor_name: row.try_get("", "actor_name").unwrap(),
            client_address: row.try_get("", "client_address").unwrap(),
            trace_id: row.try_get("", "trace_id").unwrap(),
        })
        .collect()
}
