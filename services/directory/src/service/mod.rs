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

use crate::settings::SignupPolicy;
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
        Self {
            repository,
            hashing,
            presets: Arc::new(presets),
            signup,
            sessions,
            clock,
            lockout,
            access: AccessCache::default(),
        }
    }
}
