//! End to end, one test per rule: accounts and ownership (R1–R6), plus the
//! races the rules must survive (racing ownership transfers, a deletion
//! racing a role assignment). Each runs on SQLite and on PostgreSQL.

use roster_e2e::cluster::{with_bearer, OPERATOR_PASSWORD};
use roster_e2e::fixtures::{change_of, Tenant, PASSWORD};
use roster_e2e::status::{expect_error, reason, violated_fields};
use roster_e2e::{on_directory_backends, with_mask, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    Account, AssignRoleRequest, BillingLevel, CheckPermissionRequest, CreateGroupRequest, DeleteUserRequest,
    ForceTransferOwnershipRequest, GetEffectivePermissionsRequest, ListAuditEventsRequest, ListPermissionsRequest,
    OverrideEffect, PermissionOverride, ScopeLevel, TransferOwnershipRequest, UnassignRoleRequest,
    UpdateAccountRequest, UpdateGroupRequest, UpdateUserRequest, User,
};
use roster_proto::directory::v1::{BlockUserRequest, GetUserRequest};
use roster_proto::session::v1::ValidateSessionRequest;
use tonic::Code;

on_directory_backends!(
    r1_every_account_has_exactly_one_owner_and_the_database_enforces_it,
    r1_racing_ownership_transfers_leave_exactly_one_owner,
    r2_the_owner_holds_users_manage_and_every_permission_of_the_account,
    r3_owner_transfers_ownership_to_an_active_user,
    r4_a_platform_operator_forces_an_ownership_change_on_evidence,
    r5_nobody_deletes_blocks_or_demotes_the_owner,
    r6_owner_only_acts_cannot_be_granted_to_anyone,
    r8_a_deletion_racing_a_role_assignment_leaves_a_consistent_state,
);

fn transfer(tenant: &Tenant<'_>, to: &str) -> TransferOwnershipRequest {
    TransferOwnershipRequest { account_id: tenant.account_id.clone(), new_owner_user_id: to.to_owned() }
}

/// The owners among `users`.
fn owners(users: &[User]) -> Vec<&str> {
    users.iter().filter(|user| user.is_owner).map(|user| user.id.as_str()).collect()
}

async fn r1_every_account_has_exactly_one_owner_and_the_database_enforces_it(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let globex = Tenant::sign_up(&cluster, "globex").await;
    acme.member("bob", vec![acme.role("Team member", None)]).await;

    let users = acme.list_users_as(&acme.owner.token).await;
    assert_eq!(owners(&users), [acme.owner.id.as_str()], "exactly one owner through the API");
    assert_eq!(acme.account_as(&acme.owner.token).await.owner_user_id, acme.owner.id);

    // Not only the code: the database itself refuses an account without a
    // valid owner of its own.
    let account = &acme.account_id;
    let refused = [
        format!("UPDATE accounts SET owner_user_id = NULL WHERE id = '{account}'"),
        format!("UPDATE accounts SET owner_user_id = '{}' WHERE id = '{account}'", uuid::Uuid::new_v4()),
        format!("UPDATE accounts SET owner_user_id = '{}' WHERE id = '{account}'", globex.owner.id),
        format!("DELETE FROM users WHERE id = '{}'", acme.owner.id),
    ];
    for statement in refused {
        assert!(cluster.execute_sql(&statement).await.is_err(), "the database should refuse: {statement}");
    }
    assert_eq!(acme.account_as(&acme.owner.token).await.owner_user_id, acme.owner.id);
    assert_eq!(owners(&acme.list_users_as(&acme.owner.token).await), [acme.owner.id.as_str()]);
}

