//! placeholder, implemented next
pub struct InMemorySessionStore;
