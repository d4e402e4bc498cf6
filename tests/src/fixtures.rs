//! Fixtures for the directory's end-to-end tests: a signed-up tenant with
//! its preset groups (R21), stores, and members logged in to unrestricted
//! sessions, plus typed clients and small readers for audit events.

use std::collections::BTreeMap;

use roster_proto::directory::v1::account_service_client::AccountServiceClient;
use roster_proto::directory::v1::audit_service_client::AuditServiceClient;
use roster_proto::directory::v1::authorization_service_client::AuthorizationServiceClient;
use roster_proto::directory::v1::group_service_client::GroupServiceClient;
use roster_proto::directory::v1::invitation_service_client::InvitationServiceClient;
use roster_proto::directory::v1::password_service_client::PasswordServiceClient;
use roster_proto::directory::v1::permission_service_client::PermissionServiceClient;
use roster_proto::directory::v1::role_service_client::RoleServiceClient;
use roster_proto::directory::v1::store_service_client::StoreServiceClient;
use roster_proto::directory::v1::user_service_client::UserServiceClient;
use roster_proto::directory::v1::{
    Account, AssignRoleRequest, AuditEvent, CheckPermissionRequest, CreateStoreRequest, CreateUserRequest,
    GetAccountRequest, GetUserRequest, Group, ListAuditEventsRequest, ListGroupsRequest, ListUsersRequest,
    RoleAssignment, User,
};
use roster_proto::session::v1::LoginRequest;
use tonic::transport::Channel;

use crate::cluster::{login_request, with_bearer, with_internal_credential};
use crate::Cluster;

/// The password every fixture user gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// Runs each scenario once on SQLite (sessions in the broker's memory) and
/// once on PostgreSQL (sessions in Redis): the directory's two databases.
#[macro_export]
macro_rules! on_directory_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario($crate::ClusterOptions::sqlite_in_process()).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario($crate::ClusterOptions::postgres_redis()).await }) *
        }
    };
}

/// A user logged in to a session.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub login_name: String,
    pub password: String,
    pub token: String,
}

/// A signed-up account, its owner logged in, its groups by name.
pub struct Tenant<'c> {
    pub cluster: &'c Cluster,
    pub slug: String,
    pub account_id: String,
    pub owner: Member,
    /// Group name → id, as listed right after sign-up.
    pub groups: BTreeMap<String, String>,
    channel: Channel,
}

