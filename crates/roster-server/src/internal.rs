//! The internal service credential: a shared secret that Roster's own
//! services send as `x-roster-internal` metadata, and outside callers do not
//! have.
//!
//! Configured explicitly in production (`ROSTER_<SECTION>__INTERNAL_TOKEN`);
//! in the embedded default both services share a file under the data
//! directory, created once with a random value.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::path::Path;

use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tonic::metadata::{MetadataMap, MetadataValue};

/// The metadata key carrying the internal credential.
pub const INTERNAL_METADATA_KEY: &str = "x-roster-internal";

/// File name of the shared credential under the data directory.
const TOKEN_FILE_NAME: &str = "internal-token";

/// The shared secret. Never printed.
#[derive(Clone)]
pub struct InternalToken(SecretString);

impl fmt::Debug for InternalToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("InternalToken([redacted])")
    }
}

impl InternalToken {
    /// Wraps a configured secret. Too short a secret is refused.
    pub fn from_configured(secret: SecretString) -> Result<Self, std::io::Error> {
        if secret.expose_secret().trim().len() < 32 {
            return Err(std::io::Error::new(ErrorKind::InvalidInput, "internal_token must be at least 32 characters"));
        }
        Ok(Self(SecretString::from(secret.expose_secret().trim().to_owned())))
    }

    /// The configured secret, or the one in `data_dir/internal-token`,
    /// created (atomically, mode 0600) when absent.
    pub fn resolve(configured: Option<SecretString>, data_dir: &Path) -> Result<Self, std::io::Error> {
        if let Some(secret) = configured {
            return Self::from_configured(secret);
        }
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(TOKEN_FILE_NAME);
        if let Ok(existing) = std::fs::read_to_string(&path) {
            return Self::from_configured(SecretString::from(existing));
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let fresh = hex::encode(bytes);
        // Written aside and hard-linked into place: a racing service either
        // wins the link or reads the winner's complete file.
        let staging = data_dir.join(format!(".{TOKEN_FILE_NAME}.{}", std::process::id()));
        {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&staging)?;
            file.write_all(fresh.as_bytes())?;
            file.sync_all()?;
        }
        let linked = std::fs::hard_link(&staging, &path);
        let _ = std::fs::remove_file(&staging);
        match linked {
            Ok(()) => Self::from_configured(SecretString::from(fresh)),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                Self::from_configured(SecretString::from(std::fs::read_to_string(&path)?))
            }
            Err(error) => Err(error),
        }
    }

    /// Whether `metadata` carries this credential (compared in constant
    /// time).
    pub fn is_presented_in(&self, metadata: &MetadataMap) -> bool {
        let Some(presented) = metadata.get(INTERNAL_METADATA_KEY).and_then(|value| value.to_str().ok()) else {
            return false;
        };
        constant_time_equal(presented.as_bytes(), self.0.expose_secret().as_bytes())
    }

    /// Adds the credential to outgoing metadata.
    pub fn attach_to(&self, metadata: &mut MetadataMap) {
        if let Ok(value) = MetadataValue::try_from(self.0.expose_secret()) {
            metadata.insert(INTERNAL_METADATA_KEY, value);
        }
    }
}

fn constant_time_equal(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter().zip(right).fold(0u8, |difference, (a, b)| difference | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_services_resolve_the_same_generated_secret() {
        let directory = tempfile::tempdir().unwrap();
        let first = InternalToken::resolve(None, directory.path()).unwrap();
        let second = InternalToken::resolve(None, directory.path()).unwrap();
        let mut metadata = MetadataMap::new();
        first.attach_to(&mut metadata);
        assert!(second.is_presented_in(&metadata));
    }

    #[test]
    fn a_wrong_or_missing_credential_is_refused() {
        let token = InternalToken::from_configured(SecretString::from("x".repeat(40))).unwrap();
        let mut metadata = MetadataMap::new();
        assert!(!token.is_presented_in(&metadata));
        metadata.insert(INTERNAL_METADATA_KEY, MetadataValue::from_static("guess"));
        assert!(!token.is_presented_in(&metadata));
    }

    #[test]
    fn short_configured_secrets_are_refused() {
        assert!(InternalToken::from_configured(SecretString::from("short")).is_err());
    }

    #[test]
    fn the_secret_never_prints() {
        let token = InternalToken::from_configured(SecretString::from("y".repeat(40))).unwrap();
        assert!(!format!("{token:?}").contains("yyyy"));
    }
}
