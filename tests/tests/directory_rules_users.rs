//! End to end, one test per rule: managing users (R7–R10, R12, R13). Each
//! runs on SQLite and on PostgreSQL.

use std::collections::HashMap;

use roster_e2e::cluster::with_bearer;
use roster_e2e::fixtures::{login_from, Tenant, PASSWORD};
use roster_e2e::status::{expect_error, reason, violated_fields};
use roster_e2e::{on_directory_backends, with_mask, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    CopyUserRequest, CreateUserRequest, DeleteUserRequest, GetUserRequest, ListAuditEventsRequest,
    ListPermissionsRequest, ListUsersRequest, OverrideEffect, PermissionOverride, SetUserPasswordRequest, StringList,
    UpdateUserRequest, User,
};
use roster_proto::session::v1::ValidateSessionRequest;
use tonic::Code;

on_directory_backends!(
    r7_only_users_manage_holders_create_edit_or_delete_users,
    r8_deletion_is_permanent_ends_sessions_and_keeps_the_audit_trail,
    r9_passwords_are_never_returned_are_argon2id_and_kept_unless_set,
    r10_a_user_created_without_password_gets_a_temporary_one_shown_once,
    r12_login_names_are_unique_case_insensitively_and_emails_per_user,
    r13_copying_a_user_copies_access_and_issues_new_credentials,
);

fn profile_update(tenant: &Tenant<'_>, user_id: &str, change: impl FnOnce(&mut User)) -> UpdateUserRequest {
    let mut user = User { id: user_id.to_owned(), account_id: tenant.account_id.clone(), ..Default::default() };
    change(&mut user);
    UpdateUserRequest { user: Some(user), update_mask: None }
}

async fn r7_only_users_manage_holders_create_edit_or_delete_users(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let accountant = acme.member("accountant", vec![acme.role("Accountant", None)]).await;
    let manager = acme.member("manager", vec![acme.role("Manager", Some(&store_a))]).await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let victim = acme.create_user("victim", vec![acme.role("Team member", None)]).await;
    let rename = |name: &str| {
        let request = profile_update(&acme, &victim.id, |user| user.display_name = name.to_owned());
        with_mask!(request, "display_name")
    };
    let delete = DeleteUserRequest { account_id: acme.account_id.clone(), user_id: victim.id.clone() };
    let mut users = acme.users();

    // No users.manage anywhere (R7).
    let create = acme.new_user("intruder", vec![acme.role("Team member", None)]);
    let refused = users.create_user(with_bearer(create.clone(), &accountant.token)).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    let refused = users.update_user(with_bearer(rename("Renamed by accountant"), &accountant.token)).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    let refused = users.delete_user(with_bearer(delete.clone(), &accountant.token)).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    // users.manage in store A only: not enough for an account-wide user.
    let refused = users.create_user(with_bearer(create.clone(), &manager.token)).await;
    expect_error(refused, Code::PermissionDenied, "STORE_NOT_HELD");
    let refused = users.update_user(with_bearer(rename("Renamed by manager"), &manager.token)).await;
    expect_error(refused, Code::PermissionDenied, "STORE_NOT_HELD");
    let refused = users.delete_user(with_bearer(delete.clone(), &manager.token)).await;
    expect_error(refused, Code::PermissionDenied, "STORE_NOT_HELD");
    let listed =
        ListUsersRequest { account_id: acme.account_id.clone(), text: "intruder".into(), ..Default::default() };
    let listed = users.list_users(acme.as_owner(listed)).await.unwrap().into_inner();
    assert!(listed.users.is_empty(), "a refused creation creates nothing");
    assert_eq!(acme.user(&victim.id).await.unwrap().display_name, victim.display_name, "refusals change nothing");

    // users.manage account-wide: create, edit, delete.
    let created = users.create_user(with_bearer(create, &admin.token)).await.unwrap().into_inner().user.unwrap();
    assert_eq!(created.login_name, "intruder");
    let renamed = users.update_user(with_bearer(rename("Renamed by admin"), &admin.token)).await.unwrap();
    assert_eq!(renamed.into_inner().display_name, "Renamed by admin");
    users.delete_user(with_bearer(delete, &admin.token)).await.unwrap();
    assert!(acme.user(&victim.id).await.is_none());
}