impl<'c> Tenant<'c> {
    /// Signs up `slug` with an owner called `owner` and logs the owner in.
    pub async fn sign_up(cluster: &'c Cluster, slug: &str) -> Tenant<'c> {
        let created = cluster.sign_up(slug, "owner", PASSWORD).await;
        let account_id = created.account.expect("an account").id;
        let owner_id = created.owner.expect("an owner").id;
        let token = cluster.login(slug, "owner", PASSWORD).await.expect("the owner logs in").token;
        let owner = Member { id: owner_id, login_name: "owner".into(), password: PASSWORD.into(), token };
        let channel = cluster.directory_channel().await;
        let mut tenant = Tenant { cluster, slug: slug.to_owned(), account_id, owner, groups: BTreeMap::new(), channel };
        tenant.groups = tenant.list_groups().await.into_iter().map(|group| (group.name, group.id)).collect();
        tenant
    }

    /// Every group of the account, read by the owner.
    pub async fn list_groups(&self) -> Vec<Group> {
        let mut groups = Vec::new();
        let mut page_token = String::new();
        loop {
            let request = ListGroupsRequest {
                account_id: self.account_id.clone(),
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            };
            let page = self.groups().list_groups(self.as_owner(request)).await.expect("the owner lists groups");
            let page = page.into_inner();
            groups.extend(page.groups);
            if page.next_page_token.is_empty() {
                return groups;
            }
            page_token = page.next_page_token;
        }
    }

    /// The id of the group called `name`.
    #[track_caller]
    pub fn group(&self, name: &str) -> String {
        self.groups.get(name).cloned().unwrap_or_else(|| panic!("no group {name} in {:?}", self.groups.keys()))
    }

    /// `name` account-wide (`store = None`) or in one store.
    #[track_caller]
    pub fn role(&self, group: &str, store: Option<&str>) -> RoleAssignment {
        RoleAssignment {
            group_id: self.group(group),
            store_id: store.unwrap_or_default().to_owned(),
            group_name: String::new(),
        }
    }

    /// A request to assign `group` to `user_id`, account-wide
    /// (`store = None`) or in one store.
    #[track_caller]
    pub fn assign_request(&self, user_id: &str, group: &str, store: Option<&str>) -> AssignRoleRequest {
        AssignRoleRequest {
            account_id: self.account_id.clone(),
            user_id: user_id.to_owned(),
            group_id: self.group(group),
            store_id: store.unwrap_or_default().to_owned(),
        }
    }

    /// The owner assigns `group` to `user_id` (see [`Self::assign_request`]).
    pub async fn assign_as_owner(&self, user_id: &str, group: &str, store: Option<&str>) {
        let request = self.assign_request(user_id, group, store);
        let assigned = self.roles().assign_role(self.as_owner(request)).await;
        assigned.unwrap_or_else(|status| panic!("the owner assigns {group} to {user_id}: {status:?}"));
    }

    /// A request authenticated as the owner.
    pub fn as_owner<T>(&self, message: T) -> tonic::Request<T> {
        with_bearer(message, &self.owner.token)
    }

    /// A store created by the owner; returns its id.
    pub async fn create_store(&self, name: &str, is_public: bool) -> String {
        let request = CreateStoreRequest { account_id: self.account_id.clone(), name: name.to_owned(), is_public };
        self.stores().create_store(self.as_owner(request)).await.expect("the owner creates a store").into_inner().id
    }

    /// A `CreateUser` request for `login_name` (email and display name
    /// derived from it) with the fixture password and `roles`.
    pub fn new_user(&self, login_name: &str, roles: Vec<RoleAssignment>) -> CreateUserRequest {
        CreateUserRequest {
            account_id: self.account_id.clone(),
            login_name: login_name.to_owned(),
            email: format!("{}@{}.example", login_name.to_lowercase(), self.slug),
            display_name: format!("{login_name} of {}", self.slug),
            password: PASSWORD.to_owned(),
            role_assignments: roles,
            ..Default::default()
        }
    }

    /// A user created by the owner (still `invited`, still bound to change
    /// the password); returns it.
    pub async fn create_user(&self, login_name: &str, roles: Vec<RoleAssignment>) -> User {
        let request = self.new_user(login_name, roles);
        let created = self.users().create_user(self.as_owner(request)).await;
        created.unwrap_or_else(|status| panic!("the owner creates {login_name}: {status:?}")).into_inner().user.unwrap()
    }

    /// A user created by the owner, released from the password change
    /// (see `Cluster::clear_password_change`) and logged in to an
    /// unrestricted session; `active` from then on (R17).
    pub async fn member(&self, login_name: &str, roles: Vec<RoleAssignment>) -> Member {
        let user = self.create_user(login_name, roles).await;
        self.cluster.clear_password_change(&user.id).await.expect("clearing the password change");
        self.log_in(login_name).await
    }

    /// Logs `login_name` in again (with the fixture password).
    pub async fn log_in(&self, login_name: &str) -> Member {
        let login = self.cluster.login(&self.slug, login_name, PASSWORD).await;
        let login = login.unwrap_or_else(|status| panic!("{login_name} logs in: {status:?}"));
        let principal = login.principal.expect("a principal");
        assert!(!principal.restricted_to_password_change, "{login_name} should have an unrestricted session");
        Member {
            id: principal.user_id,
            login_name: login_name.to_owned(),
            password: PASSWORD.into(),
            token: login.token,
        }
    }

    /// The owner's view of a user; `None` once deleted.
    pub async fn user(&self, user_id: &str) -> Option<User> {
        let request = GetUserRequest { account_id: self.account_id.clone(), user_id: user_id.to_owned() };
        match self.users().get_user(self.as_owner(request)).await {
            Ok(user) => Some(user.into_inner()),
            Err(status) if status.code() == tonic::Code::NotFound => None,
            Err(status) => panic!("the owner reads user {user_id}: {status:?}"),
        }
    }

    /// Every user of the account, read with `token`.
    pub async fn list_users_as(&self, token: &str) -> Vec<User> {
        let request = ListUsersRequest { account_id: self.account_id.clone(), page_size: 500, ..Default::default() };
        let listed = self.users().list_users(with_bearer(request, token)).await;
        listed.unwrap_or_else(|status| panic!("listing users: {status:?}")).into_inner().users
    }

    /// The account, read with `token`.
    pub async fn account_as(&self, token: &str) -> Account {
        let request = GetAccountRequest { account: self.account_id.clone() };
        let account = self.accounts().get_account(with_bearer(request, token)).await;
        account.unwrap_or_else(|status| panic!("reading the account: {status:?}")).into_inner()
    }

    /// Whether `user_id` (empty: an anonymous principal) holds
    /// `permission` in `store` (`None`: account-wide), asked with the
    /// internal credential.
    pub async fn holds(&self, user_id: &str, permission: &str, store: Option<&str>) -> bool {
        let request = CheckPermissionRequest {
            account_id: self.account_id.clone(),
            user_id: user_id.to_owned(),
            permission: permission.to_owned(),
            store_id: store.unwrap_or_default().to_owned(),
        };
        let answer = self.authorization().check_permission(self.internal(request)).await;
        answer.unwrap_or_else(|status| panic!("CheckPermission {permission}: {status:?}")).into_inner().allowed
    }

    /// A request carrying the internal service credential.
    pub fn internal<T>(&self, message: T) -> tonic::Request<T> {
        with_internal_credential(message, &self.cluster.internal_token)
    }

    /// Every audit event of the account matching `filter` (its
    /// `account_id` is filled in), newest first, read by the owner through
    /// every page.
    pub async fn audit_events(&self, filter: ListAuditEventsRequest) -> Vec<AuditEvent> {
        let mut events = Vec::new();
        let mut request = ListAuditEventsRequest { account_id: self.account_id.clone(), ..filter };
        loop {
            let page = self.audit().list_audit_events(self.as_owner(request.clone())).await;
            let page = page.unwrap_or_else(|status| panic!("the owner lists audit events: {status:?}")).into_inner();
            events.extend(page.events);
            if page.next_page_token.is_empty() {
                return events;
            }
            request.page_token = page.next_page_token;
        }
    }

    /// Events of `action` about `target_id`.
    pub async fn audit_of(&self, action: &str, target_id: &str) -> Vec<AuditEvent> {
        let filter =
            ListAuditEventsRequest { action: action.to_owned(), target_id: target_id.to_owned(), ..Default::default() };
        self.audit_events(filter).await
    }

    pub fn accounts(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.channel.clone())
    }

