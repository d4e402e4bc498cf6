//! Reading groups with their permissions, assignable lists and former names
//! (R21, R25, R32), a few queries per call however many groups, and the
//! member counts of R23.

use std::collections::{BTreeSet, HashMap, HashSet};

use roster_domain::groups::{Group, GroupWithCounts};
use roster_domain::ids::GroupId;
use roster_domain::presets::PermissionName;
use roster_domain::DomainError;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::convert::{group_from_row, group_id_from, permission_name_from};
use crate::entity::{group_assignable, group_former_names, group_permissions, groups, role_assignments};
use crate::error::failed;

/// The groups of `account_id` (only `only` when given), ordered by name,
/// each with its own permissions, assignable groups and former names.
pub(crate) async fn load_groups(
    connection: &impl ConnectionTrait,
    account_id: &str,
    only: Option<&str>,
) -> Result<Vec<Group>, DomainError> {
    let mut query = groups::Entity::find().filter(groups::Column::AccountId.eq(account_id));
    if let Some(group_id) = only {
        query = query.filter(groups::Column::Id.eq(group_id));
    }
    let rows = query.order_by_asc(groups::Column::NameKey).all(connection).await.map_err(failed("loading groups"))?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut permissions = load_group_permissions(connection, &ids).await?;
    let mut assignable = load_group_assignable(connection, &ids).await?;
    let former_rows = group_former_names::Entity::find()
        .filter(group_former_names::Column::AccountId.eq(account_id))
        .filter(group_former_names::Column::GroupId.is_in(ids.iter().cloned()))
        .order_by_asc(group_former_names::Column::RenamedAt)
        .order_by_asc(group_former_names::Column::Id)
        .all(connection)
        .await
        .map_err(failed("loading former group names"))?;
    let mut former_names: HashMap<String, Vec<String>> = HashMap::new();
    for row in former_rows {
        former_names.entry(row.group_id).or_default().push(row.name);
    }
    rows.into_iter()
        .map(|row| {
            let group_id = group_id_from("groups", "id", &row.id)?;
            let former = former_names.remove(&row.id).unwrap_or_default();
            group_from_row(
                row,
                former,
                permissions.remove(&group_id).unwrap_or_default(),
                assignable.remove(&group_id).unwrap_or_default(),
            )
        })
        .collect()
}

/// The own permissions of each of `group_ids`.
pub(crate) async fn load_group_permissions(
    connection: &impl ConnectionTrait,
    group_ids: &[String],
) -> Result<HashMap<GroupId, BTreeSet<PermissionName>>, DomainError> {
    let rows = group_permissions::Entity::find()
        .filter(group_permissions::Column::GroupId.is_in(group_ids.iter().cloned()))
        .all(connection)
        .await
        .map_err(failed("loading group permissions"))?;
    let mut by_group: HashMap<GroupId, BTreeSet<PermissionName>> = HashMap::new();
    for row in rows {
        let group_id = group_id_from("group_permissions", "group_id", &row.group_id)?;
        let permission = permission_name_from("group_permissions", "permission_name", &row.permission_name)?;
        by_group.entry(group_id).or_default().insert(permission);
    }
    Ok(by_group)
}

/// The assignable groups (R32) of each of `group_ids`.
pub(crate) async fn load_group_assignable(
    connection: &impl ConnectionTrait,
    group_ids: &[String],
) -> Result<HashMap<GroupId, BTreeSet<GroupId>>, DomainError> {
    let rows = group_assignable::Entity::find()
        .filter(group_assignable::Column::GroupId.is_in(group_ids.iter().cloned()))
        .all(connection)
        .await
        .map_err(failed("loading assignable groups"))?;
    let mut by_group: HashMap<GroupId, BTreeSet<GroupId>> = HashMap::new();
    for row in rows {
        let group_id = group_id_from("group_assignable", "group_id", &row.group_id)?;
        let assignable = group_id_from("group_assignable", "assignable_group_id", &row.assignable_group_id)?;
        by_group.entry(group_id).or_default().insert(assignable);
    }
    Ok(by_group)
}

