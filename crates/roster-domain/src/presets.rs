//! The permission catalog and the default groups every new account gets
//! (R20, R21), read from a preset file. The default file ships inside the
//! binary; an operator can point Roster at their own.

use std::collections::HashSet;

use serde::Deserialize;

use crate::error::DomainError;
use crate::names::DisplayName;

/// The preset file Roster ships with (`presets/commerce.toml`).
pub const DEFAULT_PRESETS_TOML: &str = include_str!("../presets/commerce.toml");

/// Where a permission holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeLevel {
    /// Across the whole account.
    Account,
    /// Per store: only in stores one of the user's assignments covers (R29).
    Store,
    /// Platform operators only.
    Platform,
}

impl ScopeLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Store => "store",
            Self::Platform => "platform",
        }
    }

    pub fn parse_stored(text: &str) -> Option<Self> {
        match text {
            "account" => Some(Self::Account),
            "store" => Some(Self::Store),
            "platform" => Some(Self::Platform),
            _ => None,
        }
    }
}

/// A permission name: dotted lowercase segments (`orders.process`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(try_from = "String")]
pub struct PermissionName(String);

impl PermissionName {
    pub fn parse(field: &str, text: &str) -> Result<Self, crate::FieldViolation> {
        let segment_ok = |segment: &str| {
            segment.chars().next().is_some_and(|first| first.is_ascii_lowercase())
                && segment
                    .chars()
                    .all(|character| character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_')
        };
        let text = text.trim();
        let segments: Vec<&str> = text.split('.').collect();
        if text.len() > 100 || segments.len() < 2 || !segments.iter().all(|segment| segment_ok(segment)) {
            return Err(crate::FieldViolation::new(
                field,
                "must be dotted lowercase segments such as `orders.process` (at most 100 characters)",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PermissionName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse("permission", &text).map_err(|violation| violation.to_string())
    }
}

impl std::fmt::Display for PermissionName {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// One entry of the permission catalog.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PermissionSpec {
    pub name: PermissionName,
    pub description: String,
    pub scope: ScopeLevel,
    /// Scope follows the account's billing level (R30).
    #[serde(default)]
    pub billing: bool,
    /// Can never be granted through a group or an override (R6).
    #[serde(default)]
    pub owner_only: bool,
}

/// One default group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupPreset {
    pub name: String,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub template: bool,
    #[serde(default = "default_badge_colour")]
    pub badge_colour: String,
    #[serde(default)]
    pub permissions: Vec<PermissionName>,
    #[serde(default)]
    pub assignable: Vec<String>,
}

fn default_badge_colour() -> String {
    "#757575".to_owned()
}

/// A whole preset file, checked: parents precede children, names are unique,
/// every permission is in the catalog, no owner-only permission is granted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Presets {
    pub owner_group: String,
    pub permissions: Vec<PermissionSpec>,
    pub groups: Vec<GroupPreset>,
}

impl Presets {
    /// The presets Roster ships with.
    pub fn builtin() -> Self {
        Self::parse(DEFAULT_PRESETS_TOML).expect("the shipped preset file is valid")
    }

    /// Parses and checks a preset file.
    pub fn parse(toml_text: &str) -> Result<Self, DomainError> {
        let presets: Presets = toml::from_str(toml_text)
            .map_err(|error| DomainError::invalid_field("presets_file", error.message().to_owned()))?;
        presets.check()?;
        Ok(presets)
    }

    fn check(&self) -> Result<(), DomainError> {
        let invalid = |message: String| DomainError::invalid_field("presets_file", message);
        let mut catalog = HashSet::new();
        for permission in &self.permissions {
            if !catalog.insert(permission.name.as_str()) {
                return Err(invalid(format!("permission {} is listed twice", permission.name)));
            }
        }
        let owner_only: HashSet<&str> = self
            .permissions
            .iter()
            .filter(|permission| permission.owner_only)
            .map(|permission| permission.name.as_str())
            .collect();
        let mut seen_groups = HashSet::new();
        for group in &self.groups {
            let name = DisplayName::parse("name", &group.name).map_err(|violation| invalid(violation.to_string()))?;
            if let Some(parent) = &group.parent {
                let parent_key =
                    DisplayName::parse("parent", parent).map_err(|violation| invalid(violation.to_string()))?.key();
                if !seen_groups.contains(&parent_key) {
                    return Err(invalid(format!("group {}: parent {parent} must come before it", group.name)));
                }
            }
            if !seen_groups.insert(name.key()) {
                return Err(invalid(format!("group {} is listed twice", group.name)));
            }
            for permission in &group.permissions {
                if !catalog.contains(permission.as_str()) {
                    return Err(invalid(format!("group {}: unknown permission {permission}", group.name)));
                }
                if owner_only.contains(permission.as_str()) {
                    return Err(invalid(format!("group {}: {permission} is owner-only (R6)", group.name)));
                }
            }
        }
        let group_keys: HashSet<String> = self
            .groups
            .iter()
            .filter_map(|group| DisplayName::parse("name", &group.name).ok())
            .map(|name| name.key())
            .collect();
        for group in &self.groups {
            for assignable in &group.assignable {
                let known =
                    DisplayName::parse("assignable", assignable).is_ok_and(|name| group_keys.contains(&name.key()));
                if !known {
                    return Err(invalid(format!("group {}: assignable group {assignable} is not defined", group.name)));
                }
            }
        }
        let owner_group_known =
            DisplayName::parse("owner_group", &self.owner_group).is_ok_and(|name| group_keys.contains(&name.key()));
        if !owner_group_known {
            return Err(invalid(format!("owner_group {} is not defined", self.owner_group)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r21_the_shipped_presets_hold_the_seeded_roots_and_roles() {
        let presets = Presets::builtin();
        let names: Vec<&str> = presets.groups.iter().map(|group| group.name.as_str()).collect();
        for expected in ["Anonymous", "Customer Root", "Operator Root", "Administrator Root", "Superuser"] {
            assert!(names.contains(&expected), "missing root {expected}");
        }
        for expected in ["Administrator", "Accountant", "Manager", "Team member"] {
            assert!(names.contains(&expected), "missing preset {expected}");
        }
    }

    #[test]
    fn r6_a_preset_granting_an_owner_only_permission_is_refused() {
        let text = r#"
            owner_group = "A"
            [[permissions]]
            name = "documents.sign"
            description = "sign"
            scope = "account"
            owner_only = true
            [[groups]]
            name = "A"
            permissions = ["documents.sign"]
        "#;
        let error = Presets::parse(text).unwrap_err();
        assert!(error.to_string().contains("owner-only"), "{error}");
    }

    #[test]
    fn a_child_before_its_parent_is_refused() {
        let text = r#"
            owner_group = "Child"
            permissions = []
            [[groups]]
            name = "Child"
            parent = "Parent"
            [[groups]]
            name = "Parent"
        "#;
        assert!(Presets::parse(text).unwrap_err().to_string().contains("must come before"));
    }

    #[test]
    fn permission_names_are_dotted_lowercase() {
        assert!(PermissionName::parse("permission", "orders.process").is_ok());
        for bad in ["orders", "Orders.process", "orders..process", "orders.process!", ".x"] {
            assert!(PermissionName::parse("permission", bad).is_err(), "{bad}");
        }
    }
}