async fn r1_racing_ownership_transfers_leave_exactly_one_owner(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let auditor = acme.member("auditor", vec![acme.role("Administrator", None)]).await;
    let mut candidates = vec![acme.owner.clone()];
    for name in ["ann", "ben", "cat", "dan"] {
        candidates.push(acme.member(name, vec![acme.role("Team member", None)]).await);
    }
    let mut owner_index = 0;
    let mut transfers = 0;
    for round in 0..3 {
        let owner = acme.log_in(&candidates[owner_index].login_name).await;
        let others: Vec<usize> = (0..candidates.len()).filter(|index| *index != owner_index).collect();
        let (first, second) = (others[round % others.len()], others[(round + 1) % others.len()]);
        let mut accounts = (acme.accounts(), acme.accounts());
        let (first_result, second_result) = tokio::join!(
            accounts.0.transfer_ownership(with_bearer(transfer(&acme, &candidates[first].id), &owner.token)),
            accounts.1.transfer_ownership(with_bearer(transfer(&acme, &candidates[second].id), &owner.token)),
        );
        let mut winners = Vec::new();
        for (index, result) in [(first, first_result), (second, second_result)] {
            match result {
                Ok(_) => winners.push(index),
                Err(status) => assert!(
                    matches!(reason(&status).as_str(), "OWNER_CHANGED" | "SESSION_REVOKED" | "OWNER_ONLY"),
                    "round {round}: a losing transfer fails cleanly: {status:?}"
                ),
            }
        }
        assert!(winners.len() <= 1, "round {round}: at most one racing transfer succeeds: {winners:?}");
        let account = acme.account_as(&auditor.token).await;
        let users = acme.list_users_as(&auditor.token).await;
        assert_eq!(owners(&users), [account.owner_user_id.as_str()], "round {round}: exactly one owner");
        if let Some(winner) = winners.first() {
            assert_eq!(account.owner_user_id, candidates[*winner].id, "round {round}: the winner owns the account");
            owner_index = *winner;
            transfers += 1;
        } else {
            assert_eq!(account.owner_user_id, owner.id, "round {round}: nobody won, nothing changed");
        }
    }
    assert!(transfers > 0, "racing transfers should not all fail");
}

async fn r2_the_owner_holds_users_manage_and_every_permission_of_the_account(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store = acme.create_store("Main street", false).await;
    let owner = acme.user(&acme.owner.id).await.unwrap();
    assert!(owner.is_owner);
    let owner_group = acme.group("Administrator");
    assert!(owner.role_assignments.iter().any(|role| role.group_id == owner_group && role.store_id.is_empty()));

    let catalog = acme.permissions().list_permissions(acme.as_owner(ListPermissionsRequest {})).await.unwrap();
    let request =
        GetEffectivePermissionsRequest { account_id: acme.account_id.clone(), user_id: acme.owner.id.clone() };
    let held = acme.authorization().get_effective_permissions(acme.as_owner(request)).await.unwrap().into_inner();
    assert!(held.is_owner);
    for permission in catalog.into_inner().permissions {
        let name = &permission.name;
        let everywhere = held.account_permissions.contains(name) || held.every_store_permissions.contains(name);
        if permission.scope_level == ScopeLevel::Platform as i32 {
            assert!(!everywhere, "platform permission {name} holds only in the platform account");
            continue;
        }
        assert!(everywhere, "R2: the owner holds {name} everywhere: {held:?}");
        assert!(acme.holds(&acme.owner.id, name, Some(&store)).await, "R2: the owner holds {name} in a store");
    }
    assert!(held.every_store_permissions.contains(&"users.manage".to_owned()), "R2: Edit Users in every store");
    for owner_only in ["documents.sign", "account.manage"] {
        assert!(acme.holds(&acme.owner.id, owner_only, None).await, "R6: the owner holds {owner_only}");
    }
    let account_created =
        acme.audit_events(ListAuditEventsRequest { action: "account.create".into(), ..Default::default() });
    assert_eq!(account_created.await.len(), 1, "R2, R43: sign-up is one audited act");
}

