//! The principal snapshot stored with each session.

use roster_domain::ids::{AccountId, UserId};
use serde::{Deserialize, Serialize};

/// Who a session belongs to, as the directory vouched at login. Stored as
/// the session's opaque payload; holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPrincipal {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub account_slug: String,
    pub login_name: String,
    pub display_name: String,
    pub group_ids: Vec<String>,
    pub group_names: Vec<String>,
    pub is_owner: bool,
    pub is_platform_operator: bool,
    /// Logged in with a temporary password: may only change it (R42).
    pub restricted_to_password_change: bool,
}
