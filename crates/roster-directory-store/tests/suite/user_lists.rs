//! Listing users: keyset pages and filters.

use std::collections::BTreeSet;

use roster_domain::account::UserStatus;
use roster_domain::ids::{StoreId, UserId};
use roster_domain::paging::{Page, PageRequest};
use roster_domain::repository::UserRepository;
use roster_domain::users::{UserFilter, UserPatch, UserProfile};
use roster_domain::ErrorCode;

use crate::common::backends::TestDatabase;
use crate::common::directory::{
    account_wide, acting, assert_refused, create_active_user, create_store, create_user, display_name, group_named,
    in_store, sign_up, Tenant,
};

/// Every page of a listing, in order.
async fn all_pages(
    store: &roster_directory_store::SeaDirectoryStore,
    tenant: &Tenant,
    filter: &UserFilter,
    size: u32,
) -> Vec<Page<UserProfile>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users(tenant.account.id, filter, &PageRequest { size, after }).await.unwrap();
        after = page.next.clone();
        pages.push(page);
        if after.is_none() {
            return pages;
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

fn ids(pages: &[Page<UserProfile>]) -> Vec<UserId> {
    pages.iter().flat_map(|page| page.items.iter().map(|profile| profile.user.id)).collect()
}

pub async fn list_users_pages_by_id_without_gaps_or_duplicates(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    create_user(&store, &globex, "stranger").await;
    let mut created = Vec::new();
    for index in 0..7 {
        created.push(create_user(&store, &acme, &format!("user{index}")).await);
    }

    let invited = UserFilter { status: Some(UserStatus::Invited), ..Default::default() };
    let pages = all_pages(&store, &acme, &invited, 3).await;
    let sizes: Vec<usize> = pages.iter().map(|page| page.items.len()).collect();
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(ids(&pages), created, "every user once, in id (creation) order");

    // Unfiltered: the owner too, 8 users in 3 pages; the last has no next.
    let pages = all_pages(&store, &acme, &UserFilter::default(), 3).await;
    assert_eq!(pages.iter().map(|page| page.items.len()).collect::<Vec<_>>(), [3, 3, 2]);
    let listed = ids(&pages);
    assert_eq!(listed.len(), 8);
    assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), 8, "no duplicates");
    assert!(listed.windows(2).all(|pair| pair[0] < pair[1]), "id order");
    assert!(listed.contains(&acme.owner.id));
    assert!(pages[0].items.iter().any(|profile| profile.user.is_owner));
    assert_eq!(pages[2].next, None);

    // An exact fit has no empty last page.
    let pages = all_pages(&store, &acme, &UserFilter::default(), 4).await;
    assert_eq!(pages.iter().map(|page| page.items.len()).collect::<Vec<_>>(), [4, 4]);

    let bad = PageRequest { size: 3, after: Some("not-a-cursor".to_owned()) };
    let error = assert_refused(
        store.list_users(acme.account.id, &UserFilter::default(), &bad).await,
        ErrorCode::InvalidArgument,
        "INVALID_FIELD",
    );
    assert_eq!(error.field_violations()[0].field, "page_token");
}