/// The group of `account_id` whose current name, or else a former name
/// (R25), has `name_key`.
pub(crate) async fn group_id_by_name(
    connection: &impl ConnectionTrait,
    account_id: &str,
    name_key: &str,
) -> Result<Option<String>, DomainError> {
    let current: Option<String> = groups::Entity::find()
        .select_only()
        .column(groups::Column::Id)
        .filter(groups::Column::AccountId.eq(account_id))
        .filter(groups::Column::NameKey.eq(name_key))
        .into_tuple()
        .one(connection)
        .await
        .map_err(failed("finding a group by name"))?;
    if current.is_some() {
        return Ok(current);
    }
    // The most recent holder, should a former name have been freed by a
    // deletion and taken again.
    group_former_names::Entity::find()
        .select_only()
        .column(group_former_names::Column::GroupId)
        .filter(group_former_names::Column::AccountId.eq(account_id))
        .filter(group_former_names::Column::NameKey.eq(name_key))
        .order_by_desc(group_former_names::Column::RenamedAt)
        .into_tuple()
        .one(connection)
        .await
        .map_err(failed("finding a group by a former name"))
}

/// Whether `name_key` is the current or a former name of a group of
/// `account_id` other than `except` (R25).
pub(crate) async fn group_name_in_use(
    connection: &impl ConnectionTrait,
    account_id: &str,
    name_key: &str,
    except: Option<&str>,
) -> Result<bool, DomainError> {
    let mut current = groups::Entity::find()
        .filter(groups::Column::AccountId.eq(account_id))
        .filter(groups::Column::NameKey.eq(name_key));
    let mut former = group_former_names::Entity::find()
        .filter(group_former_names::Column::AccountId.eq(account_id))
        .filter(group_former_names::Column::NameKey.eq(name_key));
    if let Some(except) = except {
        current = current.filter(groups::Column::Id.ne(except));
        former = former.filter(group_former_names::Column::GroupId.ne(except));
    }
    if current.one(connection).await.map_err(failed("checking a group name"))?.is_some() {
        return Ok(true);
    }
    Ok(former.one(connection).await.map_err(failed("checking a group name"))?.is_some())
}

/// R23: `groups` with the number of distinct users assigned to each group
/// (direct) and to it or any group below it (total). One query for the
/// assignments; the tree is walked here.
pub(crate) async fn with_member_counts(
    connection: &impl ConnectionTrait,
    account_id: &str,
    groups: Vec<Group>,
) -> Result<Vec<GroupWithCounts>, DomainError> {
    let pairs: Vec<(String, String)> = role_assignments::Entity::find()
        .select_only()
        .column(role_assignments::Column::GroupId)
        .column(role_assignments::Column::UserId)
        .distinct()
        .filter(role_assignments::Column::AccountId.eq(account_id))
        .into_tuple()
        .all(connection)
        .await
        .map_err(failed("counting group members"))?;
    let mut members: HashMap<GroupId, HashSet<String>> = HashMap::new();
    for (group_id, user_id) in pairs {
        members.entry(group_id_from("role_assignments", "group_id", &group_id)?).or_default().insert(user_id);
    }
    let mut children: HashMap<GroupId, Vec<GroupId>> = HashMap::new();
    for group in &groups {
        if let Some(parent_id) = group.parent_id {
            children.entry(parent_id).or_default().push(group.id);
        }
    }
    let counted = groups
        .into_iter()
        .map(|group| {
            let direct = members.get(&group.id).map_or(0, HashSet::len);
            let mut everyone: HashSet<&str> = HashSet::new();
            // The subtree, walked iteratively; `seen` guards against a
            // corrupt cycle.
            let mut seen = HashSet::from([group.id]);
            let mut pending = vec![group.id];
            while let Some(current) = pending.pop() {
                if let Some(users) = members.get(&current) {
                    everyone.extend(users.iter().map(String::as_str));
                }
                for child in children.get(&current).into_iter().flatten() {
                    if seen.insert(*child) {
                        pending.push(*child);
                    }
                }
            }
            let total = everyone.len();
            GroupWithCounts { group, direct_members: direct as u64, total_members: total as u64 }
        })
        .collect();
    Ok(counted)
}
