//! The identity stored with each session.

use roster_domain::ids::{AccountId, UserId};
use serde::{Deserialize, Serialize};

/// Who a session belongs to, as the directory vouched at login. Stored as
/// the session's opaque payload; holds no secret. What the user may do is
/// not stored here: it is looked up (and cached) at each validation, so
/// that changes reach live sessions (R38).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPrincipal {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub account_slug: String,
    pub login_name: String,
    pub display_name: String,
    /// Logged in with a temporary password: may only change it (R42).
    pub restricted_to_password_change: bool,
}
