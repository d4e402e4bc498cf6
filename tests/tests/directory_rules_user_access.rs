//! End to end, one test per rule: who gets in and with what (R14–R17). Each
//! runs on SQLite and on PostgreSQL.

use std::collections::HashMap;

use roster_e2e::cluster::with_bearer;
use roster_e2e::fixtures::{change_of, login_from, Tenant, PASSWORD};
use roster_e2e::status::{expect_error, violated_fields};
use roster_e2e::{on_directory_backends, with_mask, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    BlockUserRequest, ListAuditEventsRequest, ListUsersRequest, StringList, UnblockUserRequest, UpdateUserRequest,
    User, UserStatus,
};
use roster_proto::session::v1::ValidateSessionRequest;
use tonic::Code;

on_directory_backends!(
    r14_a_blocked_user_cannot_log_in_and_loses_their_sessions_until_unblocked,
    r15_logins_from_outside_the_ip_allowlist_are_refused_and_audited,
    r16_data_filters_are_kept_per_user_and_their_changes_audited,
    r17_status_is_invited_until_the_first_login_then_active_and_blocked_while_blocked,
);

fn user_update(tenant: &Tenant<'_>, user_id: &str, change: impl FnOnce(&mut User)) -> UpdateUserRequest {
    let mut user = User { id: user_id.to_owned(), account_id: tenant.account_id.clone(), ..Default::default() };
    change(&mut user);
    UpdateUserRequest { user: Some(user), update_mask: None }
}

/// The reasons of failed `session.login` events about `user_id`.
async fn login_failures(tenant: &Tenant<'_>, user_id: &str) -> Vec<String> {
    let events = tenant.audit_of("session.login", user_id).await;
    events.into_iter().filter(|event| event.outcome == "failure").map(|event| event.reason).collect()
}

