//! End to end, one test per rule: the permission catalog and groups
//! (R20–R26). Each runs on SQLite and on PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};

use roster_e2e::fixtures::{assignment, Tenant, PASSWORD};
use roster_e2e::status::{expect_error, violated_fields};
use roster_e2e::{on_directory_backends, with_mask, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    CreateGroupRequest, DeleteGroupRequest, GetGroupRequest, GetGroupTreeRequest, Group, GroupTreeNode,
    ListGroupsRequest, ListPermissionsRequest, OverrideEffect, Permission, PermissionOverride,
    RegisterPermissionsRequest, ScopeLevel, UpdateGroupRequest, UpdateUserRequest, User,
};
use tonic::Code;

on_directory_backends!(
    r20_the_catalog_is_data_and_services_register_their_permissions,
    r21_new_accounts_get_the_preset_tree_and_groups_inherit_from_ancestors,
    r22_a_user_whose_only_groups_are_templates_cannot_log_in,
    r23_groups_list_as_a_grid_and_a_tree_with_member_counts,
    r24_overrides_add_or_remove_single_permissions_and_removal_wins,
    r25_a_renamed_group_is_found_by_its_former_names,
    r26_a_group_has_a_badge_colour,
);

fn new_group(tenant: &Tenant<'_>, name: &str, parent: &str, permissions: &[&str]) -> CreateGroupRequest {
    CreateGroupRequest {
        account_id: tenant.account_id.clone(),
        name: name.to_owned(),
        parent_id: parent.to_owned(),
        permissions: permissions.iter().map(|permission| permission.to_string()).collect(),
        ..Default::default()
    }
}

async fn create_group(tenant: &Tenant<'_>, request: CreateGroupRequest) -> Group {
    let created = tenant.groups().create_group(tenant.as_owner(request)).await;
    created.unwrap_or_else(|status| panic!("the owner creates a group: {status:?}")).into_inner()
}

async fn update_group(tenant: &Tenant<'_>, group: Group, paths: &[&str]) -> Result<Group, tonic::Status> {
    let mut request = UpdateGroupRequest { group: Some(group), update_mask: Some(Default::default()) };
    request.update_mask.as_mut().expect("a mask").paths = paths.iter().map(|path| path.to_string()).collect();
    tenant.groups().update_group(tenant.as_owner(request)).await.map(tonic::Response::into_inner)
}

async fn get_group_named(tenant: &Tenant<'_>, name: &str) -> Result<Group, tonic::Status> {
    let request =
        GetGroupRequest { account_id: tenant.account_id.clone(), name: name.to_owned(), ..Default::default() };
    tenant.groups().get_group(tenant.as_owner(request)).await.map(tonic::Response::into_inner)
}

async fn catalog(tenant: &Tenant<'_>) -> BTreeMap<String, Permission> {
    let listed = tenant.permissions().list_permissions(tenant.as_owner(ListPermissionsRequest {})).await.unwrap();
    listed.into_inner().permissions.into_iter().map(|permission| (permission.name.clone(), permission)).collect()
}