async fn r3_owner_transfers_ownership_to_an_active_user(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let globex = Tenant::sign_up(&cluster, "globex").await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let heir = acme.member("heir", vec![acme.role("Team member", None)]).await;
    let invited = acme.create_user("newcomer", vec![acme.role("Team member", None)]).await;
    let mut accounts = acme.accounts();

    let refused = accounts.transfer_ownership(with_bearer(transfer(&acme, &heir.id), &admin.token)).await;
    expect_error(refused, Code::PermissionDenied, "OWNER_ONLY");
    let refused = accounts.transfer_ownership(acme.as_owner(transfer(&acme, &invited.id))).await;
    expect_error(refused, Code::FailedPrecondition, "NEW_OWNER_NOT_ACTIVE");
    let blocked = acme.member("blocked", vec![acme.role("Team member", None)]).await;
    let block = BlockUserRequest { account_id: acme.account_id.clone(), user_id: blocked.id.clone() };
    acme.users().block_user(acme.as_owner(block)).await.unwrap();
    let refused = accounts.transfer_ownership(acme.as_owner(transfer(&acme, &blocked.id))).await;
    expect_error(refused, Code::FailedPrecondition, "NEW_OWNER_NOT_ACTIVE");
    let refused = accounts.transfer_ownership(acme.as_owner(transfer(&acme, &globex.owner.id))).await;
    assert!(refused.is_err(), "a user of another account cannot become the owner");
    let refused = accounts.transfer_ownership(acme.as_owner(transfer(&acme, &acme.owner.id))).await;
    expect_error(refused, Code::FailedPrecondition, "ALREADY_OWNER");
    assert_eq!(acme.account_as(&admin.token).await.owner_user_id, acme.owner.id, "refusals change nothing");

    let account = accounts.transfer_ownership(acme.as_owner(transfer(&acme, &heir.id))).await.unwrap().into_inner();
    assert_eq!(account.owner_user_id, heir.id);
    // R38: both users' sessions end.
    let mut sessions = cluster.sessions().await;
    for token in [&acme.owner.token, &heir.token] {
        let ended =
            sessions.validate_session(ValidateSessionRequest { token: token.clone(), ..Default::default() }).await;
        expect_error(ended, Code::Unauthenticated, "SESSION_REVOKED");
    }
    let users = acme.list_users_as(&admin.token).await;
    assert_eq!(owners(&users), [heir.id.as_str()]);
    // The previous owner stays, as a regular user, and logs in as one.
    let former = users.iter().find(|user| user.id == acme.owner.id).expect("the previous owner stays a user");
    assert!(!former.is_owner);
    let login = cluster.login("acme", "owner", PASSWORD).await.unwrap();
    assert!(!login.principal.unwrap().is_owner);
    let heir = acme.log_in("heir").await;
    let update = UpdateAccountRequest {
        account: Some(Account {
            id: acme.account_id.clone(),
            display_name: "Heir's shop".into(),
            ..Default::default()
        }),
        update_mask: None,
    };
    let updated = accounts.update_account(with_bearer(with_mask!(update.clone(), "display_name"), &heir.token)).await;
    assert_eq!(updated.unwrap().into_inner().display_name, "Heir's shop", "the new owner acts as owner");
    let refused = accounts.update_account(with_bearer(with_mask!(update, "display_name"), &login.token)).await;
    expect_error(refused, Code::PermissionDenied, "OWNER_ONLY");
}

async fn r4_a_platform_operator_forces_an_ownership_change_on_evidence(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let heir = acme.member("heir", vec![acme.role("Team member", None)]).await;
    let operator = cluster.login("platform", "operator", OPERATOR_PASSWORD).await.unwrap().token;
    let force = |evidence: &str| ForceTransferOwnershipRequest {
        account_id: acme.account_id.clone(),
        new_owner_user_id: heir.id.clone(),
        evidence_reference: evidence.to_owned(),
    };
    let mut accounts = acme.accounts();

    let refused = accounts.force_transfer_ownership(acme.as_owner(force("TICKET-1"))).await;
    expect_error(refused, Code::PermissionDenied, "PLATFORM_OPERATOR_REQUIRED");
    let refused = accounts.force_transfer_ownership(with_bearer(force("  "), &operator)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), ["evidence_reference"]);
    assert_eq!(acme.account_as(&heir.token).await.owner_user_id, acme.owner.id);

    let account = accounts.force_transfer_ownership(with_bearer(force("TICKET-4242"), &operator)).await.unwrap();
    assert_eq!(account.into_inner().owner_user_id, heir.id);
    let heir = acme.log_in("heir").await;
    let users = acme.list_users_as(&heir.token).await;
    assert_eq!(owners(&users), [heir.id.as_str()], "R1: still exactly one owner");
    // Always audited, with the evidence.
    let filter = ListAuditEventsRequest {
        account_id: acme.account_id.clone(),
        action: "account.force_transfer_ownership".into(),
        ..Default::default()
    };
    let events = acme.audit().list_audit_events(with_bearer(filter, &heir.token)).await.unwrap().into_inner().events;
    let forced: Vec<_> = events.iter().filter(|event| event.outcome == "success").collect();
    assert_eq!(forced.len(), 1, "{events:?}");
    assert_eq!(forced[0].actor_name, "operator");
    assert!(format!("{:?}", forced[0].changes).contains("TICKET-4242"), "the evidence is recorded: {:?}", forced[0]);
    assert!(change_of(forced[0], "owner_user_id").contains(&heir.id), "{:?}", forced[0]);
}

