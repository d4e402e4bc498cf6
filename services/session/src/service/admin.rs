//! Who may list, watch and end whose sessions (R38, R41): the internal
//! service credential may do anything; a user acts in their own account
//! only, on their own sessions freely, on others' with `sessions.view`
//! (list, watch) or `sessions.revoke` (end) held account-wide, and never on
//! the owner's sessions unless they are the owner (R5). A session opened
//! with a temporary password may do none of it (R42).

use roster_domain::ids::{AccountId, UserId};
use roster_domain::presets::PermissionName;
use roster_domain::DomainError;

use super::sessions::ValidatedSession;

/// Who asks for an administrative operation.
#[derive(Debug, Clone)]
pub enum Requester {
    /// A Roster service presenting the internal credential.
    Internal,
    /// A user, by their live session.
    User(Box<ValidatedSession>),
}

/// What an administrative act needs of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAct {
    /// List sessions or watch events: `sessions.view`.
    View,
    /// End sessions: `sessions.revoke`.
    Revoke,
}

impl SessionAct {
    fn permission(self) -> &'static str {
        match self {
            Self::View => "sessions.view",
            Self::Revoke => "sessions.revoke",
        }
    }
}

/// The sessions an act is about.
#[derive(Debug, Clone, Copy)]
pub struct SessionTarget {
    pub account_id: AccountId,
    /// `None`: every user of the account.
    pub user_id: Option<UserId>,
    /// Whether the target user is the account owner.
    pub is_owner: bool,
}

fn denied(reason: &'static str, message: impl Into<String>) -> DomainError {
    DomainError::permission_denied(reason, message.into())
}

/// Decides whether `requester` may perform `act` on `target`.
pub fn authorize(requester: &Requester, act: SessionAct, target: SessionTarget) -> Result<(), DomainError> {
    let Requester::User(session) = requester else {
        return Ok(());
    };
    let principal = &session.principal;
    if principal.restricted_to_password_change {
        return Err(denied("PASSWORD_CHANGE_REQUIRED", "R42: this session may only change its password"));
    }
    if principal.account_id != target.account_id {
        return Err(denied("OTHER_ACCOUNT", "the sessions belong to another tenant"));
    }
    if target.user_id == Some(principal.user_id) {
        return Ok(());
    }
    if target.is_owner && !session.access.is_owner {
        return Err(denied("OWNER_PROTECTED", "R5: only the owner acts on the owner's sessions"));
    }
    let permission = PermissionName::parse("permission", act.permission()).map_err(DomainError::from)?;
    if session.access.permissions.holds(&permission, None) {
        return Ok(());
    }
    Err(denied("MISSING_PERMISSION", format!("this needs {} account-wide", act.permission())))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use chrono::Utc;
    use roster_domain::access::PermissionsByScope;
    use roster_domain::ids::SessionId;
    use roster_domain::ErrorCode;

    use super::*;
    use crate::service::access::PrincipalAccess;
    use crate::service::principal::StoredPrincipal;

    fn user(account_id: AccountId, permissions: &[&str], is_owner: bool, restricted: bool) -> Requester {
        let account: BTreeSet<PermissionName> =
            permissions.iter().map(|name| PermissionName::parse("p", name).unwrap()).collect();
        let access = PrincipalAccess {
            is_owner,
            permissions: PermissionsByScope { is_owner, account, ..PermissionsByScope::default() },
            ..PrincipalAccess::default()
        };
        Requester::User(Box::new(ValidatedSession {
            session_id: SessionId::generate(),
            principal: StoredPrincipal {
                user_id: UserId::generate(),
                account_id,
                account_slug: "acme".to_owned(),
                login_name: "ann".to_owned(),
                display_name: "Ann".to_owned(),
                restricted_to_password_change: restricted,
            },
            access: Arc::new(access),
            idle_expires_at: Utc::now(),
            absolute_expires_at: Utc::now(),
            check: None,
        }))
    }

    fn own_user(requester: &Requester) -> UserId {
        match requester {
            Requester::User(session) => session.principal.user_id,
            Requester::Internal => unreachable!(),
        }
    }

    fn reason(result: Result<(), DomainError>) -> &'static str {
        let error = result.unwrap_err();
        assert_eq!(error.code(), ErrorCode::PermissionDenied);
        error.reason()
    }

    #[test]
    fn the_internal_credential_may_do_anything() {
        let target = SessionTarget { account_id: AccountId::generate(), user_id: None, is_owner: true };
        assert!(authorize(&Requester::Internal, SessionAct::Revoke, target).is_ok());
    }

    #[test]
    fn r38_a_user_may_list_and_end_their_own_sessions_without_permissions() {
        let account_id = AccountId::generate();
        let requester = user(account_id, &[], false, false);
        let target = SessionTarget { account_id, user_id: Some(own_user(&requester)), is_owner: false };
        assert!(authorize(&requester, SessionAct::View, target).is_ok());
        assert!(authorize(&requester, SessionAct::Revoke, target).is_ok());
    }

    #[test]
    fn r38_others_sessions_need_the_permission_of_the_act() {
        let account_id = AccountId::generate();
        let viewer = user(account_id, &["sessions.view"], false, false);
        let someone = SessionTarget { account_id, user_id: Some(UserId::generate()), is_owner: false };
        let everyone = SessionTarget { account_id, user_id: None, is_owner: false };
        assert!(authorize(&viewer, SessionAct::View, someone).is_ok());
        assert!(authorize(&viewer, SessionAct::View, everyone).is_ok());
        assert_eq!(reason(authorize(&viewer, SessionAct::Revoke, someone)), "MISSING_PERMISSION");
        let revoker = user(account_id, &["sessions.revoke"], false, false);
        assert!(authorize(&revoker, SessionAct::Revoke, someone).is_ok());
        assert_eq!(reason(authorize(&revoker, SessionAct::View, everyone)), "MISSING_PERMISSION");
    }

    #[test]
    fn other_tenants_sessions_are_out_of_reach() {
        let requester = user(AccountId::generate(), &["sessions.view", "sessions.revoke"], true, false);
        let target = SessionTarget { account_id: AccountId::generate(), user_id: None, is_owner: false };
        assert_eq!(reason(authorize(&requester, SessionAct::View, target)), "OTHER_ACCOUNT");
    }

    #[test]
    fn r5_only_the_owner_acts_on_the_owners_sessions() {
        let account_id = AccountId::generate();
        let administrator = user(account_id, &["sessions.view", "sessions.revoke"], false, false);
        let owner_target = SessionTarget { account_id, user_id: Some(UserId::generate()), is_owner: true };
        assert_eq!(reason(authorize(&administrator, SessionAct::Revoke, owner_target)), "OWNER_PROTECTED");
        let owner = user(account_id, &["sessions.view", "sessions.revoke"], true, false);
        assert!(authorize(&owner, SessionAct::Revoke, owner_target).is_ok());
    }

    #[test]
    fn r42_a_restricted_session_may_do_nothing_here() {
        let account_id = AccountId::generate();
        let requester = user(account_id, &["sessions.view"], false, true);
        let target = SessionTarget { account_id, user_id: Some(own_user(&requester)), is_owner: false };
        assert_eq!(reason(authorize(&requester, SessionAct::View, target)), "PASSWORD_CHANGE_REQUIRED");
    }
}
