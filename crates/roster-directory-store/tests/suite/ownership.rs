//! Ownership (R1, R3, R4, R5) and account edits (R30).

use roster_domain::account::BillingLevel;
use roster_domain::ids::UserId;
use roster_domain::names::AccountKey;
use roster_domain::repository::{
    AccountAdministration, AccountPatch, AccountRepository, OwnershipTransfer, UserRepository,
};
use roster_domain::ErrorCode;
use serde_json::json;

use crate::common::backends::TestDatabase;
use crate::common::directory::{acting, assert_refused, create_active_user, create_user, display_name, sign_up};
use crate::common::fixtures::{audit_rows, query, table_counts};

fn transfer(tenant: &crate::common::directory::Tenant, from: UserId, to: UserId) -> OwnershipTransfer {
    OwnershipTransfer { account_id: tenant.account.id, expected_owner: from, new_owner: to, evidence: None }
}

pub async fn r3_transfer_ownership_moves_the_owner_and_audits_it(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let mary = create_active_user(&store, &acme, "mary").await;
    let pat = create_active_user(&store, &acme, "pat").await;

    let account = store.transfer_ownership(transfer(&acme, acme.owner.id, mary), &acting(&acme.owner)).await.unwrap();
    assert_eq!(account.owner_user_id, mary);
    assert_eq!(store.find_account(&AccountKey::Id(acme.account.id)).await.unwrap(), Some(account.clone()));
    let previous = store.find_user(acme.account.id, acme.owner.id).await.unwrap().unwrap();
    assert!(!previous.is_owner, "R3: the previous owner stays as a regular user");
    assert!(store.find_user(acme.account.id, mary).await.unwrap().unwrap().is_owner);
    let events = audit_rows(&store, "account.transfer_ownership").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target_id.as_deref(), Some(acme.account.id.to_string().as_str()));
    assert_eq!(
        events[0].changes["owner_user_id"],
        json!({ "before": acme.owner.id.to_string(), "after": mary.to_string() })
    );
    assert_eq!(events[0].changes["owner_login_name"], json!({ "before": "owner-acme", "after": "mary" }));

    // R4: a forced change records its evidence.
    let mut forced = transfer(&acme, mary, pat);
    forced.evidence = Some("TICKET-4711".to_owned());
    let account = store.transfer_ownership(forced, &acting(&acme.owner)).await.unwrap();
    assert_eq!(account.owner_user_id, pat);
    let events = audit_rows(&store, "account.force_transfer_ownership").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].changes["evidence"], json!("TICKET-4711"));

    // The former owner is an ordinary user now: deletable.
    store.delete_user(acme.account.id, acme.owner.id, &acting(&acme.owner)).await.unwrap();
}

pub async fn r3_transfer_refuses_a_stale_owner_and_an_inactive_new_owner(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let globex = sign_up(&store, "globex").await;
    let context = acting(&acme.owner);
    let active = create_active_user(&store, &acme, "active").await;
    let invited = create_user(&store, &acme, "invited").await;
    let blocked = create_active_user(&store, &acme, "blocked").await;
    store.set_user_blocked(acme.account.id, blocked, true, &context).await.unwrap();
    let stranger = create_active_user(&store, &globex, "stranger").await;
    let before = table_counts(&store).await;

    let outcome = store.transfer_ownership(transfer(&acme, active, invited), &context).await;
    assert_refused(outcome, ErrorCode::FailedPrecondition, "OWNER_CHANGED");
    for user in [invited, blocked] {
        let outcome = store.transfer_ownership(transfer(&acme, acme.owner.id, user), &context).await;
        let error = assert_refused(outcome, ErrorCode::FailedPrecondition, "NEW_OWNER_NOT_ACTIVE");
        assert!(error.to_string().starts_with("R3:"), "{error}");
    }
    let outcome = store.transfer_ownership(transfer(&acme, acme.owner.id, stranger), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "USER_NOT_FOUND");
    let outcome = store.transfer_ownership(transfer(&globex, globex.owner.id, active), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "USER_NOT_FOUND");
    assert_eq!(table_counts(&store).await, before);
    assert_eq!(
        store.find_account(&AccountKey::Id(acme.account.id)).await.unwrap().unwrap().owner_user_id,
        acme.owner.id
    );
}

pub async fn r1_concurrent_transfers_leave_exactly_one_owner(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let mut candidates = Vec::new();
    for index in 0..6 {
        candidates.push(create_active_user(&store, &acme, &format!("heir{index}")).await);
    }
    let mut owner = acme.owner.id;
    for pair in candidates.chunks(2) {
        let (left, right) = (pair[0], pair[1]);
        let race = |to: UserId| {
            let store = store.clone();
            let attempt = transfer(&acme, owner, to);
            let context = acting(&acme.owner);
            tokio::spawn(async move { store.transfer_ownership(attempt, &context).await })
        };
        let (first, second) = (race(left), race(right));
        let outcomes = [first.await.unwrap(), second.await.unwrap()];
        let winners: Vec<UserId> =
            outcomes.iter().filter_map(|outcome| outcome.as_ref().ok()).map(|account| account.owner_user_id).collect();
        assert_eq!(winners.len(), 1, "exactly one transfer wins: {outcomes:?}");
        for outcome in &outcomes {
            if let Err(error) = outcome {
                assert_eq!(error.reason(), "OWNER_CHANGED", "{error}");
            }
        }
        let stored = store.find_account(&AccountKey::Id(acme.account.id)).await.unwrap().unwrap();
        assert_eq!(stored.owner_user_id, winners[0]);
        let owners = query(
            &store,
            &format!(
                "SELECT COUNT(*) AS n FROM accounts WHERE id = '{}' AND owner_user_id IN ('{left}', '{right}')",
                acme.account.id
            ),
        )
        .await;
        assert_eq!(owners[0].try_get::<i64>("", "n").unwrap(), 1);
        owner = winners[0];
    }
    let events = audit_rows(&store, "account.transfer_ownership").await;
    assert_eq!(events.len(), 3, "one event per winning transfer");
}

pub async fn r30_update_account_audits_changed_fields(database: TestDatabase) {
    let store = database.store;
    let acme = sign_up(&store, "acme").await;
    let context = acting(&acme.owner);
    let patch =
        AccountPatch { display_name: Some(display_name("Acme Holdings")), billing_level: Some(BillingLevel::Account) };
    let updated = store.update_account(acme.account.id, patch, &context).await.unwrap();
    assert_eq!(updated.display_name.as_str(), "Acme Holdings");
    assert_eq!(updated.billing_level, BillingLevel::Account);
    assert_eq!(store.find_account(&AccountKey::Id(acme.account.id)).await.unwrap(), Some(updated.clone()));
    let events = audit_rows(&store, "account.update").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].changes,
        json!({
            "display_name": { "before": "acme ltd", "after": "Acme Holdings" },
            "billing_level": { "before": "store", "after": "account" },
        })
    );
    let same = AccountPatch { display_name: Some(display_name("Acme Holdings")), billing_level: None };
    assert_eq!(store.update_account(acme.account.id, same, &context).await.unwrap(), updated);
    assert_eq!(audit_rows(&store, "account.update").await.len(), 1);
    let outcome =
        store.update_account(roster_domain::ids::AccountId::generate(), AccountPatch::default(), &context).await;
    assert_refused(outcome, ErrorCode::NotFound, "ACCOUNT_NOT_FOUND");
}
