//! The storage conformance suite: every function takes a fresh database and
//! must pass on every backend.

mod access_notifications;
mod access_version;
mod accounts;
mod audit;
mod groups;
mod invitations;
mod lockout;
mod logins;
mod ownership;
mod password_rehash;
mod permissions;
mod platform;
mod races;
mod schema;
mod session_events;
mod stores;
mod user_lists;
mod users;

pub use access_notifications::*;
pub use access_version::*;
pub use accounts::*;
pub use audit::*;
pub use groups::*;
pub use invitations::*;
pub use lockout::*;
pub use logins::*;
pub use ownership::*;
pub use password_rehash::*;
pub use permissions::*;
pub use platform::*;
pub use races::*;
pub use schema::*;
pub use session_events::*;
pub use stores::*;
pub use user_lists::*;
pub use users::*;
