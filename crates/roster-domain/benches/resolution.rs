//! Issue 6, scenario 4 (micro): one permission check resolved by Roster's
//! `holds_one` (CheckPermission's path) and by `resolve` + `holds`, next to the casbin crate's enforcer on the
//! equivalent RBAC-with-domains policy, in the same criterion run.
//!
//! The data follows the issue: 10,000 groups in chains up to 10 deep, 1,000
//! stores, users with 10 role assignments each (2 account-wide, 8 in
//! stores), and every 10th user with two overrides (a grant account-wide,
//! a revoke in one store). Roster resolves from the group tree, the catalog
//! and the one user's grants, whatever the number of users; casbin holds
//! every user's links in its role manager, so its policy is built for
//! `ROSTER_BENCH_CASBIN_USERS` users (default 10,000: 100,000 links).
//!
//! The casbin model (domains are stores, `account` the whole account):
//! a user's assignment is `g, user, group, domain`; a group's permissions
//! are `p, group, *, permission, allow`, flattened over its ancestors
//! (casbin has no per-domain role inheritance that spans every store);
//! an override is `p, user, domain, permission, allow|deny`, and a deny
//! wins. Only store-level questions are asked, where both models agree.

use std::collections::BTreeSet;
use std::hint::black_box;

use casbin::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion};
use roster_domain::access::{
    holds_one, resolve, AccountFacts, GroupNode, GroupTree, OverrideEffect, PermissionCatalog, PermissionOverride,
    RoleAssignment, Scope, UserGrants,
};
use roster_domain::account::BillingLevel;
use roster_domain::ids::{GroupId, StoreId};
use roster_domain::presets::{PermissionName, PermissionSpec, ScopeLevel};
use uuid::Uuid;

const GROUPS: usize = 10_000;
const CHAIN: usize = 10;
const STORES: usize = 1_000;
const PERMISSIONS: usize = 60;
const ASSIGNMENTS_PER_USER: usize = 10;
const QUESTIONS: usize = 4_096;

const CASBIN_MODEL: &str = r#"
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "account")) && (p.dom == "*" || p.dom == "account" || p.dom == r.dom) && r.act == p.act
"#;

fn permission(index: usize) -> PermissionName {
    PermissionName::parse("permission", &format!("bench.p{index}")).expect("valid name")
}

fn group_id(index: usize) -> GroupId {
    GroupId::from_uuid(Uuid::from_u128(0x1000_0000 + index as u128))
}

fn store_id(index: usize) -> StoreId {
    StoreId::from_uuid(Uuid::from_u128(0x2000_0000 + index as u128))
}

fn scope_name(scope: Scope) -> String {
    match scope {
        Scope::Account => "account".to_owned(),
        Scope::Store(store) => store.to_string(),
    }
}

/// The two own permissions of group `index`.
fn group_permissions(index: usize) -> [usize; 2] {
    [(index * 7) % PERMISSIONS, (index * 13 + 5) % PERMISSIONS]
}

fn catalog() -> PermissionCatalog {
    PermissionCatalog::new((0..PERMISSIONS).map(|index| PermissionSpec {
        name: permission(index),
        description: String::new(),
        scope: ScopeLevel::Store,
        billing: false,
        owner_only: false,
    }))
}

/// Chains of `CHAIN` groups: every tenth group is a root.
fn tree() -> GroupTree {
    GroupTree::new((0..GROUPS).map(|index| GroupNode {
        id: group_id(index),
        name: format!("group {index}"),
        parent_id: (index % CHAIN != 0).then(|| group_id(index - 1)),
        is_template: false,
        permissions: group_permissions(index).into_iter().map(permission).collect(),
        assignable: BTreeSet::new(),
    }))
}

fn grants(user: usize) -> UserGrants {
    let assignments = (0..ASSIGNMENTS_PER_USER)
        .map(|slot| RoleAssignment {
            group_id: group_id((user * 7 + slot * 1_009) % GROUPS),
            scope: if slot < 2 { Scope::Account } else { Scope::Store(store_id((user + slot * 31) % STORES)) },
        })
        .collect();
    let overrides = if user % 10 == 0 {
        vec![
            PermissionOverride {
                permission: permission(user % PERMISSIONS),
                effect: OverrideEffect::Grant,
                scope: Scope::Account,
            },
            PermissionOverride {
                permission: permission((user + 1) % PERMISSIONS),
                effect: OverrideEffect::Revoke,
                scope: Scope::Store(store_id((user + 62) % STORES)),
            },
        ]
    } else {
        Vec::new()
    };
    UserGrants { is_owner: false, assignments, overrides }
}

