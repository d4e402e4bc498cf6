//! The store conformance suite, run against a real Redis (R36–R38). Each
//! test gets its own key prefix; the tests fail when Redis is not reachable.

mod common;

roster_session_core::session_store_conformance_suite!(common::fresh_store);

/// The same suite with the broker's validation cache in front of the Redis
/// store.
mod cached {
    use std::sync::Arc;

    use roster_session_core::CachedSessionStore;

    use super::common;

    roster_session_core::session_store_conformance_suite!(|| async {
        CachedSessionStore::new(Arc::new(common::fresh_store().await), 1_000)
    });
}
