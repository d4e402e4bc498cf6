//! One account's group tree (R21): a group inherits every permission of its
//! ancestors.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::ids::GroupId;
use crate::presets::PermissionName;

/// What resolution and policy need of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupNode {
    pub id: GroupId,
    pub name: String,
    pub parent_id: Option<GroupId>,
    pub is_template: bool,
    /// The group's own permissions.
    pub permissions: BTreeSet<PermissionName>,
    /// R32: groups this group's members may hand out.
    pub assignable: BTreeSet<GroupId>,
}

/// All groups of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupTree {
    nodes: HashMap<GroupId, GroupNode>,
}

impl GroupTree {
    pub fn new(nodes: impl IntoIterator<Item = GroupNode>) -> Self {
        Self { nodes: nodes.into_iter().map(|node| (node.id, node)).collect() }
    }

    pub fn get(&self, id: GroupId) -> Option<&GroupNode> {
        self.nodes.get(&id)
    }

    pub fn contains(&self, id: GroupId) -> bool {
        self.nodes.contains_key(&id)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &GroupNode> {
        self.nodes.values()
    }

    /// `id` and its ancestors, nearest first. Stops at a repeated group, so
    /// a corrupt cycle cannot loop forever.
    pub fn ancestry(&self, id: GroupId) -> Vec<GroupId> {
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut current = Some(id);
        while let Some(group_id) = current {
            if !seen.insert(group_id) {
                break;
            }
            let Some(node) = self.nodes.get(&group_id) else { break };
            chain.push(group_id);
            current = node.parent_id;
        }
        chain
    }

    /// `id` and its ancestors, nearest first, without allocating: the hot
    /// path's walk. A corrupt cycle repeats groups (harmless for unions)
    /// but stops after as many steps as there are groups.
    pub fn ancestors(&self, id: GroupId) -> impl Iterator<Item = &GroupNode> + '_ {
        let mut current = self.nodes.get(&id);
        let mut remaining = self.nodes.len();
        std::iter::from_fn(move || {
            let node = current.filter(|_| remaining > 0)?;
            remaining -= 1;
            current = node.parent_id.and_then(|parent| self.nodes.get(&parent));
            Some(node)
        })
    }

    /// Every permission of `id` and its ancestors (R21).
    pub fn inherited_permissions(&self, id: GroupId) -> BTreeSet<PermissionName> {
        self.ancestry(id)
            .into_iter()
            .filter_map(|group_id| self.nodes.get(&group_id))
            .flat_map(|node| node.permissions.iter().cloned())
            .collect()
    }

    /// Every group a member of `id` may assign: the declarations of `id`
    /// and of its ancestors.
    pub fn inherited_assignable(&self, id: GroupId) -> BTreeSet<GroupId> {
        self.ancestry(id)
            .into_iter()
            .filter_map(|group_id| self.nodes.get(&group_id))
            .flat_map(|node| node.assignable.iter().copied())
            .collect()
    }

    /// Whether making `new_parent` the parent of `id` would close a cycle.
    pub fn would_create_cycle(&self, id: GroupId, new_parent: GroupId) -> bool {
        self.ancestry(new_parent).contains(&id)
    }

    /// `id` and every group below it.
    pub fn subtree(&self, id: GroupId) -> BTreeSet<GroupId> {
        let mut members = BTreeSet::from([id]);
        let mut changed = true;
        while changed {
            changed = false;
            for node in self.nodes.values() {
                if let Some(parent) = node.parent_id {
                    if members.contains(&parent) && members.insert(node.id) {
                        changed = true;
                    }
                }
            }
        }
        members
    }
}
