//! The directory's operations, in domain types: what each RPC does, who may
//! do it, what is audited. No protobuf and no `tonic::Status` here; the gRPC
//! adapters in `crate::grpc` convert at the edge.

pub mod accounts;
pub mod credentials;

use std::sync::Arc;

use roster_domain::password::HashingPool;
use roster_domain::presets::Presets;
use roster_domain::repository::DirectoryRepository;

use crate::settings::SignupPolicy;

/// Everything the directory's operations need.
#[derive(Clone)]
pub struct Directory {
    pub(crate) repository: Arc<dyn DirectoryRepository>,
    pub(crate) hashing: HashingPool,
    pub(crate) presets: Arc<Presets>,
    pub(crate) signup: SignupPolicy,
}

impl Directory {
    pub fn new(
        repository: Arc<dyn DirectoryRepository>,
        hashing: HashingPool,
        presets: Presets,
        signup: SignupPolicy,
    ) -> Self {
        Self { repository, hashing, presets: Arc::new(presets), signup }
    }
}
