//! Reading users with everything administration shows: [`UserProfile`]s one
//! at a time or a page at a time, their grants loaded in batch.

use chrono::{DateTime, Utc};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::paging::{Page, PageRequest};
use roster_domain::users::{UserFilter, UserProfile};
use roster_domain::DomainError;
use sea_orm::sea_query::{Condition, Expr, Func, LikeExpr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect};

use crate::accounts::find_account_row;
use crate::convert::{data_filters_from_row, ip_allowlist_from_row, user_from_row};
use crate::entity::{role_assignments, users};
use crate::error::{failed, invalid_page_token};
use crate::grants::load_grants;
use crate::invitations::latest_invitations;
use crate::store::SeaDirectoryStore;

/// The character that escapes `%`, `_` and itself in `LIKE` patterns; not a
/// backslash, whose quoting differs between the backends.
const LIKE_ESCAPE: char = '!';

/// A user row of `account_id`.
pub(crate) async fn find_user_row(
    connection: &impl ConnectionTrait,
    account_id: &str,
    user_id: &str,
) -> Result<Option<users::Model>, DomainError> {
    users::Entity::find_by_id(user_id)
        .filter(users::Column::AccountId.eq(account_id))
        .one(connection)
        .await
        .map_err(failed("finding a user"))
}

/// `rows` as profiles, in order, with their grants (two more queries in
/// all); `owner_user_id` is their account's owner.
pub(crate) async fn profiles_from_rows(
    connection: &impl ConnectionTrait,
    owner_user_id: UserId,
    rows: Vec<users::Model>,
    now: DateTime<Utc>,
) -> Result<Vec<UserProfile>, DomainError> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    // Independent reads: over the pool they run side by side (a
    // transaction runs them one after the other).
    let (mut grants, mut invitations) =
        tokio::try_join!(load_grants(connection, &ids), latest_invitations(connection, &ids, now))?;
    rows.iter()
        .map(|row| {
            let user = user_from_row(row, owner_user_id)?;
            Ok(UserProfile {
                ip_allowlist: ip_allowlist_from_row(row)?,
                data_filters: data_filters_from_row(row)?,
                assignments: grants.assignments.remove(&user.id).unwrap_or_default(),
                overrides: grants.overrides.remove(&user.id).unwrap_or_default(),
                last_login_at: row.last_login_at,
                invitation: invitations.remove(&user.id),
                user,
            })
        })
        .collect()
}

/// One profile, read through `connection` (the pool, or a transaction that
/// wants to return what it wrote).
pub(crate) async fn load_profile(
    connection: &impl ConnectionTrait,
    owner_user_id: UserId,
    row: users::Model,
    now: DateTime<Utc>,
) -> Result<UserProfile, DomainError> {
    let mut profiles = profiles_from_rows(connection, owner_user_id, vec![row], now).await?;
    profiles.pop().ok_or_else(|| DomainError::internal("loading a user profile", "the profile vanished"))
}

