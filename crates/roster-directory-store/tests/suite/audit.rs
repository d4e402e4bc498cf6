//! The audit log (R43, R44): listing, denied calls, append-only, and one
//! transaction with the change it describes.

use roster_domain::audit::AuditOutcome;
use roster_domain::ids::AccountId;
use roster_domain::paging::PageRequest;
use roster_domain::repository::{
    AccountAdministration, AuditEvent, AuditFilter, AuditRepository, DeniedCall, GroupRepository, OwnershipTransfer,
    UserRepository,
};
use roster_domain::users::UserPatch;
use roster_domain::ErrorCode;
use sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::common::backends::TestDatabase;
use crate::common::directory::{
    acting, assert_refused, audit_count, create_group, create_user, display_name, new_user, sign_up,
};
use crate::common::fixtures::{count, in_transaction, query, table_counts};

/// Every event of a listing, page by page.
async fn list_all(
    store: &roster_directory_store::SeaDirectoryStore,
    account_id: Option<AccountId>,
    filter: &AuditFilter,
    size: u32,
) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_audit_events(account_id, filter, &PageRequest { size, after }).await.unwrap();
        assert!(page.items.len() <= size as usize);
        events.extend(page.items);
        after = page.next;
        if after.is_none() {
            return events;
        }
    }
}

fn actions(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(|event| event.action.as_str()).collect()
}

pub async fn r44_audit_events_list_newest_first_with_filters_and_pages(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let context = acting(&acme.owner);
    let kenji = create_user(&store, &acme, "kenji").await;
    let mary = create_user(&store, &acme, "mary").await;
    let middle = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let rename = UserPatch { display_name: Some(display_name("Kenji Sato")), ..Default::default() };
    store.update_user(acme.account.id, kenji, rename, &context).await.unwrap();
    create_user(&store, &globex, "stranger").await;

    let all = list_all(&store, Some(acme.account.id), &AuditFilter::default(), 2).await;
    assert_eq!(actions(&all), ["user.update", "user.create", "user.create", "account.create"]);
    assert!(all.windows(2).all(|pair| pair[0].id > pair[1].id && pair[0].occurred_at >= pair[1].occurred_at));
    let update = &all[0];
    assert_eq!(update.account_id, Some(acme.account.id));
    assert_eq!(update.actor_id, Some(acme.owner.id));
    assert_eq!(update.actor_name.as_deref(), Some("owner-acme"));
    assert_eq!(update.target_type, "user");
    assert_eq!(update.target_id, Some(kenji.to_string()));
    assert_eq!(update.target_name.as_deref(), Some("kenji"));
    assert_eq!(update.user_agent.as_deref(), Some("admin-console/2"));
    assert_eq!(update.trace_id.as_deref(), Some("0af7651916cd43dd8448eb211c80319c"));
    assert_eq!(update.outcome, AuditOutcome::Success);
    assert_eq!(update.changes["display_name"]["after"], "Kenji Sato");

    let by = |filter: AuditFilter| {
        let store = store.clone();
        async move { list_all(&store, Some(acme.account.id), &filter, 50).await }
    };
    let created = by(AuditFilter { action: Some("user.create".to_owned()), ..Default::default() }).await;
    assert_eq!(
        created.iter().map(|event| event.target_id.clone().unwrap()).collect::<Vec<_>>(),
        [mary.to_string(), kenji.to_string()]
    );
    let about_kenji = by(AuditFilter { target_id: Some(kenji.to_string()), ..Default::default() }).await;
    assert_eq!(actions(&about_kenji), ["user.update", "user.create"]);
    let by_owner = by(AuditFilter { actor_id: Some(acme.owner.id), ..Default::default() }).await;
    assert_eq!(by_owner.len(), 3, "the sign-up had no actor");
    let later = by(AuditFilter { from: Some(middle), ..Default::default() }).await;
    assert_eq!(actions(&later), ["user.update"]);
    let earlier = by(AuditFilter { to: Some(middle), ..Default::default() }).await;
    assert_eq!(earlier.len(), 3);
    let exact =
        by(AuditFilter { from: Some(update.occurred_at), to: Some(update.occurred_at), ..Default::default() }).await;
    assert!(exact.is_empty(), "to is exclusive");
    let exact = by(AuditFilter { from: Some(update.occurred_at), ..Default::default() }).await;
    assert_eq!(exact[exact.len() - 1].id, update.id, "from is inclusive");

    // Platform-wide: every account's events.
    let everything = list_all(&store, None, &AuditFilter::default(), 3).await;
    assert_eq!(everything.len(), 6);
    assert_eq!(everything[0].account_id, Some(globex.account.id));

    let bad = PageRequest { size: 2, after: Some("nope".to_owned()) };
    let error = assert_refused(
        store.list_audit_events(None, &AuditFilter::default(), &bad).await,
        ErrorCode::InvalidArgument,
        "INVALID_FIELD",
    );
    assert_eq!(error.field_violations()[0].field, "page_token");
}