async fn r8_deletion_is_permanent_ends_sessions_and_keeps_the_audit_trail(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let bob = acme.member("bob", vec![acme.role("Team member", None)]).await;
    let mut users = acme.users();

    let own = DeleteUserRequest { account_id: acme.account_id.clone(), user_id: admin.id.clone() };
    expect_error(users.delete_user(with_bearer(own, &admin.token)).await, Code::FailedPrecondition, "SELF_DELETE");
    assert!(acme.user(&admin.id).await.is_some());

    let delete = DeleteUserRequest { account_id: acme.account_id.clone(), user_id: bob.id.clone() };
    users.delete_user(with_bearer(delete.clone(), &admin.token)).await.unwrap();
    // Sessions end at once.
    let validated = cluster
        .sessions()
        .await
        .validate_session(ValidateSessionRequest { token: bob.token.clone(), ..Default::default() })
        .await;
    expect_error(validated, Code::Unauthenticated, "SESSION_REVOKED");
    // Permanent.
    let get = GetUserRequest { account_id: acme.account_id.clone(), user_id: bob.id.clone() };
    expect_error(users.get_user(acme.as_owner(get)).await, Code::NotFound, "USER_NOT_FOUND");
    expect_error(users.delete_user(with_bearer(delete, &admin.token)).await, Code::NotFound, "USER_NOT_FOUND");
    expect_error(cluster.login("acme", "bob", PASSWORD).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    // The audit log keeps the user's id and name.
    let events = acme.audit_of("user.delete", &bob.id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].actor_id, admin.id);
    assert_eq!(events[0].target_id, bob.id);
    assert!(events[0].target_name.contains("bob"), "the deleted user's name is kept: {:?}", events[0]);
    let history = acme.audit_events(ListAuditEventsRequest { target_id: bob.id.clone(), ..Default::default() }).await;
    assert!(history.iter().any(|event| event.action == "session.login"), "earlier events stay too: {history:?}");
}

