//! The authorization matrix: every mutating RPC of the directory against
//! every kind of caller, in ONE table, all of it executed against the real
//! binaries.
//!
//! Each cell creates its own fresh target first (as the owner), makes the
//! call as its caller, then probes (as the owner, or with the internal
//! credential) whether the change happened. An allowed cell must succeed AND
//! take effect; a denied cell must fail with the expected code and reason
//! AND leave the probe unchanged. Cells that move ownership run in an
//! account of their own. Every mismatch is collected, then reported at once.
//!
//! The expectations come from the rules (R3, R4, R6, R7, R20, R31, R32, R33)
//! and the shipped presets (`crates/roster-domain/presets/commerce.toml`).

use std::collections::HashMap;
use std::fmt::Write as _;

use roster_e2e::cluster::{with_bearer, with_internal_credential, OPERATOR_PASSWORD};
use roster_e2e::fixtures::{assignment, Member, Tenant};
use roster_e2e::status::reason;
use roster_e2e::{with_mask, Cluster, ClusterOptions};
use roster_proto::directory::v1::{
    Account, AssignRoleRequest, BlockUserRequest, CopyUserRequest, CreateGroupRequest, CreateStoreRequest,
    DeleteGroupRequest, DeleteStoreRequest, DeleteUserRequest, ForceTransferOwnershipRequest, GetAccountRequest,
    GetGroupRequest, GetStoreRequest, Group, ListPermissionsRequest, ListStoresRequest, ListUsersRequest, Permission,
    RegisterPermissionsRequest, RoleAssignment, ScopeLevel, SetUserPasswordRequest, Store, TransferOwnershipRequest,
    UnassignRoleRequest, UnblockUserRequest, UpdateAccountRequest, UpdateGroupRequest, UpdateStoreRequest,
    UpdateUserRequest, User, UserStatus,
};
use tonic::{Code, Request, Status};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Owner,
    /// Administrator, account-wide.
    Administrator,
    /// Superuser, account-wide.
    Superuser,
    /// Manager in store A.
    ManagerOfA,
    /// Accountant, account-wide.
    Accountant,
    /// Team member in store A.
    TeamMember,
    /// Customer, account-wide.
    Customer,
    /// No credentials at all.
    Anonymous,
    /// The owner of another account.
    OtherAccount,
    /// The platform operator.
    Operator,
    /// A Roster service with the internal credential.
    Internal,
}

const CALLERS: [Who; 11] = [
    Who::Owner,
    Who::Administrator,
    Who::Superuser,
    Who::ManagerOfA,
    Who::Accountant,
    Who::TeamMember,
    Who::Customer,
    Who::Anonymous,
    Who::OtherAccount,
    Who::Operator,
    Who::Internal,
];

/// What a cell must do.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Allow,
    /// The code and the `ErrorInfo` reason (`*`: any reason).
    Deny(Code, &'static str),
}

use Expect::{Allow as ALLOW, Deny};
const SESSION: Expect = Deny(Code::Unauthenticated, "SESSION_REQUIRED");
const MISSING: Expect = Deny(Code::PermissionDenied, "MISSING_PERMISSION");
const NOT_HELD: Expect = Deny(Code::PermissionDenied, "STORE_NOT_HELD");
const NOT_ASSIGNABLE: Expect = Deny(Code::PermissionDenied, "NOT_ASSIGNABLE");
const OTHER: Expect = Deny(Code::PermissionDenied, "OTHER_ACCOUNT");
const ACTING: Expect = Deny(Code::PermissionDenied, "ACTING_USER_REQUIRED");
const OWNER: Expect = Deny(Code::PermissionDenied, "OWNER_ONLY");
const PLATFORM: Expect = Deny(Code::PermissionDenied, "PLATFORM_OPERATOR_REQUIRED");
const INTERNAL: Expect = Deny(Code::PermissionDenied, "INTERNAL_CREDENTIAL_REQUIRED");
/// R31, R32: refused, whatever the reason.
const REFUSED: Expect = Deny(Code::PermissionDenied, "*");

