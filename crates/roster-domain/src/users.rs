//! Users with everything administration shows and edits (R7–R17, R24).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::access::{PermissionOverride, RoleAssignment};
use crate::account::{User, UserStatus};
use crate::filters::DataFilters;
use crate::ids::{AccountId, GroupId, StoreId, UserId};
use crate::invitation::Invitation;
use crate::names::{DisplayName, EmailAddress, LoginName};
use crate::network::IpAllowlist;
use crate::password::PasswordHash;

/// A user and their access settings. Holds no password material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub user: User,
    pub ip_allowlist: IpAllowlist,
    pub data_filters: DataFilters,
    pub assignments: BTreeSet<RoleAssignment>,
    pub overrides: BTreeSet<PermissionOverride>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// R18: the latest invitation, when the user was invited by email.
    pub invitation: Option<Invitation>,
}

/// A user to create, parsed and authorized.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub account_id: AccountId,
    pub login_name: LoginName,
    pub email: EmailAddress,
    pub display_name: DisplayName,
    /// `None` for an invited user, who sets their own (R18).
    pub password_hash: Option<PasswordHash>,
    /// R10: a generated temporary password must be changed at first login.
    pub must_change_password: bool,
    pub ip_allowlist: IpAllowlist,
    pub data_filters: DataFilters,
    pub assignments: BTreeSet<RoleAssignment>,
    pub overrides: BTreeSet<PermissionOverride>,
    /// R13: the user this one was copied from, for the audit trail.
    pub copied_from: Option<UserId>,
}

/// A partial update (a field mask); `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub email: Option<EmailAddress>,
    pub display_name: Option<DisplayName>,
    pub ip_allowlist: Option<IpAllowlist>,
    pub data_filters: Option<DataFilters>,
    /// Replaces the whole set of overrides.
    pub overrides: Option<BTreeSet<PermissionOverride>>,
}

/// `ListUsers` filters; all present ones must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub status: Option<UserStatus>,
    /// Users with an assignment to this group (in any scope).
    pub group_id: Option<GroupId>,
    /// Users with an assignment scoped to this store.
    pub store_id: Option<StoreId>,
    /// Case-insensitive substring of login name, email or display name.
    pub text: Option<String>,
}
