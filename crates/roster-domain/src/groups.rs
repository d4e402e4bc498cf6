//! Groups as the directory stores and lists them (R21–R26).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::error::FieldViolation;
use crate::ids::{AccountId, GroupId};
use crate::names::DisplayName;
use crate::presets::PermissionName;

/// R26: a badge colour for display, `#RRGGBB`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BadgeColour(String);

impl BadgeColour {
    pub fn parse(field: &str, text: &str) -> Result<Self, FieldViolation> {
        let text = text.trim();
        let well_formed = text.len() == 7
            && text.starts_with('#')
            && text[1..].chars().all(|character| character.is_ascii_hexdigit());
        if !well_formed {
            return Err(FieldViolation::new(field, "must be a colour such as #1E88E5"));
        }
        Ok(Self(text.to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group of one account's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub account_id: AccountId,
    pub name: DisplayName,
    /// R25: names it had before, oldest first.
    pub former_names: Vec<String>,
    pub parent_id: Option<GroupId>,
    /// R22: only for inheriting from.
    pub is_template: bool,
    pub badge_colour: BadgeColour,
    /// The group's own permissions (not the inherited ones).
    pub permissions: BTreeSet<PermissionName>,
    /// R32: the groups this group's members may hand out.
    pub assignable: BTreeSet<GroupId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A group with its member counts (R23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWithCounts {
    pub group: Group,
    /// Distinct users assigned to this group.
    pub direct_members: u64,
    /// Distinct users assigned to this group or any group below it.
    pub total_members: u64,
}

/// A new group, parsed and authorized.
#[derive(Debug, Clone)]
pub struct NewGroup {
    pub account_id: AccountId,
    pub name: DisplayName,
    pub parent_id: Option<GroupId>,
    pub is_template: bool,
    pub badge_colour: BadgeColour,
    pub permissions: BTreeSet<PermissionName>,
    pub assignable: BTreeSet<GroupId>,
}

/// A partial update of a group; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct GroupPatch {
    /// The old name joins `former_names` (R25).
    pub name: Option<DisplayName>,
    /// `Some(None)` makes the group a root.
    pub parent_id: Option<Option<GroupId>>,
    pub is_template: Option<bool>,
    pub badge_colour: Option<BadgeColour>,
    pub permissions: Option<BTreeSet<PermissionName>>,
    pub assignable: Option<BTreeSet<GroupId>>,
}

/// How a request names a group: by id, or by a current or former name
/// (R25).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKey {
    Id(GroupId),
    Name(DisplayName),
}