async fn r20_the_catalog_is_data_and_services_register_their_permissions(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let presets = catalog(&acme).await;
    let users_manage = &presets["users.manage"];
    assert_eq!((users_manage.scope_level, users_manage.description.is_empty()), (ScopeLevel::Store as i32, false));
    assert!(presets["invoices.view"].billing && presets["documents.sign"].owner_only);
    assert_eq!(presets["platform.ownership.force"].scope_level, ScopeLevel::Platform as i32);

    let refunds = |description: &str, scope: ScopeLevel| RegisterPermissionsRequest {
        service_name: "billing".into(),
        permissions: vec![Permission {
            name: "refunds.issue".into(),
            description: description.into(),
            scope_level: scope as i32,
            ..Default::default()
        }],
    };
    let mut permissions = acme.permissions();
    let refused = permissions.register_permissions(acme.as_owner(refunds("Issue refunds", ScopeLevel::Store))).await;
    expect_error(refused, Code::PermissionDenied, "INTERNAL_CREDENTIAL_REQUIRED");
    let refused = permissions.register_permissions(refunds("Issue refunds", ScopeLevel::Store)).await;
    expect_error(refused, Code::PermissionDenied, "INTERNAL_CREDENTIAL_REQUIRED");
    assert!(!catalog(&acme).await.contains_key("refunds.issue"));

    permissions.register_permissions(acme.internal(refunds("Issue refunds", ScopeLevel::Store))).await.unwrap();
    let registered = catalog(&acme).await["refunds.issue"].clone();
    assert_eq!((registered.description.as_str(), registered.scope_level), ("Issue refunds", ScopeLevel::Store as i32));
    permissions.register_permissions(acme.internal(refunds("Issue full refunds", ScopeLevel::Store))).await.unwrap();
    assert_eq!(catalog(&acme).await["refunds.issue"].description, "Issue full refunds", "descriptions update");
    let redefined = permissions.register_permissions(acme.internal(refunds("Issue refunds", ScopeLevel::Account)));
    expect_error(redefined.await, Code::FailedPrecondition, "PERMISSION_REDEFINED");
    assert_eq!(catalog(&acme).await["refunds.issue"].scope_level, ScopeLevel::Store as i32);

    // A registered permission is granted like any other, per store.
    let refunders = create_group(&acme, new_group(&acme, "Refunders", "", &["refunds.issue"])).await;
    let member = acme.create_user("rita", vec![assignment(&refunders.id, Some(&store_a))]).await;
    assert_eq!(refunders.permissions, ["refunds.issue"]);
    assert!(acme.holds(&member.id, "refunds.issue", Some(&store_a)).await);
    assert!(!acme.holds(&member.id, "refunds.issue", None).await);
    assert!(acme.holds(&acme.owner.id, "refunds.issue", None).await, "the owner holds every permission (R2)");
}

/// The group called `name` among `groups`.
fn named<'g>(groups: &'g [Group], name: &str) -> &'g Group {
    groups.iter().find(|group| group.name == name).unwrap_or_else(|| panic!("no group {name}"))
}

async fn r21_new_accounts_get_the_preset_tree_and_groups_inherit_from_ancestors(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let store_b = acme.create_store("B", false).await;
    let groups = acme.list_groups().await;
    let roots: BTreeSet<&str> =
        groups.iter().filter(|group| group.parent_id.is_empty()).map(|group| group.name.as_str()).collect();
    for root in ["Anonymous", "Customer Root", "Operator Root", "Administrator Root"] {
        assert!(roots.contains(root), "{root} is a root: {roots:?}");
    }
    for (child, parent) in [
        ("Superuser", "Administrator Root"),
        ("Administrator", "Administrator Root"),
        ("Customer", "Customer Root"),
        ("Accountant", "Operator Root"),
        ("Manager", "Operator Root"),
        ("Team member", "Operator Root"),
    ] {
        assert_eq!(named(&groups, child).parent_id, acme.group(parent), "{child} inherits from {parent}");
    }
    for template in ["Customer Root", "Operator Root", "Administrator Root"] {
        assert!(named(&groups, template).is_template, "{template} is a template");
    }
    assert!(!named(&groups, "Manager").is_template);
    let manager = named(&groups, "Manager");
    for inherited in ["stores.view", "products.view", "users.manage", "orders.view"] {
        assert!(manager.inherited_permissions.contains(&inherited.to_owned()), "Manager holds {inherited}");
    }
    assert!(!manager.permissions.contains(&"stores.view".to_owned()), "own permissions are listed apart");

    // A sub-group inherits every ancestor's permissions, live.
    let night =
        create_group(&acme, new_group(&acme, "Night manager", &acme.group("Manager"), &["orders.process"])).await;
    for inherited in ["orders.process", "users.manage", "stores.view", "products.view"] {
        assert!(night.inherited_permissions.contains(&inherited.to_owned()), "{inherited}: {night:?}");
    }
    let nina = acme.create_user("nina", vec![assignment(&night.id, Some(&store_a))]).await;
    assert!(acme.holds(&nina.id, "orders.process", Some(&store_a)).await);
    assert!(acme.holds(&nina.id, "users.manage", Some(&store_a)).await, "from Manager");
    assert!(acme.holds(&nina.id, "stores.view", None).await, "from Operator Root, account-level");
    assert!(!acme.holds(&nina.id, "orders.process", Some(&store_b)).await);
    assert!(!acme.holds(&nina.id, "customers.view", Some(&store_a)).await);
    let mut widened = manager.clone();
    widened.permissions.push("customers.view".into());
    update_group(&acme, widened, &["permissions"]).await.unwrap();
    assert!(acme.holds(&nina.id, "customers.view", Some(&store_a)).await, "a parent's new permission reaches down");

    // The tree stays a tree.
    let mut cycle = named(&acme.list_groups().await, "Operator Root").clone();
    cycle.parent_id = night.id.clone();
    let refused = update_group(&acme, cycle, &["parent_id"]).await.unwrap_err();
    assert_eq!((refused.code(), roster_e2e::status::reason(&refused).as_str()), (Code::InvalidArgument, "GROUP_CYCLE"));
    assert_eq!(violated_fields(&refused), ["group.parent_id"]);
}