async fn r5_nobody_deletes_blocks_or_demotes_the_owner(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let (account_id, owner_id) = (acme.account_id.clone(), acme.owner.id.clone());
    let mut users = acme.users();

    for token in [&admin.token, &acme.owner.token] {
        let delete = DeleteUserRequest { account_id: account_id.clone(), user_id: owner_id.clone() };
        expect_error(users.delete_user(with_bearer(delete, token)).await, Code::FailedPrecondition, "OWNER_PROTECTED");
        let block = BlockUserRequest { account_id: account_id.clone(), user_id: owner_id.clone() };
        expect_error(users.block_user(with_bearer(block, token)).await, Code::FailedPrecondition, "OWNER_PROTECTED");
    }
    let demote = UnassignRoleRequest {
        account_id: account_id.clone(),
        user_id: owner_id.clone(),
        group_id: acme.group("Administrator"),
        store_id: String::new(),
    };
    let refused = acme.roles().unassign_role(with_bearer(demote, &admin.token)).await;
    expect_error(refused, Code::FailedPrecondition, "OWNER_PROTECTED");
    let revoke = UpdateUserRequest {
        user: Some(User {
            id: owner_id.clone(),
            account_id: account_id.clone(),
            permission_overrides: vec![PermissionOverride {
                permission: "users.manage".into(),
                effect: OverrideEffect::Revoke as i32,
                store_id: String::new(),
            }],
            ..Default::default()
        }),
        update_mask: None,
    };
    let refused = users.update_user(with_bearer(with_mask!(revoke, "permission_overrides"), &admin.token)).await;
    expect_error(refused, Code::PermissionDenied, "OWNER_ONLY");

    let owner = acme.user(&owner_id).await.expect("the owner is still there");
    assert!(owner.is_owner);
    assert_eq!(owner.status, roster_proto::directory::v1::UserStatus::Active as i32);
    assert!(acme.holds(&owner_id, "users.manage", None).await);
    cluster.login("acme", "owner", PASSWORD).await.expect("the owner still logs in");
}

