//! Groups (R21–R26): each account's tree of permission sets. Reads need a
//! session of the account; defining a group needs `groups.manage` and no
//! escalation (R6, R32). The store audits every change; denials are audited
//! here.

use std::collections::{BTreeSet, HashMap};

use roster_domain::access::policy::check_define_group;
use roster_domain::access::{AccountFacts, GroupNode, GroupTree, PermissionCatalog};
use roster_domain::audit::RequestContext;
use roster_domain::caller::Caller;
use roster_domain::error::FieldViolation;
use roster_domain::groups::{BadgeColour, Group, GroupKey, GroupPatch, GroupWithCounts, NewGroup};
use roster_domain::ids::{AccountId, GroupId};
use roster_domain::names::DisplayName;
use roster_domain::paging::{Page, PageRequest};
use roster_domain::presets::{PermissionName, ScopeLevel};
use roster_domain::DomainError;

use super::admin::{Act, AdminScope};
use super::users::require;
use super::Directory;

/// A parsed `CreateGroup`.
#[derive(Debug, Clone)]
pub struct DefineGroup {
    pub name: DisplayName,
    pub parent_id: Option<GroupId>,
    pub is_template: bool,
    pub badge_colour: BadgeColour,
    pub permissions: BTreeSet<PermissionName>,
    pub assignable: BTreeSet<GroupId>,
}

/// A group as reads show it: its member counts (R23) and its own plus every
/// ancestor's permissions (R21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub group: Group,
    pub direct_members: u64,
    pub total_members: u64,
    pub inherited_permissions: BTreeSet<PermissionName>,
}

/// One group of the tree with the groups below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBranch {
    pub view: GroupView,
    pub children: Vec<GroupBranch>,
}

/// `ListGroups` filters; all present ones must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// Case-insensitive substring of the current name.
    pub name_contains: Option<String>,
    /// Only the children of this group.
    pub parent_id: Option<GroupId>,
    /// Only root groups.
    pub roots_only: bool,
}

fn group_not_found() -> DomainError {
    DomainError::NotFound { entity: "group", reason: "GROUP_NOT_FOUND" }
}

fn node_of(group: &Group) -> GroupNode {
    GroupNode {
        id: group.id,
        name: group.name.as_str().to_owned(),
        parent_id: group.parent_id,
        is_template: group.is_template,
        permissions: group.permissions.clone(),
        assignable: group.assignable.clone(),
    }
}

/// Every listed group with its inherited permissions, resolved in the tree
/// the list itself forms (so counts and inheritance describe one moment).
pub fn views_of(groups: Vec<GroupWithCounts>) -> Vec<GroupView> {
    let tree = GroupTree::new(groups.iter().map(|listed| node_of(&listed.group)));
    groups
        .into_iter()
        .map(|listed| GroupView {
            inherited_permissions: tree.inherited_permissions(listed.group.id),
            direct_members: listed.direct_members,
            total_members: listed.total_members,
            group: listed.group,
        })
        .collect()
}

/// `group`'s own permissions plus those its parent inherits in `tree`: for
/// a group just written, which `tree` may not show yet.
fn inherited_in(tree: &GroupTree, group: &Group) -> BTreeSet<PermissionName> {
    let from_parent = group.parent_id.map(|parent_id| tree.inherited_permissions(parent_id)).unwrap_or_default();
    group.permissions.iter().cloned().chain(from_parent).collect()
}

/// Siblings order: root groups first (the account's defaults, R23), then by
/// name, then by id so the order is total.
fn listing_order(view: &GroupView) -> (bool, String, GroupId) {
    (view.group.parent_id.is_some(), view.group.name.key(), view.group.id)
}

