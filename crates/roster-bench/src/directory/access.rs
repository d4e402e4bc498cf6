//! Scenario 4: CheckPermission at scale, in process and over gRPC.

use std::time::{Duration, Instant};

use roster_directory_store::SeaDirectoryStore;
use roster_domain::access::{holds_one, resolve, AccountFacts, UserGrants};
use roster_domain::ids::{AccountId, StoreId, UserId};
use roster_domain::presets::PermissionName;
use roster_domain::repository::AccessRepository;
use roster_e2e::cluster::with_internal_credential;
use roster_e2e::Cluster;
use roster_proto::directory::v1::authorization_service_client::AuthorizationServiceClient;
use roster_proto::directory::v1::CheckPermissionRequest;

use super::load::{grantable_permissions, load_account, AccountShape, IdSpace};
use super::{drive, health_reference, measurement, pick, scaled, sign_up};
use crate::report::{BarCheck, Latencies, Measurement, ScenarioResults};
use crate::Options;

/// Users whose grants the in-process measurement holds in memory.
const SAMPLED_USERS: u64 = 1_000;
/// Requests in flight over gRPC (the figure).
const IN_FLIGHT: usize = 16;

struct Question {
    user: u64,
    permission: usize,
    store: u64,
}

fn question(shape: &AccountShape, permissions: usize, turn: u64, users: u64) -> Question {
    Question {
        user: pick(turn * 3 + 1, users),
        permission: pick(turn * 3 + 2, permissions as u64) as usize,
        store: pick(turn * 3 + 3, shape.stores),
    }
}

pub async fn run(options: &Options, cluster: &Cluster) -> anyhow::Result<ScenarioResults> {
    let (account_id, _token) = sign_up(cluster, "bench-access").await?;
    let shape = AccountShape {
        account_id: account_id.clone(),
        slug: "bench-access".to_owned(),
        users: scaled(options, 100_000, 100),
        stores: scaled(options, 1_000, 10),
        groups: scaled(options, 10_000, 20),
        chain: 10,
        assignments_per_user: 10,
        override_every: 10,
        user_ids: IdSpace("a4000000"),
        group_ids: IdSpace("a4100000"),
        store_ids: IdSpace("a4200000"),
        assignment_ids: IdSpace("a4300000"),
    };
    eprintln!(
        "scenario 4: loading {} users, {} groups, {} stores, {} assignments",
        shape.users,
        shape.groups,
        shape.stores,
        shape.users * shape.assignments_per_user
    );
    let database = sea_orm::Database::connect(&cluster.database_url).await?;
    load_account(&database, &shape).await?;
    let permission_names = grantable_permissions(&database).await?;
    database.close().await?;

    let mut results = ScenarioResults::default();
    let in_process = in_process(options, cluster, &shape, &permission_names).await?;
    let in_process_p99 = in_process.1.quantile_micros(0.99);
    results.measurements.extend(in_process.0);
    results.measurements.push(Measurement {
        scenario: 4,
        name: "in process: holds_one (CheckPermission's resolution)".to_owned(),
        per_second: None,
        latencies: Some(in_process.1),
        note: format!(
            "{} users, {} groups (chains of 10), {} stores, {} assignments, overrides on every 10th user; one account",
            shape.users,
            shape.groups,
            shape.stores,
            shape.users * shape.assignments_per_user
        ),
    });
    results.bars.push(BarCheck {
        scenario: 4,
        bar: "in-process resolution p99 ≤ 50 µs".to_owned(),
        measured: format!("{in_process_p99} µs"),
        reached: in_process_p99 <= 50,
    });

    let duration = Duration::from_secs(options.duration_seconds);
    let channel = cluster.directory_channel().await;
    let health = health_reference(channel.clone(), IN_FLIGHT, duration).await?;
    let health_rate = health.1;
    let checks = check_load(cluster, &shape, &permission_names, shape.users, duration).await?;
    let directory_memory = cluster.directory_pid().and_then(crate::session::setup::resident_bytes).unwrap_or_default();
    // The same load over 1,000 users: the access cache warm, as under a
    // gateway's steady traffic.
    let hot = check_load(cluster, &shape, &permission_names, SAMPLED_USERS.min(shape.users), duration).await?;
    let check_rate = checks.1;
    let check_p99 = checks.0.quantile_micros(0.99);
    results.measurements.push(measurement(4, "reference: Health/Check, 16 in flight", health, "same port, same stack"));
    results.measurements.push(measurement(
        4,
        "CheckPermission over gRPC, 16 in flight",
        checks,
        format!(
            "{:.0}% of the Health/Check rate; random users of all {}, starting from a cache holding none \
             (the directory loads the account whole after 1,000 misses); directory resident memory \
             afterwards {:.1} MiB",
            100.0 * check_rate / health_rate,
            shape.users,
            directory_memory as f64 / 1_048_576.0
        ),
    ));
    let (hot_rate, hot_p99) = (hot.1, hot.0.quantile_micros(0.99));
    results.measurements.push(measurement(
        4,
        "CheckPermission over gRPC, 16 in flight, 1,000 users",
        hot,
        format!("{:.0}% of the Health/Check rate; access cache warm", 100.0 * hot_rate / health_rate),
    ));
    results.bars.push(BarCheck {
        scenario: 4,
        bar: "CheckPermission p99 ≤ 1 ms at 16 in flight (cache warm)".to_owned(),
        measured: format!("{hot_p99} µs"),
        reached: hot_p99 <= 1_000,
    });
    results.bars.push(BarCheck {
        scenario: 4,
        bar: "CheckPermission ≥ 50% of the no-op RPC rate (cache warm)".to_owned(),
        measured: format!("{:.0}%", 100.0 * hot_rate / health_rate),
        reached: hot_rate >= 0.5 * health_rate,
    });
    results.bars.push(BarCheck {
        scenario: 4,
        bar: "CheckPermission p99 ≤ 1 ms at 16 in flight".to_owned(),
        measured: format!("{check_p99} µs"),
        reached: check_p99 <= 1_000,
    });
    results.bars.push(BarCheck {
        scenario: 4,
        bar: "CheckPermission ≥ 50% of the no-op RPC rate".to_owned(),
        measured: format!("{:.0}%", 100.0 * check_rate / health_rate),
        reached: check_rate >= 0.5 * health_rate,
    });
    results.bars.push(casbin_bar(options));
    Ok(results)
}

