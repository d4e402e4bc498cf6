//! End to end, one test per rule: stores and scope (R27–R34). Each runs on
//! SQLite and on PostgreSQL.

use roster_e2e::cluster::with_bearer;
use roster_e2e::fixtures::Tenant;
use roster_e2e::status::expect_error;
use roster_e2e::{on_directory_backends, with_mask, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    Account, BillingLevel, BlockUserRequest, CheckPermissionRequest, CreateGroupRequest, CreateStoreRequest,
    DeleteStoreRequest, DeleteUserRequest, GetEffectivePermissionsRequest, GetStoreRequest, GetUserRequest,
    ListStoresRequest, ListUsersRequest, OverrideEffect, PermissionOverride, Store, UnassignRoleRequest,
    UpdateAccountRequest, UpdateGroupRequest, UpdateStoreRequest, UpdateUserRequest, User,
};
use tonic::Code;

on_directory_backends!(
    r27_stores_belong_to_one_account_and_public_ones_are_open_to_anonymous_principals,
    r28_an_assignment_covers_the_whole_account_or_one_store,
    r29_store_level_permissions_hold_only_in_covered_stores,
    r30_the_billing_level_decides_where_billing_permissions_hold,
    r31_manager_cannot_remove_a_user_with_stores_they_do_not_hold,
    r32_nobody_grants_what_they_do_not_hold_or_may_not_hand_out,
    r33_superusers_create_stores_and_administrators_and_hold_every_store,
    r34_anonymous_principals_get_the_anonymous_group_in_public_stores_only,
);

fn user_ref(tenant: &Tenant<'_>, user_id: &str) -> (String, String) {
    (tenant.account_id.clone(), user_id.to_owned())
}

async fn r27_stores_belong_to_one_account_and_public_ones_are_open_to_anonymous_principals(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let globex = Tenant::sign_up(&cluster, "globex").await;
    let store_a = acme.create_store("A", true).await;
    let store_b = acme.create_store("B", false).await;
    let list = ListStoresRequest { account_id: acme.account_id.clone(), ..Default::default() };
    let listed = acme.stores().list_stores(acme.as_owner(list.clone())).await.unwrap().into_inner().stores;
    let listed: Vec<(String, bool)> = listed.into_iter().map(|store| (store.id, store.is_public)).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&(store_a.clone(), true)) && listed.contains(&(store_b.clone(), false)));

    let get = |account_id: &str| GetStoreRequest { account_id: account_id.to_owned(), store_id: store_a.clone() };
    let mut stores = acme.stores();
    expect_error(
        stores.get_store(globex.as_owner(get(&acme.account_id))).await,
        Code::PermissionDenied,
        "OTHER_ACCOUNT",
    );
    expect_error(stores.get_store(globex.as_owner(get(&globex.account_id))).await, Code::NotFound, "STORE_NOT_FOUND");
    let foreign = globex.new_user("intruder", vec![globex.role("Team member", Some(&store_a))]);
    let refused = globex.users().create_user(globex.as_owner(foreign)).await;
    expect_error(refused, Code::NotFound, "STORE_NOT_FOUND");

    assert!(acme.holds("", "storefront.browse", Some(&store_a)).await, "a public store is open");
    assert!(!acme.holds("", "storefront.browse", Some(&store_b)).await, "a private one is not");
    let open_b = UpdateStoreRequest {
        store: Some(Store {
            id: store_b.clone(),
            account_id: acme.account_id.clone(),
            is_public: true,
            ..Default::default()
        }),
        update_mask: None,
    };
    let opened = stores.update_store(acme.as_owner(with_mask!(open_b, "is_public"))).await.unwrap().into_inner();
    assert_eq!((opened.name.as_str(), opened.is_public), ("B", true), "a masked update keeps the rest");
    assert!(acme.holds("", "storefront.browse", Some(&store_b)).await);

    // Assignments scoped to a store go with it.
    let tina = acme.create_user("tina", vec![acme.role("Team member", Some(&store_a))]).await;
    let delete = DeleteStoreRequest { account_id: acme.account_id.clone(), store_id: store_a.clone() };
    stores.delete_store(acme.as_owner(delete)).await.unwrap();
    expect_error(stores.get_store(acme.as_owner(get(&acme.account_id))).await, Code::NotFound, "STORE_NOT_FOUND");
    assert!(acme.user(&tina.id).await.unwrap().role_assignments.is_empty());
}

