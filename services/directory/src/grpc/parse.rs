//! Request fields to domain values, naming the field on failure.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use prost_types::FieldMask;
use roster_domain::access::{OverrideEffect, PermissionOverride, RoleAssignment, Scope};
use roster_domain::error::{FieldViolation, Violations};
use roster_domain::filters::DataFilters;
use roster_domain::ids::{AccountId, GroupId, StoreId, UserId};
use roster_domain::network::IpAllowlist;
use roster_domain::paging::PageRequest;
use roster_domain::presets::PermissionName;
use roster_domain::DomainError;
use roster_proto::directory::v1 as proto;

/// A page request from `page_size` and `page_token`.
pub fn page_request(page_size: i32, page_token: &str) -> Result<PageRequest, FieldViolation> {
    let size = match page_size {
        0 => PageRequest::DEFAULT_SIZE,
        size if size > 0 && size as u32 <= PageRequest::MAX_SIZE => size as u32,
        _ => return Err(FieldViolation::new("page_size", "must be between 1 and 500")),
    };
    let after = if page_token.is_empty() {
        None
    } else {
        let bytes = URL_SAFE_NO_PAD
            .decode(page_token)
            .map_err(|_| FieldViolation::new("page_token", "is not a token this service issued"))?;
        Some(
            String::from_utf8(bytes)
                .map_err(|_| FieldViolation::new("page_token", "is not a token this service issued"))?,
        )
    };
    Ok(PageRequest { size, after })
}

/// The opaque token for a cursor.
pub fn page_token(cursor: Option<String>) -> String {
    cursor.map(|cursor| URL_SAFE_NO_PAD.encode(cursor)).unwrap_or_default()
}

/// An optional store id: empty means none.
pub fn optional_store(field: &str, text: &str) -> Result<Option<StoreId>, FieldViolation> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    StoreId::parse(field, text).map(Some)
}

/// An optional group id: empty means none.
pub fn optional_group(field: &str, text: &str) -> Result<Option<GroupId>, FieldViolation> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    GroupId::parse(field, text).map(Some)
}

pub fn role_assignment(field: &str, group_id: &str, store_id: &str) -> Result<RoleAssignment, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let group =
        GroupId::parse(&format!("{field}group_id"), group_id).map_err(|violation| violations.push(violation)).ok();
    let store =
        optional_store(&format!("{field}store_id"), store_id).map_err(|violation| violations.push(violation)).ok();
    match (group, store) {
        (Some(group_id), Some(store)) => {
            Ok(RoleAssignment { group_id, scope: store.map_or(Scope::Account, Scope::Store) })
        }
        _ => Err(violations),
    }
}

pub fn role_assignments(
    field: &str,
    messages: &[proto::RoleAssignment],
    violations: &mut Violations,
) -> BTreeSet<RoleAssignment> {
    let mut parsed = BTreeSet::new();
    for (index, message) in messages.iter().enumerate() {
        match role_assignment(&format!("{field}[{index}]."), &message.group_id, &message.store_id) {
            Ok(assignment) => {
                parsed.insert(assignment);
            }
            Err(found) => found.into_iter().for_each(|violation| violations.push(violation)),
        }
    }
    parsed
}

pub fn overrides(
    field: &str,
    messages: &[proto::PermissionOverride],
    violations: &mut Violations,
) -> BTreeSet<PermissionOverride> {
    let mut parsed = BTreeSet::new();
    for (index, message) in messages.iter().enumerate() {
        let prefix = format!("{field}[{index}]");
        let permission = violations.check(PermissionName::parse(&format!("{prefix}.permission"), &message.permission));
        let effect = match proto::OverrideEffect::try_from(message.effect) {
            Ok(proto::OverrideEffect::Grant) => Some(OverrideEffect::Grant),
            Ok(proto::OverrideEffect::Revoke) => Some(OverrideEffect::Revoke),
            _ => {
                violations.push(FieldViolation::new(format!("{prefix}.effect"), "must be GRANT or REVOKE"));
                None
            }
        };
        let store = violations.check(optional_store(&format!("{prefix}.store_id"), &message.store_id));
        if let (Some(permission), Some(effect), Some(store)) = (permission, effect, store) {
            parsed.insert(PermissionOverride { permission, effect, scope: store.map_or(Scope::Account, Scope::Store) });
        }
    }
    parsed
}

