//! The audit trail (R43, R44): who did what to whom, when, from where, with
//! what result. Events are written by the storage layer in the same
//! transaction as the change they describe.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ids::{AccountId, UserId};

/// Request facts every audit event carries, gathered by the transport
/// adapter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub actor_id: Option<UserId>,
    pub actor_name: Option<String>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    /// W3C trace id of the request, to find its trace from the audit log.
    pub trace_id: Option<String>,
}

/// How an audited act ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Failure,
    Denied,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// One audit event, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub account_id: Option<AccountId>,
    /// `account.create`, `session.login`, `user.block`, ...
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<String>,
    pub target_name: Option<String>,
    /// Changed fields, `{"field": {"before": .., "after": ..}}`; never a
    /// secret.
    pub changes: Value,
    pub outcome: AuditOutcome,
    /// Why it failed or was denied (a stable reason string).
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}
