//! Helpers for the directory repositories: a signed-up tenant, new users,
//! groups and stores, and reading pages to the end.

use std::collections::BTreeSet;

use roster_directory_store::SeaDirectoryStore;
use roster_domain::access::{OverrideEffect, PermissionOverride, RoleAssignment, Scope};
use roster_domain::account::{Account, User};
use roster_domain::audit::{AuditOutcome, RequestContext};
use roster_domain::filters::DataFilters;
use roster_domain::groups::{BadgeColour, Group, GroupKey, NewGroup};
use roster_domain::ids::{AccountId, GroupId, StoreId, UserId};
use roster_domain::names::{DisplayName, EmailAddress, LoginName};
use roster_domain::network::IpAllowlist;
use roster_domain::presets::PermissionName;
use roster_domain::repository::{
    AccountRepository, CredentialRepository, GroupRepository, LoginAttempt, StoreRepository, UserRepository,
};
use roster_domain::stores::NewStore;
use roster_domain::users::NewUser;
use roster_domain::{DomainError, ErrorCode};

use crate::common::fixtures::{context, count, fake_hash, new_account, presets};

/// An account and its owner.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub account: Account,
    pub owner: User,
}

/// Signs `slug` up with owner `owner-<slug>`.
pub async fn sign_up(store: &SeaDirectoryStore, slug: &str) -> Tenant {
    let login = format!("owner-{slug}");
    let (account, owner) = store
        .create_account(new_account(slug, &login, &format!("{login}@example.com")), &presets(), &context())
        .await
        .unwrap_or_else(|error| panic!("signing {slug} up: {error}"));
    Tenant { account, owner }
}

/// The request facts of a call made by `actor`.
pub fn acting(actor: &User) -> RequestContext {
    RequestContext {
        actor_id: Some(actor.id),
        actor_name: Some(actor.login_name.display().to_owned()),
        client_address: Some("198.51.100.7".to_owned()),
        user_agent: Some("admin-console/2".to_owned()),
        trace_id: Some("0af7651916cd43dd8448eb211c80319c".to_owned()),
    }
}

pub fn display_name(text: &str) -> DisplayName {
    DisplayName::parse("name", text).unwrap()
}

pub fn permission(text: &str) -> PermissionName {
    PermissionName::parse("permission", text).unwrap()
}

/// A user `login` (email `<login>@example.com`) without grants.
pub fn new_user(account_id: AccountId, login: &str) -> NewUser {
    NewUser {
        account_id,
        login_name: LoginName::parse("login_name", login).unwrap(),
        email: EmailAddress::parse("email", &format!("{login}@example.com")).unwrap(),
        display_name: display_name(&format!("User {login}")),
        password_hash: Some(fake_hash()),
        must_change_password: false,
        ip_allowlist: IpAllowlist::Anywhere,
        data_filters: DataFilters::default(),
        assignments: BTreeSet::new(),
        overrides: BTreeSet::new(),
        copied_from: None,
    }
}

/// Creates `login` and returns its id.
pub async fn create_user(store: &SeaDirectoryStore, tenant: &Tenant, login: &str) -> UserId {
    store
        .create_user(new_user(tenant.account.id, login), &acting(&tenant.owner))
        .await
        .unwrap_or_else(|error| panic!("creating {login}: {error}"))
        .user
        .id
}

/// Creates `login` and makes it `active` by a successful login (R17).
pub async fn create_active_user(store: &SeaDirectoryStore, tenant: &Tenant, login: &str) -> UserId {
    let user_id = create_user(store, tenant, login).await;
    let attempt = LoginAttempt {
        account_id: Some(tenant.account.id),
        user_id: Some(user_id),
        login_name: login.to_owned(),
        outcome: AuditOutcome::Success,
        reason: None,
    };
    store.record_login(&attempt, &context()).await.unwrap();
    user_id
}

/// A seeded or created group by name.
pub async fn group_named(store: &SeaDirectoryStore, account_id: AccountId, name: &str) -> Group {
    store
        .find_group(account_id, &GroupKey::Name(display_name(name)))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no group {name}"))
}

pub fn new_group(account_id: AccountId, name: &str, parent_id: Option<GroupId>) -> NewGroup {
    NewGroup {
        account_id,
        name: display_name(name),
        parent_id,
        is_template: false,
        badge_colour: BadgeColour::parse("badge_colour", "#1e88e5").unwrap(),
        permissions: BTreeSet::new(),
        assignable: BTreeSet::new(),
    }
}

/// Creates a group and returns its id.
pub async fn create_group(store: &SeaDirectoryStore, tenant: &Tenant, name: &str, parent: Option<GroupId>) -> GroupId {
    store.create_group(new_group(tenant.account.id, name, parent), &acting(&tenant.owner)).await.unwrap().id
}

/// Creates a store and returns its id.
pub async fn create_store(store: &SeaDirectoryStore, tenant: &Tenant, name: &str) -> StoreId {
    let new_store = NewStore { account_id: tenant.account.id, name: display_name(name), is_public: false };
    store.create_store(new_store, &acting(&tenant.owner)).await.unwrap().id
}

pub fn account_wide(group_id: GroupId) -> RoleAssignment {
    RoleAssignment { group_id, scope: Scope::Account }
}

pub fn in_store(group_id: GroupId, store_id: StoreId) -> RoleAssignment {
    RoleAssignment { group_id, scope: Scope::Store(store_id) }
}

pub fn grant(name: &str, scope: Scope) -> PermissionOverride {
    PermissionOverride { permission: permission(name), effect: OverrideEffect::Grant, scope }
}

pub fn revoke(name: &str, scope: Scope) -> PermissionOverride {
    PermissionOverride { permission: permission(name), effect: OverrideEffect::Revoke, scope }
}

/// Asserts the code and reason of an error.
#[track_caller]
pub fn assert_refused<T: std::fmt::Debug>(
    outcome: Result<T, DomainError>,
    code: ErrorCode,
    reason: &str,
) -> DomainError {
    let error = outcome.expect_err("expected a refusal");
    assert_eq!((error.code(), error.reason()), (code, reason), "{error}");
    error
}

/// Asserts an `AlreadyExists` naming `field`.
#[track_caller]
pub fn assert_taken<T: std::fmt::Debug>(outcome: Result<T, DomainError>, field: &str, reason: &str) {
    match outcome {
        Err(DomainError::AlreadyExists { field: taken, reason: said, .. }) => {
            assert_eq!((taken, said), (field, reason));
        }
        other => panic!("expected {field} to be taken, got {other:?}"),
    }
}

/// The number of audit events.
pub async fn audit_count(store: &SeaDirectoryStore) -> i64 {
    count(store, "audit_events").await
}

/// A store-level permission an internal service registers (R20).
pub fn refund_permission_spec() -> roster_domain::presets::PermissionSpec {
    roster_domain::presets::PermissionSpec {
        name: permission("orders.refund"),
        description: "Refund orders".to_owned(),
        scope: roster_domain::presets::ScopeLevel::Store,
        billing: false,
        owner_only: false,
    }
}