async fn r22_a_user_whose_only_groups_are_templates_cannot_log_in(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let templated = acme.create_user("tess", vec![acme.role("Operator Root", None)]).await;
    cluster.clear_password_change(&templated.id).await.unwrap();
    expect_error(cluster.login("acme", "tess", PASSWORD).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    let failures = acme.audit_of("session.login", &templated.id).await;
    assert_eq!(failures.iter().map(|event| event.reason.as_str()).collect::<Vec<_>>(), ["TEMPLATE_GROUPS_ONLY"]);

    // One real group beside the template is enough.
    acme.assign_as_owner(&templated.id, "Team member", None).await;
    acme.log_in("tess").await;

    // Turning a user's only group into a template locks them out.
    let seasonal = create_group(&acme, new_group(&acme, "Seasonal", &acme.group("Team member"), &[])).await;
    acme.member("sam", vec![assignment(&seasonal.id, None)]).await;
    let template = Group { is_template: true, ..seasonal };
    assert!(update_group(&acme, template, &["is_template"]).await.unwrap().is_template);
    expect_error(cluster.login("acme", "sam", PASSWORD).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
}

/// The node of `name` anywhere in the tree.
fn find_node<'t>(nodes: &'t [GroupTreeNode], name: &str) -> Option<&'t GroupTreeNode> {
    nodes.iter().find_map(|node| {
        let here = node.group.as_ref().is_some_and(|group| group.name == name);
        if here {
            Some(node)
        } else {
            find_node(&node.children, name)
        }
    })
}

