//! Reading the audit log (R43, R44): `audit.view` in the account; platform
//! operators, holding `audit.view` in the platform account, may read any
//! account's events or all of them. And writing what the session broker
//! reports about sessions.

use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::ids::AccountId;
use roster_domain::paging::{Page, PageRequest};
use roster_domain::repository::{AuditEvent, AuditFilter, SessionAuditEvent};
use roster_domain::DomainError;

use super::admin::Act;
use super::users::require;
use super::Directory;

/// What `admin_scope` answers callers that are not users, for the request
/// that names no account to scope them to.
fn not_a_user(caller: &Caller) -> DomainError {
    match caller {
        Caller::InternalService => DomainError::permission_denied(
            "ACTING_USER_REQUIRED",
            "administrative calls act on behalf of a user: forward the user's session token",
        ),
        _ => DomainError::unauthenticated("SESSION_REQUIRED", "a session token is required"),
    }
}

impl Directory {
    /// Newest first, filtered and paged. `account_id = None` lists every
    /// account's events and is for platform operators only; anyone else
    /// must name their account (`INVALID_ARGUMENT` on `account_id`).
    pub async fn list_audit_events(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: Option<AccountId>,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>, DomainError> {
        let target_id = account_id.map(|account_id| account_id.to_string());
        let act = Act::new("audit.list", "account", target_id.as_deref());
        // An operator is checked in their own (the platform) account, anyone
        // else in the account they read.
        let scope_account = match (caller.user(), account_id) {
            (Some(user), _) if user.is_platform_operator => user.account_id,
            (_, Some(account_id)) => account_id,
            (Some(_), None) => {
                return Err(DomainError::invalid_field(
                    "account_id",
                    "is required: name the account whose events to list",
                ))
            }
            (None, None) => return Err(not_a_user(caller)),
        };
        let scope = self.admin_scope(caller, scope_account, context, act).await?;
        let check = require(&scope, "audit.view", "R44: reading the audit log needs audit.view");
        self.authorize(&scope, act, check).await?;
        self.repository.list_audit_events(account_id, filter, page).await
    }

    /// R43: one audit event per session event the broker reports
    /// (evictions, revocations, denied calls), all in one transaction. The
    /// broker is the only caller (the adapter requires the internal
    /// credential). An event without a trace id of its own is filed under
    /// the trace of the call that reports it.
    ///
    /// The hook for the replaced-session notice (R36): when email delivery
    /// arrives (issue 5), a `session.replaced` event queues the evicted
    /// user's notice in the outbox in this same transaction.
    pub async fn record_session_events(
        &self,
        context: &RequestContext,
        mut events: Vec<SessionAuditEvent>,
    ) -> Result<(), DomainError> {
        for event in &mut events {
            if event.context.trace_id.is_none() {
                event.context.trace_id = context.trace_id.clone();
            }
        }
        self.repository.record_session_events(&events).await?;
        tracing::debug!(count = events.len(), "session events audited");
        Ok(())
    }
}