async fn r6_owner_only_acts_cannot_be_granted_to_anyone(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let account_id = acme.account_id.clone();

    let group = CreateGroupRequest {
        account_id: account_id.clone(),
        name: "Signers".into(),
        permissions: vec!["documents.sign".into()],
        ..Default::default()
    };
    let refused = acme.groups().create_group(acme.as_owner(group)).await;
    expect_error(refused, Code::FailedPrecondition, "OWNER_ONLY_PERMISSION");
    let mut widen = acme.list_groups().await.into_iter().find(|group| group.name == "Administrator").unwrap();
    widen.permissions.push("account.manage".into());
    let update = with_mask!(UpdateGroupRequest { group: Some(widen), update_mask: None }, "permissions");
    expect_error(
        acme.groups().update_group(acme.as_owner(update)).await,
        Code::FailedPrecondition,
        "OWNER_ONLY_PERMISSION",
    );

    let mut new_user = acme.new_user("signer", vec![acme.role("Team member", None)]);
    new_user.permission_overrides = vec![PermissionOverride {
        permission: "documents.sign".into(),
        effect: OverrideEffect::Grant as i32,
        store_id: String::new(),
    }];
    let refused = acme.users().create_user(acme.as_owner(new_user)).await;
    expect_error(refused, Code::FailedPrecondition, "OWNER_ONLY_PERMISSION");
    let grant = UpdateUserRequest {
        user: Some(User {
            id: admin.id.clone(),
            account_id: account_id.clone(),
            permission_overrides: vec![PermissionOverride {
                permission: "account.manage".into(),
                effect: OverrideEffect::Grant as i32,
                store_id: String::new(),
            }],
            ..Default::default()
        }),
        update_mask: None,
    };
    let refused = acme.users().update_user(acme.as_owner(with_mask!(grant, "permission_overrides"))).await;
    expect_error(refused, Code::FailedPrecondition, "OWNER_ONLY_PERMISSION");

    // Editing the account's details, or the owner's own, is the owner's alone.
    let details = UpdateAccountRequest {
        account: Some(Account {
            id: account_id.clone(),
            display_name: "Admin's shop".into(),
            billing_level: BillingLevel::Store as i32,
            ..Default::default()
        }),
        update_mask: None,
    };
    let (mut accounts, mut users) = (acme.accounts(), acme.users());
    let refused = accounts.update_account(with_bearer(with_mask!(details.clone(), "display_name"), &admin.token));
    expect_error(refused.await, Code::PermissionDenied, "OWNER_ONLY");
    let owner_profile = UpdateUserRequest {
        user: Some(User {
            id: acme.owner.id.clone(),
            account_id: account_id.clone(),
            display_name: "Not the owner any more".into(),
            ..Default::default()
        }),
        update_mask: None,
    };
    let refused = users.update_user(with_bearer(with_mask!(owner_profile, "display_name"), &admin.token));
    expect_error(refused.await, Code::PermissionDenied, "OWNER_ONLY");
    let updated = accounts.update_account(acme.as_owner(with_mask!(details, "display_name", "billing_level")));
    let updated = updated.await.unwrap().into_inner();
    assert_eq!((updated.display_name.as_str(), updated.billing_level), ("Admin's shop", BillingLevel::Store as i32));

    for permission in ["documents.sign", "account.manage"] {
        assert!(!acme.holds(&admin.id, permission, None).await, "nobody but the owner holds {permission}");
        assert!(acme.holds(&acme.owner.id, permission, None).await);
        let check = CheckPermissionRequest {
            account_id: account_id.clone(),
            user_id: admin.id.clone(),
            permission: permission.into(),
            store_id: String::new(),
        };
        let asked_by_self = acme.authorization().check_permission(with_bearer(check, &admin.token)).await.unwrap();
        assert!(!asked_by_self.into_inner().allowed);
    }
    let owner = acme.user(&acme.owner.id).await.unwrap();
    assert_eq!(owner.display_name, "owner the owner", "the owner's details are unchanged");
}

async fn r8_a_deletion_racing_a_role_assignment_leaves_a_consistent_state(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    for round in 0..5 {
        let target = acme.create_user(&format!("target{round}"), vec![acme.role("Team member", None)]).await;
        let delete = DeleteUserRequest { account_id: acme.account_id.clone(), user_id: target.id.clone() };
        let assign = AssignRoleRequest {
            account_id: acme.account_id.clone(),
            user_id: target.id.clone(),
            group_id: acme.group("Accountant"),
            store_id: String::new(),
        };
        let (mut users, mut roles) = (acme.users(), acme.roles());
        let (deleted, assigned) = tokio::join!(
            users.delete_user(acme.as_owner(delete)),
            roles.assign_role(with_bearer(assign, &admin.token)),
        );
        deleted.unwrap_or_else(|status| panic!("round {round}: the deletion succeeds: {status:?}"));
        if let Err(status) = &assigned {
            assert_eq!(status.code(), Code::NotFound, "round {round}: assigning to a deleted user: {status:?}");
        }
        let get = GetUserRequest { account_id: acme.account_id.clone(), user_id: target.id.clone() };
        expect_error(acme.users().get_user(acme.as_owner(get)).await, Code::NotFound, "USER_NOT_FOUND");
        let left = cluster
            .query_strings(&format!("SELECT id FROM role_assignments WHERE user_id = '{}'", target.id))
            .await
            .unwrap();
        assert!(left.is_empty(), "round {round}: no assignment outlives its user: {left:?}");
        // The log tells the story in order: an assignment that succeeded
        // came before the deletion.
        let events = acme.audit_events(ListAuditEventsRequest { target_id: target.id.clone(), ..Default::default() });
        let story: Vec<String> = events
            .await
            .into_iter()
            .rev()
            .filter(|event| event.outcome == "success")
            .map(|event| event.action)
            .collect();
        let expected: &[&str] = if assigned.is_ok() {
            &["user.create", "role.assign", "user.delete"]
        } else {
            &["user.create", "user.delete"]
        };
        assert_eq!(story, expected, "round {round}: the log, oldest first");
    }
}
