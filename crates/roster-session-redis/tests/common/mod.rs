//! Helpers shared by the Redis store's integration tests.

#![allow(dead_code)]

use roster_session_redis::RedisSessionStore;

/// The Redis the tests use: `ROSTER_TEST_REDIS_URL`, or the local default.
pub fn test_redis_url() -> String {
    std::env::var("ROSTER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix no other test uses, so tests sharing one Redis stay apart.
pub fn unique_key_prefix() -> String {
    format!("roster-test:{}:", uuid::Uuid::new_v4())
}

/// A store over the test Redis with its own key prefix. Panics — failing the
/// test, never skipping it — when that Redis cannot be reached.
pub async fn fresh_store() -> RedisSessionStore {
    let url = test_redis_url();
    match RedisSessionStore::connect(&url, &unique_key_prefix()).await {
        Ok(store) => store,
        Err(error) => panic!(
            "the Redis session store tests need a running Redis at {url} \
             (set ROSTER_TEST_REDIS_URL to use another one): {error}"
        ),
    }
}