pub async fn r43_record_denied_writes_a_denied_event(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let denied = DeniedCall {
        account_id: Some(acme.account.id),
        action: "user.delete",
        target_type: "user",
        target_id: Some(acme.owner.id.to_string()),
        reason: "OWNER_PROTECTED",
    };
    store.record_denied(&denied, &acting(&acme.owner)).await.unwrap();
    let filter = AuditFilter { action: Some("user.delete".to_owned()), ..Default::default() };
    let events = list_all(&store, Some(acme.account.id), &filter, 10).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].outcome, AuditOutcome::Denied);
    assert_eq!(events[0].reason.as_deref(), Some("OWNER_PROTECTED"));
    assert_eq!(events[0].target_id, Some(acme.owner.id.to_string()));
    assert_eq!(events[0].actor_id, Some(acme.owner.id));
    assert_eq!(events[0].client_address.as_deref(), Some("198.51.100.7"));
}

pub async fn r44_the_audit_log_refuses_updates_and_deletes(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    create_user(&store, &acme, "kenji").await;
    let events = audit_count(&store).await;
    assert_eq!(events, 2);

    let mut attempts = vec![
        "UPDATE audit_events SET action = 'forged'".to_owned(),
        "UPDATE audit_events SET changes = '{}' WHERE action = 'user.create'".to_owned(),
        "DELETE FROM audit_events".to_owned(),
        "DELETE FROM audit_events WHERE action = 'account.create'".to_owned(),
    ];
    if store.connection().get_database_backend() == DatabaseBackend::Postgres {
        attempts.push("TRUNCATE audit_events".to_owned());
    }
    for sql in &attempts {
        let (_, error) = in_transaction(&store, std::slice::from_ref(sql)).await.expect_err(sql);
        assert!(error.to_string().contains("audit log is append-only"), "{sql}: {error}");
    }
    assert_eq!(audit_count(&store).await, events);
    let forged = query(&store, "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'forged'").await;
    assert_eq!(forged[0].try_get::<i64>("", "n").unwrap(), 0);

    // Inserts still work, and deleting an account leaves its events.
    store.create_user(new_user(acme.account.id, "mary"), &acting(&acme.owner)).await.unwrap();
    let delete_account = format!("DELETE FROM accounts WHERE id = '{}'", acme.account.id);
    in_transaction(&store, &[delete_account]).await.unwrap_or_else(|(step, error)| panic!("{step}: {error}"));
    assert_eq!(count(&store, "users").await, 0);
    assert_eq!(audit_count(&store).await, events + 1);
}

pub async fn r43_a_refused_change_writes_no_audit_event(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let kenji = create_user(&store, &acme, "kenji").await;
    let root = create_group(&store, &acme, "Root", None).await;
    let child = create_group(&store, &acme, "Child", Some(root)).await;
    let before = table_counts(&store).await;

    assert!(store.create_user(new_user(acme.account.id, "KENJI"), &context).await.is_err());
    let cycle = roster_domain::groups::GroupPatch { parent_id: Some(Some(child)), ..Default::default() };
    assert!(store.update_group(acme.account.id, root, cycle, &context).await.is_err());
    assert!(store.delete_group(acme.account.id, root, &context).await.is_err());
    assert!(store.delete_user(acme.account.id, acme.owner.id, &context).await.is_err());
    let stale =
        OwnershipTransfer { account_id: acme.account.id, expected_owner: kenji, new_owner: kenji, evidence: None };
    assert!(store.transfer_ownership(stale, &context).await.is_err());
    let invited = OwnershipTransfer {
        account_id: acme.account.id,
        expected_owner: acme.owner.id,
        new_owner: kenji,
        evidence: None,
    };
    assert!(store.transfer_ownership(invited, &context).await.is_err());
    assert_eq!(table_counts(&store).await, before);
}

