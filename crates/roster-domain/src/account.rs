//! Accounts and users as the domain sees them.

use chrono::{DateTime, Utc};

use crate::error::FieldViolation;
use crate::ids::{AccountId, UserId};
use crate::names::{AccountSlug, DisplayName, EmailAddress, LoginName};
use crate::password::PasswordHash;

/// Whether billing permissions hold account-wide or per store (R30).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BillingLevel {
    #[default]
    Account,
    Store,
}

impl BillingLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Store => "store",
        }
    }

    pub fn parse_stored(text: &str) -> Option<Self> {
        match text {
            "account" => Some(Self::Account),
            "store" => Some(Self::Store),
            _ => None,
        }
    }
}

/// A tenant, or the platform operators' own account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub slug: AccountSlug,
    pub display_name: DisplayName,
    pub owner_user_id: UserId,
    pub billing_level: BillingLevel,
    pub is_platform: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// R17: `invited` until the first successful login, then `active`;
/// `blocked` while blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Invited,
    Active,
    Blocked,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Blocked => "blocked",
        }
    }

    pub fn parse_stored(text: &str) -> Option<Self> {
        match text {
            "invited" => Some(Self::Invited),
            "active" => Some(Self::Active),
            "blocked" => Some(Self::Blocked),
            _ => None,
        }
    }
}

/// A user of one account. Holds no password material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub login_name: LoginName,
    pub email: EmailAddress,
    pub display_name: DisplayName,
    pub status: UserStatus,
    pub is_owner: bool,
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The owner of a new account, parsed and with the password already hashed.
#[derive(Debug, Clone)]
pub struct NewOwner {
    pub login_name: LoginName,
    pub email: EmailAddress,
    pub display_name: DisplayName,
    pub password_hash: PasswordHash,
}

/// A sign-up (R2), ready to store.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub slug: AccountSlug,
    pub display_name: DisplayName,
    pub billing_level: BillingLevel,
    pub owner: NewOwner,
}

/// Parses the wire value of a billing level: 0 (unspecified) means the
/// default.
pub fn billing_level_from_wire(field: &str, value: i32) -> Result<BillingLevel, FieldViolation> {
    match value {
        0 | 1 => Ok(BillingLevel::Account),
        2 => Ok(BillingLevel::Store),
        _ => Err(FieldViolation::new(field, "must be ACCOUNT or STORE")),
    }
}
