//! End to end: what `ValidateSession` says about a session's user (R40), a
//! restricted temporary-password session (R42), and a permission change
//! reaching validation (R38). Each runs on SQLite (sessions in the broker's
//! memory) and on PostgreSQL (sessions in Redis).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use roster_e2e::cluster::with_bearer;
use roster_e2e::fixtures::{Tenant, PASSWORD};
use roster_e2e::status::{expect_error, violated_fields};
use roster_e2e::{on_directory_backends, with_mask, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    GetAccountRequest, GetGroupRequest, GetPrincipalAccessRequest, Group, StringList, UpdateGroupRequest,
    UpdateUserRequest, User,
};
use roster_proto::session::v1::session_service_client::SessionServiceClient;
use roster_proto::session::v1::{ListSessionsRequest, Principal, ValidateSessionRequest, ValidateSessionResponse};
use tonic::transport::Channel;
use tonic::Code;

on_directory_backends!(
    r40_validation_returns_permissions_per_scope_and_data_filters,
    r40_validation_checks_one_permission_in_one_store,
    r42_a_temporary_password_session_is_restricted_to_the_password_change,
    r38_a_role_assignment_reaches_validation_within_one_second,
    r38_a_group_permission_change_reaches_validation_within_one_second,
    issue6_a_conditional_access_fetch_is_unchanged_until_the_access_changes,
);

fn validation(token: &str, permission: &str, store: Option<&str>) -> ValidateSessionRequest {
    ValidateSessionRequest {
        token: token.to_owned(),
        permission: permission.to_owned(),
        store_id: store.unwrap_or_default().to_owned(),
    }
}

async fn validate(
    sessions: &mut SessionServiceClient<Channel>,
    token: &str,
    permission: &str,
    store: Option<&str>,
) -> ValidateSessionResponse {
    let answer = sessions.validate_session(validation(token, permission, store)).await;
    answer.unwrap_or_else(|status| panic!("validating: {status:?}")).into_inner()
}

/// The answer of the check `permission` in `store`.
async fn allowed(
    sessions: &mut SessionServiceClient<Channel>,
    token: &str,
    permission: &str,
    store: Option<&str>,
) -> bool {
    let answer = validate(sessions, token, permission, store).await;
    let check = answer.check.expect("a check was asked, so it is answered");
    assert_eq!(check.permission, permission);
    assert_eq!(check.store_id, store.unwrap_or_default());
    check.allowed
}

fn store_permissions(principal: &Principal) -> BTreeMap<String, Vec<String>> {
    let permissions = principal.permissions.clone().expect("permissions per scope");
    permissions.store_permissions.into_iter().map(|store| (store.store_id, store.permissions)).collect()
}

