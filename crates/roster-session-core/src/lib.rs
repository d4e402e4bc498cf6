//! Sessions as the broker's domain sees them: tokens, the one-session-per-
//! credential store contract ([`SessionStore`]), the in-process store used
//! when no Redis is configured, and the conformance suite every store must
//! pass.
//!
//! Architecture invariant: no transport and no Redis here. The Redis store
//! lives in `roster-session-redis` and runs the same [`conformance`] suite.

pub mod memory;
pub mod model;
pub mod store;
pub mod token;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use memory::InMemorySessionStore;
pub use model::{ActiveSession, EndReason, NewSession, Validation};
pub use store::{SessionStore, SessionStoreError};
pub use token::{CredentialKey, SessionToken, TokenHash};