pub fn ip_allowlist(field: &str, entries: &[String]) -> Result<IpAllowlist, FieldViolation> {
    if entries.is_empty() {
        return Ok(IpAllowlist::Anywhere);
    }
    IpAllowlist::parse(field, entries)
}

pub fn data_filters(
    field: &str,
    filters: &std::collections::HashMap<String, proto::StringList>,
) -> Result<DataFilters, FieldViolation> {
    let map: BTreeMap<String, Vec<String>> =
        filters.iter().map(|(name, list)| (name.clone(), list.values.clone())).collect();
    DataFilters::parse(field, &map)
}

/// The paths of a field mask, each checked against `allowed`. An empty or
/// missing mask is refused: an update must say what it changes.
pub fn mask_paths(mask: Option<&FieldMask>, allowed: &[&str]) -> Result<BTreeSet<String>, DomainError> {
    let paths: BTreeSet<String> = mask.map(|mask| mask.paths.iter().cloned().collect()).unwrap_or_default();
    if paths.is_empty() {
        return Err(DomainError::invalid_field(
            "update_mask",
            format!("must name at least one of: {}", allowed.join(", ")),
        ));
    }
    let unknown: Vec<FieldViolation> = paths
        .iter()
        .filter(|path| !allowed.contains(&path.as_str()))
        .map(|path| {
            FieldViolation::new("update_mask", format!("{path} cannot be updated (allowed: {})", allowed.join(", ")))
        })
        .collect();
    if !unknown.is_empty() {
        return Err(DomainError::invalid_fields(unknown));
    }
    Ok(paths)
}

/// A list of permission names, each violation naming its index
/// (`permissions[2]`); duplicates collapse.
pub fn permission_names(field: &str, names: &[String], violations: &mut Violations) -> BTreeSet<PermissionName> {
    names
        .iter()
        .enumerate()
        .filter_map(|(index, name)| violations.check(PermissionName::parse(&format!("{field}[{index}]"), name)))
        .collect()
}

/// A list of group ids, each violation naming its index; duplicates
/// collapse.
pub fn group_ids(field: &str, ids: &[String], violations: &mut Violations) -> BTreeSet<GroupId> {
    ids.iter()
        .enumerate()
        .filter_map(|(index, id)| violations.check(GroupId::parse(&format!("{field}[{index}]"), id)))
        .collect()
}

/// The grey a group gets when no badge colour is given (R26).
pub const DEFAULT_BADGE_COLOUR: &str = "#757575";

/// A badge colour (R26); empty means [`DEFAULT_BADGE_COLOUR`].
pub fn badge_colour(field: &str, text: &str) -> Result<roster_domain::groups::BadgeColour, FieldViolation> {
    let text = if text.trim().is_empty() { DEFAULT_BADGE_COLOUR } else { text };
    roster_domain::groups::BadgeColour::parse(field, text)
}

/// An optional point in time: absent means none.
pub fn optional_time(
    field: &str,
    timestamp: Option<&prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, FieldViolation> {
    let Some(timestamp) = timestamp else { return Ok(None) };
    let nanos = u32::try_from(timestamp.nanos).ok().filter(|nanos| *nanos < 1_000_000_000);
    nanos
        .and_then(|nanos| chrono::DateTime::from_timestamp(timestamp.seconds, nanos))
        .map(Some)
        .ok_or_else(|| FieldViolation::new(field, "is not a valid timestamp"))
}

/// Optional free text: trimmed, empty means none.
pub fn optional_text(text: &str) -> Option<String> {
    Some(text.trim()).filter(|text| !text.is_empty()).map(str::to_owned)
}

/// An account id and a user id, both required.
pub fn account_and_user(account_id: &str, user_id: &str) -> Result<(AccountId, UserId), DomainError> {
    let mut violations = Violations::new();
    let account = violations.check(AccountId::parse("account_id", account_id));
    let user = violations.check(UserId::parse("user_id", user_id));
    violations.finish()?;
    match (account, user) {
        (Some(account), Some(user)) => Ok((account, user)),
        _ => Err(super::unparsed()),
    }
}
