//! The identity stored with each session.

use roster_domain::ids::{AccountId, UserId};
use roster_session_core::CredentialKey;
use serde::{Deserialize, Serialize};

/// Who a session belongs to, as the directory vouched at login. Stored as
/// the session's opaque payload; holds no secret. What the user may do is
/// not stored here: it is looked up (and cached) at each validation, so
/// that changes reach live sessions (R38).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPrincipal {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub account_slug: String,
    pub login_name: String,
    pub display_name: String,
    /// Logged in with a temporary password: may only change it (R42).
    pub restricted_to_password_change: bool,
}

/// The payload as stored: one-letter names, and no ids, which the session
/// holds already (its credential). Every live session pays for each byte
/// in Redis (issue 6: at most 512 bytes per session). The long names of the
/// first format are still read, so sessions opened before it stay valid.
#[derive(Serialize, Deserialize)]
struct StoredForm {
    #[serde(rename = "s", alias = "account_slug")]
    account_slug: String,
    #[serde(rename = "l", alias = "login_name")]
    login_name: String,
    #[serde(rename = "d", alias = "display_name")]
    display_name: String,
    #[serde(rename = "r", alias = "restricted_to_password_change", default)]
    restricted_to_password_change: bool,
}

impl StoredPrincipal {
    /// The session payload for this principal.
    pub fn to_payload(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&StoredForm {
            account_slug: self.account_slug.clone(),
            login_name: self.login_name.clone(),
            display_name: self.display_name.clone(),
            restricted_to_password_change: self.restricted_to_password_change,
        })
    }

    /// The principal of a session of `credential` whose payload is `payload`.
    pub fn from_payload(payload: &str, credential: &CredentialKey) -> Result<Self, serde_json::Error> {
        let form: StoredForm = serde_json::from_str(payload)?;
        Ok(Self {
            user_id: credential.user_id,
            account_id: credential.account_id,
            account_slug: form.account_slug,
            login_name: form.login_name,
            display_name: form.display_name,
            restricted_to_password_change: form.restricted_to_password_change,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> StoredPrincipal {
        StoredPrincipal {
            user_id: UserId::generate(),
            account_id: AccountId::generate(),
            account_slug: "acme".to_owned(),
            login_name: "alice".to_owned(),
            display_name: "Alice A.".to_owned(),
            restricted_to_password_change: true,
        }
    }

    #[test]
    fn a_payload_reads_back_as_the_same_principal_without_storing_the_ids() {
        let principal = principal();
        let payload = principal.to_payload().unwrap();
        assert!(
            !payload.contains(&principal.user_id.to_string()) && !payload.contains(&principal.account_id.to_string())
        );
        let credential = CredentialKey::new(principal.account_id, principal.user_id);
        assert_eq!(StoredPrincipal::from_payload(&payload, &credential).unwrap(), principal);
    }

    #[test]
    fn payloads_of_the_first_format_still_read() {
        let principal = principal();
        let payload = format!(
            r#"{{"user_id":"{}","account_id":"{}","account_slug":"acme","login_name":"alice","display_name":"Alice A.","restricted_to_password_change":true}}"#,
            principal.user_id, principal.account_id
        );
        let credential = CredentialKey::new(principal.account_id, principal.user_id);
        assert_eq!(StoredPrincipal::from_payload(&payload, &credential).unwrap(), principal);
    }
}