/// Filters, orders and pages the grid (R23). The page cursor is the offset
/// of the page's first group.
pub fn select_groups(
    views: Vec<GroupView>,
    filter: &GroupFilter,
    page: &PageRequest,
) -> Result<Page<GroupView>, DomainError> {
    let offset = match page.after.as_deref() {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .map_err(|_| DomainError::invalid_field("page_token", "is not a token this service issued"))?,
    };
    let needle = filter.name_contains.as_deref().map(str::to_lowercase);
    let mut selected: Vec<GroupView> = views
        .into_iter()
        .filter(|view| !filter.roots_only || view.group.parent_id.is_none())
        .filter(|view| filter.parent_id.is_none() || view.group.parent_id == filter.parent_id)
        .filter(|view| needle.as_deref().is_none_or(|needle| view.group.name.as_str().to_lowercase().contains(needle)))
        .collect();
    selected.sort_by_cached_key(listing_order);
    let size = page.size as usize;
    let total = selected.len();
    let items: Vec<GroupView> = selected.into_iter().skip(offset).take(size).collect();
    let next_offset = offset.saturating_add(size);
    let next = (next_offset < total).then(|| next_offset.to_string());
    Ok(Page { items, next })
}

/// The account's groups as nested branches (R23), siblings in listing
/// order. A group whose parent is not listed is shown as a root, so that
/// nothing goes missing. Each group has one parent, so every group is
/// placed at most once and the recursion ends.
pub fn build_tree(views: Vec<GroupView>) -> Vec<GroupBranch> {
    let listed: BTreeSet<GroupId> = views.iter().map(|view| view.group.id).collect();
    let mut by_parent: HashMap<Option<GroupId>, Vec<GroupView>> = HashMap::new();
    for view in views {
        let parent = view.group.parent_id.filter(|parent_id| listed.contains(parent_id));
        by_parent.entry(parent).or_default().push(view);
    }
    for siblings in by_parent.values_mut() {
        siblings.sort_by_cached_key(listing_order);
    }
    branches_under(None, &mut by_parent)
}

fn branches_under(
    parent: Option<GroupId>,
    by_parent: &mut HashMap<Option<GroupId>, Vec<GroupView>>,
) -> Vec<GroupBranch> {
    let siblings = by_parent.remove(&parent).unwrap_or_default();
    siblings
        .into_iter()
        .map(|view| {
            let children = branches_under(Some(view.group.id), by_parent);
            GroupBranch { view, children }
        })
        .collect()
}

/// Whether a group holding `permission` confers anything: unknown,
/// owner-only (R6) and, outside the platform account, platform-level
/// permissions confer nothing.
fn confers(catalog: &PermissionCatalog, facts: AccountFacts, permission: &PermissionName) -> bool {
    if !catalog.contains(permission) || catalog.is_owner_only(permission) {
        return false;
    }
    facts.is_platform || catalog.level(permission, facts.billing_level) != Some(ScopeLevel::Platform)
}

/// R32 (remove): an update may take from the group's members only
/// permissions the actor holds account-wide and assignable groups the actor
/// may hand out. `check_define_group` covers what the group keeps or gains.
fn check_removals(scope: &AdminScope, group_id: GroupId, merged: &GroupNode) -> Result<(), DomainError> {
    let tree = &scope.snapshot.groups;
    let from_parent = merged.parent_id.map(|parent_id| tree.inherited_permissions(parent_id)).unwrap_or_default();
    let kept: BTreeSet<&PermissionName> = merged.permissions.iter().chain(from_parent.iter()).collect();
    let actor = scope.actor();
    for permission in tree.inherited_permissions(group_id) {
        let removed = !kept.contains(&permission) && confers(&scope.snapshot.catalog, scope.facts(), &permission);
        if removed && !actor.permissions.holds(&permission, None) {
            return Err(DomainError::permission_denied(
                "ESCALATION",
                format!("R32: cannot remove {permission} from group {}: you do not hold it account-wide", merged.name),
            ));
        }
    }
    let assignable_from_parent =
        merged.parent_id.map(|parent_id| tree.inherited_assignable(parent_id)).unwrap_or_default();
    let still_assignable: BTreeSet<GroupId> = merged.assignable.union(&assignable_from_parent).copied().collect();
    let no_longer_assignable = tree.inherited_assignable(group_id);
    if no_longer_assignable.difference(&still_assignable).any(|removed| !actor.assignable.contains(removed)) {
        return Err(DomainError::permission_denied(
            "ESCALATION",
            format!("R32: group {} would stop handing out groups that you may not hand out", merged.name),
        ));
    }
    Ok(())
}

