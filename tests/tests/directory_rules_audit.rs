//! End to end, one test per rule: the audit log (R43, R44). Each runs on
//! SQLite and on PostgreSQL.

use std::collections::BTreeSet;

use roster_e2e::cluster::{with_bearer, OPERATOR_PASSWORD};
use roster_e2e::fixtures::{change_of, Member, Tenant, PASSWORD};
use roster_e2e::status::{expect_error, violated_fields};
use roster_e2e::{on_directory_backends, with_mask, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    Account, AssignRoleRequest, AuditEvent, BlockUserRequest, CopyUserRequest, CreateGroupRequest, DeleteGroupRequest,
    DeleteStoreRequest, DeleteUserRequest, GetUserRequest, Group, ListAuditEventsRequest, Permission,
    RegisterPermissionsRequest, SetUserPasswordRequest, Store, UnassignRoleRequest, UnblockUserRequest,
    UpdateAccountRequest, UpdateGroupRequest, UpdateStoreRequest, UpdateUserRequest, User,
};
use tonic::metadata::MetadataValue;
use tonic::Code;

on_directory_backends!(
    r43_every_change_and_every_denial_writes_one_audit_event_with_actor_target_and_changes,
    r44_the_audit_log_is_append_only_and_lists_with_filters_and_pages,
);

/// A request as `member`, from a gateway that forwards the end user's agent.
fn from_browser<T>(message: T, member: &Member) -> tonic::Request<T> {
    let mut request = with_bearer(message, &member.token);
    request.metadata_mut().insert("x-roster-user-agent", MetadataValue::from_static("e2e-browser/1.0"));
    request
}

/// The one event of `action` about `target_id`, checked for the facts every
/// event carries.
#[track_caller]
fn the_event<'e>(events: &'e [AuditEvent], action: &str, target_id: &str, actor: &Member) -> &'e AuditEvent {
    let matching: Vec<&AuditEvent> =
        events.iter().filter(|event| event.action == action && event.target_id == target_id).collect();
    assert_eq!(matching.len(), 1, "exactly one {action} event about {target_id}: {matching:?}");
    let event = matching[0];
    assert_eq!((event.actor_id.as_str(), event.actor_name.as_str()), (actor.id.as_str(), actor.login_name.as_str()));
    assert_eq!(event.outcome, "success", "{event:?}");
    assert!(!event.target_type.is_empty() && !event.id.is_empty() && event.occur_time.is_some(), "{event:?}");
    assert_eq!(event.client_address, "127.0.0.1", "{event:?}");
    assert_eq!(event.user_agent, "e2e-browser/1.0", "{event:?}");
    event
}

