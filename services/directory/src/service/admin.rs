//! What every administrative operation does first: establish that the caller
//! is a user of the account (R42: not a restricted session), load the
//! account's access facts and the caller's permissions, and audit a denial
//! (R43) before returning it.

use std::sync::Arc;

use roster_domain::access::policy::Actor;
use roster_domain::access::{resolve, AccountFacts, EffectivePermissions, UserGrants};
use roster_domain::audit::RequestContext;
use roster_domain::caller::{AuthenticatedUser, Caller};
use roster_domain::ids::{AccountId, UserId};
use roster_domain::repository::{AccessSnapshot, DeniedCall};
use roster_domain::{DomainError, ErrorCode};

use super::access_cache::Currency;
use super::Directory;

/// An authenticated user acting in one account, with everything policy
/// checks need.
#[derive(Debug)]
pub struct AdminScope {
    pub caller: AuthenticatedUser,
    /// Shared with the access cache: never changed in place.
    pub snapshot: Arc<AccessSnapshot>,
    pub grants: UserGrants,
    pub permissions: EffectivePermissions,
    /// The request facts with the actor filled in, for audit events.
    pub context: RequestContext,
}

impl AdminScope {
    pub fn account_id(&self) -> AccountId {
        self.snapshot.account.id
    }

    pub fn facts(&self) -> AccountFacts {
        AccountFacts {
            billing_level: self.snapshot.account.billing_level,
            is_platform: self.snapshot.account.is_platform,
        }
    }

    pub fn actor(&self) -> Actor<'_> {
        Actor::new(self.caller.user_id, &self.grants, &self.permissions, &self.snapshot.groups)
    }

    pub fn is_self(&self, user_id: UserId) -> bool {
        self.caller.user_id == user_id
    }
}

/// What an audited denial is about.
#[derive(Debug, Clone, Copy)]
pub struct Act<'a> {
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<&'a str>,
}

impl<'a> Act<'a> {
    pub fn new(action: &'static str, target_type: &'static str, target_id: Option<&'a str>) -> Self {
        Self { action, target_type, target_id }
    }
}

impl Directory {
    /// The caller as a user of `account_id`. Anonymous callers are
    /// `UNAUTHENTICATED`; users of other accounts and restricted sessions
    /// are refused, and the refusal is audited.
    pub async fn admin_scope(
        &self,
        caller: &Caller,
        account_id: AccountId,
        mut context: RequestContext,
        act: Act<'_>,
    ) -> Result<AdminScope, DomainError> {
        let user = match caller {
            Caller::Anonymous => {
                return Err(DomainError::unauthenticated("SESSION_REQUIRED", "a session token is required"))
            }
            Caller::InternalService => {
                return Err(DomainError::permission_denied(
                    "ACTING_USER_REQUIRED",
                    "administrative calls act on behalf of a user: forward the user's session token",
                ))
            }
            Caller::User(user) => user.clone(),
        };
        context.actor_id = Some(user.user_id);
        context.actor_name = Some(user.login_name.clone());
        if user.restricted_to_password_change {
            let error = DomainError::permission_denied(
                "PASSWORD_CHANGE_REQUIRED",
                "R42: this session may only change its password",
            );
            return Err(self.audit_denial(Some(user.account_id), &context, act, error).await);
        }
        if user.account_id != account_id {
            let error = DomainError::permission_denied("OTHER_ACCOUNT", "the account belongs to another tenant");
            return Err(self.audit_denial(Some(user.account_id), &context, act, error).await);
        }
        let account = self.access.account(&self.repository, account_id, Currency::Exact).await?;
        let grants = account.user(&self.repository, user.user_id).await?.map(|cached| cached.grants.clone());
        let grants = grants
            .ok_or_else(|| DomainError::unauthenticated("SESSION_UNKNOWN", "the session's user no longer exists"))?;
        let snapshot = Arc::clone(&account.snapshot);
        let facts =
            AccountFacts { billing_level: snapshot.account.billing_level, is_platform: snapshot.account.is_platform };
        let permissions = resolve(&snapshot.catalog, &snapshot.groups, &grants, facts);
        Ok(AdminScope { caller: user, snapshot, grants, permissions, context })
    }

    /// Passes `check` through; a refusal (permission denied or a rule's
    /// precondition) is audited first (R43).
    pub async fn authorize(
        &self,
        scope: &AdminScope,
        act: Act<'_>,
        check: Result<(), DomainError>,
    ) -> Result<(), DomainError> {
        match check {
            Ok(()) => Ok(()),
            Err(error) => Err(self.audit_denial(Some(scope.account_id()), &scope.context, act, error).await),
        }
    }

    /// Writes a `denied` audit event for refusals; returns the error. A
    /// failure to audit is logged, and the original refusal still returned.
    pub async fn audit_denial(
        &self,
        account_id: Option<AccountId>,
        context: &RequestContext,
        act: Act<'_>,
        error: DomainError,
    ) -> DomainError {
        if !matches!(error.code(), ErrorCode::PermissionDenied | ErrorCode::FailedPrecondition) {
            return error;
        }
        let denied = DeniedCall {
            account_id,
            action: act.action,
            target_type: act.target_type,
            target_id: act.target_id.map(str::to_owned),
            reason: error.reason(),
        };
        if let Err(audit_error) = self.repository.record_denied(&denied, context).await {
            tracing::error!(error = %audit_error, action = act.action, "could not audit a denied call");
        }
        error
    }

    /// Ends every session of a user through the broker (R8, R14, R38).
    pub async fn end_sessions(&self, account_id: AccountId, user_id: UserId, reason: &str) -> Result<(), DomainError> {
        self.sessions.revoke_user_sessions(account_id, user_id, reason).await
    }

    /// R38: after a committed change that alters what `principal_access`
    /// answers for `users` (for every user of the account when empty), the
    /// broker drops what it cached. Never fails: the change stands, and a
    /// broker that missed it is logged.
    pub async fn access_changed(&self, account_id: AccountId, users: &[UserId]) {
        self.sessions.invalidate_access(account_id, users).await;
    }
}
