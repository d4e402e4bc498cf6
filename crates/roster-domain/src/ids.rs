//! Identifiers. Each is a UUID behind its own type, so a user id can never be
//! passed where a group id is expected; parsing names the field on failure.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::FieldViolation;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (v7) identifier.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the textual form; `field` names the request field on error.
            pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
                Uuid::parse_str(text.trim())
                    .map(Self)
                    .map_err(|_| FieldViolation::new(field, concat!("must be a ", $what, " id (a UUID)")))
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(formatter)
            }
        }
    };
}

uuid_id!(
    /// A tenant account.
    AccountId,
    "account"
);
uuid_id!(
    /// A user of one account.
    UserId,
    "user"
);
uuid_id!(
    /// A group of one account's tree.
    GroupId,
    "group"
);
uuid_id!(
    /// A store of one account.
    StoreId,
    "store"
);
uuid_id!(
    /// One login session.
    SessionId,
    "session"
);
uuid_id!(
    /// One audit event.
    AuditEventId,
    "audit event"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_ids_name_the_field() {
        let violation = UserId::parse("user_id", "not-a-uuid").unwrap_err();
        assert_eq!(violation.field, "user_id");
        assert!(violation.description.contains("user id"));
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = AccountId::generate();
        assert_eq!(AccountId::parse("account_id", &id.to_string()).unwrap(), id);
    }
}