/// Whether an update changed what a principal holds or shows: the name
/// (principals list group names), the parent and the own permissions
/// (inheritance), the template flag (R22), the assignable groups (R32). A
/// badge colour changes nobody's access.
fn changes_access(before: &GroupNode, after: &Group) -> bool {
    before.name != after.name.as_str()
        || before.parent_id != after.parent_id
        || before.is_template != after.is_template
        || before.permissions != after.permissions
        || before.assignable != after.assignable
}

/// R21: the groups form a tree; a parent that is the group itself or one of its
/// descendants would close a cycle.
fn check_no_cycle(tree: &GroupTree, group_id: GroupId, parent: Option<GroupId>) -> Result<(), DomainError> {
    match parent {
        Some(parent_id) if tree.would_create_cycle(group_id, parent_id) => Err(DomainError::InvalidArgument {
            reason: "GROUP_CYCLE",
            violations: vec![FieldViolation::new(
                "group.parent_id",
                "would make the group its own ancestor: choose a group outside its subtree",
            )],
        }),
        _ => Ok(()),
    }
}

impl Directory {
    /// Every group of the account, with counts and inherited permissions.
    async fn group_views(&self, account_id: AccountId) -> Result<Vec<GroupView>, DomainError> {
        Ok(views_of(self.repository.list_groups(account_id).await?))
    }

    /// R6, R21, R26, R32: a new group whose permissions (its own and
    /// inherited) and assignable groups the caller holds.
    pub async fn create_group(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        request: DefineGroup,
    ) -> Result<GroupView, DomainError> {
        let act = Act::new("group.create", "group", None);
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let check = check_define_group(
            &scope.actor(),
            &scope.snapshot.catalog,
            &scope.snapshot.groups,
            scope.facts(),
            &request.permissions,
            request.parent_id,
            &request.assignable,
        );
        self.authorize(&scope, act, check).await?;
        let new_group = NewGroup {
            account_id,
            name: request.name,
            parent_id: request.parent_id,
            is_template: request.is_template,
            badge_colour: request.badge_colour,
            permissions: request.permissions,
            assignable: request.assignable,
        };
        let group = self.repository.create_group(new_group, &scope.context).await?;
        let inherited_permissions = inherited_in(&scope.snapshot.groups, &group);
        Ok(GroupView { group, direct_members: 0, total_members: 0, inherited_permissions })
    }

    /// By id, or by a current or former name (R25); any user of the account.
    pub async fn get_group(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        key: &GroupKey,
    ) -> Result<GroupView, DomainError> {
        let target_id = match key {
            GroupKey::Id(group_id) => Some(group_id.to_string()),
            GroupKey::Name(_) => None,
        };
        let act = Act::new("group.get", "group", target_id.as_deref());
        self.admin_scope(caller, account_id, context, act).await?;
        let group = self.repository.find_group(account_id, key).await?.ok_or_else(group_not_found)?;
        self.group_views(account_id)
            .await?
            .into_iter()
            .find(|view| view.group.id == group.id)
            .ok_or_else(group_not_found)
    }

    /// R23: the filtered grid, root groups first; any user of the account.
    pub async fn list_groups(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        filter: &GroupFilter,
        page: &PageRequest,
    ) -> Result<Page<GroupView>, DomainError> {
        let act = Act::new("group.list", "account", None);
        self.admin_scope(caller, account_id, context, act).await?;
        select_groups(self.group_views(account_id).await?, filter, page)
    }

    /// R23: the tree with direct and total member counts; any user of the
    /// account.
    pub async fn get_group_tree(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
    ) -> Result<Vec<GroupBranch>, DomainError> {
        let act = Act::new("group.tree", "account", None);
        self.admin_scope(caller, account_id, context, act).await?;
        Ok(build_tree(self.group_views(account_id).await?))
    }