async fn r23_groups_list_as_a_grid_and_a_tree_with_member_counts(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let night = create_group(&acme, new_group(&acme, "Night manager", &acme.group("Manager"), &[])).await;
    acme.create_user("m1", vec![acme.role("Manager", Some(&store_a))]).await;
    acme.create_user("m2", vec![acme.role("Manager", None)]).await;
    acme.create_user("n1", vec![assignment(&night.id, Some(&store_a))]).await;
    acme.create_user("t1", vec![acme.role("Team member", Some(&store_a))]).await;

    let tree_request = GetGroupTreeRequest { account_id: acme.account_id.clone() };
    let roots = acme.groups().get_group_tree(acme.as_owner(tree_request)).await.unwrap().into_inner().roots;
    let counts = |name: &str| {
        let group = find_node(&roots, name).and_then(|node| node.group.clone()).unwrap_or_else(|| panic!("{name}"));
        (group.direct_member_count, group.total_member_count)
    };
    assert_eq!(counts("Operator Root"), (0, 4), "every member below counts once");
    assert_eq!(counts("Manager"), (2, 3));
    assert_eq!(counts("Night manager"), (1, 1));
    assert_eq!(counts("Team member"), (1, 1));
    assert_eq!(counts("Accountant"), (0, 0));
    assert_eq!(counts("Administrator"), (1, 1), "the owner");
    let operator_root = find_node(&roots, "Operator Root").unwrap();
    let children: BTreeSet<String> =
        operator_root.children.iter().map(|child| child.group.as_ref().unwrap().name.clone()).collect();
    assert_eq!(children, BTreeSet::from(["Accountant", "Manager", "Team member"].map(String::from)));
    assert!(roots.iter().all(|root| root.group.as_ref().unwrap().parent_id.is_empty()));

    // The grid: filters and pages.
    let list = |request: ListGroupsRequest| {
        let acme = &acme;
        async move {
            let request = ListGroupsRequest { account_id: acme.account_id.clone(), ..request };
            acme.groups().list_groups(acme.as_owner(request)).await.unwrap().into_inner()
        }
    };
    let found = list(ListGroupsRequest { name_contains: "MANAGER".into(), ..Default::default() }).await.groups;
    let found: BTreeMap<String, (u64, u64)> =
        found.into_iter().map(|group| (group.name, (group.direct_member_count, group.total_member_count))).collect();
    assert_eq!(found, BTreeMap::from([("Manager".to_owned(), (2, 3)), ("Night manager".to_owned(), (1, 1))]));
    let under = list(ListGroupsRequest { parent_id: acme.group("Operator Root"), ..Default::default() }).await.groups;
    assert_eq!(under.len(), 3);
    let root_list = list(ListGroupsRequest { roots_only: true, ..Default::default() }).await.groups;
    assert!(!root_list.is_empty() && root_list.iter().all(|group| group.parent_id.is_empty()));
    let mut paged = Vec::new();
    let mut page_token = String::new();
    for _ in 0..20 {
        let page = list(ListGroupsRequest { page_size: 3, page_token: page_token.clone(), ..Default::default() }).await;
        assert!(page.groups.len() <= 3);
        paged.extend(page.groups.into_iter().map(|group| group.id));
        page_token = page.next_page_token;
        if page_token.is_empty() {
            break;
        }
    }
    let all = acme.list_groups().await;
    assert_eq!(paged.len(), all.len(), "pages cover every group once");
    assert_eq!(paged.iter().collect::<BTreeSet<_>>().len(), all.len());

    // A group with members or sub-groups cannot be deleted.
    let mut groups = acme.groups();
    for busy in [night.id.clone(), acme.group("Manager")] {
        let delete = DeleteGroupRequest { account_id: acme.account_id.clone(), group_id: busy };
        expect_error(groups.delete_group(acme.as_owner(delete)).await, Code::FailedPrecondition, "GROUP_IN_USE");
    }
}

async fn r24_overrides_add_or_remove_single_permissions_and_removal_wins(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let store_b = acme.create_store("B", false).await;
    let tom = acme.create_user("tom", vec![acme.role("Team member", Some(&store_a))]).await;
    let overriding = |overrides: Vec<(&str, OverrideEffect, &str)>| {
        let overrides = overrides
            .into_iter()
            .map(|(permission, effect, store)| PermissionOverride {
                permission: permission.into(),
                effect: effect as i32,
                store_id: store.into(),
            })
            .collect();
        let user = User {
            id: tom.id.clone(),
            account_id: acme.account_id.clone(),
            permission_overrides: overrides,
            ..Default::default()
        };
        with_mask!(UpdateUserRequest { user: Some(user), update_mask: None }, "permission_overrides")
    };
    assert!(acme.holds(&tom.id, "transactions.view", Some(&store_a)).await);
    assert!(!acme.holds(&tom.id, "orders.view", Some(&store_a)).await);

    let change = overriding(vec![
        ("orders.view", OverrideEffect::Grant, &store_a),
        ("transactions.view", OverrideEffect::Revoke, &store_a),
        ("reports.view", OverrideEffect::Grant, ""),
    ]);
    let updated = acme.users().update_user(acme.as_owner(change)).await.unwrap().into_inner();
    assert_eq!(updated.permission_overrides.len(), 3);
    assert!(acme.holds(&tom.id, "orders.view", Some(&store_a)).await, "a grant adds one permission");
    assert!(!acme.holds(&tom.id, "orders.view", Some(&store_b)).await, "in its scope only");
    assert!(!acme.holds(&tom.id, "transactions.view", Some(&store_a)).await, "a removal beats the group");
    assert!(acme.holds(&tom.id, "products.view", Some(&store_a)).await, "the rest of the preset stays");
    assert!(acme.holds(&tom.id, "reports.view", Some(&store_b)).await, "an account-wide grant reaches every store");

    let change =
        overriding(vec![("orders.view", OverrideEffect::Grant, &store_a), ("orders.view", OverrideEffect::Revoke, "")]);
    acme.users().update_user(acme.as_owner(change)).await.unwrap();
    assert!(!acme.holds(&tom.id, "orders.view", Some(&store_a)).await, "a removal wins over any grant");
    assert!(acme.holds(&tom.id, "transactions.view", Some(&store_a)).await, "the old removal is gone");
    let unknown = overriding(vec![("no.such", OverrideEffect::Grant, "")]);
    let refused = acme.users().update_user(acme.as_owner(unknown)).await;
    expect_error(refused, Code::InvalidArgument, "UNKNOWN_PERMISSION");
}