/// Polls `check` until it holds; panics if it does not within `limit` of
/// `since`.
async fn within<F, Fut>(limit: Duration, since: Instant, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if check().await {
            return;
        }
        assert!(since.elapsed() < limit, "{what}: not seen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn r40_validation_returns_permissions_per_scope_and_data_filters(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let north = acme.create_store("North", false).await;
    let mia = acme.member("mia", vec![acme.role("Manager", Some(&north)), acme.role("Team member", None)]).await;
    let mut user = User { id: mia.id.clone(), account_id: acme.account_id.clone(), ..Default::default() };
    user.data_filters.insert("region".to_owned(), StringList { values: vec!["north".to_owned(), "east".to_owned()] });
    let update = with_mask!(UpdateUserRequest { user: Some(user), update_mask: None }, "data_filters");
    acme.users().update_user(acme.as_owner(update)).await.unwrap();

    let mut sessions = cluster.sessions().await;
    let principal = validate(&mut sessions, &mia.token, "", None).await.principal.unwrap();
    assert_eq!(principal.user_id, mia.id);
    assert_eq!(principal.account_id, acme.account_id);
    assert!(!principal.session_id.is_empty());
    assert!(principal.expire_time.is_some() && principal.idle_expire_time.is_some());
    let mut groups = principal.group_names.clone();
    groups.sort();
    assert_eq!(groups, ["Manager", "Team member"]);
    assert_eq!(principal.group_ids.len(), 2);
    let permissions = principal.permissions.clone().unwrap();
    assert!(!permissions.is_owner);
    // R29: the Manager's account-level permissions hold account-wide, even from a store-scoped assignment.
    assert!(permissions.account_permissions.contains(&"users.view".to_owned()), "{permissions:?}");
    // R28: the Team member's store-level permission holds in every store, the Manager's in North only.
    assert_eq!(permissions.every_store_permissions, ["products.view", "transactions.view"], "with the Operator Root's");
    let per_store = store_permissions(&principal);
    let in_north = per_store.get(&north).expect("North is listed");
    assert!(in_north.contains(&"orders.view".to_owned()) && in_north.contains(&"transactions.view".to_owned()));
    assert!(!permissions.other_store_permissions.contains(&"orders.view".to_owned()));
    assert_eq!(principal.data_filters.len(), 1);
    assert_eq!(principal.data_filters[0].field, "region");
    assert_eq!(principal.data_filters[0].values, ["east", "north"], "kept sorted");
    assert!(validate(&mut sessions, &mia.token, "", None).await.check.is_none(), "no check asked, none answered");

    // R2: the owner holds everything.
    let owner = validate(&mut sessions, &acme.owner.token, "", None).await.principal.unwrap();
    assert!(owner.is_owner);
    assert!(owner.permissions.unwrap().account_permissions.contains(&"account.manage".to_owned()));
}

async fn r40_validation_checks_one_permission_in_one_store(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let north = acme.create_store("North", false).await;
    let south = acme.create_store("South", false).await;
    let mia = acme.member("mia", vec![acme.role("Manager", Some(&north))]).await;
    let mut sessions = cluster.sessions().await;

    assert!(allowed(&mut sessions, &mia.token, "orders.view", Some(&north)).await);
    assert!(!allowed(&mut sessions, &mia.token, "orders.view", Some(&south)).await);
    assert!(!allowed(&mut sessions, &mia.token, "orders.view", None).await, "not in every store");
    assert!(allowed(&mut sessions, &mia.token, "users.view", Some(&south)).await, "account-level: everywhere");
    assert!(allowed(&mut sessions, &mia.token, "users.view", None).await);
    assert!(!allowed(&mut sessions, &mia.token, "stores.create", None).await);
    assert!(!allowed(&mut sessions, &mia.token, "no.such_permission", None).await, "unknown permissions never hold");
    // Each answer agrees with the directory's own CheckPermission.
    for (permission, store) in
        [("orders.view", Some(north.as_str())), ("orders.view", Some(&south)), ("users.view", None)]
    {
        assert_eq!(
            allowed(&mut sessions, &mia.token, permission, store).await,
            acme.holds(&mia.id, permission, store).await,
            "{permission} in {store:?}"
        );
    }

    let bad = sessions.validate_session(validation(&mia.token, "Not A Permission", Some("nope"))).await;
    let status = expect_error(bad, Code::InvalidArgument, "INVALID_FIELD");
    assert_eq!(violated_fields(&status), ["permission", "store_id"]);
    let store_alone = sessions.validate_session(validation(&mia.token, "", Some(&north))).await;
    let status = expect_error(store_alone, Code::InvalidArgument, "INVALID_FIELD");
    assert_eq!(violated_fields(&status), ["store_id"]);
}

async fn r42_a_temporary_password_session_is_restricted_to_the_password_change(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    // Created with a password by an administrator: it must be changed at first use (R10).
    let tess = acme.create_user("tess", vec![acme.role("Administrator", None)]).await;
    let login = cluster.login("acme", "tess", PASSWORD).await.unwrap();
    let principal = login.principal.unwrap();
    assert!(principal.restricted_to_password_change);
    let permissions = principal.permissions.unwrap();
    assert!(permissions.account_permissions.is_empty() && permissions.every_store_permissions.is_empty());

    let mut sessions = cluster.sessions().await;
    let answer = validate(&mut sessions, &login.token, "users.view", None).await;
    let principal = answer.principal.unwrap();
    assert!(principal.restricted_to_password_change, "validation says the session is restricted");
    assert_eq!(principal.user_id, tess.id);
    assert!(!answer.check.unwrap().allowed, "a restricted session holds no permission");
    assert!(acme.holds(&tess.id, "users.view", None).await, "the user does hold it outside this session");

    // Every directory RPC refuses it, and so do the broker's administrative ones.
    let read = acme
        .accounts()
        .get_account(with_bearer(GetAccountRequest { account: acme.account_id.clone() }, &login.token))
        .await;
    expect_error(read, Code::PermissionDenied, "PASSWORD_CHANGE_REQUIRED");
    let listed = sessions.list_sessions(with_bearer(ListSessionsRequest::default(), &login.token)).await;
    expect_error(listed, Code::PermissionDenied, "PASSWORD_CHANGE_REQUIRED");
}

async fn r38_a_role_assignment_reaches_validation_within_one_second(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let north = acme.create_store("North", false).await;
    let tom = acme.member("tom", vec![acme.role("Team member", None)]).await;
    let mut sessions = cluster.sessions().await;
    // Validated once, so the broker has the old answer at hand.
    assert!(!allowed(&mut sessions, &tom.token, "orders.view", Some(&north)).await);

    acme.assign_as_owner(&tom.id, "Manager", Some(&north)).await;
    let since = Instant::now();
    within(Duration::from_secs(1), since, "the new role in validation", || {
        let (mut sessions, token, north) = (sessions.clone(), tom.token.clone(), north.clone());
        async move { allowed(&mut sessions, &token, "orders.view", Some(&north)).await }
    })
    .await;
    let principal = validate(&mut sessions, &tom.token, "", None).await.principal.unwrap();
    assert!(principal.group_names.contains(&"Manager".to_owned()));
}

async fn r38_a_group_permission_change_reaches_validation_within_one_second(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let tom = acme.member("tom", vec![acme.role("Team member", None)]).await;
    let mut sessions = cluster.sessions().await;
    assert!(allowed(&mut sessions, &tom.token, "transactions.view", None).await);

    // The Team member group loses its only permission: everyone in it does.
    let mut groups = acme.groups();
    let group_id = acme.group("Team member");
    let group = groups
        .get_group(acme.as_owner(GetGroupRequest {
            account_id: acme.account_id.clone(),
            group_id: group_id.clone(),
            name: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    let update = with_mask!(
        UpdateGroupRequest { group: Some(Group { permissions: vec![], ..group }), update_mask: None },
        "permissions"
    );
    groups.update_group(acme.as_owner(update)).await.unwrap();
    let since = Instant::now();
    within(Duration::from_secs(1), since, "the group's lost permission in validation", || {
        let (mut sessions, token) = (sessions.clone(), tom.token.clone());
        async move { !allowed(&mut sessions, &token, "transactions.view", None).await }
    })
    .await;
}

/// Issue 6, R38: the broker's refresh of a cached access sends the version
/// it holds; over the wire, the directory answers `unchanged` (and nothing
/// else) while the account's access has not moved, and the whole access
/// again once it has.
async fn issue6_a_conditional_access_fetch_is_unchanged_until_the_access_changes(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let tom = acme.member("tom", vec![acme.role("Team member", None)]).await;
    let mut credentials = cluster.credentials().await;
    let fetch = |held: Option<i64>| GetPrincipalAccessRequest {
        account_id: acme.account_id.clone(),
        user_id: tom.id.clone(),
        held_access_version: held,
    };
    let first = credentials.get_principal_access(acme.internal(fetch(None))).await.unwrap().into_inner();
    let version = first.access_version.expect("an answer says which version it is as of");
    assert!(!first.unchanged);
    assert_eq!(first.group_names, ["Team member"]);

    let again = credentials.get_principal_access(acme.internal(fetch(Some(version)))).await.unwrap().into_inner();
    assert!(again.unchanged, "nothing moved since the held version");
    assert_eq!((again.access_version, again.user_id.as_str()), (Some(version), tom.id.as_str()));
    assert!(again.group_names.is_empty() && again.permissions.is_none(), "and nothing else is sent");

    acme.assign_as_owner(&tom.id, "Manager", None).await;
    let after = credentials.get_principal_access(acme.internal(fetch(Some(version)))).await.unwrap().into_inner();
    assert!(!after.unchanged, "a role assignment moves the account's access version");
    assert!(after.access_version.unwrap() > version);
    assert_eq!(after.group_names, ["Manager", "Team member"]);

    // Only the internal credential may ask (as for every CredentialService call).
    let outside = credentials.get_principal_access(fetch(Some(version))).await;
    expect_error(outside, Code::PermissionDenied, "INTERNAL_CREDENTIAL_REQUIRED");
}
