//! Who is calling: established once per request by the transport adapter
//! (from the session token or the internal credential) and handed to every
//! operation.

use crate::ids::{AccountId, SessionId, UserId};

/// An authenticated end user, as the session broker vouched for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub login_name: String,
    pub display_name: String,
    pub is_platform_operator: bool,
    /// Opened with a temporary password: may only change it (R42).
    pub restricted_to_password_change: bool,
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials at all.
    Anonymous,
    /// A user with a live session.
    User(AuthenticatedUser),
    /// Another Roster service holding the internal credential.
    InternalService,
}

impl Caller {
    pub fn user(&self) -> Option<&AuthenticatedUser> {
        match self {
            Self::User(user) => Some(user),
            _ => None,
        }
    }
}
