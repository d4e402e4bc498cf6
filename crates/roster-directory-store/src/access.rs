//! [`AccessRepository`]: what authorization reads on every administrative
//! call, in a handful of queries whatever the size of the account.

use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};

use futures::TryStreamExt;

use roster_domain::access::{GroupNode, GroupTree, PermissionCatalog, UserGrants};
use roster_domain::account::UserStatus;
use roster_domain::ids::{AccountId, UserId};
use roster_domain::names::AccountKey;
use roster_domain::repository::{AccessRepository, AccessSnapshot, PrincipalFacts, UserAccessFacts};
use roster_domain::DomainError;
use sea_orm::sea_query::Query;
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IsolationLevel, PaginatorTrait,
    QueryFilter, QuerySelect, Statement, TransactionTrait,
};

use crate::accounts::find_account_row;
use crate::convert::{
    account_from_row, assignment_from_columns, data_filters_from_text, group_id_from, override_from_columns,
    permission_spec_from_row, user_id_from, user_status_from,
};
use crate::entity::{groups, permissions, role_assignments, user_permission_overrides, users};
use crate::error::{account_not_found, failed};
use crate::group_rows::{load_group_assignable, load_group_permissions};
use crate::store::SeaDirectoryStore;

/// A user's row (status, data filters, their account's owner and access
/// version), role assignments and permission overrides, told apart by
/// `kind`. `$1` is the user, `$2` their account; SQLite reads them as `?1`
/// and `?2`.
const PRINCIPAL_FACTS: &str = "\
SELECT 'user' AS kind, users.status AS first, users.data_filters AS second, accounts.owner_user_id AS third, \
accounts.access_version AS version \
FROM users JOIN accounts ON accounts.id = users.account_id WHERE users.id = $1 AND users.account_id = $2 \
UNION ALL \
SELECT 'assignment', group_id, scope_key, NULL, NULL FROM role_assignments WHERE user_id = $1 \
UNION ALL \
SELECT 'override', permission_name, effect, scope_key, NULL FROM user_permission_overrides WHERE user_id = $1";

/// The name key of the group anonymous principals get (R34).
const ANONYMOUS_GROUP_KEY: &str = "anonymous";