async fn r43_every_change_and_every_denial_writes_one_audit_event_with_actor_target_and_changes(
    options: ClusterOptions,
) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let accountant = acme.member("accountant", vec![acme.role("Accountant", None)]).await;
    let owner = acme.owner.clone();
    let account_id = acme.account_id.clone();
    let (mut users, mut roles, mut groups, mut stores) = (acme.users(), acme.roles(), acme.groups(), acme.stores());
    let before = acme.audit_events(ListAuditEventsRequest::default()).await.len();

    // Users and roles, by the administrator.
    let alice = users.create_user(from_browser(acme.new_user("alice", Vec::new()), &admin)).await.unwrap();
    let alice = alice.into_inner().user.unwrap();
    let user = |change: fn(&mut User)| {
        let mut user = User { id: alice.id.clone(), account_id: account_id.clone(), ..Default::default() };
        change(&mut user);
        UpdateUserRequest { user: Some(user), update_mask: None }
    };
    let rename = with_mask!(user(|user| user.display_name = "Alice A.".into()), "display_name");
    users.update_user(from_browser(rename, &admin)).await.unwrap();
    let role = AssignRoleRequest {
        account_id: account_id.clone(),
        user_id: alice.id.clone(),
        group_id: acme.group("Accountant"),
        store_id: String::new(),
    };
    roles.assign_role(from_browser(role.clone(), &admin)).await.unwrap();
    let unassign = UnassignRoleRequest {
        account_id: role.account_id.clone(),
        user_id: role.user_id.clone(),
        group_id: role.group_id.clone(),
        store_id: String::new(),
    };
    roles.unassign_role(from_browser(unassign, &admin)).await.unwrap();
    let target = || BlockUserRequest { account_id: account_id.clone(), user_id: alice.id.clone() };
    users.block_user(from_browser(target(), &admin)).await.unwrap();
    let unblock = UnblockUserRequest { account_id: account_id.clone(), user_id: alice.id.clone() };
    users.unblock_user(from_browser(unblock, &admin)).await.unwrap();
    let password = SetUserPasswordRequest {
        account_id: account_id.clone(),
        user_id: alice.id.clone(),
        password: "another long password".into(),
    };
    users.set_user_password(from_browser(password, &admin)).await.unwrap();
    let copy = CopyUserRequest {
        account_id: account_id.clone(),
        source_user_id: alice.id.clone(),
        login_name: "alice2".into(),
        email: "alice2@acme.example".into(),
        display_name: "Alice Two".into(),
    };
    let copied = users.copy_user(from_browser(copy, &admin)).await.unwrap().into_inner().user.unwrap();
    // Groups, stores and the account.
    let group = CreateGroupRequest { account_id: account_id.clone(), name: "Packers".into(), ..Default::default() };
    let group = groups.create_group(from_browser(group, &admin)).await.unwrap().into_inner();
    let renamed = Group { name: "Shippers".into(), ..group.clone() };
    let renamed = with_mask!(UpdateGroupRequest { group: Some(renamed), update_mask: None }, "name");
    groups.update_group(from_browser(renamed, &admin)).await.unwrap();
    let delete_group = DeleteGroupRequest { account_id: account_id.clone(), group_id: group.id.clone() };
    groups.delete_group(from_browser(delete_group, &admin)).await.unwrap();
    let store = roster_proto::directory::v1::CreateStoreRequest {
        account_id: account_id.clone(),
        name: "Dock".into(),
        is_public: false,
    };
    let store = stores.create_store(from_browser(store, &owner)).await.unwrap().into_inner();
    let store_rename = Store { name: "Dock 2".into(), ..store.clone() };
    let store_rename = with_mask!(UpdateStoreRequest { store: Some(store_rename), update_mask: None }, "name");
    stores.update_store(from_browser(store_rename, &admin)).await.unwrap();
    let delete_store = DeleteStoreRequest { account_id: account_id.clone(), store_id: store.id.clone() };
    stores.delete_store(from_browser(delete_store, &admin)).await.unwrap();
    let account = Account { id: account_id.clone(), display_name: "Acme Trading".into(), ..Default::default() };
    let account = with_mask!(UpdateAccountRequest { account: Some(account), update_mask: None }, "display_name");
    acme.accounts().update_account(from_browser(account, &owner)).await.unwrap();
    let delete = DeleteUserRequest { account_id: account_id.clone(), user_id: copied.id.clone() };
    users.delete_user(from_browser(delete, &admin)).await.unwrap();
    // Reads change nothing and write nothing.
    let get = GetUserRequest { account_id: account_id.clone(), user_id: alice.id.clone() };
    users.get_user(from_browser(get, &admin)).await.unwrap();

    let events = acme.audit_events(ListAuditEventsRequest::default()).await;
    assert_eq!(events.len() - before, 16, "one event per change: {:#?}", &events[..events.len() - before]);
    let created = the_event(&events, "user.create", &alice.id, &admin);
    assert!(format!("{:?}", created.changes).contains("alice"), "a creation shows what was set: {created:?}");
    let updated = the_event(&events, "user.update", &alice.id, &admin);
    let display_name = change_of(updated, "display_name");
    for expected in ["before", "after", "alice of acme", "Alice A."] {
        assert!(display_name.contains(expected), "before and after: {display_name}");
    }
    assert!(updated.target_name.to_lowercase().contains("alice"), "{updated:?}");
    the_event(&events, "role.assign", &alice.id, &admin);
    the_event(&events, "role.unassign", &alice.id, &admin);
    let blocked = the_event(&events, "user.block", &alice.id, &admin);
    assert!(change_of(blocked, "status").contains("blocked"), "{blocked:?}");
    the_event(&events, "user.unblock", &alice.id, &admin);
    let reset = the_event(&events, "user.set_password", &alice.id, &admin);
    assert!(!format!("{reset:?}").contains("another long password"), "never a secret");
    the_event(&events, "user.copy", &copied.id, &admin);
    the_event(&events, "group.create", &group.id, &admin);
    let group_renamed = change_of(the_event(&events, "group.update", &group.id, &admin), "name");
    assert!(group_renamed.contains("Packers") && group_renamed.contains("Shippers"), "{group_renamed}");
    the_event(&events, "group.delete", &group.id, &admin);
    the_event(&events, "store.create", &store.id, &owner);
    assert!(change_of(the_event(&events, "store.update", &store.id, &admin), "name").contains("Dock 2"));
    the_event(&events, "store.delete", &store.id, &admin);
    let account_updated = the_event(&events, "account.update", &account_id, &owner);
    assert!(change_of(account_updated, "display_name").contains("Acme Trading"));
    let deleted = the_event(&events, "user.delete", &copied.id, &admin);
    assert!(deleted.target_name.contains("alice2"), "{deleted:?}");

    // Denied administrative calls are audited as such, with the reason.
    let denied_before = events.len();
    let delete = DeleteUserRequest { account_id: account_id.clone(), user_id: alice.id.clone() };
    let refused = users.delete_user(from_browser(delete, &accountant)).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    let register = RegisterPermissionsRequest {
        service_name: "sneaky".into(),
        permissions: vec![Permission { name: "sneaky.act".into(), scope_level: 1, ..Default::default() }],
    };
    let refused = acme.permissions().register_permissions(from_browser(register, &admin)).await;
    expect_error(refused, Code::PermissionDenied, "INTERNAL_CREDENTIAL_REQUIRED");
    let events = acme.audit_events(ListAuditEventsRequest::default()).await;
    assert_eq!(events.len() - denied_before, 2, "{:#?}", &events[..events.len() - denied_before]);
    let denied = events.iter().find(|event| event.action == "user.delete" && event.outcome == "denied").unwrap();
    assert_eq!((denied.actor_id.as_str(), denied.target_id.as_str()), (accountant.id.as_str(), alice.id.as_str()));
    assert_eq!(denied.reason, "MISSING_PERMISSION");
    let denied = events.iter().find(|event| event.action == "permission.register").unwrap();
    assert_eq!((denied.outcome.as_str(), denied.actor_id.as_str()), ("denied", admin.id.as_str()));
    assert!(acme.user(&alice.id).await.is_some(), "the denied deletion changed nothing");

    // Logins, both ways.
    cluster.login("acme", "accountant", "wrong password!").await.unwrap_err();
    cluster.login("acme", "accountant", PASSWORD).await.unwrap();
    let logins = acme.audit_of("session.login", &accountant.id).await;
    let outcomes: Vec<&str> = logins.iter().map(|event| event.outcome.as_str()).collect();
    assert_eq!(outcomes, ["success", "failure", "success"], "newest first");
    assert_eq!(logins[1].reason, "WRONG_PASSWORD");
    assert_eq!(logins[0].client_address, "203.0.113.7", "the end user's address, from the gateway");
}