async fn r9_passwords_are_never_returned_are_argon2id_and_kept_unless_set(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let carol = acme.member("carol", vec![acme.role("Team member", None)]).await;
    let mut users = acme.users();

    let mut weak = acme.new_user("weak", Vec::new());
    weak.password = "shortpw".into();
    let refused = users.create_user(acme.as_owner(weak)).await.unwrap_err();
    assert_eq!((refused.code(), violated_fields(&refused)), (Code::InvalidArgument, vec!["password".to_owned()]));
    assert!(!refused.message().contains("shortpw"), "the password is never echoed");

    let hashes = cluster.query_strings(&format!("SELECT password_hash FROM users WHERE id = '{}'", carol.id)).await;
    let hash = hashes.unwrap().pop().expect("a stored hash");
    assert!(hash.starts_with("$argon2id$"), "stored as an argon2id hash");
    assert!(!hash.contains(PASSWORD));

    // An update that does not touch the password keeps it.
    let update = profile_update(&acme, &carol.id, |user| {
        user.display_name = "Carol C.".into();
        user.email = "carol.c@acme.example".into();
    });
    users.update_user(acme.as_owner(with_mask!(update, "display_name", "email"))).await.unwrap();
    let carol = acme.log_in("carol").await;

    // One's own password needs the current one (a later issue's RPC).
    let own = SetUserPasswordRequest {
        account_id: acme.account_id.clone(),
        user_id: carol.id.clone(),
        password: "a brand new password".into(),
    };
    let refused = users.set_user_password(with_bearer(own.clone(), &carol.token)).await;
    expect_error(refused, Code::FailedPrecondition, "CURRENT_PASSWORD_REQUIRED");
    // A password an administrator chooses meets the policy too (PCI 8.3.6):
    // a common one is refused, naming the field.
    let common = SetUserPasswordRequest { password: "qwerty123456".into(), ..own.clone() };
    let refused = expect_error(
        users.set_user_password(acme.as_owner(common)).await,
        Code::InvalidArgument,
        "PASSWORD_TOO_COMMON",
    );
    assert_eq!(roster_e2e::status::violated_fields(&refused), ["password"]);
    // An administrator sets it: nothing returned, sessions end, the old one
    // stops working, the new one must be changed at login.
    let set = users.set_user_password(acme.as_owner(own)).await.unwrap().into_inner();
    assert_eq!(set.temporary_password, "", "a given password is never returned");
    let mut sessions = cluster.sessions().await;
    let validated =
        sessions.validate_session(ValidateSessionRequest { token: carol.token.clone(), ..Default::default() }).await;
    expect_error(validated, Code::Unauthenticated, "SESSION_REVOKED");
    expect_error(cluster.login("acme", "carol", PASSWORD).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    let login = cluster.login("acme", "carol", "a brand new password").await.unwrap();
    assert!(login.principal.unwrap().restricted_to_password_change);

    let events = acme.audit_events(ListAuditEventsRequest::default()).await;
    assert!(events.iter().any(|event| event.action == "user.set_password"));
    let log = format!("{events:?}");
    for secret in [PASSWORD, "a brand new password", "shortpw", "$argon2"] {
        assert!(!log.contains(secret), "the audit log never holds a password or hash ({secret})");
    }
}

async fn r10_a_user_created_without_password_gets_a_temporary_one_shown_once(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let mut request = acme.new_user("dave", vec![acme.role("Team member", None)]);
    request.password = String::new();
    let created = acme.users().create_user(acme.as_owner(request)).await.unwrap().into_inner();
    let temporary = created.temporary_password.clone();
    let user = created.user.unwrap();
    assert!(temporary.chars().count() >= 12, "a generated password meets the policy");
    assert!(user.must_change_password);

    // Shown exactly once: no read returns it again.
    let read = acme.user(&user.id).await.unwrap();
    assert!(!format!("{read:?}").contains(&temporary));
    assert!(!format!("{:?}", acme.list_users_as(&acme.owner.token).await).contains(&temporary));
    let mut given = acme.new_user("erin", Vec::new());
    given.password = "an explicit password".into();
    let given = acme.users().create_user(acme.as_owner(given)).await.unwrap().into_inner();
    assert_eq!(given.temporary_password, "", "nothing is generated when a password is given");

    // The temporary password logs in to a session restricted to changing it.
    let login = cluster.login("acme", "dave", &temporary).await.unwrap();
    assert!(login.principal.unwrap().restricted_to_password_change);
    let own = GetUserRequest { account_id: acme.account_id.clone(), user_id: user.id.clone() };
    let refused = acme.users().get_user(with_bearer(own, &login.token)).await;
    expect_error(refused, Code::PermissionDenied, "PASSWORD_CHANGE_REQUIRED");
    let refused = acme.permissions().list_permissions(with_bearer(ListPermissionsRequest {}, &login.token)).await;
    expect_error(refused, Code::PermissionDenied, "PASSWORD_CHANGE_REQUIRED");
    let log = format!("{:?}", acme.audit_events(ListAuditEventsRequest::default()).await);
    assert!(!log.contains(&temporary), "the temporary password is never audited");
}

async fn r12_login_names_are_unique_case_insensitively_and_emails_per_user(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let globex = Tenant::sign_up(&cluster, "globex").await;
    let mut users = acme.users();
    acme.create_user("Bob", Vec::new()).await;
    let jose = CreateUserRequest { email: "jose@acme.example".into(), ..acme.new_user("José", Vec::new()) };
    users.create_user(acme.as_owner(jose)).await.unwrap();

    for taken in ["bob", "BOB", "\u{FF22}\u{FF4F}\u{FF42}", "Jose\u{301}", "JOSÉ"] {
        let mut request = acme.new_user(taken, Vec::new());
        request.email = format!("someone-else-{}@acme.example", uuid::Uuid::new_v4().simple());
        let refused = users
            .create_user(acme.as_owner(request))
            .await
            .map(|_| ())
            .map_err(|status| (status.code(), reason(&status)));
        assert_eq!(refused, Err((Code::AlreadyExists, "LOGIN_NAME_TAKEN".to_owned())), "{taken} is taken");
    }
    for taken_email in ["bob@acme.example", "BOB@ACME.example"] {
        let request = CreateUserRequest { email: taken_email.into(), ..acme.new_user("robert", Vec::new()) };
        let refused = users
            .create_user(acme.as_owner(request))
            .await
            .map(|_| ())
            .map_err(|status| (status.code(), reason(&status)));
        assert_eq!(refused, Err((Code::AlreadyExists, "EMAIL_TAKEN".to_owned())), "{taken_email} is taken");
    }
    let listed = ListUsersRequest { account_id: acme.account_id.clone(), text: "bob".into(), ..Default::default() };
    assert_eq!(users.list_users(acme.as_owner(listed)).await.unwrap().into_inner().users.len(), 1);
    // Unique per account: another account may have its own Bob.
    globex.create_user("bob", Vec::new()).await;
    let bob = acme.create_user("bobby", Vec::new()).await;
    let clash = profile_update(&acme, &bob.id, |user| user.email = "BOB@acme.example".into());
    let status = users.update_user(acme.as_owner(with_mask!(clash, "email"))).await;
    expect_error(status, Code::AlreadyExists, "EMAIL_TAKEN");
}

async fn r13_copying_a_user_copies_access_and_issues_new_credentials(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let store_a = acme.create_store("A", false).await;
    let mut source = acme.new_user("source", vec![acme.role("Manager", Some(&store_a))]);
    source.ip_allowlist = vec!["10.0.0.0/8".into()];
    source.data_filters =
        HashMap::from([("country".to_owned(), StringList { values: vec!["JP".into(), "US".into()] })]);
    source.permission_overrides = vec![PermissionOverride {
        permission: "orders.process".into(),
        effect: OverrideEffect::Grant as i32,
        store_id: store_a.clone(),
    }];
    let source = acme.users().create_user(acme.as_owner(source)).await.unwrap().into_inner().user.unwrap();

    let copy = CopyUserRequest {
        account_id: acme.account_id.clone(),
        source_user_id: source.id.clone(),
        login_name: "copy".into(),
        email: "copy@acme.example".into(),
        display_name: "The copy".into(),
    };
    let copied = acme.users().copy_user(acme.as_owner(copy)).await.unwrap().into_inner();
    let user = copied.user.unwrap();
    assert_ne!(user.id, source.id);
    assert_eq!((user.login_name.as_str(), user.email.as_str()), ("copy", "copy@acme.example"));
    let groups = |user: &User| {
        let mut roles: Vec<(String, String)> =
            user.role_assignments.iter().map(|role| (role.group_id.clone(), role.store_id.clone())).collect();
        roles.sort();
        roles
    };
    assert_eq!(groups(&user), groups(&source), "groups and store scopes");
    assert_eq!(user.permission_overrides, source.permission_overrides);
    assert_eq!(user.data_filters, source.data_filters);
    assert_eq!(user.ip_allowlist, source.ip_allowlist);
    assert!(user.must_change_password && !user.is_owner);
    // New credentials, shown once, working only from the copied allowlist.
    assert!(!copied.temporary_password.is_empty());
    assert!(!format!("{:?}", acme.user(&user.id).await.unwrap()).contains(&copied.temporary_password));
    let outside = login_from("acme", "copy", &copied.temporary_password, "192.0.2.1");
    expect_error(cluster.sessions().await.login(outside).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    let inside = login_from("acme", "copy", &copied.temporary_password, "10.1.2.3");
    let login = cluster.sessions().await.login(inside).await.unwrap().into_inner();
    assert!(login.principal.unwrap().restricted_to_password_change);
    assert!(acme.holds(&user.id, "orders.process", Some(&store_a)).await, "the override came along");
    let copies = acme.audit_of("user.copy", &user.id).await;
    assert_eq!(copies.len(), 1, "{copies:?}");
}