#[async_trait]
impl AccessRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.access_snapshot", skip_all, fields(account.id = %account_id))]
    async fn access_snapshot(&self, account_id: AccountId) -> Result<AccessSnapshot, DomainError> {
        let account_row =
            find_account_row(&self.database, &AccountKey::Id(account_id)).await?.ok_or_else(account_not_found)?;
        let catalog = permissions::Entity::find()
            .all(&self.database)
            .await
            .map_err(failed("loading the permission catalog"))?
            .into_iter()
            .map(permission_spec_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let group_rows = groups::Entity::find()
            .filter(groups::Column::AccountId.eq(account_row.id.as_str()))
            .all(&self.database)
            .await
            .map_err(failed("loading groups"))?;
        let ids: Vec<String> = group_rows.iter().map(|row| row.id.clone()).collect();
        let (mut permissions, mut assignable) = if ids.is_empty() {
            Default::default()
        } else {
            (load_group_permissions(&self.database, &ids).await?, load_group_assignable(&self.database, &ids).await?)
        };
        let mut anonymous_group = None;
        let mut nodes = Vec::with_capacity(group_rows.len());
        for row in group_rows {
            let id = group_id_from("groups", "id", &row.id)?;
            if row.name_key == ANONYMOUS_GROUP_KEY {
                anonymous_group = Some(id);
            }
            nodes.push(GroupNode {
                id,
                parent_id: row
                    .parent_id
                    .as_deref()
                    .map(|parent| group_id_from("groups", "parent_id", parent))
                    .transpose()?,
                name: row.name,
                is_template: row.is_template,
                permissions: permissions.remove(&id).unwrap_or_default(),
                assignable: assignable.remove(&id).unwrap_or_default(),
            });
        }
        Ok(AccessSnapshot {
            account: account_from_row(account_row)?,
            catalog: PermissionCatalog::new(catalog),
            groups: GroupTree::new(nodes),
            anonymous_group,
        })
    }

    #[tracing::instrument(name = "directory_store.user_grants", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn user_grants(&self, account_id: AccountId, user_id: UserId) -> Result<Option<UserGrants>, DomainError> {
        Ok(self.principal_facts(account_id, user_id).await?.map(|facts| facts.grants))
    }

    #[tracing::instrument(name = "directory_store.principal_facts", skip_all, fields(account.id = %account_id, user.id = %user_id))]
    async fn principal_facts(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Option<PrincipalFacts>, DomainError> {
        // One statement: one round trip per login instead of four, and one
        // snapshot of the account's access version and the user's row,
        // assignments and overrides (issue 6, scenario 2).
        let backend = self.database.get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => PRINCIPAL_FACTS.to_owned(),
            _ => PRINCIPAL_FACTS.replace('$', "?"),
        };
        let rows = self
            .database
            .query_all(Statement::from_sql_and_values(
                backend,
                sql,
                [user_id.to_string().into(), account_id.to_string().into()],
            ))
            .await
            .map_err(failed("reading a user's access facts"))?;
        let column = |row: &sea_orm::QueryResult, name: &str| {
            row.try_get::<Option<String>>("", name).map_err(failed("reading a user's access facts"))
        };
        let mut user = None;
        // Sets, so the answer is ordered and free of duplicates as
        // `user_grants` answers it.
        let (mut assignments, mut overrides) = (BTreeSet::new(), BTreeSet::new());
        for row in &rows {
            let (first, second, third) = (column(row, "first")?, column(row, "second")?, column(row, "third")?);
            let (Some(first), Some(second)) = (first, second) else {
                return Err(DomainError::internal("reading a user's access facts", "a null column"));
            };
            match (column(row, "kind")?.as_deref(), third) {
                (Some("user"), owner_user_id) => {
                    let version = row
                        .try_get::<Option<i64>>("", "version")
                        .map_err(failed("reading a user's access facts"))?
                        .ok_or_else(|| DomainError::internal("reading a user's access facts", "no access version"))?;
                    user = Some((first, second, owner_user_id, version));
                }
                (Some("assignment"), _) => {
                    assignments.insert(assignment_from_columns(&first, &second)?);
                }
                (Some("override"), Some(scope_key)) => {
                    overrides.insert(override_from_columns(&first, &second, &scope_key)?);
                }
                _ => return Err(DomainError::internal("reading a user's access facts", "a row of no known kind")),
            }
        }
        let Some((status, data_filters, owner_user_id, access_version)) = user else {
            return Ok(None);
        };
        Ok(Some(PrincipalFacts {
            grants: UserGrants {
                is_owner: owner_user_id.as_deref() == Some(user_id.to_string().as_str()),
                assignments: assignments.into_iter().collect(),
                overrides: overrides.into_iter().collect(),
            },
            blocked: user_status_from(&status)? == UserStatus::Blocked,
            data_filters: data_filters_from_text(&data_filters)?,
            access_version,
        }))
    }

    #[tracing::instrument(name = "directory_store.access_version", skip_all, fields(account.id = %account_id))]
    async fn access_version(&self, account_id: AccountId) -> Result<Option<i64>, DomainError> {
        let backend = self.database.get_database_backend();
        let row = self
            .database
            .query_one(Statement::from_sql_and_values(
                backend,
                match backend {
                    DatabaseBackend::Postgres => "SELECT access_version FROM accounts WHERE id = $1",
                    _ => "SELECT access_version FROM accounts WHERE id = ?",
                },
                [account_id.to_string().into()],
            ))
            .await
            .map_err(failed("reading the access version"))?;
        row.map(|row| row.try_get_by_index::<i64>(0)).transpose().map_err(failed("reading the access version"))
    }

    #[tracing::instrument(name = "directory_store.all_user_access", skip_all, fields(account.id = %account_id))]
    async fn all_user_access(
        &self,
        account_id: AccountId,
        at_most: u64,
    ) -> Result<Option<Vec<UserAccessFacts>>, DomainError> {
        // One snapshot for the three reads (PostgreSQL: REPEATABLE READ; a
        // SQLite read transaction is one already).
        let transaction = match self.database.get_database_backend() {
            DatabaseBackend::Postgres => {
                self.database.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await
            }
            _ => self.database.begin().await,
        }
        .map_err(failed("starting a read"))?;
        let Some(account) = find_account_row(&transaction, &AccountKey::Id(account_id)).await? else {
            return Ok(None);
        };
        let id = account_id.to_string();
        let count = users::Entity::find()
            .filter(users::Column::AccountId.eq(id.as_str()))
            .count(&transaction)
            .await
            .map_err(failed("counting users"))?;
        if count > at_most {
            return Ok(None);
        }
        // Rows are parsed as they arrive: an account of 100,000 users has a
        // million assignments, which as rows would take far more memory
        // than as grants.
        let mut facts: HashMap<UserId, UserAccessFacts> = HashMap::with_capacity(count as usize);
        let mut breather = Breather::default();
        let mut user_rows = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::Status)
            .filter(users::Column::AccountId.eq(id.as_str()))
            .into_tuple::<(String, String)>()
            .stream(&transaction)
            .await
            .map_err(failed("loading users"))?;
        while let Some((user, status)) = user_rows.try_next().await.map_err(failed("loading users"))? {
            breather.row().await;
            let user_id = user_id_from("users", "id", &user)?;
            let blocked = user_status_from(&status)? == UserStatus::Blocked;
            let grants = UserGrants { is_owner: account.owner_user_id == user, ..UserGrants::default() };
            facts.insert(user_id, UserAccessFacts { user_id, grants, blocked });
        }
        // A stream holds the transaction's connection until it is dropped.
        drop(user_rows);
        let mut assignment_rows = role_assignments::Entity::find()
            .select_only()
            .column(role_assignments::Column::UserId)
            .column(role_assignments::Column::GroupId)
            .column(role_assignments::Column::ScopeKey)
            .filter(role_assignments::Column::AccountId.eq(id.as_str()))
            .into_tuple::<(String, String, String)>()
            .stream(&transaction)
            .await
            .map_err(failed("loading role assignments"))?;
        while let Some((user, group, scope)) =
            assignment_rows.try_next().await.map_err(failed("loading role assignments"))?
        {
            breather.row().await;
            let user_id = user_id_from("role_assignments", "user_id", &user)?;
            let assignment = assignment_from_columns(&group, &scope)?;
            if let Some(user) = facts.get_mut(&user_id) {
                user.grants.assignments.push(assignment);
            }
        }
        drop(assignment_rows);
        let account_users = Query::select()
            .column(users::Column::Id)
            .from(users::Entity)
            .and_where(users::Column::AccountId.eq(id.as_str()))
            .to_owned();
        let mut override_rows = user_permission_overrides::Entity::find()
            .select_only()
            .column(user_permission_overrides::Column::UserId)
            .column(user_permission_overrides::Column::PermissionName)
            .column(user_permission_overrides::Column::Effect)
            .column(user_permission_overrides::Column::ScopeKey)
            .filter(user_permission_overrides::Column::UserId.in_subquery(account_users))
            .into_tuple::<(String, String, String, String)>()
            .stream(&transaction)
            .await
            .map_err(failed("loading permission overrides"))?;
        while let Some((user, permission, effect, scope)) =
            override_rows.try_next().await.map_err(failed("loading permission overrides"))?
        {
            breather.row().await;
            let user_id = user_id_from("user_permission_overrides", "user_id", &user)?;
            let permission_override = override_from_columns(&permission, &effect, &scope)?;
            if let Some(user) = facts.get_mut(&user_id) {
                user.grants.overrides.push(permission_override);
            }
        }
        drop(override_rows);
        transaction.commit().await.map_err(failed("ending a read"))?;
        for user in facts.values_mut() {
            user.grants.assignments.shrink_to_fit();
            user.grants.overrides.shrink_to_fit();
        }
        Ok(Some(facts.into_values().collect()))
    }

    fn access_freshness(&self) -> Option<std::sync::Arc<roster_domain::freshness::AccessFreshness>> {
        self.listening_freshness()
    }
}

/// Rows arrive many to a socket read, and parsing a million of them takes
/// about a second of one worker: a long load yields every so many rows, so
/// that requests on the same worker wait milliseconds, not the whole load.
/// Not at every row (Tokio's coop budget): under load the load would then
/// queue behind every request at each row and take many times longer.
#[derive(Default)]
struct Breather {
    rows: u32,
}

impl Breather {
    const ROWS_BETWEEN_YIELDS: u32 = 10_000;

    async fn row(&mut self) {
        self.rows += 1;
        if self.rows.is_multiple_of(Self::ROWS_BETWEEN_YIELDS) {
            tokio::task::yield_now().await;
        }
    }
}
