//! Bulk loading straight into the directory's PostgreSQL database.
//!
//! A million users are not created through gRPC: after the directory
//! created the schema and the account (sign-up, so the owner exists, R1),
//! rows go in with `generate_series` in a handful of statements. Every
//! invariant holds: users belong to the account (the owner foreign key is
//! untouched), login names and emails are unique (`u<n>`), assignments and
//! overrides reference existing users, groups, stores and catalog entries
//! of the same account (the schema's foreign keys check them).
//!
//! Identifiers are deterministic: `<prefix>-0000-4000-8000-<n as 12 hex>`,
//! so the benchmark can name user `n` without reading it back, and ids sort
//! in `n` order (as v7 ids sort in creation order).

use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// One kind of row's identifiers: an 8-hex-digit prefix per kind and
/// account.
#[derive(Debug, Clone, Copy)]
pub struct IdSpace(pub &'static str);

impl IdSpace {
    /// The id of row `n`, as Rust text.
    pub fn id(&self, n: u64) -> String {
        format!("{}-0000-4000-8000-{n:012x}", self.0)
    }

    /// The id of row `expression`, as SQL text.
    fn sql(&self, expression: &str) -> String {
        format!("('{}-0000-4000-8000-' || lpad(to_hex({expression}), 12, '0'))", self.0)
    }
}

/// The shape of one loaded account.
#[derive(Debug, Clone)]
pub struct AccountShape {
    pub account_id: String,
    pub slug: String,
    pub users: u64,
    pub stores: u64,
    pub groups: u64,
    /// Groups form chains of this length (1: every group is a root).
    pub chain: u64,
    pub assignments_per_user: u64,
    /// Every `override_every`-th user gets two overrides (0: none).
    pub override_every: u64,
    pub user_ids: IdSpace,
    pub group_ids: IdSpace,
    pub store_ids: IdSpace,
    pub assignment_ids: IdSpace,
}

async fn execute(database: &DatabaseConnection, what: &str, sql: String) -> anyhow::Result<u64> {
    let started = Instant::now();
    let result = database
        .execute(Statement::from_string(database.get_database_backend(), sql))
        .await
        .map_err(|error| anyhow::anyhow!("loading {what}: {error}"))?;
    eprintln!("  loaded {} {what} in {:.1} s", result.rows_affected(), started.elapsed().as_secs_f64());
    Ok(result.rows_affected())
}

/// The catalog permissions a group or an override may carry (neither
/// owner-only nor platform-level), store-level ones first.
pub async fn grantable_permissions(database: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let rows = database
        .query_all(Statement::from_string(
            database.get_database_backend(),
            "SELECT name FROM permissions WHERE NOT owner_only AND scope_level <> 'platform' \
             ORDER BY scope_level DESC, name",
        ))
        .await?;
    rows.iter().map(|row| Ok(row.try_get_by_index::<String>(0)?)).collect()
}

fn sql_array(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|value| format!("'{}'", value.replace('\'', "''"))).collect();
    format!("(ARRAY[{}]::text[])", quoted.join(","))
}