    /// R6, R25, R32: a field-masked update, checked as a definition of the
    /// group's new state; what it takes away must be the caller's to take.
    pub async fn update_group(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        group_id: GroupId,
        patch: GroupPatch,
    ) -> Result<GroupView, DomainError> {
        let target_id = group_id.to_string();
        let act = Act::new("group.update", "group", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        let current = scope.snapshot.groups.get(group_id).ok_or_else(group_not_found)?;
        let merged = GroupNode {
            id: group_id,
            name: patch.name.as_ref().map_or_else(|| current.name.clone(), |name| name.as_str().to_owned()),
            parent_id: patch.parent_id.unwrap_or(current.parent_id),
            is_template: patch.is_template.unwrap_or(current.is_template),
            permissions: patch.permissions.clone().unwrap_or_else(|| current.permissions.clone()),
            assignable: patch.assignable.clone().unwrap_or_else(|| current.assignable.clone()),
        };
        let check = check_define_group(
            &scope.actor(),
            &scope.snapshot.catalog,
            &scope.snapshot.groups,
            scope.facts(),
            &merged.permissions,
            merged.parent_id,
            &merged.assignable,
        );
        self.authorize(&scope, act, check).await?;
        self.authorize(&scope, act, check_removals(&scope, group_id, &merged)).await?;
        // The store checks again inside its transaction; this answers early.
        check_no_cycle(&scope.snapshot.groups, group_id, merged.parent_id)?;
        let updated = self.repository.update_group(account_id, group_id, patch, &scope.context).await?;
        if changes_access(current, &updated) {
            // Members of the group and of every group below it: the account.
            self.access_changed(account_id, &[]).await;
        }
        let listed = self.group_views(account_id).await?.into_iter().find(|view| view.group.id == group_id);
        // Gone already: deleted right after the update, which needs it to
        // have had no members.
        Ok(listed.unwrap_or_else(|| GroupView {
            inherited_permissions: inherited_in(&scope.snapshot.groups, &updated),
            group: updated,
            direct_members: 0,
            total_members: 0,
        }))
    }

    /// Needs `groups.manage`; the store refuses while the group has members
    /// or sub-groups (`GROUP_IN_USE`).
    pub async fn delete_group(
        &self,
        caller: &Caller,
        context: RequestContext,
        account_id: AccountId,
        group_id: GroupId,
    ) -> Result<(), DomainError> {
        let target_id = group_id.to_string();
        let act = Act::new("group.delete", "group", Some(&target_id));
        let scope = self.admin_scope(caller, account_id, context, act).await?;
        if !scope.snapshot.groups.contains(group_id) {
            return Err(group_not_found());
        }
        let check = require(&scope, "groups.manage", "deleting groups needs groups.manage");
        self.authorize(&scope, act, check).await?;
        self.repository.delete_group(account_id, group_id, &scope.context).await?;
        // Unused (the store refused otherwise), but other groups' assignable
        // lists named it; cheap enough to say so rather than reason it away.
        self.access_changed(account_id, &[]).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn view(name: &str, parent: Option<GroupId>, permissions: &[&str]) -> GroupView {
        let now = Utc::now();
        GroupView {
            group: Group {
                id: GroupId::generate(),
                account_id: AccountId::generate(),
                name: DisplayName::parse("name", name).unwrap(),
                former_names: Vec::new(),
                parent_id: parent,
                is_template: false,
                badge_colour: BadgeColour::parse("badge_colour", "#757575").unwrap(),
                permissions: permissions.iter().map(|name| PermissionName::parse("p", name).unwrap()).collect(),
                assignable: BTreeSet::new(),
                created_at: now,
                updated_at: now,
            },
            direct_members: 0,
            total_members: 0,
            inherited_permissions: BTreeSet::new(),
        }
    }

    fn names(views: &[GroupView]) -> Vec<&str> {
        views.iter().map(|view| view.group.name.as_str()).collect()
    }

    /// Roots `Operator Root` > {`manager`, `Accountant`}, `Anonymous`.
    fn sample() -> Vec<GroupView> {
        let operator = view("Operator Root", None, &["stores.view"]);
        let manager = view("manager", Some(operator.group.id), &["orders.view"]);
        let accountant = view("Accountant", Some(operator.group.id), &[]);
        let anonymous = view("Anonymous", None, &[]);
        vec![manager, operator, accountant, anonymous]
    }

    #[test]
    fn listing_puts_roots_first_then_orders_by_name_ignoring_case() {
        let page = select_groups(sample(), &GroupFilter::default(), &PageRequest::first(50)).unwrap();
        assert_eq!(names(&page.items), ["Anonymous", "Operator Root", "Accountant", "manager"]);
        assert_eq!(page.next, None);
    }

    #[test]
    fn listing_filters_by_name_parent_and_roots() {
        let groups = sample();
        let operator_id = groups[1].group.id;
        let by_name = GroupFilter { name_contains: Some("ROOT".to_owned()), ..GroupFilter::default() };
        assert_eq!(
            names(&select_groups(groups.clone(), &by_name, &PageRequest::first(50)).unwrap().items),
            ["Operator Root"]
        );
        let children = GroupFilter { parent_id: Some(operator_id), ..GroupFilter::default() };
        assert_eq!(
            names(&select_groups(groups.clone(), &children, &PageRequest::first(50)).unwrap().items),
            ["Accountant", "manager"]
        );
        let roots = GroupFilter { roots_only: true, ..GroupFilter::default() };
        assert_eq!(
            names(&select_groups(groups, &roots, &PageRequest::first(50)).unwrap().items),
            ["Anonymous", "Operator Root"]
        );
    }

    #[test]
    fn listing_pages_by_offset_until_the_end() {
        let first = select_groups(sample(), &GroupFilter::default(), &PageRequest::first(3)).unwrap();
        assert_eq!(names(&first.items), ["Anonymous", "Operator Root", "Accountant"]);
        assert_eq!(first.next.as_deref(), Some("3"));
        let second =
            select_groups(sample(), &GroupFilter::default(), &PageRequest { size: 3, after: first.next }).unwrap();
        assert_eq!(names(&second.items), ["manager"]);
        assert_eq!(second.next, None);
        let beyond =
            select_groups(sample(), &GroupFilter::default(), &PageRequest { size: 3, after: Some("9".to_owned()) })
                .unwrap();
        assert!(beyond.items.is_empty());
        assert_eq!(beyond.next, None);
    }

    #[test]
    fn listing_refuses_a_cursor_it_did_not_issue() {
        let refused =
            select_groups(sample(), &GroupFilter::default(), &PageRequest { size: 3, after: Some("x".to_owned()) });
        let error = refused.unwrap_err();
        assert_eq!(error.field_violations()[0].field, "page_token");
    }

    #[test]
    fn the_tree_nests_children_under_their_parents_in_listing_order() {
        let branches = build_tree(sample());
        let roots: Vec<&str> = branches.iter().map(|branch| branch.view.group.name.as_str()).collect();
        assert_eq!(roots, ["Anonymous", "Operator Root"]);
        let children: Vec<&str> = branches[1].children.iter().map(|branch| branch.view.group.name.as_str()).collect();
        assert_eq!(children, ["Accountant", "manager"]);
        assert!(branches[0].children.is_empty());
    }

    #[test]
    fn a_group_whose_parent_is_missing_is_shown_as_a_root() {
        let orphan = view("Orphan", Some(GroupId::generate()), &[]);
        let branches = build_tree(vec![orphan]);
        assert_eq!(branches.len(), 1);
    }

    #[test]
    fn views_carry_the_permissions_of_every_ancestor() {
        let listed: Vec<GroupWithCounts> = sample()
            .into_iter()
            .map(|view| GroupWithCounts { group: view.group, direct_members: 2, total_members: 3 })
            .collect();
        let views = views_of(listed);
        let manager = views.iter().find(|view| view.group.name.as_str() == "manager").unwrap();
        let inherited: Vec<&str> = manager.inherited_permissions.iter().map(PermissionName::as_str).collect();
        assert_eq!(inherited, ["orders.view", "stores.view"]);
        assert_eq!((manager.direct_members, manager.total_members), (2, 3));
    }

    #[test]
    fn a_parent_inside_the_subtree_closes_a_cycle() {
        let groups = sample();
        let tree = GroupTree::new(groups.iter().map(|view| node_of(&view.group)));
        let (manager, operator) = (groups[0].group.id, groups[1].group.id);
        let error = check_no_cycle(&tree, operator, Some(manager)).unwrap_err();
        assert_eq!(error.reason(), "GROUP_CYCLE");
        assert_eq!(error.field_violations()[0].field, "group.parent_id");
        assert!(check_no_cycle(&tree, operator, Some(operator)).is_err());
        assert!(check_no_cycle(&tree, manager, None).is_ok());
        assert!(check_no_cycle(&tree, manager, Some(groups[3].group.id)).is_ok());
    }
}