/// (user, permission, store) questions, the same for both contenders.
fn questions(users: usize) -> Vec<(usize, usize, usize)> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % bound
    };
    (0..QUESTIONS).map(|_| (next(users), next(PERMISSIONS), next(STORES))).collect()
}

fn casbin_enforcer(users: usize, tree: &GroupTree) -> Enforcer {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let model = DefaultModel::from_str(CASBIN_MODEL).await.expect("valid casbin model");
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await.expect("enforcer");
        let mut policies = Vec::new();
        for index in 0..GROUPS {
            for permission in tree.inherited_permissions(group_id(index)) {
                policies.push(vec![
                    group_id(index).to_string(),
                    "*".to_owned(),
                    permission.to_string(),
                    "allow".to_owned(),
                ]);
            }
        }
        let mut links = Vec::new();
        for user in 0..users {
            let user_grants = grants(user);
            for assignment in &user_grants.assignments {
                links.push(vec![format!("user{user}"), assignment.group_id.to_string(), scope_name(assignment.scope)]);
            }
            for entry in &user_grants.overrides {
                let effect = if entry.effect == OverrideEffect::Grant { "allow" } else { "deny" };
                policies.push(vec![
                    format!("user{user}"),
                    scope_name(entry.scope),
                    entry.permission.to_string(),
                    effect.to_owned(),
                ]);
            }
        }
        enforcer.add_policies(policies).await.expect("policies");
        enforcer.add_grouping_policies(links).await.expect("links");
        enforcer
    })
}

fn resolution(criterion: &mut Criterion) {
    let casbin_users: usize =
        std::env::var("ROSTER_BENCH_CASBIN_USERS").ok().and_then(|value| value.parse().ok()).unwrap_or(10_000);
    let catalog = catalog();
    let tree = tree();
    let facts = AccountFacts { billing_level: BillingLevel::Account, is_platform: false };
    let questions = questions(casbin_users);
    let user_grants: Vec<UserGrants> = (0..casbin_users).map(grants).collect();
    let permissions: Vec<PermissionName> = (0..PERMISSIONS).map(permission).collect();
    let stores: Vec<StoreId> = (0..STORES).map(store_id).collect();

    let enforcer = casbin_enforcer(casbin_users, &tree);
    // Both contenders must give the same answers before they are timed.
    for &(user, permission_index, store) in questions.iter().take(256) {
        let roster = resolve(&catalog, &tree, &user_grants[user], facts)
            .holds(&permissions[permission_index], Some(stores[store]));
        let casbin = enforcer
            .enforce((format!("user{user}"), stores[store].to_string(), permissions[permission_index].to_string()))
            .expect("casbin enforces");
        assert_eq!(roster, casbin, "user {user} permission {permission_index} store {store}");
    }

    let mut group = criterion.benchmark_group("check_permission");
    let mut turn = 0;
    group.bench_function("roster_holds_one", |bencher| {
        bencher.iter(|| {
            let (user, permission_index, store) = questions[turn % QUESTIONS];
            turn += 1;
            black_box(holds_one(
                &catalog,
                &tree,
                &user_grants[user],
                facts,
                &permissions[permission_index],
                Some(stores[store]),
            ))
        })
    });
    let mut turn = 0;
    group.bench_function("roster_resolve_and_holds", |bencher| {
        bencher.iter(|| {
            let (user, permission_index, store) = questions[turn % QUESTIONS];
            turn += 1;
            let resolved = resolve(&catalog, &tree, &user_grants[user], facts);
            black_box(resolved.holds(&permissions[permission_index], Some(stores[store])))
        })
    });
    let casbin_questions: Vec<(String, String, String)> = questions
        .iter()
        .map(|&(user, permission_index, store)| {
            (format!("user{user}"), stores[store].to_string(), permissions[permission_index].to_string())
        })
        .collect();
    group.sample_size(10);
    let mut turn = 0;
    group.bench_function("casbin_enforce", |bencher| {
        bencher.iter(|| {
            let question = casbin_questions[turn % QUESTIONS].clone();
            turn += 1;
            black_box(enforcer.enforce(question).expect("casbin enforces"))
        })
    });
    group.finish();
}

criterion_group!(benches, resolution);
criterion_main!(benches);
