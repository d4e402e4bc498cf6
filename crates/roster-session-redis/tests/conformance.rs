//! The store conformance suite, run against a real Redis (R36–R38). Each
//! test gets its own key prefix; the tests fail when Redis is not reachable.

mod common;

roster_session_core::session_store_conformance_suite!(common::fresh_store);
