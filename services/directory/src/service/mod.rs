//! The directory's operations, in domain types: what each RPC does, who may
//! do it, what is audited. No protobuf and no `tonic::Status` here; the gRPC
//! adapters in `crate::grpc` convert at the edge.

pub mod access_cache;
pub mod accounts;
pub mod admin;
pub mod audit;
pub mod authorization;
pub mod credentials;
pub mod groups;
pub mod invitations;
pub mod login_gate;
pub mod passwords;
pub mod permissions;
pub mod principal;
pub mod revoker;
pub mod stores;
pub mod users;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use roster_domain::clock::SharedClock;
use roster_domain::lockout::LockoutPolicy;
use roster_domain::password::HashingPool;
use roster_domain::presets::Presets;
use roster_domain::repository::DirectoryRepository;

use roster_domain::password_policy::PasswordPolicy;

use crate::settings::{InvitationSettings, PasswordSettings, ResetDelivery, SignupPolicy};
use access_cache::AccessCache;
use revoker::SessionRevoker;

/// Everything the directory's operations need.
#[derive(Clone)]
pub struct Directory {
    pub(crate) repository: Arc<dyn DirectoryRepository>,
    pub(crate) hashing: HashingPool,
    pub(crate) presets: Arc<Presets>,
    pub(crate) signup: SignupPolicy,
    pub(crate) sessions: SessionRevoker,
    /// Where "now" comes from for time-based rules (the lockout, R39).
    pub(crate) clock: SharedClock,
    pub(crate) lockout: LockoutPolicy,
    /// Each account's access facts, checked against its access version on
    /// every question (issue 6).
    pub(crate) access: AccessCache,
    /// Invitations, passwords and the mails they send (issue 5).
    pub(crate) lifecycle: Arc<Lifecycle>,
    /// Queues racing login attempts of one credential in this process.
    pub(crate) login_gate: login_gate::CredentialGate,
}

/// How invitations, passwords and their mails behave in this deployment.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub invitation_validity: chrono::Duration,
    pub password_policy: PasswordPolicy,
    /// R10, R42: how long a temporary password works.
    pub temporary_validity: chrono::Duration,
    pub reset_delivery: ResetDelivery,
    pub reset_validity: chrono::Duration,
    /// R11: the least time `RequestPasswordReset` takes, either way.
    pub reset_answer_floor: std::time::Duration,
    /// Where links in mails point.
    pub link_base: Option<String>,
    /// R36: tell a user by email when a newer login replaced their session
    /// (only where mail goes out over SMTP).
    pub notify_session_replaced: bool,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::from_settings(&InvitationSettings::default(), &PasswordSettings::default(), None)
    }
}

impl Lifecycle {
    pub fn from_settings(
        invitations: &InvitationSettings,
        passwords: &PasswordSettings,
        link_base: Option<String>,
    ) -> Self {
        Self {
            invitation_validity: chrono::Duration::hours(i64::from(invitations.validity_hours.max(1))),
            password_policy: passwords.policy,
            temporary_validity: chrono::Duration::hours(i64::from(passwords.temporary_validity_hours.max(1))),
            reset_delivery: passwords.reset_delivery,
            reset_validity: chrono::Duration::minutes(i64::from(passwords.reset_validity_minutes.max(1))),
            reset_answer_floor: std::time::Duration::from_millis(passwords.reset_answer_floor_ms),
            link_base: link_base.filter(|base| !base.trim().is_empty()),
            notify_session_replaced: false,
        }
    }
}

/// The time and lockout rule the login check runs under.
#[derive(Debug, Clone)]
pub struct LoginPolicy {
    pub clock: SharedClock,
    pub lockout: LockoutPolicy,
}

impl Directory {
    pub fn new(
        repository: Arc<dyn DirectoryRepository>,
        hashing: HashingPool,
        presets: Presets,
        signup: SignupPolicy,
        sessions: SessionRevoker,
        login: LoginPolicy,
    ) -> Self {
        let LoginPolicy { clock, lockout } = login;
        // As many attempts of one credential as the lockout lets run at once.
        let login_gate = login_gate::CredentialGate::new(lockout.max_failures as usize);
        // PostgreSQL pushes access changes: the cache then skips the version
        // read while nothing changed (issue 6).
        let access = AccessCache::new(repository.access_freshness());
        Self {
            repository,
            hashing,
            presets: Arc::new(presets),
            signup,
            sessions,
            clock,
            lockout,
            access,
            lifecycle: Arc::new(Lifecycle::default()),
            login_gate,
        }
    }

    /// The same directory with the deployment's invitation, password and
    /// mail settings.
    pub fn with_lifecycle(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = Arc::new(lifecycle);
        self
    }
}
