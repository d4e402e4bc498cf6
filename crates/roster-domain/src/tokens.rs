//! One-time tokens sent by email (R11, R18): 256 random bits, base64url
//! without padding. Only a [`TokenDigest`] (SHA-256, hex) is ever stored, so
//! a copy of the database opens nothing; the token itself lives in the email
//! alone. A token never prints: `Debug` is redacted and there is no
//! `Display`.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::error::FieldViolation;

/// A one-time token as handed to its recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeToken(String);

impl OneTimeToken {
    /// Random bytes in a token (256 bits).
    pub const BYTES: usize = 32;
    /// Its length in base64url characters.
    pub const CHARS: usize = 43;

    /// A fresh random token. Cheap (no hashing beyond one SHA-256 later).
    pub fn generate() -> Self {
        let mut bytes = [0_u8; Self::BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Parses a token offered by a caller: 43 base64url characters.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let text = text.trim();
        let well_formed =
            text.len() == Self::CHARS && URL_SAFE_NO_PAD.decode(text).is_ok_and(|bytes| bytes.len() == Self::BYTES);
        if !well_formed {
            return Err(FieldViolation::new(field, "must be the token from the email (43 base64url characters)"));
        }
        Ok(Self(text.to_owned()))
    }

    /// What is stored and looked up.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The token, for the email that carries it and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimeToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("OneTimeToken([redacted])")
    }
}

/// The SHA-256 of a token, in lowercase hex: what storage keeps. Not a
/// secret in itself (it opens nothing), but kept out of logs all the same.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenDigest(String);

impl TokenDigest {
    /// Rebuilds a digest read from storage.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    pub fn as_hex(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("TokenDigest([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_parse_back() {
        let token = OneTimeToken::generate();
        assert_eq!(token.expose().len(), OneTimeToken::CHARS);
        assert_eq!(OneTimeToken::parse("token", token.expose()).unwrap(), token);
        assert_ne!(OneTimeToken::generate(), token);
    }

    #[test]
    fn malformed_tokens_name_the_field() {
        for text in ["", "short", &"a".repeat(44), &format!("{}!", "a".repeat(42))] {
            assert_eq!(OneTimeToken::parse("token", text).unwrap_err().field, "token", "{text:?}");
        }
    }

    #[test]
    fn only_the_digest_is_stored_and_nothing_prints() {
        let token = OneTimeToken::generate();
        let digest = token.digest();
        assert_eq!(digest.as_hex().len(), 64);
        assert!(!digest.as_hex().contains(token.expose()));
        assert_eq!(digest, OneTimeToken::parse("token", token.expose()).unwrap().digest());
        assert!(!format!("{token:?}{digest:?}").contains(token.expose()));
        assert!(!format!("{digest:?}").contains(digest.as_hex()));
    }
}
