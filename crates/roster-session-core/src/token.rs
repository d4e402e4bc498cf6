//! Session tokens: opaque to callers, 256 random bits, stored only as a hash
//! (R35).
//!
//! A token reads `<tag>.<secret>`. The tag is derived from the credential
//! (a one-way hash of account and user id), so that every key of one
//! credential lands in one Redis Cluster slot (`{tag}` hash tags) and a
//! validation finds its keys in one round trip. The secret is 32 random
//! bytes. The tag reveals nothing but "same credential".

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use roster_domain::ids::{AccountId, UserId};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// One credential: one user of one account. At most one live session each
/// (R36).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialKey {
    pub account_id: AccountId,
    pub user_id: UserId,
}

impl CredentialKey {
    pub fn new(account_id: AccountId, user_id: UserId) -> Self {
        Self { account_id, user_id }
    }

    /// The 16-character slot tag of this credential.
    pub fn tag(&self) -> String {
        let digest = Sha256::digest(format!("{}:{}", self.account_id, self.user_id).as_bytes());
        URL_SAFE_NO_PAD.encode(&digest[..12])
    }
}

/// A bearer token. Never printed; only [`TokenHash`] is stored.
#[derive(Clone)]
pub struct SessionToken {
    text: SecretString,
    tag_len: usize,
}

/// Number of random bytes in a token's secret part (256 bits).
const SECRET_BYTES: usize = 32;

impl SessionToken {
    /// Issues a fresh token for `credential`.
    pub fn issue(credential: &CredentialKey) -> Self {
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let tag = credential.tag();
        let tag_len = tag.len();
        let text = format!("{tag}.{}", URL_SAFE_NO_PAD.encode(secret));
        Self { text: SecretString::from(text), tag_len }
    }

    /// Parses a token a caller presented. `None` when it is not of the shape
    /// Roster issues (such a token can never be valid).
    pub fn parse(text: &str) -> Option<Self> {
        let (tag, secret) = text.trim().split_once('.')?;
        let tag_ok = tag.len() == 16 && URL_SAFE_NO_PAD.decode(tag).is_ok();
        let secret_ok = URL_SAFE_NO_PAD.decode(secret).is_ok_and(|bytes| bytes.len() == SECRET_BYTES);
        if !tag_ok || !secret_ok {
            return None;
        }
        Some(Self { text: SecretString::from(text.trim().to_owned()), tag_len: tag.len() })
    }

    /// The credential's slot tag.
    pub fn tag(&self) -> &str {
        &self.text.expose_secret()[..self.tag_len]
    }

    /// The hash under which the session is stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex::encode(self.digest()))
    }

    /// The SHA-256 of the token, as bytes ([`Self::hash`] is its hex).
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.text.expose_secret().as_bytes()).into()
    }

    /// The token itself, for the one response that hands it out.
    pub fn expose(&self) -> &str {
        self.text.expose_secret()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SessionToken([redacted])")
    }
}

/// SHA-256 of a token, hex. A fast hash is right here: the token holds 256
/// random bits, so there is nothing to brute-force.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(String);

impl fmt::Debug for TokenHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret the way the token is, but it is the key of the
        // session in the store: never printed either.
        formatter.write_str("TokenHash([redacted])")
    }
}

impl TokenHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> CredentialKey {
        CredentialKey::new(AccountId::generate(), UserId::generate())
    }

    #[test]
    fn r35_tokens_carry_256_random_bits_and_parse_back() {
        let credential = credential();
        let token = SessionToken::issue(&credential);
        let (_, secret) = token.expose().split_once('.').unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        let parsed = SessionToken::parse(token.expose()).unwrap();
        assert_eq!(parsed.tag(), credential.tag());
        assert_eq!(parsed.hash(), token.hash());
    }

    #[test]
    fn tokens_of_one_credential_share_the_tag_but_not_the_hash() {
        let credential = credential();
        let first = SessionToken::issue(&credential);
        let second = SessionToken::issue(&credential);
        assert_eq!(first.tag(), second.tag());
        assert_ne!(first.hash(), second.hash());
        assert_ne!(first.tag(), SessionToken::issue(&self::credential()).tag());
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in ["", "abc", "no-dot-here", "short.tag", "AAAAAAAAAAAAAAAA.tooshort"] {
            assert!(SessionToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tokens_never_print() {
        let token = SessionToken::issue(&credential());
        assert_eq!(format!("{token:?}"), "SessionToken([redacted])");
        assert_eq!(format!("{:?}", token.hash()), "TokenHash([redacted])");
    }
}
