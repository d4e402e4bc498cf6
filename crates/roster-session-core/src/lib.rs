//! Sessions as the broker's domain sees them: tokens, the one-session-per-
//! credential store contract ([`SessionStore`]), the in-process store used
//! when no Redis is configured, the validation cache in front of a shared
//! store ([`CachedSessionStore`]), and the conformance suite every store must
//! pass. Likewise for per-source login throttling: the [`LoginThrottle`]
//! contract and its policy ([`throttle`]), the in-process throttle, and
//! their own conformance suite.
//!
//! Architecture invariant: no transport and no Redis here. The Redis store
//! lives in `roster-session-redis` and runs the same [`conformance`] suite.

pub mod cached;
pub mod memory;
pub mod memory_throttle;
pub mod model;
pub mod store;
pub mod throttle;
pub mod token;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
#[cfg(any(test, feature = "conformance"))]
pub mod throttle_conformance;

pub use cached::{CachedSessionStore, ValidationCache};
pub use memory::InMemorySessionStore;
pub use memory_throttle::InMemoryLoginThrottle;
pub use model::{reasons, ActiveSession, EndReason, FeedMessage, NewSession, SessionEvent, SessionPage, Validation};
pub use store::{SessionStore, SessionStoreError};
pub use throttle::{
    source_of_client_address, FailureCounts, InvalidThrottlePolicy, LoginThrottle, ThrottleDecision, ThrottlePolicy,
};
pub use token::{CredentialKey, SessionToken, TokenHash};