    pub fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.channel.clone())
    }

    pub fn roles(&self) -> RoleServiceClient<Channel> {
        RoleServiceClient::new(self.channel.clone())
    }

    pub fn groups(&self) -> GroupServiceClient<Channel> {
        GroupServiceClient::new(self.channel.clone())
    }

    pub fn stores(&self) -> StoreServiceClient<Channel> {
        StoreServiceClient::new(self.channel.clone())
    }

    pub fn permissions(&self) -> PermissionServiceClient<Channel> {
        PermissionServiceClient::new(self.channel.clone())
    }

    pub fn authorization(&self) -> AuthorizationServiceClient<Channel> {
        AuthorizationServiceClient::new(self.channel.clone())
    }

    pub fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel.clone())
    }

    pub fn invitations(&self) -> InvitationServiceClient<Channel> {
        InvitationServiceClient::new(self.channel.clone())
    }

    pub fn passwords(&self) -> PasswordServiceClient<Channel> {
        PasswordServiceClient::new(self.channel.clone())
    }
}

/// A group (by id) account-wide (`store = None`) or in one store: for
/// groups created after sign-up, which `Tenant::role` does not know.
pub fn assignment(group_id: &str, store: Option<&str>) -> RoleAssignment {
    RoleAssignment {
        group_id: group_id.to_owned(),
        store_id: store.unwrap_or_default().to_owned(),
        group_name: String::new(),
    }
}

/// A login request for `login_name` from `client_address`.
pub fn login_from(account: &str, login_name: &str, password: &str, client_address: &str) -> LoginRequest {
    LoginRequest { client_address: client_address.to_owned(), ..login_request(account, login_name, password) }
}

/// The `changes` entry of `field` in an audit event, as text (prost's
/// `Debug` of the `{"before": ..., "after": ...}` value), or empty when
/// the field did not change.
pub fn change_of(event: &AuditEvent, field: &str) -> String {
    event
        .changes
        .as_ref()
        .and_then(|changes| changes.fields.get(field))
        .map(|value| format!("{value:?}"))
        .unwrap_or_default()
}

/// Sets the `update_mask` of an update request to `paths` (the mask's type
/// comes from the request, so tests need not name `prost_types`).
#[macro_export]
macro_rules! with_mask {
    ($request:expr, $($path:expr),+ $(,)?) => {{
        let mut request = $request;
        request.update_mask = ::std::option::Option::Some(::std::default::Default::default());
        if let ::std::option::Option::Some(mask) = request.update_mask.as_mut() {
            mask.paths = vec![$(::std::string::String::from($path)),+];
        }
        request
    }};
}