/// `text` as a case-insensitive substring pattern, its wildcards escaped.
fn substring_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.to_lowercase().chars() {
        if matches!(character, '%' | '_') || character == LIKE_ESCAPE {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

fn like(pattern: &str) -> LikeExpr {
    LikeExpr::new(pattern).escape(LIKE_ESCAPE)
}

/// The users of a role assignment matching `column = value`.
fn assigned_users(column: role_assignments::Column, value: String) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(role_assignments::Column::UserId)
        .from(role_assignments::Entity)
        .and_where(Expr::col(column).eq(value))
        .to_owned()
}

/// The page size to use: within `1..=MAX_SIZE`.
pub(crate) fn page_size(page: &PageRequest) -> u64 {
    u64::from(page.size.clamp(1, PageRequest::MAX_SIZE))
}

impl SeaDirectoryStore {
    /// `UserRepository::user_profile`.
    pub(crate) async fn read_user_profile(
        &self,
        account_id: AccountId,
        user_id: UserId,
    ) -> Result<Option<UserProfile>, DomainError> {
        let Some(account) = find_account_row(&self.database, &roster_domain::names::AccountKey::Id(account_id)).await?
        else {
            return Ok(None);
        };
        let Some(row) = find_user_row(&self.database, &account.id, &user_id.to_string()).await? else {
            return Ok(None);
        };
        let owner = crate::convert::user_id_from("accounts", "owner_user_id", &account.owner_user_id)?;
        load_profile(&self.database, owner, row, self.now()).await.map(Some)
    }

    /// `UserRepository::list_users`: keyset pagination in id order.
    pub(crate) async fn read_user_page(
        &self,
        account_id: AccountId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<UserProfile>, DomainError> {
        let after = page
            .after
            .as_deref()
            .map(|cursor| UserId::parse("page_token", cursor).map_err(|_| invalid_page_token()))
            .transpose()?;
        let size = page_size(page);
        let mut query = users::Entity::find().filter(users::Column::AccountId.eq(account_id.to_string()));
        if let Some(status) = filter.status {
            query = query.filter(users::Column::Status.eq(status.as_str()));
        }
        // The most selective assignment filter drives the page: the join
        // walks its (store_id | group_id, user_id) index from the cursor in
        // id order and stops after a page, however many members the store
        // or group has (issue 6); the other one, if any, is a semi-join.
        let assignment_filters = [
            filter.store_id.map(|store_id| (role_assignments::Column::StoreId, store_id.to_string())),
            filter.group_id.map(|group_id| (role_assignments::Column::GroupId, group_id.to_string())),
        ];
        let mut assignment_filters = assignment_filters.into_iter().flatten().peekable();
        if assignment_filters.peek().is_none() {
            // The account's users in id order are a range of the (account_id,
            // id) index. Said as a row comparison, which only that index can
            // serve, so that the planner starts there rather than walking the
            // primary key past every other account's users, which on the
            // first page (no `id >` bound) it otherwise does when one account
            // holds most users (issue 6).
            let from = after.as_ref().map(ToString::to_string).unwrap_or_default();
            query = query.filter(
                Expr::tuple([
                    Expr::col((users::Entity, users::Column::AccountId)).into(),
                    Expr::col((users::Entity, users::Column::Id)).into(),
                ])
                .gt(Expr::tuple([Expr::val(account_id.to_string()).into(), Expr::val(from).into()])),
            );
        }
        if let Some((column, value)) = assignment_filters.next() {
            let assigned = role_assignments::Entity::belongs_to(users::Entity)
                .from(role_assignments::Column::UserId)
                .to(users::Column::Id)
                .into();
            query = query
                .join_rev(JoinType::InnerJoin, assigned)
                .filter(Expr::col((role_assignments::Entity, column)).eq(value))
                // A user assigned several times in the store or group is
                // listed once.
                .group_by(users::Column::Id);
            if let Some(after) = &after {
                query = query.filter(role_assignments::Column::UserId.gt(after.to_string()));
            }
        }
        for (column, value) in assignment_filters {
            query = query.filter(users::Column::Id.in_subquery(assigned_users(column, value)));
        }
        if let Some(text) = filter.text.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
            let pattern = substring_pattern(text);
            query = query.filter(
                Condition::any()
                    .add(Expr::col((users::Entity, users::Column::LoginKey)).like(like(&pattern)))
                    .add(Expr::col((users::Entity, users::Column::EmailKey)).like(like(&pattern)))
                    .add(
                        Expr::expr(Func::lower(Expr::col((users::Entity, users::Column::DisplayName))))
                            .like(like(&pattern)),
                    ),
            );
        }
        if let Some(after) = after {
            query = query.filter(users::Column::Id.gt(after.to_string()));
        }
        // The account row (for its owner) and the page do not depend on each
        // other: one round trip for both.
        let account_key = roster_domain::names::AccountKey::Id(account_id);
        let (account, rows) = tokio::try_join!(find_account_row(&self.database, &account_key), async {
            query
                .order_by_asc(users::Column::Id)
                .limit(size + 1)
                .all(&self.database)
                .await
                .map_err(failed("listing users"))
        })?;
        let Some(account) = account else {
            return Ok(Page { items: Vec::new(), next: None });
        };
        let mut rows = rows;
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        let next = if more { rows.last().map(|row| row.id.clone()) } else { None };
        let owner = crate::convert::user_id_from("accounts", "owner_user_id", &account.owner_user_id)?;
        let items = profiles_from_rows(&self.database, owner, rows, self.now()).await?;
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_in_search_text_match_literally() {
        assert_eq!(substring_pattern("50%_Off!"), "%50!%!_off!!%");
    }
}