/// The act of a row. Acts on users target a fresh Team member of store A,
/// except the two `...StoreAdministrator` rows, whose target is an
/// Administrator assigned in store A only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    CreateUserTeamMemberInA,
    CreateUserTeamMemberInB,
    CreateUserAdministrator,
    CreateUserSuperuser,
    UpdateUser,
    DeleteUser,
    BlockUser,
    UnblockUser,
    CopyUser,
    SetUserPassword,
    AssignRolePackerInA,
    UnassignRoleTeamMemberInA,
    SetPasswordOfStoreAdministrator,
    DeleteStoreAdministrator,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    CreateStore,
    UpdateStore,
    DeleteStore,
    UpdateAccount,
    TransferOwnership,
    ForceTransferOwnership,
    RegisterPermissions,
}

#[rustfmt::skip]
const MATRIX: &[(Rpc, [Expect; 11])] = &[
    //                                      owner     admin           super     managerA  accountant  team      customer  anonymous  other     operator  internal
    (Rpc::CreateUserTeamMemberInA,          [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::CreateUserTeamMemberInB,          [ALLOW,    ALLOW,          ALLOW,    NOT_HELD, MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::CreateUserAdministrator,          [ALLOW,    ALLOW,          ALLOW,    NOT_HELD, MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::CreateUserSuperuser,              [ALLOW,    NOT_ASSIGNABLE, ALLOW,    NOT_HELD, MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::UpdateUser,                       [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::DeleteUser,                       [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::BlockUser,                        [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::UnblockUser,                      [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::CopyUser,                         [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::SetUserPassword,                  [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::AssignRolePackerInA,              [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::UnassignRoleTeamMemberInA,        [ALLOW,    ALLOW,          ALLOW,    ALLOW,    MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    // R31, R32: a manager manages team members; taking over (or removing)
    // an administrator of their store would hand them powers they lack.
    (Rpc::SetPasswordOfStoreAdministrator,  [ALLOW,    ALLOW,          ALLOW,    REFUSED,  MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::DeleteStoreAdministrator,         [ALLOW,    ALLOW,          ALLOW,    REFUSED,  MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::CreateGroup,                      [ALLOW,    ALLOW,          ALLOW,    MISSING,  MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::UpdateGroup,                      [ALLOW,    ALLOW,          ALLOW,    MISSING,  MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::DeleteGroup,                      [ALLOW,    ALLOW,          ALLOW,    MISSING,  MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::CreateStore,                      [ALLOW,    MISSING,        ALLOW,    MISSING,  MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::UpdateStore,                      [ALLOW,    ALLOW,          ALLOW,    MISSING,  MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::DeleteStore,                      [ALLOW,    ALLOW,          ALLOW,    MISSING,  MISSING,    MISSING,  MISSING,  SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::UpdateAccount,                    [ALLOW,    OWNER,          OWNER,    OWNER,    OWNER,      OWNER,    OWNER,    SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::TransferOwnership,                [ALLOW,    OWNER,          OWNER,    OWNER,    OWNER,      OWNER,    OWNER,    SESSION,   OTHER,    OTHER,    ACTING]),
    (Rpc::ForceTransferOwnership,           [PLATFORM, PLATFORM,       PLATFORM, PLATFORM, PLATFORM,   PLATFORM, PLATFORM, SESSION,   PLATFORM, ALLOW,    SESSION]),
    (Rpc::RegisterPermissions,              [INTERNAL, INTERNAL,       INTERNAL, INTERNAL, INTERNAL,   INTERNAL, INTERNAL, INTERNAL,  INTERNAL, INTERNAL, ALLOW]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_rpc_against_every_caller_on_sqlite() {
    run_matrix(ClusterOptions::sqlite_in_process()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_rpc_against_every_caller_on_postgres() {
    run_matrix(ClusterOptions::postgres_redis()).await;
}

/// What does not change between cells: another account and the operator.
struct Shared<'c> {
    cluster: &'c Cluster,
    globex: Tenant<'c>,
    operator_token: String,
}

/// The account the cells act in, with one logged-in user per kind.
struct World<'c> {
    acme: Tenant<'c>,
    store_a: String,
    store_b: String,
    members: HashMap<Who, Member>,
    /// The `Packer` group (a Team member with nothing more), which the
    /// Manager, Administrator and Superuser groups declare assignable.
    packer: String,
}

impl<'c> World<'c> {
    async fn build(cluster: &'c Cluster, slug: &str) -> World<'c> {
        let acme = Tenant::sign_up(cluster, slug).await;
        let store_a = acme.create_store("A", false).await;
        let store_b = acme.create_store("B", false).await;
        let mut members = HashMap::new();
        let kinds = [
            (Who::Administrator, "administrator", acme.role("Administrator", None)),
            (Who::Superuser, "superuser", acme.role("Superuser", None)),
            (Who::ManagerOfA, "manager", acme.role("Manager", Some(&store_a))),
            (Who::Accountant, "accountant", acme.role("Accountant", None)),
            (Who::TeamMember, "team-member", acme.role("Team member", Some(&store_a))),
            (Who::Customer, "customer", acme.role("Customer", None)),
        ];
        for (who, login_name, role) in kinds {
            members.insert(who, acme.member(login_name, vec![role]).await);
        }
        let packer = declare_packer(&acme).await;
        World { acme, store_a, store_b, members, packer }
    }

    fn team_member_in(&self, store: &str) -> RoleAssignment {
        self.acme.role("Team member", Some(store))
    }
}

/// Adds `Packer` (below Team member, no permissions of its own) to the
/// assignable groups of Manager, Administrator and Superuser: something a
/// manager may grant to a team member of store A that is not already theirs.
async fn declare_packer(acme: &Tenant<'_>) -> String {
    let packer = CreateGroupRequest {
        account_id: acme.account_id.clone(),
        name: "Packer".into(),
        parent_id: acme.group("Team member"),
        ..Default::default()
    };
    let packer =
        acme.groups().create_group(acme.as_owner(packer)).await.expect("the owner creates Packer").into_inner();
    for group in acme.list_groups().await {
        if !["Manager", "Administrator", "Superuser"].contains(&group.name.as_str()) {
            continue;
        }
        let mut widened = group;
        widened.assignable_group_ids.push(packer.id.clone());
        let request =
            with_mask!(UpdateGroupRequest { group: Some(widened), update_mask: None }, "assignable_group_ids");
        acme.groups().update_group(acme.as_owner(request)).await.expect("the owner widens a group");
    }
    packer.id
}

/// A call's result, and whether its effect is visible afterwards.
struct Outcome {
    result: Result<(), Status>,
    took_effect: bool,
}

fn done<T>(result: Result<tonic::Response<T>, Status>) -> Result<(), Status> {
    result.map(|_| ())
}

fn credentials<T>(shared: &Shared<'_>, world: &World<'_>, who: Who, message: T) -> Request<T> {
    match who {
        Who::Anonymous => Request::new(message),
        Who::Internal => with_internal_credential(message, &shared.cluster.internal_token),
        Who::OtherAccount => shared.globex.as_owner(message),
        Who::Operator => with_bearer(message, &shared.operator_token),
        Who::Owner => world.acme.as_owner(message),
        member => with_bearer(message, &world.members[&member].token),
    }
}

async fn run_matrix(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let operator_token = cluster.login("platform", "operator", OPERATOR_PASSWORD).await.unwrap().token;
    let shared = Shared { cluster: &cluster, globex: Tenant::sign_up(&cluster, "globex").await, operator_token };
    let shared_world = World::build(&cluster, "acme").await;
    let mut mismatches = Vec::new();
    let mut grid = String::new();
    let mut cell = 0;
    for (rpc, expectations) in MATRIX {
        let _ = write!(grid, "{:<34}", format!("{rpc:?}"));
        for (who, expected) in CALLERS.iter().zip(expectations) {
            cell += 1;
            // Ownership moves: such cells get an account of their own.
            let own_world = if matches!(rpc, Rpc::TransferOwnership | Rpc::ForceTransferOwnership) {
                Some(World::build(&cluster, &format!("acme-{cell}")).await)
            } else {
                None
            };
            let world = own_world.as_ref().unwrap_or(&shared_world);
            let outcome = run_cell(&shared, world, *rpc, *who, cell).await;
            let _ = write!(grid, " {:<12}", shorthand(&outcome));
            if let Some(problem) = judge(*expected, &outcome) {
                mismatches.push(format!("{rpc:?} by {who:?}: {problem}"));
            }
        }
        grid.push('\n');
    }
    let header: String = CALLERS.iter().map(|who| format!(" {:<12}", format!("{who:?}"))).collect();
    assert!(
        mismatches.is_empty(),
        "{} of {cell} cells do not match the matrix:\n  {}\n\nwhat happened:\n{:<34}{header}\n{grid}",
        mismatches.len(),
        mismatches.join("\n  "),
        "",
    );
}

/// `None` when the outcome matches the expectation, else what differs.
fn judge(expected: Expect, outcome: &Outcome) -> Option<String> {
    match (expected, &outcome.result) {
        (Expect::Allow, Ok(())) if outcome.took_effect => None,
        (Expect::Allow, Ok(())) => Some("expected allow: it succeeded but the change is not visible".into()),
        (Expect::Allow, Err(status)) => Some(format!("expected allow, got {:?} {}", status.code(), describe(status))),
        (Expect::Deny(code, wanted), Ok(())) => Some(format!("expected {code:?} {wanted}, but it was allowed")),
        (Expect::Deny(code, wanted), Err(status)) => {
            if status.code() != code || (wanted != "*" && reason(status) != wanted) {
                return Some(format!("expected {code:?} {wanted}, got {:?} {}", status.code(), describe(status)));
            }
            outcome.took_effect.then(|| format!("refused with {wanted}, yet the change happened"))
        }
    }
}

fn describe(status: &Status) -> String {
    format!("{} ({})", reason(status), status.message())
}

fn shorthand(outcome: &Outcome) -> String {
    match &outcome.result {
        Ok(()) if outcome.took_effect => "allow".to_owned(),
        Ok(()) => "allow(noop)".to_owned(),
        Err(status) => reason(status).chars().take(12).collect(),
    }
}

/// Makes the call of `rpc` as `who` on a target of its own (`n` keeps names
/// unique), then probes whether the change happened.
async fn run_cell(shared: &Shared<'_>, world: &World<'_>, rpc: Rpc, who: Who, n: usize) -> Outcome {
    let acme = &world.acme;
    let account_id = acme.account_id.clone();
    // The request as the cell's caller (a macro: messages differ in type).
    macro_rules! call {
        ($message:expr) => {
            credentials(shared, world, who, $message)
        };
    }
    match rpc {
        Rpc::CreateUserTeamMemberInA
        | Rpc::CreateUserTeamMemberInB
        | Rpc::CreateUserAdministrator
        | Rpc::CreateUserSuperuser => {
            let role = match rpc {
                Rpc::CreateUserTeamMemberInA => world.team_member_in(&world.store_a),
                Rpc::CreateUserTeamMemberInB => world.team_member_in(&world.store_b),
                Rpc::CreateUserAdministrator => acme.role("Administrator", None),
                _ => acme.role("Superuser", None),
            };
            let login_name = format!("new{n}");
            let result = done(acme.users().create_user(call!(acme.new_user(&login_name, vec![role]))).await);
            Outcome { result, took_effect: user_named(acme, &login_name).await.is_some() }
        }
        Rpc::UpdateUser => {
            let target = acme.create_user(&format!("target{n}"), vec![world.team_member_in(&world.store_a)]).await;
            let renamed = User { display_name: format!("Renamed {n}"), ..target.clone() };
            let request = with_mask!(UpdateUserRequest { user: Some(renamed), update_mask: None }, "display_name");
            let result = done(acme.users().update_user(call!(request)).await);
            let now = acme.user(&target.id).await.expect("the target exists");
            Outcome { result, took_effect: now.display_name == format!("Renamed {n}") }
        }
        Rpc::DeleteUser | Rpc::DeleteStoreAdministrator => {
            let role = match rpc {
                Rpc::DeleteUser => world.team_member_in(&world.store_a),
                _ => acme.role("Administrator", Some(&world.store_a)),
            };
            let target = acme.create_user(&format!("target{n}"), vec![role]).await;
            let request = DeleteUserRequest { account_id, user_id: target.id.clone() };
            let result = done(acme.users().delete_user(call!(request)).await);
            Outcome { result, took_effect: acme.user(&target.id).await.is_none() }
        }
        Rpc::BlockUser | Rpc::UnblockUser => {
            let target = acme.create_user(&format!("target{n}"), vec![world.team_member_in(&world.store_a)]).await;
            let user_id = target.id.clone();
            let result = if rpc == Rpc::BlockUser {
                done(acme.users().block_user(call!(BlockUserRequest { account_id, user_id })).await)
            } else {
                let block = BlockUserRequest { account_id: account_id.clone(), user_id: user_id.clone() };
                acme.users().block_user(acme.as_owner(block)).await.expect("the owner blocks the target");
                done(acme.users().unblock_user(call!(UnblockUserRequest { account_id, user_id })).await)
            };
            let blocked = acme.user(&target.id).await.expect("the target exists").status == UserStatus::Blocked as i32;
            Outcome { result, took_effect: blocked == (rpc == Rpc::BlockUser) }
        }
        Rpc::CopyUser => {
            let source = acme.create_user(&format!("source{n}"), vec![world.team_member_in(&world.store_a)]).await;
            let login_name = format!("copy{n}");
            let request = CopyUserRequest {
                account_id,
                source_user_id: source.id,
                login_name: login_name.clone(),
                email: format!("copy{n}@acme.example"),
                display_name: format!("Copy {n}"),
            };
            let result = done(acme.users().copy_user(call!(request)).await);
            Outcome { result, took_effect: user_named(acme, &login_name).await.is_some() }
        }
        Rpc::SetUserPassword | Rpc::SetPasswordOfStoreAdministrator => {
            let role = match rpc {
                Rpc::SetUserPassword => world.team_member_in(&world.store_a),
                _ => acme.role("Administrator", Some(&world.store_a)),
            };
            let login_name = format!("target{n}");
            let target = acme.create_user(&login_name, vec![role]).await;
            let new_password = format!("matrix password {n}");
            let request = SetUserPasswordRequest { account_id, user_id: target.id, password: new_password.clone() };
            let result = done(acme.users().set_user_password(call!(request)).await);
            let took_effect = shared.cluster.login(&acme.slug, &login_name, &new_password).await.is_ok();
            Outcome { result, took_effect }
        }
        Rpc::AssignRolePackerInA | Rpc::UnassignRoleTeamMemberInA => {
            let assigning = rpc == Rpc::AssignRolePackerInA;
            let team_member = world.team_member_in(&world.store_a);
            let role = if assigning { assignment(&world.packer, Some(&world.store_a)) } else { team_member.clone() };
            let target = acme.create_user(&format!("target{n}"), vec![team_member]).await;
            let result = if assigning {
                let request = AssignRoleRequest {
                    account_id,
                    user_id: target.id.clone(),
                    group_id: role.group_id.clone(),
                    store_id: role.store_id.clone(),
                };
                done(acme.roles().assign_role(call!(request)).await)
            } else {
                let request = UnassignRoleRequest {
                    account_id,
                    user_id: target.id.clone(),
                    group_id: role.group_id.clone(),
                    store_id: role.store_id.clone(),
                };
                done(acme.roles().unassign_role(call!(request)).await)
            };
            let now = acme.user(&target.id).await.expect("the target exists");
            let has = now
                .role_assignments
                .iter()
                .any(|held| held.group_id == role.group_id && held.store_id == role.store_id);
            Outcome { result, took_effect: has == assigning }
        }
        Rpc::CreateGroup => {
            let name = format!("Group {n}");
            let request = CreateGroupRequest {
                account_id,
                name: name.clone(),
                permissions: vec!["transactions.view".into()],
                ..Default::default()
            };
            let result = done(acme.groups().create_group(call!(request)).await);
            Outcome { result, took_effect: group(acme, GetGroupRequest { name, ..Default::default() }).await.is_some() }
        }
        Rpc::UpdateGroup | Rpc::DeleteGroup => {
            let request = CreateGroupRequest {
                account_id: account_id.clone(),
                name: format!("Group {n}"),
                permissions: vec!["transactions.view".into()],
                ..Default::default()
            };
            let target = acme.groups().create_group(acme.as_owner(request)).await.expect("a group").into_inner();
            let by_id = GetGroupRequest { group_id: target.id.clone(), ..Default::default() };
            if rpc == Rpc::DeleteGroup {
                let request = DeleteGroupRequest { account_id, group_id: target.id.clone() };
                let result = done(acme.groups().delete_group(call!(request)).await);
                return Outcome { result, took_effect: group(acme, by_id).await.is_none() };
            }
            let renamed = Group { name: format!("Renamed {n}"), ..target };
            let request = with_mask!(UpdateGroupRequest { group: Some(renamed), update_mask: None }, "name");
            let result = done(acme.groups().update_group(call!(request)).await);
            let now = group(acme, by_id).await.expect("the group exists");
            Outcome { result, took_effect: now.name == format!("Renamed {n}") }
        }
        Rpc::CreateStore => {
            let name = format!("Store {n}");
            let request = CreateStoreRequest { account_id: account_id.clone(), name: name.clone(), is_public: false };
            let result = done(acme.stores().create_store(call!(request)).await);
            let list = ListStoresRequest { account_id, page_size: 500, ..Default::default() };
            let stores = acme.stores().list_stores(acme.as_owner(list)).await.expect("the owner lists stores");
            Outcome { result, took_effect: stores.into_inner().stores.iter().any(|store| store.name == name) }
        }
        Rpc::UpdateStore | Rpc::DeleteStore => {
            let store_id = acme.create_store(&format!("Store {n}"), false).await;
            let probe = GetStoreRequest { account_id: account_id.clone(), store_id: store_id.clone() };
            if rpc == Rpc::DeleteStore {
                let result = done(acme.stores().delete_store(call!(DeleteStoreRequest { account_id, store_id })).await);
                let gone = acme.stores().get_store(acme.as_owner(probe)).await.is_err();
                return Outcome { result, took_effect: gone };
            }
            let renamed = Store { id: store_id, account_id, name: format!("Renamed {n}"), ..Default::default() };
            let request = with_mask!(UpdateStoreRequest { store: Some(renamed), update_mask: None }, "name");
            let result = done(acme.stores().update_store(call!(request)).await);
            let now = acme.stores().get_store(acme.as_owner(probe)).await.expect("the store exists").into_inner();
            Outcome { result, took_effect: now.name == format!("Renamed {n}") }
        }
        Rpc::UpdateAccount => {
            let account = Account { id: account_id, display_name: format!("Acme {n}"), ..Default::default() };
            let request =
                with_mask!(UpdateAccountRequest { account: Some(account), update_mask: None }, "display_name");
            let result = done(acme.accounts().update_account(call!(request)).await);
            Outcome { result, took_effect: account_of(shared, acme).await.display_name == format!("Acme {n}") }
        }
        Rpc::TransferOwnership | Rpc::ForceTransferOwnership => {
            let heir = acme.member(&format!("heir{n}"), vec![world.team_member_in(&world.store_a)]).await;
            let result = if rpc == Rpc::TransferOwnership {
                let request = TransferOwnershipRequest { account_id, new_owner_user_id: heir.id.clone() };
                done(acme.accounts().transfer_ownership(call!(request)).await)
            } else {
                let request = ForceTransferOwnershipRequest {
                    account_id,
                    new_owner_user_id: heir.id.clone(),
                    evidence_reference: format!("TICKET-{n}"),
                };
                done(acme.accounts().force_transfer_ownership(call!(request)).await)
            };
            Outcome { result, took_effect: account_of(shared, acme).await.owner_user_id == heir.id }
        }
        Rpc::RegisterPermissions => {
            let name = format!("matrix.cell{n}");
            let permission = Permission {
                name: name.clone(),
                description: "a matrix cell".into(),
                scope_level: ScopeLevel::Store as i32,
                ..Default::default()
            };
            let request = RegisterPermissionsRequest { service_name: "matrix".into(), permissions: vec![permission] };
            let result = done(acme.permissions().register_permissions(call!(request)).await);
            let listed = acme.permissions().list_permissions(acme.as_owner(ListPermissionsRequest {})).await;
            let listed = listed.expect("the owner lists permissions").into_inner().permissions;
            Outcome { result, took_effect: listed.iter().any(|permission| permission.name == name) }
        }
    }
}

/// The user whose login name is exactly `login_name`, read by the owner.
async fn user_named(acme: &Tenant<'_>, login_name: &str) -> Option<User> {
    let request =
        ListUsersRequest { account_id: acme.account_id.clone(), text: login_name.to_owned(), ..Default::default() };
    let listed = acme.users().list_users(acme.as_owner(request)).await.expect("the owner lists users");
    listed.into_inner().users.into_iter().find(|user| user.login_name == login_name)
}

/// A group read by the owner; `None` when not found.
async fn group(acme: &Tenant<'_>, request: GetGroupRequest) -> Option<Group> {
    let request = GetGroupRequest { account_id: acme.account_id.clone(), ..request };
    match acme.groups().get_group(acme.as_owner(request)).await {
        Ok(group) => Some(group.into_inner()),
        Err(status) if status.code() == Code::NotFound => None,
        Err(status) => panic!("the owner reads a group: {status:?}"),
    }
}

/// The account, read with the internal credential (the owner's session may
/// have ended with an ownership change).
async fn account_of(shared: &Shared<'_>, acme: &Tenant<'_>) -> Account {
    let request = with_internal_credential(
        GetAccountRequest { account: acme.account_id.clone() },
        &shared.cluster.internal_token,
    );
    acme.accounts().get_account(request).await.expect("the account is readable").into_inner()
}