/// Roster's resolution against casbin's enforcer, from criterion's output
/// (`cargo bench -p roster-domain --bench resolution`, run by scripts/bench).
fn casbin_bar(options: &Options) -> BarCheck {
    let bar = "Roster's resolution faster than casbin's enforcer (criterion)".to_owned();
    let estimates = options.criterion_output.as_deref().map(crate::criterion::estimates_in).unwrap_or_default();
    let roster = estimates.get("check_permission/roster_holds_one");
    let casbin = estimates.get("check_permission/casbin_enforce");
    match (roster, casbin) {
        (Some(&roster), Some(&casbin)) => BarCheck {
            scenario: 4,
            bar,
            measured: format!(
                "{} against {} per check ({:.0}× faster)",
                crate::criterion::human(roster),
                crate::criterion::human(casbin),
                casbin / roster
            ),
            reached: roster < casbin,
        },
        _ => BarCheck {
            scenario: 4,
            bar,
            measured: "not measured: criterion's output was not given (--criterion-output)".to_owned(),
            reached: false,
        },
    }
}

/// CheckPermission at 16 in flight about users `0..users`.
async fn check_load(
    cluster: &Cluster,
    shape: &AccountShape,
    permission_names: &[String],
    users: u64,
    duration: Duration,
) -> anyhow::Result<(Latencies, f64)> {
    let channel = cluster.directory_channel().await;
    let internal_token = cluster.internal_token.clone();
    let names = permission_names.to_vec();
    let shape = shape.clone();
    drive(IN_FLIGHT, duration, move |worker, turn| {
        let mut client = AuthorizationServiceClient::new(channel.clone());
        let asked = question(&shape, names.len(), turn * 64 + worker as u64, users);
        let request = with_internal_credential(
            CheckPermissionRequest {
                account_id: shape.account_id.clone(),
                user_id: shape.user_ids.id(asked.user),
                permission: names[asked.permission].clone(),
                store_id: shape.store_ids.id(asked.store),
            },
            &internal_token,
        );
        async move {
            client.check_permission(request).await?;
            Ok(())
        }
    })
    .await
}

