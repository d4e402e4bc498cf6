//! Reading the audit log (R43, R44): `audit.view` in the account; platform
//! operators, holding `audit.view` in the platform account, may read any
//! account's events or all of them. And writing what the session broker
//! reports about sessions.

use std::collections::HashMap;

use roster_domain::account::Account;
use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::ids::AccountId;
use roster_domain::mail::{session_replaced_mail, MailContext, OutgoingMail};
use roster_domain::names::AccountKey;
use roster_domain::paging::{Page, PageRequest};
use roster_domain::repository::{AuditEvent, AuditFilter, SessionAuditAction, SessionAuditEvent};
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
    /// When email delivery is configured, a `session.replaced` event queues
    /// the evicted user's notice (R36) in the outbox in this same
    /// transaction.
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
        let mails = if self.lifecycle.notify_session_replaced {
            self.session_replaced_mails(&events).await
        } else {
            Vec::new()
        };
        self.repository.record_session_events(&events, &mails).await?;
        tracing::debug!(count = events.len(), notices = mails.len(), "session events audited");
        Ok(())
    }

    /// R36: the notice each evicted user gets when a newer login replaced
    /// their session, rendered for the outbox. Best effort: a user or
    /// account that cannot be read (deleted meanwhile, a passing database
    /// error) gets no notice, and the events are audited all the same.
    async fn session_replaced_mails(&self, events: &[SessionAuditEvent]) -> Vec<(AccountId, OutgoingMail)> {
        let mut accounts: HashMap<AccountId, Option<Account>> = HashMap::new();
        let mut mails = Vec::new();
        for event in events.iter().filter(|event| event.action.as_str() == SessionAuditAction::REPLACED) {
            let (Some(account_id), Some(user_id)) = (event.account_id, event.user_id) else {
                continue;
            };
            if !accounts.contains_key(&account_id) {
                let account = self.repository.find_account(&AccountKey::Id(account_id)).await;
                accounts.insert(
                    account_id,
                    account.unwrap_or_else(|error| {
                        tracing::warn!(%error, %account_id, "no replaced-session notice: account unreadable");
                        None
                    }),
                );
            }
            let Some(Some(account)) = accounts.get(&account_id) else {
                continue;
            };
            let user = match self.repository.find_user(account_id, user_id).await {
                Ok(Some(user)) => user,
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, %user_id, "no replaced-session notice: user unreadable");
                    continue;
                }
            };
            let context = MailContext {
                account_name: account.display_name.as_str(),
                account_slug: account.slug.as_str(),
                recipient_name: user.display_name.as_str(),
                link_base: self.lifecycle.link_base.as_deref(),
            };
            let at = event.occurred_at.unwrap_or_else(|| self.clock.now());
            let mail = session_replaced_mail(&user.email, &context, at, event.context.client_address.as_deref());
            mails.push((account_id, mail));
        }
        mails
    }
}