async fn r28_an_assignment_covers_the_whole_account_or_one_store(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let store_b = acme.create_store("B", false).await;
    let admin = acme.create_user("admin", vec![acme.role("Administrator", None)]).await;
    let manager = acme.create_user("manager", vec![acme.role("Manager", Some(&store_a))]).await;

    for store in [&store_a, &store_b] {
        assert!(acme.holds(&admin.id, "orders.view", Some(store)).await, "account-wide covers every store");
    }
    assert!(acme.holds(&admin.id, "orders.view", None).await);
    assert!(acme.holds(&manager.id, "orders.view", Some(&store_a)).await);
    assert!(!acme.holds(&manager.id, "orders.view", Some(&store_b)).await, "one store covers that store");
    assert!(!acme.holds(&manager.id, "orders.view", None).await);
    let store_c = acme.create_store("C", false).await;
    assert!(acme.holds(&admin.id, "orders.view", Some(&store_c)).await, "and stores created later");

    let effective = |user_id: &str| GetEffectivePermissionsRequest {
        account_id: acme.account_id.clone(),
        user_id: user_id.to_owned(),
    };
    let mut authorization = acme.authorization();
    let admin_view = authorization.get_effective_permissions(acme.internal(effective(&admin.id))).await.unwrap();
    assert!(admin_view.into_inner().every_store_permissions.contains(&"orders.view".to_owned()));
    let manager_view = authorization.get_effective_permissions(acme.internal(effective(&manager.id))).await.unwrap();
    let manager_view = manager_view.into_inner();
    assert!(!manager_view.every_store_permissions.contains(&"orders.view".to_owned()));
    let in_a = manager_view.store_permissions.iter().find(|store| store.store_id == store_a).expect("store A listed");
    assert!(in_a.permissions.contains(&"orders.view".to_owned()));
    assert!(manager_view.store_permissions.iter().all(|store| store.store_id != store_b));
    assert!(manager_view.account_permissions.contains(&"users.view".to_owned()));
}

async fn r29_store_level_permissions_hold_only_in_covered_stores(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let store_b = acme.create_store("B", false).await;
    let manager = acme.member("manager", vec![acme.role("Manager", Some(&store_a))]).await;
    let tess = acme.member("tess", vec![acme.role("Team member", Some(&store_b))]).await;

    // Account-level: every team member and every store name.
    let users = acme.list_users_as(&manager.token).await;
    assert!(users.iter().any(|user| user.id == tess.id), "a manager lists every team member");
    let list = ListStoresRequest { account_id: acme.account_id.clone(), ..Default::default() };
    let stores = acme.stores().list_stores(with_bearer(list, &manager.token)).await.unwrap().into_inner().stores;
    assert_eq!(stores.len(), 2, "and every store's name");
    let (account_id, user_id) = user_ref(&acme, &tess.id);
    acme.users().get_user(with_bearer(GetUserRequest { account_id, user_id }, &manager.token)).await.unwrap();
    // Store-level: only where an assignment reaches.
    assert!(acme.holds(&manager.id, "orders.view", Some(&store_a)).await);
    assert!(!acme.holds(&manager.id, "orders.view", Some(&store_b)).await);
    let asked = CheckPermissionRequest {
        account_id: acme.account_id.clone(),
        user_id: tess.id.clone(),
        permission: "transactions.view".into(),
        store_id: store_b.clone(),
    };
    let answer = acme.authorization().check_permission(with_bearer(asked.clone(), &manager.token)).await.unwrap();
    assert!(answer.into_inner().allowed, "a users.view holder asks about others");
    let about_manager = CheckPermissionRequest { user_id: manager.id.clone(), ..asked };
    let refused = acme.authorization().check_permission(with_bearer(about_manager, &tess.token)).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    let list = ListUsersRequest { account_id: acme.account_id.clone(), ..Default::default() };
    let refused = acme.users().list_users(with_bearer(list, &tess.token)).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
}

