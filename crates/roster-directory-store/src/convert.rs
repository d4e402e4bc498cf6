//! Rows to domain types and back, by hand, in one place. A stored value that
//! no longer parses is an internal error naming the column, never a panic.

use chrono::{DateTime, SubsecRound, Utc};
use roster_domain::account::{Account, BillingLevel, User, UserStatus};
use roster_domain::ids::{AccountId, GroupId, UserId};
use roster_domain::names::{AccountSlug, DisplayName, EmailAddress, LoginName};
use roster_domain::password::PasswordHash;
use roster_domain::repository::GroupMembership;
use roster_domain::DomainError;
use uuid::Uuid;

use crate::entity::{accounts, groups, users};
use crate::error::corrupt_row;

/// Both backends keep microseconds; values handed back to callers are
/// truncated the same way so that they equal what a later read returns.
pub(crate) fn storable_time(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(6)
}

fn parse_uuid(table: &'static str, column: &str, text: &str) -> Result<Uuid, DomainError> {
    Uuid::parse_str(text).map_err(|error| corrupt_row(table, column, error))
}

fn parse_display_name(table: &'static str, column: &str, text: &str) -> Result<DisplayName, DomainError> {
    DisplayName::parse(column, text).map_err(|violation| corrupt_row(table, column, violation))
}

/// An `accounts` row as a domain [`Account`].
pub(crate) fn account_from_row(row: accounts::Model) -> Result<Account, DomainError> {
    const TABLE: &str = "accounts";
    Ok(Account {
        id: AccountId::from_uuid(parse_uuid(TABLE, "id", &row.id)?),
        slug: AccountSlug::parse_any("slug", &row.slug).map_err(|violation| corrupt_row(TABLE, "slug", violation))?,
        display_name: parse_display_name(TABLE, "display_name", &row.display_name)?,
        owner_user_id: UserId::from_uuid(parse_uuid(TABLE, "owner_user_id", &row.owner_user_id)?),
        billing_level: BillingLevel::parse_stored(&row.billing_level)
            .ok_or_else(|| corrupt_row(TABLE, "billing_level", &row.billing_level))?,
        is_platform: row.is_platform,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A `users` row as a domain [`User`]; `owner_user_id` is its account's
/// owner. The password hash stays behind (see [`password_hash_from_row`]).
pub(crate) fn user_from_row(row: &users::Model, owner_user_id: UserId) -> Result<User, DomainError> {
    const TABLE: &str = "users";
    let id = UserId::from_uuid(parse_uuid(TABLE, "id", &row.id)?);
    Ok(User {
        id,
        account_id: AccountId::from_uuid(parse_uuid(TABLE, "account_id", &row.account_id)?),
        login_name: LoginName::from_stored(row.login_name.clone(), row.login_key.clone()),
        email: EmailAddress::parse("email", &row.email).map_err(|violation| corrupt_row(TABLE, "email", violation))?,
        display_name: parse_display_name(TABLE, "display_name", &row.display_name)?,
        status: UserStatus::parse_stored(&row.status).ok_or_else(|| corrupt_row(TABLE, "status", &row.status))?,
        is_owner: id == owner_user_id,
        must_change_password: row.must_change_password,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The stored hash. A user without a password yet gets an empty hash, which
/// no password verifies against.
pub(crate) fn password_hash_from_row(row: &users::Model) -> PasswordHash {
    PasswordHash::from_stored(row.password_hash.clone().unwrap_or_default())
}

/// A `groups` row as the login check needs it.
pub(crate) fn membership_from_row(row: groups::Model) -> Result<GroupMembership, DomainError> {
    Ok(GroupMembership {
        group_id: GroupId::from_uuid(parse_uuid("groups", "id", &row.id)?),
        name: row.name,
        is_template: row.is_template,
    })
}
