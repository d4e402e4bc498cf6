//! Test support: one fresh database per test on each backend, and fixtures.

pub mod backends;
pub mod directory;
pub mod fixtures;
