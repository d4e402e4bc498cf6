//! Names people type: account slugs, login names, email addresses, display
//! names. Each is parsed once at the edge; a value that exists is valid.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::error::FieldViolation;
use crate::ids::AccountId;

/// Slugs that can never name a tenant account.
const RESERVED_SLUGS: &[&str] = &["platform", "admin", "root", "system", "roster"];

/// The slug of the platform operators' own account (bootstrapped at first
/// start).
pub const PLATFORM_ACCOUNT_SLUG: &str = "platform";

/// A short lowercase handle for an account: `[a-z0-9][a-z0-9-]{1,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountSlug(String);

impl AccountSlug {
    /// Parses a tenant slug; reserved slugs are refused.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let slug = Self::parse_any(field, text)?;
        if RESERVED_SLUGS.contains(&slug.0.as_str()) {
            return Err(FieldViolation::new(field, "is reserved"));
        }
        Ok(slug)
    }

    /// Parses any slug, the reserved ones included (for lookups).
    pub fn parse_any(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let slug = text.trim().to_ascii_lowercase();
        let well_formed = (2..=63).contains(&slug.len())
            && slug.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if !well_formed {
            return Err(FieldViolation::new(
                field,
                "must be 2 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            ));
        }
        Ok(Self(slug))
    }

    /// The platform operators' account.
    pub fn platform() -> Self {
        Self(PLATFORM_ACCOUNT_SLUG.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountSlug {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// How a request names an account: by id, or by slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountKey {
    Id(AccountId),
    Slug(AccountSlug),
}

impl AccountKey {
    /// A UUID is an id; anything else must be a slug.
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        if text.trim().is_empty() {
            return Err(FieldViolation::new(field, "is required (an account id or slug)"));
        }
        if let Ok(id) = AccountId::parse(field, text) {
            return Ok(Self::Id(id));
        }
        AccountSlug::parse_any(field, text)
            .map(Self::Slug)
            .map_err(|_| FieldViolation::new(field, "must be an account id or slug"))
    }
}

/// A login name. Unique per account case-insensitively after Unicode
/// normalisation (R12): `Ｊｏｈｎ`, `john` and `JOHN` are the same login.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LoginName {
    /// As the user typed it, NFC-normalised: for display.
    display: String,
    /// NFKC-normalised and lower-cased: the uniqueness and lookup key.
    key: String,
}

impl LoginName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let display: String = text.trim().nfc().collect();
        let char_count = display.chars().count();
        if char_count == 0 || char_count > Self::MAX_CHARS {
            return Err(FieldViolation::new(field, "must be 1 to 64 characters"));
        }
        let allowed = |character: char| character.is_alphanumeric() || matches!(character, '.' | '_' | '-' | '@' | '+');
        if !display.chars().all(allowed) {
            return Err(FieldViolation::new(field, "may hold only letters, digits and the characters . _ - @ +"));
        }
        let key = display.nfkc().collect::<String>().to_lowercase().nfkc().collect();
        Ok(Self { display, key })
    }

    /// Rebuilds a login name already stored (both forms were valid when
    /// written).
    pub fn from_stored(display: String, key: String) -> Self {
        Self { display, key }
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for LoginName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.display)
    }
}

/// An email address: `local@domain`, the domain lower-cased. Every user has
/// their own (R12): unique per account, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let trimmed = text.trim();
        let invalid = || FieldViolation::new(field, "must be an email address (local@domain.tld)");
        if trimmed.len() > 254 || trimmed.chars().any(|character| character.is_whitespace() || character.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: the whole address lower-cased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A human-readable name (of a person, an account, a store, a group):
/// trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let name: String = text.trim().nfc().collect();
        let char_count = name.chars().count();
        if char_count == 0 || char_count > 200 {
            return Err(FieldViolation::new(field, "must be 1 to 200 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldViolation::new(field, "must not contain control characters"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key under which names are unique (groups): lower-cased NFKC.
    pub fn key(&self) -> String {
        self.0.nfkc().collect::<String>().to_lowercase()
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r12_login_names_compare_case_insensitively_after_normalisation() {
        let fullwidth = LoginName::parse("login_name", "Ｊｏｈｎ").unwrap();
        let upper = LoginName::parse("login_name", "JOHN").unwrap();
        let lower = LoginName::parse("login_name", " john ").unwrap();
        assert_eq!(fullwidth.key(), "john");
        assert_eq!(upper.key(), lower.key());
        assert_eq!(upper.display(), "JOHN");
    }

    #[test]
    fn login_names_refuse_spaces_and_empties() {
        assert!(LoginName::parse("login_name", "").is_err());
        assert!(LoginName::parse("login_name", "a b").is_err());
        assert!(LoginName::parse("login_name", &"x".repeat(65)).is_err());
    }

    #[test]
    fn slugs_are_lowercase_and_reserved_ones_refused() {
        assert_eq!(AccountSlug::parse("slug", "Acme-Shop").unwrap().as_str(), "acme-shop");
        assert!(AccountSlug::parse("slug", "platform").is_err());
        assert!(AccountSlug::parse_any("slug", "platform").is_ok());
        assert!(AccountSlug::parse("slug", "-bad").is_err());
        assert!(AccountSlug::parse("slug", "a_b").is_err());
    }

    #[test]
    fn account_keys_are_ids_or_slugs() {
        let id = AccountId::generate();
        assert_eq!(AccountKey::parse("account", &id.to_string()).unwrap(), AccountKey::Id(id));
        assert!(matches!(AccountKey::parse("account", "acme").unwrap(), AccountKey::Slug(_)));
        assert_eq!(AccountKey::parse("account", "").unwrap_err().field, "account");
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert_eq!(EmailAddress::parse("email", "Ann@Example.COM").unwrap().as_str(), "Ann@example.com");
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "ann@.com"] {
            assert!(EmailAddress::parse("email", bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("display_name", "  Ann  ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("display_name", "   ").is_err());
        assert!(DisplayName::parse("display_name", "a\u{0007}").is_err());
    }
}