/// Makes every further audit insert fail, as a full disk or a bug would.
async fn refuse_audit_inserts(store: &roster_directory_store::SeaDirectoryStore) {
    let statements = match store.connection().get_database_backend() {
        DatabaseBackend::Postgres => vec![
            "CREATE FUNCTION refuse_audit_insert() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'audit insert refused by the test'; END $$"
                .to_owned(),
            "CREATE TRIGGER refuse_audit_insert BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION refuse_audit_insert()"
                .to_owned(),
        ],
        _ => vec!["CREATE TRIGGER refuse_audit_insert BEFORE INSERT ON audit_events \
                   BEGIN SELECT RAISE(ABORT, 'audit insert refused by the test'); END"
            .to_owned()],
    };
    for sql in statements {
        store.connection().execute_unprepared(&sql).await.unwrap();
    }
}

pub async fn r43_a_change_whose_audit_event_fails_is_rolled_back(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let kenji = crate::common::directory::create_active_user(&store, &acme, "kenji").await;
    let group = create_group(&store, &acme, "Sales", None).await;
    let shibuya = crate::common::directory::create_store(&store, &acme, "Shibuya").await;
    let assignment = crate::common::directory::in_store(group, shibuya);
    store.assign_role(acme.account.id, kenji, assignment, &context).await.unwrap();
    let profile = store.user_profile(acme.account.id, kenji).await.unwrap().unwrap();
    refuse_audit_inserts(&store).await;
    let before = table_counts(&store).await;

    let internal = ErrorCode::Internal;
    let rename = UserPatch { display_name: Some(display_name("Renamed")), ..Default::default() };
    assert_eq!(store.update_user(acme.account.id, kenji, rename, &context).await.unwrap_err().code(), internal);
    assert_eq!(store.delete_user(acme.account.id, kenji, &context).await.unwrap_err().code(), internal);
    let outcome = store.set_user_blocked(acme.account.id, kenji, true, &context).await;
    assert_eq!(outcome.unwrap_err().code(), internal);
    assert_eq!(store.unassign_role(acme.account.id, kenji, assignment, &context).await.unwrap_err().code(), internal);
    assert_eq!(store.create_user(new_user(acme.account.id, "mary"), &context).await.unwrap_err().code(), internal);
    let regroup = roster_domain::groups::GroupPatch { name: Some(display_name("Revenue")), ..Default::default() };
    assert_eq!(store.update_group(acme.account.id, group, regroup, &context).await.unwrap_err().code(), internal);
    let outcome = roster_domain::repository::StoreRepository::delete_store(&store, acme.account.id, shibuya, &context);
    assert_eq!(outcome.await.unwrap_err().code(), internal);
    let transfer = OwnershipTransfer {
        account_id: acme.account.id,
        expected_owner: acme.owner.id,
        new_owner: kenji,
        evidence: None,
    };
    assert_eq!(store.transfer_ownership(transfer, &context).await.unwrap_err().code(), internal);

    assert_eq!(table_counts(&store).await, before, "no change without its audit event");
    assert_eq!(store.user_profile(acme.account.id, kenji).await.unwrap().unwrap(), profile);
    let account = roster_domain::repository::AccountRepository::find_account(
        &store,
        &roster_domain::names::AccountKey::Id(acme.account.id),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(account.owner_user_id, acme.owner.id);
    assert_eq!(
        store
            .find_group(acme.account.id, &roster_domain::groups::GroupKey::Id(group))
            .await
            .unwrap()
            .unwrap()
            .name
            .as_str(),
        "Sales"
    );
}