pub async fn list_users_filters_by_status_group_store_and_text(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let accountant = group_named(&store, acme.account.id, "Accountant").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let osaka = create_store(&store, &acme, "Osaka").await;

    let kenji = create_active_user(&store, &acme, "kenji").await;
    let mary = create_user(&store, &acme, "mary").await;
    let pat = create_user(&store, &acme, "pat").await;
    let sale = create_user(&store, &acme, "sale").await;
    store.assign_role(acme.account.id, kenji, in_store(manager.id, shibuya), &context).await.unwrap();
    store.assign_role(acme.account.id, kenji, account_wide(accountant.id), &context).await.unwrap();
    store.assign_role(acme.account.id, mary, in_store(manager.id, osaka), &context).await.unwrap();
    store.assign_role(acme.account.id, pat, account_wide(accountant.id), &context).await.unwrap();
    store.set_user_blocked(acme.account.id, pat, true, &context).await.unwrap();
    let rename = |name: &str| UserPatch { display_name: Some(display_name(name)), ..Default::default() };
    store.update_user(acme.account.id, mary, rename("Mary 100% Sales"), &context).await.unwrap();
    store.update_user(acme.account.id, sale, rename("Sale 1000 Items"), &context).await.unwrap();

    let listed = |filter: UserFilter| {
        let store = store.clone();
        async move {
            let page = store.list_users(acme.account.id, &filter, &PageRequest::first(50)).await.unwrap();
            assert_eq!(page.next, None);
            page.items.into_iter().map(|profile| profile.user.id).collect::<BTreeSet<_>>()
        }
    };
    let set = |users: &[UserId]| users.iter().copied().collect::<BTreeSet<_>>();

    assert_eq!(listed(UserFilter { status: Some(UserStatus::Blocked), ..Default::default() }).await, set(&[pat]));
    assert_eq!(
        listed(UserFilter { status: Some(UserStatus::Active), ..Default::default() }).await,
        set(&[acme.owner.id, kenji])
    );
    assert_eq!(listed(UserFilter { group_id: Some(manager.id), ..Default::default() }).await, set(&[kenji, mary]));
    assert_eq!(listed(UserFilter { group_id: Some(accountant.id), ..Default::default() }).await, set(&[kenji, pat]));
    assert_eq!(listed(UserFilter { store_id: Some(shibuya), ..Default::default() }).await, set(&[kenji]));
    assert_eq!(listed(UserFilter { store_id: Some(StoreId::generate()), ..Default::default() }).await, set(&[]));
    assert_eq!(
        listed(UserFilter { group_id: Some(manager.id), store_id: Some(osaka), ..Default::default() }).await,
        set(&[mary]),
        "filters combine"
    );

    let text = |text: &str| UserFilter { text: Some(text.to_owned()), ..Default::default() };
    assert_eq!(listed(text("KEN")).await, set(&[kenji]), "login, case-insensitively");
    assert_eq!(listed(text("mary@EXAMPLE")).await, set(&[mary]), "email");
    assert_eq!(listed(text("sales")).await, set(&[mary]), "display name");
    assert_eq!(listed(text("0%")).await, set(&[mary]), "% matches itself only");
    assert_eq!(listed(text("1_0")).await, set(&[]), "_ matches itself only");
    assert_eq!(listed(text("10")).await, set(&[mary, sale]));
    assert_eq!(listed(text("")).await.len(), 5, "empty text is no filter");
}

/// Issue 6: a store or group filter drives the page from its assignment
/// index; a user assigned several times there is still listed once, and
/// pages follow on without gaps.
pub async fn list_users_filtered_pages_list_each_member_once(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let manager = group_named(&store, acme.account.id, "Manager").await;
    let accountant = group_named(&store, acme.account.id, "Accountant").await;
    let shibuya = create_store(&store, &acme, "Shibuya").await;
    let mut members = Vec::new();
    for login in ["ann", "bob", "cat", "dan", "eve"] {
        let user = create_user(&store, &acme, login).await;
        store.assign_role(acme.account.id, user, in_store(manager.id, shibuya), &context).await.unwrap();
        store.assign_role(acme.account.id, user, in_store(accountant.id, shibuya), &context).await.unwrap();
        members.push(user);
    }
    create_user(&store, &acme, "outsider").await;
    members.sort();
    for filter in [
        UserFilter { store_id: Some(shibuya), ..Default::default() },
        UserFilter { group_id: Some(manager.id), store_id: Some(shibuya), ..Default::default() },
    ] {
        let mut listed = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_users(acme.account.id, &filter, &PageRequest { size: 2, after }).await.unwrap();
            listed.extend(page.items.iter().map(|profile| profile.user.id));
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        assert_eq!(listed, members, "{filter:?}");
    }
}