async fn r44_the_audit_log_is_append_only_and_lists_with_filters_and_pages(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let globex = Tenant::sign_up(&cluster, "globex").await;
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let member = acme.member("member", vec![acme.role("Team member", None)]).await;
    let mut created = Vec::new();
    for index in 0..6 {
        let request = acme.new_user(&format!("user{index}"), Vec::new());
        let user = acme.users().create_user(with_bearer(request, &admin.token)).await.unwrap();
        created.push(user.into_inner().user.unwrap().id);
    }
    let filter = |change: fn(&mut ListAuditEventsRequest)| {
        let mut request = ListAuditEventsRequest { action: "user.create".into(), ..Default::default() };
        change(&mut request);
        request
    };
    let targets = |events: Vec<AuditEvent>| events.into_iter().map(|event| event.target_id).collect::<Vec<_>>();

    let all_creations = acme.audit_events(filter(|_| {})).await;
    assert_eq!(all_creations.len(), 8, "two by the owner (fixtures), six by the admin");
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    let by_admin = ListAuditEventsRequest { actor_id: admin.id.clone(), ..filter(|_| {}) };
    assert_eq!(targets(acme.audit_events(by_admin).await), newest_first, "by actor, newest first");
    let about = ListAuditEventsRequest { target_id: created[3].clone(), action: String::new(), ..Default::default() };
    let about = acme.audit_events(about).await;
    assert!(about.iter().all(|event| event.target_id == created[3]) && about.len() == 1, "{about:?}");

    // Time range: inclusive start, exclusive end.
    let time_of = |target: &str| {
        all_creations.iter().find(|event| event.target_id == target).and_then(|event| event.occur_time).unwrap()
    };
    let range = ListAuditEventsRequest {
        start_time: Some(time_of(&created[1])),
        end_time: Some(time_of(&created[4])),
        ..filter(|_| {})
    };
    assert_eq!(targets(acme.audit_events(range).await), [created[3].clone(), created[2].clone(), created[1].clone()]);

    // Pages of two cover the same events, once each, in the same order.
    let mut paged = Vec::new();
    let mut request = ListAuditEventsRequest { account_id: acme.account_id.clone(), page_size: 2, ..filter(|_| {}) };
    for _ in 0..10 {
        let page = acme.audit().list_audit_events(acme.as_owner(request.clone())).await.unwrap().into_inner();
        assert!(page.events.len() <= 2);
        paged.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    assert_eq!(paged, all_creations);
    let times: Vec<_> = paged.iter().map(|event| event.occur_time.unwrap()).collect();
    assert!(times.windows(2).all(|pair| (pair[0].seconds, pair[0].nanos) >= (pair[1].seconds, pair[1].nanos)));
    let bad_token = ListAuditEventsRequest { page_token: "garbage".into(), ..request };
    let refused = acme.audit().list_audit_events(acme.as_owner(bad_token)).await.unwrap_err();
    assert_eq!((refused.code(), violated_fields(&refused)), (Code::InvalidArgument, vec!["page_token".to_owned()]));

    // Who may read it.
    let mut audit = acme.audit();
    let mine = ListAuditEventsRequest { account_id: acme.account_id.clone(), ..Default::default() };
    let refused = audit.list_audit_events(with_bearer(mine.clone(), &member.token)).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    let refused = audit.list_audit_events(globex.as_owner(mine.clone())).await;
    expect_error(refused, Code::PermissionDenied, "OTHER_ACCOUNT");
    expect_error(audit.list_audit_events(mine.clone()).await, Code::Unauthenticated, "SESSION_REQUIRED");
    let everyone = ListAuditEventsRequest::default();
    let refused = audit.list_audit_events(acme.as_owner(everyone.clone())).await.unwrap_err();
    assert_eq!(violated_fields(&refused), ["account_id"], "only operators list every account");
    let operator = cluster.login("platform", "operator", OPERATOR_PASSWORD).await.unwrap().token;
    let request = ListAuditEventsRequest { action: "account.create".into(), ..everyone };
    let events = audit.list_audit_events(with_bearer(request, &operator)).await.unwrap().into_inner().events;
    let accounts: BTreeSet<&str> = events.iter().map(|event| event.account_id.as_str()).collect();
    assert!(accounts.contains(acme.account_id.as_str()) && accounts.contains(globex.account_id.as_str()));

    // Append-only, down to the database.
    let total = acme.audit_events(ListAuditEventsRequest::default()).await.len();
    for statement in ["UPDATE audit_events SET outcome = 'success'", "DELETE FROM audit_events"] {
        assert!(cluster.execute_sql(statement).await.is_err(), "the database refuses: {statement}");
    }
    assert_eq!(acme.audit_events(ListAuditEventsRequest::default()).await.len(), total);
}
