//! The password policy (PCI DSS v4 8.3.6, 8.3.7; NIST SP 800-63B 5.1.1.2):
//! what a new password must be. Configurable per deployment; each refusal
//! names the field and the rule that failed (`password policy: min_length`,
//! `max_length`, `common_password`, `history`), with a reason of its own.
//!
//! Passwords are compared after NFKC normalisation (done by
//! [`Password`]), over all their bytes (no truncation: at most 256). The
//! common-password list ships with the project
//! (`data/common-passwords.txt`, its origin in its header) and is compared
//! case-insensitively. The history rule needs argon2 and so runs in the
//! service, on the hashing pool; this module only words its refusal.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::{DomainError, FieldViolation};
use crate::password::Password;

/// The shipped list of common passwords, one a line, `#` comments.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')).collect()
    })
}

/// The rule of the policy a password broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyRule {
    MinLength,
    MaxLength,
    CommonPassword,
    History,
}

impl PolicyRule {
    /// The rule's name, as the error says it.
    pub fn name(self) -> &'static str {
        match self {
            Self::MinLength => "min_length",
            Self::MaxLength => "max_length",
            Self::CommonPassword => "common_password",
            Self::History => "history",
        }
    }

    /// The stable reason of the error.
    pub fn reason(self) -> &'static str {
        match self {
            Self::MinLength => "PASSWORD_TOO_SHORT",
            Self::MaxLength => "PASSWORD_TOO_LONG",
            Self::CommonPassword => "PASSWORD_TOO_COMMON",
            Self::History => "PASSWORD_REUSED",
        }
    }
}

/// The deployment's policy, as configured (`[directory.passwords]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    /// Shortest password, in characters; never below PCI's 12.
    pub min_chars: u32,
    /// Refuse passwords from the shipped common-password list.
    pub reject_common: bool,
    /// A new password may not equal any of the user's last `history`
    /// passwords (PCI 8.3.7: 4); 0 turns the rule off.
    pub history: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_chars: Password::MIN_CHARS as u32, reject_common: true, history: 4 }
    }
}

impl PasswordPolicy {
    /// The configured minimum, raised to PCI's floor.
    pub fn effective_min_chars(&self) -> usize {
        (self.min_chars as usize).max(Password::MIN_CHARS)
    }

    /// The error for a password that broke `rule`, on `field`.
    pub fn refusal(&self, field: &str, rule: PolicyRule) -> DomainError {
        let description = match rule {
            PolicyRule::MinLength => format!("must be at least {} characters", self.effective_min_chars()),
            PolicyRule::MaxLength => format!("must be at most {} bytes", Password::MAX_BYTES),
            PolicyRule::CommonPassword => "is a commonly used password; choose another".to_owned(),
            PolicyRule::History => format!("must differ from your last {} passwords", self.history),
        };
        DomainError::InvalidArgument {
            reason: rule.reason(),
            violations: vec![FieldViolation::new(field, format!("{description} (password policy: {})", rule.name()))],
        }
    }

    /// Parses and checks a new password against every rule but history.
    pub fn parse(&self, field: &str, text: &str) -> Result<Password, DomainError> {
        let password = Password::for_verification(text);
        self.check(field, &password)?;
        Ok(password)
    }

    /// Checks an already normalised password against every rule but
    /// history (which needs the stored hashes).
    pub fn check(&self, field: &str, password: &Password) -> Result<(), DomainError> {
        let text = password.expose();
        if text.chars().count() < self.effective_min_chars() {
            return Err(self.refusal(field, PolicyRule::MinLength));
        }
        if text.len() > Password::MAX_BYTES {
            return Err(self.refusal(field, PolicyRule::MaxLength));
        }
        if self.reject_common && common_passwords().contains(text.to_lowercase().as_str()) {
            return Err(self.refusal(field, PolicyRule::CommonPassword));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_of(result: Result<Password, DomainError>) -> Option<&'static str> {
        result.err().map(|error| error.reason())
    }

    #[test]
    fn pci_8_3_policy_table() {
        let policy = PasswordPolicy::default();
        let long_unicode = "密码".repeat(43); // 86 characters, 258 bytes
        let table: &[(&str, Option<&str>)] = &[
            ("short", Some("PASSWORD_TOO_SHORT")),
            ("elevenchars", Some("PASSWORD_TOO_SHORT")),
            ("twelve chars", None),
            ("qwerty123456", Some("PASSWORD_TOO_COMMON")),
            ("QWERTY123456", Some("PASSWORD_TOO_COMMON")),
            ("1qaz2wsx3edc", Some("PASSWORD_TOO_COMMON")),
            ("correct horse battery staple", None),
            ("ünïcödé pässwörd", None),
            (&long_unicode, Some("PASSWORD_TOO_LONG")),
        ];
        for (text, expected) in table {
            assert_eq!(rule_of(policy.parse("new_password", text)), *expected, "{text:?}");
        }
    }

    #[test]
    fn two_hundred_fifty_six_bytes_are_compared_whole() {
        let policy = PasswordPolicy::default();
        let exactly = "a".repeat(255) + "b";
        assert!(policy.parse("new_password", &exactly).is_ok());
        assert_eq!(rule_of(policy.parse("new_password", &(exactly + "c"))), Some("PASSWORD_TOO_LONG"));
    }

    #[test]
    fn unicode_is_normalised_before_counting() {
        // Twelve "ﬁ" ligatures are 24 characters after NFKC.
        let policy = PasswordPolicy::default();
        let password = policy.parse("new_password", &"ﬁ".repeat(6)).unwrap();
        assert_eq!(password.expose(), "fi".repeat(6));
    }

    #[test]
    fn the_error_names_the_field_and_the_rule() {
        let error = PasswordPolicy::default().parse("new_password", "short").unwrap_err();
        let DomainError::InvalidArgument { violations, .. } = &error else { panic!("{error:?}") };
        assert_eq!(violations[0].field, "new_password");
        assert!(violations[0].description.contains("password policy: min_length"), "{}", violations[0].description);
        let history = PasswordPolicy::default().refusal("new_password", PolicyRule::History);
        assert_eq!(history.reason(), "PASSWORD_REUSED");
        assert!(history.to_string().contains("password policy: history"));
    }

    #[test]
    fn the_policy_is_configurable_but_never_below_twelve() {
        let strict = PasswordPolicy { min_chars: 16, reject_common: false, history: 4 };
        assert_eq!(rule_of(strict.parse("p", "fifteen chars!!")), Some("PASSWORD_TOO_SHORT"));
        assert!(strict.parse("p", "qwerty123456qwerty").is_ok(), "common list off");
        let lax = PasswordPolicy { min_chars: 6, ..PasswordPolicy::default() };
        assert_eq!(rule_of(lax.parse("p", "sixsix")), Some("PASSWORD_TOO_SHORT"));
    }

    #[test]
    fn the_shipped_list_has_thousands_of_entries() {
        assert!(common_passwords().len() > 10_000);
        assert!(common_passwords().contains("password1234"));
    }
}
