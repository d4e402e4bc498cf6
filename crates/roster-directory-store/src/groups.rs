//! [`GroupRepository`]: each account's group tree (R21–R26). Names are
//! unique per account across current and former names (R25), a parent
//! change never closes a cycle, and a group in use is not deleted; all
//! checked under the account's write lock.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use roster_domain::audit::RequestContext;
use roster_domain::groups::{Group, GroupKey, GroupPatch, GroupWithCounts, NewGroup};
use roster_domain::ids::{AccountId, GroupId};
use roster_domain::presets::PermissionName;
use roster_domain::repository::GroupRepository;
use roster_domain::{DomainError, FieldViolation};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};

use crate::audit::{audit_change, AuditTarget};
use crate::changes::Changes;
use crate::entity::{group_assignable, group_former_names, group_permissions, groups, role_assignments};
use crate::error::{failed, failed_or_missing, group_name_taken, group_not_found};
use crate::group_rows::{group_id_by_name, group_name_in_use, load_groups, with_member_counts};
use crate::references::{check_permissions, groups_of_account};
use crate::store::SeaDirectoryStore;

fn group_cycle() -> DomainError {
    DomainError::InvalidArgument {
        reason: "GROUP_CYCLE",
        violations: vec![FieldViolation::new("parent_id", "would make the group its own ancestor")],
    }
}

fn group_in_use(what: &str) -> DomainError {
    DomainError::FailedPrecondition {
        rule: "R21",
        reason: "GROUP_IN_USE",
        message: format!("the group still has {what}"),
    }
}

/// Checks that `permissions` are in the catalog and none is owner-only (R6).
async fn check_group_permissions(
    connection: &impl ConnectionTrait,
    permissions: &BTreeSet<PermissionName>,
) -> Result<(), DomainError> {
    let named: BTreeSet<&PermissionName> = permissions.iter().collect();
    check_permissions(connection, &named, &named).await
}

/// Replaces a group's own permissions.
async fn write_permissions(
    connection: &impl ConnectionTrait,
    group_id: &str,
    permissions: &BTreeSet<PermissionName>,
) -> Result<(), DomainError> {
    group_permissions::Entity::delete_many()
        .filter(group_permissions::Column::GroupId.eq(group_id))
        .exec(connection)
        .await
        .map_err(failed("replacing group permissions"))?;
    if permissions.is_empty() {
        return Ok(());
    }
    let rows = permissions.iter().map(|permission| group_permissions::ActiveModel {
        group_id: Set(group_id.to_owned()),
        permission_name: Set(permission.as_str().to_owned()),
    });
    group_permissions::Entity::insert_many(rows)
        .exec_without_returning(connection)
        .await
        .map_err(failed("granting group permissions"))?;
    Ok(())
}

/// Replaces a group's assignable list (R32).
async fn write_assignable(
    connection: &impl ConnectionTrait,
    group_id: &str,
    assignable: &BTreeSet<GroupId>,
) -> Result<(), DomainError> {
    group_assignable::Entity::delete_many()
        .filter(group_assignable::Column::GroupId.eq(group_id))
        .exec(connection)
        .await
        .map_err(failed("replacing assignable groups"))?;
    if assignable.is_empty() {
        return Ok(());
    }
    let rows = assignable.iter().map(|assignable_id| group_assignable::ActiveModel {
        group_id: Set(group_id.to_owned()),
        assignable_group_id: Set(assignable_id.to_string()),
    });
    group_assignable::Entity::insert_many(rows)
        .exec_without_returning(connection)
        .await
        .map_err(failed_or_missing("declaring assignable groups", group_not_found))?;
    Ok(())
}

/// Whether making `new_parent` the parent of `group_id` closes a cycle,
/// walking the account's parent links as they are inside the transaction.
async fn closes_cycle(
    connection: &impl ConnectionTrait,
    account_id: &str,
    group_id: &str,
    new_parent: &str,
) -> Result<bool, DomainError> {
    let links: Vec<(String, Option<String>)> = groups::Entity::find()
        .select_only()
        .column(groups::Column::Id)
        .column(groups::Column::ParentId)
        .filter(groups::Column::AccountId.eq(account_id))
        .into_tuple()
        .all(connection)
        .await
        .map_err(failed("reading the group tree"))?;
    let parents: HashMap<String, Option<String>> = links.into_iter().collect();
    let mut current = Some(new_parent.to_owned());
    let mut steps = 0;
    while let Some(ancestor) = current {
        if ancestor == group_id {
            return Ok(true);
        }
        // More steps than groups means the stored tree already loops.
        steps += 1;
        if steps > parents.len() {
            return Ok(true);
        }
        current = parents.get(&ancestor).cloned().flatten();
    }
    Ok(false)
}