async fn r14_a_blocked_user_cannot_log_in_and_loses_their_sessions_until_unblocked(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let bob = acme.member("bob", vec![acme.role("Team member", None)]).await;
    let target = |user_id: &str| BlockUserRequest { account_id: acme.account_id.clone(), user_id: user_id.to_owned() };
    let mut users = acme.users();

    let refused = users.block_user(with_bearer(target(&admin.id), &admin.token)).await;
    expect_error(refused, Code::FailedPrecondition, "SELF_BLOCK");
    let blocked = users.block_user(with_bearer(target(&bob.id), &admin.token)).await.unwrap().into_inner();
    assert_eq!(blocked.status, UserStatus::Blocked as i32);
    // The session ends at once, and login is refused without saying why.
    let mut sessions = cluster.sessions().await;
    let validated =
        sessions.validate_session(ValidateSessionRequest { token: bob.token.clone(), ..Default::default() }).await;
    expect_error(validated, Code::Unauthenticated, "SESSION_REVOKED");
    expect_error(cluster.login("acme", "bob", PASSWORD).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    assert_eq!(login_failures(&acme, &bob.id).await, ["USER_BLOCKED"], "the real reason is audited");
    assert!(!acme.holds(&bob.id, "transactions.view", None).await, "a blocked user holds nothing");

    let unblock = UnblockUserRequest { account_id: acme.account_id.clone(), user_id: bob.id.clone() };
    let unblocked = users.unblock_user(with_bearer(unblock, &admin.token)).await.unwrap().into_inner();
    assert_eq!(unblocked.status, UserStatus::Active as i32, "back to the status it had");
    let bob = acme.log_in("bob").await;
    sessions.validate_session(ValidateSessionRequest { token: bob.token, ..Default::default() }).await.unwrap();
    assert!(acme.holds(&bob.id, "transactions.view", None).await);
    assert_eq!(acme.audit_of("user.block", &bob.id).await.len(), 1);
    assert_eq!(acme.audit_of("user.unblock", &bob.id).await.len(), 1);
}

async fn r15_logins_from_outside_the_ip_allowlist_are_refused_and_audited(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let mut request = acme.new_user("eve", vec![acme.role("Team member", None)]);
    request.ip_allowlist = vec!["192.0.2.0/24".into(), "2001:db8::/32".into(), "198.51.100.7".into()];
    let eve = acme.users().create_user(acme.as_owner(request)).await.unwrap().into_inner().user.unwrap();
    cluster.clear_password_change(&eve.id).await.unwrap();
    let mut sessions = cluster.sessions().await;

    for outside in ["203.0.113.7", "198.51.100.8", "192.0.3.1", "2001:db9::1", "::1"] {
        let refused = sessions.login(login_from("acme", "eve", PASSWORD, outside)).await;
        expect_error(refused, Code::Unauthenticated, "INVALID_CREDENTIALS");
    }
    for inside in ["192.0.2.55", "192.0.2.255", "2001:db8::1", "2001:db8:ffff::42", "198.51.100.7"] {
        let login = sessions.login(login_from("acme", "eve", PASSWORD, inside)).await;
        login.unwrap_or_else(|status| panic!("a login from {inside} is allowed: {status:?}"));
    }
    let failures = login_failures(&acme, &eve.id).await;
    assert_eq!(failures, vec!["IP_NOT_ALLOWED".to_owned(); 5], "each refusal is audited");
    let events = acme.audit_of("session.login", &eve.id).await;
    assert!(events.iter().any(|event| event.outcome == "failure" && event.client_address == "2001:db9::1"));

    // Bad entries are refused by name; `*` opens it to anywhere.
    let bad = user_update(&acme, &eve.id, |user| user.ip_allowlist = vec!["not-an-address".into()]);
    let refused = acme.users().update_user(acme.as_owner(with_mask!(bad, "ip_allowlist"))).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(violated_fields(&refused).iter().all(|field| field.starts_with("user.ip_allowlist")), "{refused:?}");
    let open = user_update(&acme, &eve.id, |user| user.ip_allowlist = vec!["*".into()]);
    let updated = acme.users().update_user(acme.as_owner(with_mask!(open, "ip_allowlist"))).await.unwrap();
    assert_eq!(updated.into_inner().ip_allowlist, ["*"]);
    sessions.login(login_from("acme", "eve", PASSWORD, "203.0.113.7")).await.expect("anywhere now");
}

async fn r16_data_filters_are_kept_per_user_and_their_changes_audited(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let values = |values: &[&str]| StringList { values: values.iter().map(|value| value.to_string()).collect() };
    let mut request = acme.new_user("frank", vec![acme.role("Team member", None)]);
    request.data_filters = HashMap::from([("country".to_owned(), values(&["US", "JP"]))]);
    let frank = acme.users().create_user(acme.as_owner(request)).await.unwrap().into_inner().user.unwrap();
    let stored = acme.user(&frank.id).await.unwrap().data_filters;
    assert_eq!(stored.get("country").map(|list| list.values.clone()), Some(vec!["JP".into(), "US".into()]));

    let filters = HashMap::from([("country".to_owned(), values(&["DE"])), ("region".to_owned(), values(&["emea"]))]);
    let change = user_update(&acme, &frank.id, |user| user.data_filters = filters.clone());
    acme.users().update_user(acme.as_owner(with_mask!(change, "data_filters"))).await.unwrap();
    assert_eq!(acme.user(&frank.id).await.unwrap().data_filters, filters);
    let updates = acme.audit_of("user.update", &frank.id).await;
    assert_eq!(updates.len(), 1);
    let audited = change_of(&updates[0], "data_filters");
    for expected in ["before", "after", "JP", "DE", "emea"] {
        assert!(audited.contains(expected), "the change is audited with {expected}: {audited}");
    }
    // Other users do not share them.
    let other = acme.create_user("grace", vec![acme.role("Team member", None)]).await;
    assert!(acme.user(&other.id).await.unwrap().data_filters.is_empty());

    let bad = HashMap::from([("Country Code".to_owned(), values(&["JP"]))]);
    let change = user_update(&acme, &frank.id, |user| user.data_filters = bad);
    let refused = acme.users().update_user(acme.as_owner(with_mask!(change, "data_filters"))).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(violated_fields(&refused).iter().all(|field| field.starts_with("user.data_filters")), "{refused:?}");
}

async fn r17_status_is_invited_until_the_first_login_then_active_and_blocked_while_blocked(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let fay = acme.create_user("fay", vec![acme.role("Team member", None)]).await;
    let gus = acme.create_user("gus", vec![acme.role("Team member", None)]).await;
    assert_eq!(fay.status, UserStatus::Invited as i32);
    let status_of = |user_id: String| {
        let acme = &acme;
        async move { acme.user(&user_id).await.unwrap().status }
    };

    expect_error(
        cluster.login("acme", "fay", "not fay's password").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(status_of(fay.id.clone()).await, UserStatus::Invited as i32, "a failed login changes nothing");
    // Any successful login counts, even one restricted to changing the password.
    cluster.login("acme", "fay", PASSWORD).await.unwrap();
    let after_login = acme.user(&fay.id).await.unwrap();
    assert_eq!(after_login.status, UserStatus::Active as i32);
    assert!(after_login.last_login_time.is_some());

    let mut users = acme.users();
    let block = |user_id: &str| BlockUserRequest { account_id: acme.account_id.clone(), user_id: user_id.to_owned() };
    let unblock =
        |user_id: &str| UnblockUserRequest { account_id: acme.account_id.clone(), user_id: user_id.to_owned() };
    for user_id in [&fay.id, &gus.id] {
        users.block_user(acme.as_owner(block(user_id))).await.unwrap();
        assert_eq!(status_of(user_id.clone()).await, UserStatus::Blocked as i32);
    }
    let listed = ListUsersRequest {
        account_id: acme.account_id.clone(),
        status: UserStatus::Blocked as i32,
        ..Default::default()
    };
    let blocked = users.list_users(acme.as_owner(listed.clone())).await.unwrap().into_inner().users;
    let mut blocked: Vec<String> = blocked.into_iter().map(|user| user.login_name).collect();
    blocked.sort();
    assert_eq!(blocked, ["fay", "gus"]);
    for user_id in [&fay.id, &gus.id] {
        users.unblock_user(acme.as_owner(unblock(user_id))).await.unwrap();
    }
    assert_eq!(status_of(fay.id.clone()).await, UserStatus::Active as i32, "fay had logged in");
    assert_eq!(status_of(gus.id.clone()).await, UserStatus::Invited as i32, "gus never had");
    let invited = ListUsersRequest { status: UserStatus::Invited as i32, ..listed };
    let invited = users.list_users(acme.as_owner(invited)).await.unwrap().into_inner().users;
    assert_eq!(invited.into_iter().map(|user| user.login_name).collect::<Vec<_>>(), ["gus"]);
    let logins = acme.audit_events(ListAuditEventsRequest { action: "session.login".into(), ..Default::default() });
    assert!(logins.await.iter().any(|event| event.target_id == fay.id && event.outcome == "success"));
}