async fn r30_the_billing_level_decides_where_billing_permissions_hold(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let store_b = acme.create_store("B", false).await;
    let accountant = acme.create_user("accountant", vec![acme.role("Accountant", Some(&store_a))]).await;
    let set_billing = |level: BillingLevel| {
        let account = Account { id: acme.account_id.clone(), billing_level: level as i32, ..Default::default() };
        with_mask!(UpdateAccountRequest { account: Some(account), update_mask: None }, "billing_level")
    };
    let mut accounts = acme.accounts();

    let billing = [BillingLevel::Store, BillingLevel::Account, BillingLevel::Store, BillingLevel::Account];
    for (round, level) in billing.into_iter().enumerate() {
        let account = accounts.update_account(acme.as_owner(set_billing(level))).await.unwrap();
        assert_eq!(account.into_inner().billing_level, level as i32);
        for permission in ["invoices.view", "payouts.view", "bank_accounts.view"] {
            assert!(acme.holds(&accountant.id, permission, Some(&store_a)).await, "{round}: {permission} in A");
            let elsewhere = [
                acme.holds(&accountant.id, permission, Some(&store_b)).await,
                acme.holds(&accountant.id, permission, None).await,
            ];
            match level {
                BillingLevel::Store => assert_eq!(elsewhere, [false, false], "{round}: {permission} only in A"),
                _ => assert_eq!(elsewhere, [true, true], "{round}: {permission} account-wide"),
            }
        }
        // Non-billing permissions keep their own level.
        assert!(acme.holds(&accountant.id, "account.view", None).await);
        assert!(!acme.holds(&accountant.id, "transactions.view", Some(&store_b)).await);
    }
    let updates = acme.audit_of("account.update", &acme.account_id).await;
    assert_eq!(updates.len(), 4, "each switch is audited");
    assert!(roster_e2e::fixtures::change_of(&updates[0], "billing_level").contains("before"));
}

async fn r31_manager_cannot_remove_a_user_with_stores_they_do_not_hold(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let store_b = acme.create_store("B", false).await;
    let manager = acme.member("manager", vec![acme.role("Manager", Some(&store_a))]).await;
    let only_a = acme.create_user("only-a", vec![acme.role("Team member", Some(&store_a))]).await;
    let both = acme
        .create_user("both", vec![acme.role("Team member", Some(&store_a)), acme.role("Team member", Some(&store_b))])
        .await;
    let as_manager = |message| with_bearer(message, &manager.token);
    let (mut users, mut roles) = (acme.users(), acme.roles());
    let (account_id, both_id) = user_ref(&acme, &both.id);

    let refused =
        users.delete_user(as_manager(DeleteUserRequest { account_id: account_id.clone(), user_id: both_id.clone() }));
    expect_error(refused.await, Code::PermissionDenied, "STORE_NOT_HELD");
    let refused = users.block_user(with_bearer(BlockUserRequest { account_id, user_id: both_id }, &manager.token));
    expect_error(refused.await, Code::PermissionDenied, "STORE_NOT_HELD");
    let unassign = UnassignRoleRequest {
        account_id: acme.account_id.clone(),
        user_id: both.id.clone(),
        group_id: acme.group("Team member"),
        store_id: store_a.clone(),
    };
    expect_error(
        roles.unassign_role(with_bearer(unassign, &manager.token)).await,
        Code::PermissionDenied,
        "STORE_NOT_HELD",
    );
    assert_eq!(acme.user(&both.id).await.unwrap().role_assignments.len(), 2, "nothing changed");

    let in_b = acme.new_user("new-b", vec![acme.role("Team member", Some(&store_b))]);
    expect_error(users.create_user(with_bearer(in_b, &manager.token)).await, Code::PermissionDenied, "STORE_NOT_HELD");
    let to_b = acme.assign_request(&only_a.id, "Team member", Some(&store_b));
    expect_error(roles.assign_role(with_bearer(to_b, &manager.token)).await, Code::PermissionDenied, "STORE_NOT_HELD");

    // In the manager's own store: add, amend, remove.
    let in_a = acme.new_user("new-a", vec![acme.role("Team member", Some(&store_a))]);
    let added = users.create_user(with_bearer(in_a, &manager.token)).await.unwrap().into_inner().user.unwrap();
    let amend = User {
        id: only_a.id.clone(),
        account_id: acme.account_id.clone(),
        display_name: "Amended".into(),
        ..Default::default()
    };
    let amend = with_mask!(UpdateUserRequest { user: Some(amend), update_mask: None }, "display_name");
    assert_eq!(
        users.update_user(with_bearer(amend, &manager.token)).await.unwrap().into_inner().display_name,
        "Amended"
    );
    for user_id in [&only_a.id, &added.id] {
        let delete = DeleteUserRequest { account_id: acme.account_id.clone(), user_id: user_id.clone() };
        users.delete_user(with_bearer(delete, &manager.token)).await.unwrap();
        assert!(acme.user(user_id).await.is_none());
    }
}

