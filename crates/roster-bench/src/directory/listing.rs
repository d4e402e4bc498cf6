//! Scenario 5: the directory at scale on PostgreSQL (ListUsers pages of 50
//! at 10,000 and 1,000,000 users, side by side).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use roster_directory_store::SeaDirectoryStore;
use roster_domain::ids::{AccountId, GroupId, StoreId};
use roster_domain::paging::PageRequest;
use roster_domain::repository::UserRepository;
use roster_domain::users::UserFilter;
use roster_e2e::cluster::with_bearer;
use roster_e2e::Cluster;
use roster_proto::directory::v1::user_service_client::UserServiceClient;
use roster_proto::directory::v1::ListUsersRequest;
use roster_proto::session::v1::ValidateSessionRequest;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::invite;
use super::load::{load_account, AccountShape, IdSpace};
use super::{drive, measurement, scaled, sign_up};
use crate::report::{BarCheck, Latencies, ScenarioResults};
use crate::Options;

/// Requests in flight while a listing is measured.
const IN_FLIGHT: usize = 4;
const PAGE_SIZE: i32 = 50;
/// The deep page the issue names.
const DEEP_PAGE: u64 = 10_000;

/// One measured kind of listing.
struct Listing {
    name: &'static str,
    request: ListUsersRequest,
}

/// A loaded account with its owner's session.
struct Loaded {
    shape: AccountShape,
    token: String,
}

async fn load(options: &Options, cluster: &Cluster, slug: &str, users: u64, prefix: u8) -> anyhow::Result<Loaded> {
    let (account_id, token) = sign_up(cluster, slug).await?;
    let space = |kind: u8| IdSpace(Box::leak(format!("a5{prefix:01x}{kind:01x}0000").into_boxed_str()));
    let shape = AccountShape {
        account_id,
        slug: slug.to_owned(),
        users,
        // Every store holds two pages of users or more, so that a page
        // filtered by store is a full page of 50 at both sizes (1,000
        // stores of 10,000 users hold 10 each: a fifth of the work).
        stores: scaled(options, 1_000, 10).min((users / (2 * PAGE_SIZE as u64)).max(1)),
        groups: 100,
        chain: 1,
        assignments_per_user: 1,
        override_every: 0,
        user_ids: space(0),
        group_ids: space(1),
        store_ids: space(2),
        assignment_ids: space(3),
    };
    eprintln!("scenario 5: loading {users} users into {slug}");
    let database = sea_orm::Database::connect(&cluster.database_url).await?;
    load_account(&database, &shape).await?;
    database.close().await?;
    Ok(Loaded { shape, token })
}

