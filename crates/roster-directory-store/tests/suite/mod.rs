//! The storage conformance suite: every function takes a fresh database and
//! must pass on every backend.

mod accounts;
mod logins;
mod platform;
mod schema;

pub use accounts::*;
pub use logins::*;
pub use platform::*;
pub use schema::*;