async fn r32_nobody_grants_what_they_do_not_hold_or_may_not_hand_out(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let store_b = acme.create_store("B", false).await;
    let manager = acme.member("manager", vec![acme.role("Manager", Some(&store_a))]).await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let target = acme.create_user("target", vec![acme.role("Team member", Some(&store_a))]).await;
    let (mut users, mut roles, mut groups) = (acme.users(), acme.roles(), acme.groups());

    // Groups the caller's groups do not declare assignable.
    for group in ["Administrator", "Manager", "Accountant"] {
        let request = acme.new_user(&format!("new-{}", group.to_lowercase()), vec![acme.role(group, Some(&store_a))]);
        let refused = users.create_user(with_bearer(request, &manager.token)).await;
        expect_error(refused, Code::PermissionDenied, "NOT_ASSIGNABLE");
    }
    for user_id in [&target.id, &admin.id] {
        let refused =
            roles.assign_role(with_bearer(acme.assign_request(user_id, "Superuser", None), &admin.token)).await;
        expect_error(refused, Code::PermissionDenied, "NOT_ASSIGNABLE");
    }
    // No self-escalation: scopes and permissions one does not hold.
    let wider = acme.assign_request(&manager.id, "Manager", Some(&store_b));
    expect_error(roles.assign_role(with_bearer(wider, &manager.token)).await, Code::PermissionDenied, "STORE_NOT_HELD");
    let grant = User {
        id: manager.id.clone(),
        account_id: acme.account_id.clone(),
        permission_overrides: vec![PermissionOverride {
            permission: "orders.process".into(),
            effect: OverrideEffect::Grant as i32,
            store_id: store_a.clone(),
        }],
        ..Default::default()
    };
    let grant = with_mask!(UpdateUserRequest { user: Some(grant), update_mask: None }, "permission_overrides");
    expect_error(users.update_user(with_bearer(grant, &manager.token)).await, Code::PermissionDenied, "ESCALATION");
    // Nor through groups.
    let powerful = CreateGroupRequest {
        account_id: acme.account_id.clone(),
        name: "Store makers".into(),
        permissions: vec!["stores.create".into()],
        ..Default::default()
    };
    expect_error(groups.create_group(with_bearer(powerful, &admin.token)).await, Code::PermissionDenied, "ESCALATION");
    let handing_out = CreateGroupRequest {
        account_id: acme.account_id.clone(),
        name: "Kingmakers".into(),
        assignable_group_ids: vec![acme.group("Superuser")],
        ..Default::default()
    };
    expect_error(
        groups.create_group(with_bearer(handing_out, &admin.token)).await,
        Code::PermissionDenied,
        "ESCALATION",
    );
    let mut administrators = acme.list_groups().await.into_iter().find(|group| group.name == "Administrator").unwrap();
    administrators.assignable_group_ids.push(acme.group("Superuser"));
    let widen =
        with_mask!(UpdateGroupRequest { group: Some(administrators), update_mask: None }, "assignable_group_ids");
    expect_error(groups.update_group(with_bearer(widen, &admin.token)).await, Code::PermissionDenied, "ESCALATION");

    assert!(!acme.holds(&manager.id, "users.manage", Some(&store_b)).await);
    assert!(!acme.holds(&manager.id, "orders.process", Some(&store_a)).await);
    assert!(!acme.holds(&admin.id, "stores.create", None).await);
    // What one does hold and may hand out is fine.
    roles
        .assign_role(with_bearer(acme.assign_request(&target.id, "Team member", Some(&store_a)), &manager.token))
        .await
        .unwrap();
    roles.assign_role(with_bearer(acme.assign_request(&target.id, "Accountant", None), &admin.token)).await.unwrap();
}