/// The page token of page `page` (1-based) of the unfiltered list: the id
/// of the last user of the page before, as the directory encodes it.
async fn page_token(database: &DatabaseConnection, account_id: &str, page: u64) -> anyhow::Result<String> {
    if page <= 1 {
        return Ok(String::new());
    }
    let offset = (page - 1) * PAGE_SIZE as u64 - 1;
    let row = database
        .query_one(Statement::from_string(
            database.get_database_backend(),
            format!("SELECT id FROM users WHERE account_id = '{account_id}' ORDER BY id OFFSET {offset} LIMIT 1"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user at offset {offset}"))?;
    Ok(URL_SAFE_NO_PAD.encode(row.try_get_by_index::<String>(0)?))
}

async fn listings(cluster: &Cluster, loaded: &Loaded) -> anyhow::Result<(Vec<Listing>, u64)> {
    let shape = &loaded.shape;
    let base = ListUsersRequest { account_id: shape.account_id.clone(), page_size: PAGE_SIZE, ..Default::default() };
    // The owner is listed too. The deep page is page 10,000, or the last
    // full page of a smaller account: a page of 50 either way, so that the
    // sizes compare like with like (the last page of 10,001 users holds one).
    let full_pages = (shape.users + 1) / PAGE_SIZE as u64;
    let deep = DEEP_PAGE.min(full_pages).max(1);
    let database = sea_orm::Database::connect(&cluster.database_url).await?;
    let token = page_token(&database, &shape.account_id, deep).await?;
    database.close().await?;
    Ok((
        vec![
            Listing { name: "first page", request: base.clone() },
            Listing { name: "deep page", request: ListUsersRequest { page_token: token, ..base.clone() } },
            Listing {
                name: "first page, by group",
                request: ListUsersRequest { group_id: shape.group_ids.id(7), ..base.clone() },
            },
            Listing {
                name: "first page, by store",
                request: ListUsersRequest { store_id: shape.store_ids.id(7), ..base },
            },
        ],
        deep,
    ))
}

async fn measure(
    cluster: &Cluster,
    loaded: &Loaded,
    listing: &Listing,
    duration: Duration,
) -> anyhow::Result<((Latencies, f64), usize)> {
    let channel = cluster.directory_channel().await;
    let token = loaded.token.clone();
    let request = listing.request.clone();
    // One call first: the page must hold users.
    let first = UserServiceClient::new(channel.clone()).list_users(with_bearer(request.clone(), &token)).await?;
    let page_length = first.into_inner().users.len();
    anyhow::ensure!(page_length > 0, "{}: an empty page", listing.name);
    let measured = drive(IN_FLIGHT, duration, move |_, _| {
        let mut client = UserServiceClient::new(channel.clone());
        let request = with_bearer(request.clone(), &token);
        async move {
            client.list_users(request).await?;
            Ok(())
        }
    })
    .await?;
    Ok((measured, page_length))
}

/// What a ListUsers call costs besides its own queries: the store's
/// `list_users` alone, in the benchmark process over the same database, at
/// the same concurrency (what the RPC adds on top is authentication, the
/// access check and the wire).
async fn measure_in_process(
    cluster: &Cluster,
    loaded: &Loaded,
    listing: &Listing,
    duration: Duration,
) -> anyhow::Result<(Latencies, f64)> {
    let store = SeaDirectoryStore::connect(&cluster.database_url).await?;
    let account_id = AccountId::parse("account_id", &loaded.shape.account_id)?;
    let request = &listing.request;
    let filter = UserFilter {
        group_id: (!request.group_id.is_empty()).then(|| GroupId::parse("group_id", &request.group_id)).transpose()?,
        store_id: (!request.store_id.is_empty()).then(|| StoreId::parse("store_id", &request.store_id)).transpose()?,
        ..UserFilter::default()
    };
    let after = if request.page_token.is_empty() {
        None
    } else {
        Some(String::from_utf8(URL_SAFE_NO_PAD.decode(&request.page_token)?)?)
    };
    let page = PageRequest { size: PAGE_SIZE as u32, after };
    drive(IN_FLIGHT, duration, move |_, _| {
        let (store, filter, page) = (store.clone(), filter.clone(), page.clone());
        async move {
            store.list_users(account_id, &filter, &page).await?;
            Ok(())
        }
    })
    .await
}

/// The directory's authentication of each call: the broker's
/// ValidateSession of the caller's token, at the same concurrency.
async fn measure_validation(cluster: &Cluster, token: &str, duration: Duration) -> anyhow::Result<(Latencies, f64)> {
    let sessions = cluster.sessions().await;
    let token = token.to_owned();
    drive(IN_FLIGHT, duration, move |_, _| {
        let (mut sessions, token) = (sessions.clone(), token.clone());
        async move {
            sessions.validate_session(ValidateSessionRequest { token, ..Default::default() }).await?;
            Ok(())
        }
    })
    .await
}

pub async fn run(options: &Options, cluster: &Cluster) -> anyhow::Result<ScenarioResults> {
    let small = load(options, cluster, "bench-scale-small", scaled(options, 10_000, 100), 1).await?;
    let large = load(options, cluster, "bench-scale-large", scaled(options, 1_000_000, 1_000), 2).await?;
    let duration = Duration::from_secs(options.duration_seconds);
    let mut results = ScenarioResults::default();
    let (small_listings, small_deep) = listings(cluster, &small).await?;
    let (large_listings, large_deep) = listings(cluster, &large).await?;
    for (small_listing, large_listing) in small_listings.iter().zip(&large_listings) {
        let (at_small, small_page) = measure(cluster, &small, small_listing, duration).await?;
        let (at_large, large_page) = measure(cluster, &large, large_listing, duration).await?;
        let in_process = measure_in_process(cluster, &large, large_listing, duration).await?;
        let (small_p50, large_p50) = (at_small.0.quantile_micros(0.5), at_large.0.quantile_micros(0.5));
        let large_p99 = at_large.0.quantile_micros(0.99);
        let page =
            |deep: u64| if small_listing.name == "deep page" { format!(" (page {deep})") } else { String::new() };
        results.measurements.push(measurement(
            5,
            format!(
                "ListUsers {}{}, {} users, {IN_FLIGHT} in flight",
                small_listing.name,
                page(small_deep),
                small.shape.users
            ),
            at_small,
            format!("{small_page} users a page"),
        ));
        results.measurements.push(measurement(
            5,
            format!(
                "ListUsers {}{}, {} users, {IN_FLIGHT} in flight",
                large_listing.name,
                page(large_deep),
                large.shape.users
            ),
            at_large,
            format!(
                "{large_page} users a page; p50 {:.2}× the small account's",
                large_p50 as f64 / small_p50.max(1) as f64
            ),
        ));
        results.measurements.push(measurement(
            5,
            format!(
                "store list_users in process ({}), {} users, {IN_FLIGHT} in flight",
                large_listing.name, large.shape.users
            ),
            in_process,
            "the store's queries alone, no RPC, no authentication",
        ));
        results.bars.push(BarCheck {
            scenario: 5,
            bar: format!("ListUsers {} p99 ≤ 20 ms at {} users", large_listing.name, large.shape.users),
            measured: format!("{:.1} ms", large_p99 as f64 / 1000.0),
            reached: large_p99 <= 20_000,
        });
        results.bars.push(BarCheck {
            scenario: 5,
            bar: format!(
                "ListUsers {}: {} → {} users slows ≤ 2× (p50)",
                large_listing.name, small.shape.users, large.shape.users
            ),
            measured: format!("{:.2}×", large_p50 as f64 / small_p50.max(1) as f64),
            reached: large_p50 <= 2 * small_p50.max(1),
        });
    }
    let validation = measure_validation(cluster, &large.token, duration).await?;
    results.measurements.push(measurement(
        5,
        format!("ValidateSession of the caller's token, {IN_FLIGHT} in flight"),
        validation,
        "what the directory asks the broker on each call with a bearer token",
    ));
    let mut rates = Vec::new();
    for loaded in [&small, &large] {
        let shape = &loaded.shape;
        let invited = invite::measure(cluster, &shape.slug, &shape.account_id, &loaded.token, duration).await?;
        rates.push((invited.1, invited.0.quantile_micros(0.5)));
        results.measurements.push(measurement(
            5,
            format!("InviteUser, {} users, {} in flight", shape.users, invite::IN_FLIGHT),
            invited,
            "no password hashing on this path",
        ));
    }
    let (small_rate, small_p50) = rates[0];
    let (large_rate, large_p50) = rates[1];
    results.bars.push(BarCheck {
        scenario: 5,
        bar: format!("InviteUser ≥ 300 per second at {} users", large.shape.users),
        measured: format!("{large_rate:.0}/s"),
        reached: large_rate >= 300.0,
    });
    results.bars.push(BarCheck {
        scenario: 5,
        bar: format!("InviteUser: {} → {} users slows ≤ 2× (p50)", small.shape.users, large.shape.users),
        measured: format!("{:.2}× ({small_rate:.0}/s → {large_rate:.0}/s)", large_p50 as f64 / small_p50.max(1) as f64),
        reached: large_p50 <= 2 * small_p50.max(1),
    });
    Ok(results)
}