/// Loads stores, groups (with two permissions each), users, role
/// assignments and overrides into an existing account, then refreshes the
/// planner's statistics.
pub async fn load_account(database: &DatabaseConnection, shape: &AccountShape) -> anyhow::Result<()> {
    let permissions = grantable_permissions(database).await?;
    anyhow::ensure!(!permissions.is_empty(), "the catalog has no grantable permission");
    let names = sql_array(&permissions);
    let count = permissions.len();
    let account = &shape.account_id;
    let slug = &shape.slug;
    execute(
        database,
        "stores",
        format!(
            "INSERT INTO stores (id, account_id, name, is_public, created_at, updated_at) \
             SELECT {id}, '{account}', 'Store ' || n, n % 10 = 0, now(), now() \
             FROM generate_series(0, {last}) AS n",
            id = shape.store_ids.sql("n"),
            last = shape.stores - 1,
        ),
    )
    .await?;
    let chain = shape.chain.max(1);
    execute(
        database,
        "groups",
        format!(
            "INSERT INTO \"groups\" (id, account_id, parent_id, name, name_key, is_template, badge_colour, \
             created_at, updated_at) \
             SELECT {id}, '{account}', CASE WHEN n % {chain} = 0 THEN NULL ELSE {parent} END, \
             'Bench group ' || n, 'bench group ' || n, FALSE, '#607D8B', now(), now() \
             FROM generate_series(0, {last}) AS n",
            id = shape.group_ids.sql("n"),
            parent = shape.group_ids.sql("n - 1"),
            last = shape.groups - 1,
        ),
    )
    .await?;
    execute(
        database,
        "group permissions",
        format!(
            "INSERT INTO group_permissions (group_id, permission_name) \
             SELECT {id}, {names}[1 + ((n * 7 + k * 13) % {count})] \
             FROM generate_series(0, {last}) AS n, generate_series(0, 1) AS k ON CONFLICT DO NOTHING",
            id = shape.group_ids.sql("n"),
            last = shape.groups - 1,
        ),
    )
    .await?;
    execute(
        database,
        "users",
        format!(
            "INSERT INTO users (id, account_id, login_name, login_key, email, email_key, display_name, status, \
             must_change_password, created_at, updated_at) \
             SELECT {id}, '{account}', 'u' || n, 'u' || n, 'u' || n || '@{slug}.example', \
             'u' || n || '@{slug}.example', 'User ' || n, 'active', FALSE, now(), now() \
             FROM generate_series(0, {last}) AS n",
            id = shape.user_ids.sql("n"),
            last = shape.users - 1,
        ),
    )
    .await?;
    let slots = shape.assignments_per_user;
    let account_slots = if slots > 2 { 2 } else { 0 };
    let store = shape.store_ids.sql(&format!("((n + k * 31) % {})", shape.stores));
    execute(
        database,
        "role assignments",
        format!(
            "INSERT INTO role_assignments (id, account_id, user_id, group_id, store_id, scope_key, created_at) \
             SELECT {id}, '{account}', {user}, {group}, \
             CASE WHEN k < {account_slots} THEN NULL ELSE {store} END, \
             CASE WHEN k < {account_slots} THEN 'account' ELSE {store} END, now() \
             FROM generate_series(0, {last}) AS n, generate_series(0, {last_slot}) AS k ON CONFLICT DO NOTHING",
            id = shape.assignment_ids.sql(&format!("n * {slots} + k")),
            user = shape.user_ids.sql("n"),
            group = shape.group_ids.sql(&format!("((n * 7 + k * 1009) % {})", shape.groups)),
            last = shape.users - 1,
            last_slot = slots - 1,
        ),
    )
    .await?;
    if shape.override_every > 0 {
        execute(
            database,
            "overrides",
            format!(
                "INSERT INTO user_permission_overrides (user_id, permission_name, effect, scope_key) \
                 SELECT {user}, {names}[1 + (n % {count})], 'grant', 'account' \
                 FROM generate_series(0, {last}, {every}) AS n \
                 UNION ALL \
                 SELECT {user}, {names}[1 + ((n + 1) % {count})], 'revoke', {store} \
                 FROM generate_series(0, {last}, {every}) AS n",
                user = shape.user_ids.sql("n"),
                store = shape.store_ids.sql(&format!("((n + 62) % {})", shape.stores)),
                last = shape.users - 1,
                every = shape.override_every,
            ),
        )
        .await?;
    }
    // Written behind the directory's back, so bumped as every write of the
    // account bumps it: a replica that cached the account's access (the
    // owner's sign-up login does) must not keep answering from before the
    // load (see the directory's `access_cache`).
    database
        .execute_unprepared(&format!(
            "UPDATE accounts SET access_version = access_version + 1 WHERE id = '{}'",
            shape.account_id
        ))
        .await?;
    // Vacuumed as well as analysed: left to autovacuum, freshly loaded
    // millions of rows get vacuumed while the next measurement runs, on the
    // same cores. Measurements start from the steady state a database
    // reaches on its own.
    database.execute_unprepared("VACUUM (ANALYZE)").await?;
    // And checkpointed: otherwise the checkpointer writes the load's dirty
    // pages out during the first measurement that follows (the no-op
    // reference, usually), on the same cores. Needs a superuser or
    // pg_checkpoint; on a server of your own without either, skipped.
    if let Err(error) = database.execute_unprepared("CHECKPOINT").await {
        eprintln!("  CHECKPOINT after loading skipped: {error}");
    }
    Ok(())
}