/// Loads the access snapshot and a sample of users' grants through the
/// directory's own store, checks the gRPC answers against local
/// resolution, then times `resolve` + `holds` alone, one question at a time.
async fn in_process(
    options: &Options,
    cluster: &Cluster,
    shape: &AccountShape,
    permission_names: &[String],
) -> anyhow::Result<(Vec<Measurement>, Latencies)> {
    let store = SeaDirectoryStore::connect(&cluster.database_url).await?;
    let account_id = AccountId::parse("account", &shape.account_id)?;
    let mut snapshot_loads = Latencies::default();
    let mut snapshot = None;
    for _ in 0..5 {
        let started = Instant::now();
        snapshot = Some(store.access_snapshot(account_id).await?);
        snapshot_loads.record(started.elapsed());
    }
    let snapshot = snapshot.expect("loaded five times");
    let facts =
        AccountFacts { billing_level: snapshot.account.billing_level, is_platform: snapshot.account.is_platform };
    let sampled = SAMPLED_USERS.min(shape.users);
    let mut grants: Vec<(u64, UserGrants)> = Vec::with_capacity(sampled as usize);
    for index in 0..sampled {
        let user = pick(index * 7 + 11, shape.users);
        let user_id = UserId::parse("user", &shape.user_ids.id(user))?;
        let user_grants =
            store.user_grants(account_id, user_id).await?.ok_or_else(|| anyhow::anyhow!("user {user} missing"))?;
        grants.push((user, user_grants));
    }
    let permissions: Vec<PermissionName> =
        permission_names.iter().map(|name| PermissionName::parse("permission", name)).collect::<Result<_, _>>()?;
    let stores: Vec<StoreId> =
        (0..shape.stores).map(|store| StoreId::parse("store", &shape.store_ids.id(store))).collect::<Result<_, _>>()?;

    // The service must answer what the domain resolves.
    let mut client = AuthorizationServiceClient::new(cluster.directory_channel().await);
    for turn in 0..200 {
        let asked = question(shape, permissions.len(), turn, sampled);
        let (user, user_grants) = &grants[asked.user as usize];
        let expected = resolve(&snapshot.catalog, &snapshot.groups, user_grants, facts)
            .holds(&permissions[asked.permission], Some(stores[asked.store as usize]));
        let answer = client
            .check_permission(with_internal_credential(
                CheckPermissionRequest {
                    account_id: shape.account_id.clone(),
                    user_id: shape.user_ids.id(*user),
                    permission: permission_names[asked.permission].clone(),
                    store_id: shape.store_ids.id(asked.store),
                },
                &cluster.internal_token,
            ))
            .await?
            .into_inner()
            .allowed;
        anyhow::ensure!(answer == expected, "CheckPermission disagrees with resolve for user {user}");
    }

    let mut latencies = Latencies::default();
    let mut full = Latencies::default();
    let deadline = Instant::now() + Duration::from_secs(options.duration_seconds.max(1));
    let mut turn = 0;
    let mut granted = 0u64;
    while Instant::now() < deadline {
        for _ in 0..1_000 {
            let asked = question(shape, permissions.len(), turn, sampled);
            turn += 1;
            let user_grants = &grants[asked.user as usize].1;
            let permission = &permissions[asked.permission];
            let store = Some(stores[asked.store as usize]);
            let started = Instant::now();
            let holds = holds_one(&snapshot.catalog, &snapshot.groups, user_grants, facts, permission, store);
            latencies.record(started.elapsed());
            let started = Instant::now();
            let resolved = resolve(&snapshot.catalog, &snapshot.groups, user_grants, facts);
            let held = resolved.holds(permission, store);
            full.record(started.elapsed());
            anyhow::ensure!(holds == held, "holds_one disagrees with resolve");
            granted += u64::from(holds);
        }
    }
    let full = Measurement {
        scenario: 4,
        name: "in process: resolve (every permission) + holds".to_owned(),
        per_second: None,
        note: "what GetEffectivePermissions and administrative calls resolve".to_owned(),
        latencies: Some(full),
    };
    let loads = Measurement {
        scenario: 4,
        name: "access snapshot load from PostgreSQL (cold path)".to_owned(),
        per_second: None,
        note: format!("{} groups; {granted} of {turn} in-process questions granted", snapshot.groups.nodes().count()),
        latencies: Some(snapshot_loads),
    };
    Ok((vec![loads, full], latencies))
}