async fn r25_a_renamed_group_is_found_by_its_former_names(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let packers = create_group(&acme, new_group(&acme, "Packers", "", &["orders.view"])).await;
    let shippers = update_group(&acme, Group { name: "Shippers".into(), ..packers.clone() }, &["name"]).await.unwrap();
    let dispatch = update_group(&acme, Group { name: "Dispatch".into(), ..shippers }, &["name"]).await.unwrap();
    assert_eq!(dispatch.former_names, ["Packers", "Shippers"]);

    for name in ["Packers", "Shippers", "Dispatch", "packers"] {
        let found = get_group_named(&acme, name).await.unwrap_or_else(|status| panic!("{name}: {status:?}"));
        assert_eq!((found.id.as_str(), found.name.as_str()), (packers.id.as_str(), "Dispatch"), "by {name}");
        assert_eq!(found.former_names, ["Packers", "Shippers"]);
    }
    let taken = acme.groups().create_group(acme.as_owner(new_group(&acme, "Packers", "", &[]))).await;
    expect_error(taken, Code::AlreadyExists, "GROUP_NAME_TAKEN");
    expect_error(get_group_named(&acme, "Loaders").await, Code::NotFound, "GROUP_NOT_FOUND");
    let renames = acme.audit_of("group.update", &packers.id).await;
    assert_eq!(renames.len(), 2);
    let newest = roster_e2e::fixtures::change_of(&renames[0], "name");
    assert!(newest.contains("Shippers") && newest.contains("Dispatch"), "{newest}");
}

async fn r26_a_group_has_a_badge_colour(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let groups = acme.list_groups().await;
    assert_eq!(named(&groups, "Manager").badge_colour, "#43A047", "presets carry their colours");
    let pink =
        create_group(&acme, CreateGroupRequest { badge_colour: "#ff4081".into(), ..new_group(&acme, "Pink", "", &[]) });
    assert_eq!(pink.await.badge_colour, "#FF4081");
    let plain = create_group(&acme, new_group(&acme, "Plain", "", &[])).await;
    assert!(plain.badge_colour.starts_with('#') && plain.badge_colour.len() == 7, "a default: {plain:?}");
    let green = update_group(&acme, Group { badge_colour: "#00ff00".into(), ..plain.clone() }, &["badge_colour"]);
    assert_eq!(green.await.unwrap().badge_colour, "#00FF00");

    let red = CreateGroupRequest { badge_colour: "red".into(), ..new_group(&acme, "Red", "", &[]) };
    let refused = acme.groups().create_group(acme.as_owner(red)).await.unwrap_err();
    assert_eq!((refused.code(), violated_fields(&refused)), (Code::InvalidArgument, vec!["badge_colour".to_owned()]));
    let refused = update_group(&acme, Group { badge_colour: "#12345".into(), ..plain }, &["badge_colour"]).await;
    assert_eq!(violated_fields(&refused.unwrap_err()), ["group.badge_colour"]);
    let shown = acme.user(&acme.owner.id).await.unwrap();
    assert!(shown.role_assignments.iter().all(|role| !role.group_name.is_empty()), "assignments name their group");
}