/// One group as the transaction sees it.
async fn reload_group(
    transaction: &DatabaseTransaction,
    account_id: &str,
    group_id: &str,
) -> Result<Group, DomainError> {
    load_groups(transaction, account_id, Some(group_id)).await?.pop().ok_or_else(group_not_found)
}

fn id_strings(ids: &BTreeSet<GroupId>) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

fn name_strings(names: &BTreeSet<PermissionName>) -> Vec<&str> {
    names.iter().map(PermissionName::as_str).collect()
}

#[async_trait]
impl GroupRepository for SeaDirectoryStore {
    #[tracing::instrument(name = "directory_store.create_group", skip_all, fields(account.id = %group.account_id))]
    async fn create_group(&self, group: NewGroup, context: &RequestContext) -> Result<Group, DomainError> {
        let now = self.now();
        let (transaction, account) = self.begin_account_write(group.account_id).await?;
        let name_key = group.name.key();
        if group_name_in_use(&transaction, &account.id, &name_key, None).await? {
            return Err(group_name_taken());
        }
        groups_of_account(&transaction, &account.id, group.parent_id).await?;
        groups_of_account(&transaction, &account.id, group.assignable.iter().copied()).await?;
        check_group_permissions(&transaction, &group.permissions).await?;

        let group_id = GroupId::generate();
        let id = group_id.to_string();
        let row = groups::ActiveModel {
            id: Set(id.clone()),
            account_id: Set(account.id.clone()),
            parent_id: Set(group.parent_id.map(|parent_id| parent_id.to_string())),
            name: Set(group.name.as_str().to_owned()),
            name_key: Set(name_key),
            is_template: Set(group.is_template),
            badge_colour: Set(group.badge_colour.as_str().to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        groups::Entity::insert(row)
            .exec_without_returning(&transaction)
            .await
            .map_err(failed_or_missing("inserting a group", group_not_found))?;
        write_permissions(&transaction, &id, &group.permissions).await?;
        write_assignable(&transaction, &id, &group.assignable).await?;

        let mut changes = Changes::new();
        changes
            .created("name", group.name.as_str())
            .created("parent_id", group.parent_id)
            .created("is_template", group.is_template)
            .created("badge_colour", group.badge_colour.as_str())
            .created("permissions", name_strings(&group.permissions))
            .created("assignable", id_strings(&group.assignable));
        let target = AuditTarget::group(&id, group.name.as_str());
        audit_change(&transaction, Some(group.account_id), "group.create", target, changes, now, context).await?;
        let created = reload_group(&transaction, &account.id, &id).await?;
        transaction.commit().await.map_err(failed("committing a new group"))?;
        Ok(created)
    }

    #[tracing::instrument(name = "directory_store.find_group", skip_all, fields(account.id = %account_id))]
    async fn find_group(&self, account_id: AccountId, key: &GroupKey) -> Result<Option<Group>, DomainError> {
        let account = account_id.to_string();
        let group_id = match key {
            GroupKey::Id(group_id) => group_id.to_string(),
            GroupKey::Name(name) => match group_id_by_name(&self.database, &account, &name.key()).await? {
                Some(group_id) => group_id,
                None => return Ok(None),
            },
        };
        Ok(load_groups(&self.database, &account, Some(&group_id)).await?.pop())
    }

    #[tracing::instrument(name = "directory_store.list_groups", skip_all, fields(account.id = %account_id))]
    async fn list_groups(&self, account_id: AccountId) -> Result<Vec<GroupWithCounts>, DomainError> {
        let account = account_id.to_string();
        let groups = load_groups(&self.database, &account, None).await?;
        with_member_counts(&self.database, &account, groups).await
    }

    #[tracing::instrument(name = "directory_store.update_group", skip_all, fields(account.id = %account_id, group.id = %group_id))]
    async fn update_group(
        &self,
        account_id: AccountId,
        group_id: GroupId,
        patch: GroupPatch,
        context: &RequestContext,
    ) -> Result<Group, DomainError> {
        let now = self.now();
        let (transaction, account) = self.begin_account_write(account_id).await?;
        let id = group_id.to_string();
        let before = reload_group(&transaction, &account.id, &id).await?;
        let mut changes = Changes::new();
        let mut update = groups::ActiveModel { id: Set(id.clone()), ..Default::default() };

        if let Some(name) = patch.name.as_ref().filter(|name| *name != &before.name) {
            let name_key = name.key();
            if group_name_in_use(&transaction, &account.id, &name_key, Some(&id)).await? {
                return Err(group_name_taken());
            }
            // R25: the old name stays findable.
            let former = group_former_names::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                group_id: Set(id.clone()),
                account_id: Set(account.id.clone()),
                name: Set(before.name.as_str().to_owned()),
                name_key: Set(before.name.key()),
                renamed_at: Set(now),
            };
            group_former_names::Entity::insert(former)
                .exec_without_returning(&transaction)
                .await
                .map_err(failed("keeping a former group name"))?;
            changes.field("name", before.name.as_str(), name.as_str());
            update.name = Set(name.as_str().to_owned());
            update.name_key = Set(name_key);
        }
        if let Some(parent_id) = patch.parent_id.filter(|parent_id| *parent_id != before.parent_id) {
            if let Some(parent) = parent_id {
                groups_of_account(&transaction, &account.id, [parent]).await?;
                if closes_cycle(&transaction, &account.id, &id, &parent.to_string()).await? {
                    return Err(group_cycle());
                }
            }
            changes.field("parent_id", before.parent_id, parent_id);
            update.parent_id = Set(parent_id.map(|parent| parent.to_string()));
        }
        if let Some(is_template) = patch.is_template.filter(|is_template| *is_template != before.is_template) {
            changes.field("is_template", before.is_template, is_template);
            update.is_template = Set(is_template);
        }
        if let Some(colour) = patch.badge_colour.filter(|colour| *colour != before.badge_colour) {
            changes.field("badge_colour", before.badge_colour.as_str(), colour.as_str());
            update.badge_colour = Set(colour.as_str().to_owned());
        }
        if let Some(permissions) = patch.permissions.filter(|permissions| *permissions != before.permissions) {
            check_group_permissions(&transaction, &permissions).await?;
            write_permissions(&transaction, &id, &permissions).await?;
            changes.field("permissions", name_strings(&before.permissions), name_strings(&permissions));
        }
        if let Some(assignable) = patch.assignable.filter(|assignable| *assignable != before.assignable) {
            groups_of_account(&transaction, &account.id, assignable.iter().copied()).await?;
            write_assignable(&transaction, &id, &assignable).await?;
            changes.field("assignable", id_strings(&before.assignable), id_strings(&assignable));
        }
        if changes.is_empty() {
            return Ok(before);
        }
        update.updated_at = Set(now);
        groups::Entity::update(update).exec(&transaction).await.map_err(failed("updating a group"))?;
        let after = reload_group(&transaction, &account.id, &id).await?;
        let target = AuditTarget::group(&id, after.name.as_str());
        audit_change(&transaction, Some(account_id), "group.update", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a group update"))?;
        Ok(after)
    }

    #[tracing::instrument(name = "directory_store.delete_group", skip_all, fields(account.id = %account_id, group.id = %group_id))]
    async fn delete_group(
        &self,
        account_id: AccountId,
        group_id: GroupId,
        context: &RequestContext,
    ) -> Result<(), DomainError> {
        let now = self.now();
        let (transaction, account) = self.begin_account_write(account_id).await?;
        let id = group_id.to_string();
        let group = reload_group(&transaction, &account.id, &id).await?;
        let member = role_assignments::Entity::find()
            .filter(role_assignments::Column::GroupId.eq(id.as_str()))
            .one(&transaction)
            .await
            .map_err(failed("checking group members"))?;
        if member.is_some() {
            return Err(group_in_use("members"));
        }
        let child = groups::Entity::find()
            .filter(groups::Column::ParentId.eq(id.as_str()))
            .one(&transaction)
            .await
            .map_err(failed("checking sub-groups"))?;
        if child.is_some() {
            return Err(group_in_use("sub-groups"));
        }
        // Its permissions, assignable lists (both ways) and former names go
        // with it (ON DELETE CASCADE).
        groups::Entity::delete_by_id(id.as_str()).exec(&transaction).await.map_err(failed("deleting a group"))?;
        let mut changes = Changes::new();
        changes
            .removed("name", group.name.as_str())
            .removed("parent_id", group.parent_id)
            .removed("permissions", name_strings(&group.permissions));
        let target = AuditTarget::group(&id, group.name.as_str());
        audit_change(&transaction, Some(account_id), "group.delete", target, changes, now, context).await?;
        transaction.commit().await.map_err(failed("committing a group deletion"))?;
        Ok(())
    }
}