async fn r33_superusers_create_stores_and_administrators_and_hold_every_store(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let superuser = acme.member("super", vec![acme.role("Superuser", None)]).await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let create =
        |name: &str| CreateStoreRequest { account_id: acme.account_id.clone(), name: name.into(), is_public: false };
    let mut stores = acme.stores();

    expect_error(
        stores.create_store(with_bearer(create("Nope"), &admin.token)).await,
        Code::PermissionDenied,
        "MISSING_PERMISSION",
    );
    let store = stores.create_store(with_bearer(create("Harbour"), &superuser.token)).await.unwrap().into_inner();
    for permission in ["orders.view", "stores.manage", "users.manage"] {
        assert!(acme.holds(&superuser.id, permission, Some(&store.id)).await, "{permission} in the new store");
    }
    let new_admin = acme.new_user("new-admin", vec![acme.role("Administrator", None)]);
    let created = acme.users().create_user(with_bearer(new_admin, &superuser.token)).await.unwrap().into_inner();
    let new_admin = created.user.unwrap();
    assert!(acme.holds(&new_admin.id, "users.manage", Some(&store.id)).await);
    let another = acme.new_user("another-super", vec![acme.role("Superuser", None)]);
    acme.users().create_user(with_bearer(another, &superuser.token)).await.expect("superusers hand out Superuser");
    let rename = Store {
        id: store.id.clone(),
        account_id: acme.account_id.clone(),
        name: "Harbour 2".into(),
        ..Default::default()
    };
    let rename = with_mask!(UpdateStoreRequest { store: Some(rename), update_mask: None }, "name");
    assert_eq!(
        stores.update_store(with_bearer(rename, &superuser.token)).await.unwrap().into_inner().name,
        "Harbour 2"
    );
}

async fn r34_anonymous_principals_get_the_anonymous_group_in_public_stores_only(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let public = acme.create_store("Public", true).await;
    let private = acme.create_store("Private", false).await;

    assert!(acme.holds("", "storefront.browse", Some(&public)).await);
    assert!(!acme.holds("", "storefront.browse", Some(&private)).await);
    assert!(!acme.holds("", "storefront.browse", None).await, "not account-wide");
    assert!(!acme.holds("", "storefront.order", Some(&public)).await, "only the Anonymous group's permissions");
    assert!(!acme.holds("", "orders.view", Some(&public)).await);

    let mut anonymous = acme.list_groups().await.into_iter().find(|group| group.name == "Anonymous").unwrap();
    anonymous.permissions.push("products.view".into());
    let widen = with_mask!(UpdateGroupRequest { group: Some(anonymous), update_mask: None }, "permissions");
    acme.groups().update_group(acme.as_owner(widen)).await.unwrap();
    assert!(acme.holds("", "products.view", Some(&public)).await, "the group decides");
    assert!(!acme.holds("", "products.view", Some(&private)).await);

    let question = CheckPermissionRequest {
        account_id: acme.account_id.clone(),
        user_id: String::new(),
        permission: "storefront.browse".into(),
        store_id: public.clone(),
    };
    let asked_by_user = acme.authorization().check_permission(acme.as_owner(question.clone())).await.unwrap();
    assert!(asked_by_user.into_inner().allowed, "a user may ask about anonymous access too");
    let unauthenticated = acme.authorization().check_permission(question).await;
    expect_error(unauthenticated, Code::Unauthenticated, "SESSION_REQUIRED");
}
