//! The validation cache: the conformance suite every store passes, and what
//! only a cache can get wrong (answers outliving an end, a race, a lost feed).

use chrono::Duration;

use super::*;
use crate::conformance::answer_once_ended_within_a_second;
use crate::memory::InMemorySessionStore;
use crate::model::EndReason;

/// The same suite every store passes, with the cache in front.
mod conformance {
    use std::sync::Arc;

    use super::{CachedSessionStore, InMemorySessionStore};

    crate::session_store_conformance_suite!(|| async {
        CachedSessionStore::new(Arc::new(InMemorySessionStore::new()), 1_000)
    });
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_893_456_000_000).expect("a valid instant")
}

fn new_session(credential: CredentialKey, created_at: DateTime<Utc>) -> NewSession {
    NewSession {
        session_id: SessionId::generate(),
        credential,
        payload: "{\"s\":\"acme\"}".to_owned(),
        client_address: "192.0.2.1".to_owned(),
        user_agent: "test".to_owned(),
        created_at,
        idle_timeout: Duration::minutes(15),
        absolute_expires_at: created_at + Duration::hours(12),
    }
}

async fn open(store: &dyn SessionStore, at: DateTime<Utc>) -> (SessionToken, CredentialKey) {
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    store.open(&token, new_session(credential, at)).await.expect("open");
    (token, credential)
}

async fn active(store: &dyn SessionStore, token: &SessionToken, now: DateTime<Utc>) -> ActiveSession {
    match store.validate(token, now).await.expect("validate") {
        Validation::Active(session) => session,
        other => panic!("expected a live session, got {other:?}"),
    }
}

#[tokio::test]
async fn repeated_validations_within_the_slide_step_are_answered_without_the_store() {
    // The in-process store records every use exactly, so its answer shows
    // whether it was asked: a cached answer keeps the earlier last use.
    let cached = CachedSessionStore::new(Arc::new(InMemorySessionStore::new()), 1_000);
    let (token, _) = open(&cached, t0()).await;
    let first = t0() + Duration::minutes(1);
    assert_eq!(active(&cached, &token, first).await.last_used_at, first);
    assert_eq!(cached.cache().len(), 1);

    let soon = first + Duration::seconds(5);
    assert_eq!(active(&cached, &token, soon).await.last_used_at, first, "within 9 s: from memory");

    // 1/100 of 15 minutes is 9 s: from then on the store slides the expiry.
    let later = first + Duration::seconds(9);
    let slid = active(&cached, &token, later).await;
    assert_eq!((slid.last_used_at, slid.idle_expires_at), (later, later + Duration::minutes(15)));
}

#[tokio::test]
async fn r36_an_end_through_this_replica_is_seen_at_once() {
    let cached = CachedSessionStore::new(Arc::new(InMemorySessionStore::new()), 1_000);
    let now = t0() + Duration::minutes(1);

    let (token, credential) = open(&cached, t0()).await;
    active(&cached, &token, now).await;
    let newer = SessionToken::issue(&credential);
    cached.open(&newer, new_session(credential, now)).await.expect("open");
    assert_eq!(cached.validate(&token, now).await.unwrap(), Validation::Ended(EndReason::Replaced));

    active(&cached, &newer, now).await;
    cached.logout(&newer, now).await.expect("logout");
    assert_eq!(cached.validate(&newer, now).await.unwrap(), Validation::Ended(EndReason::LoggedOut));

    let (revoked, credential) = open(&cached, t0()).await;
    active(&cached, &revoked, now).await;
    cached.revoke_credential(&credential, "administrator", now).await.expect("revoke");
    assert_eq!(cached.validate(&revoked, now).await.unwrap(), Validation::Ended(EndReason::Revoked));

    let (by_id, _) = open(&cached, t0()).await;
    let session_id = active(&cached, &by_id, now).await.session_id;
    cached.revoke_session(session_id, "administrator", now).await.expect("revoke").expect("it was live");
    assert_eq!(cached.validate(&by_id, now).await.unwrap(), Validation::Ended(EndReason::Revoked));
}

#[tokio::test]
async fn r36_r38_an_end_through_another_replica_reaches_this_one_through_the_feed() {
    // Two replicas sharing one store, each with its own cache.
    let shared = Arc::new(InMemorySessionStore::new());
    let (this, other) = (CachedSessionStore::new(shared.clone(), 1_000), CachedSessionStore::new(shared, 1_000));
    let now = t0() + Duration::minutes(1);

    let (token, credential) = open(&this, t0()).await;
    active(&this, &token, now).await;
    other.open(&SessionToken::issue(&credential), new_session(credential, now)).await.expect("open");
    assert_eq!(answer_once_ended_within_a_second(&this, &token, now).await, Validation::Ended(EndReason::Replaced));

    let (token, credential) = open(&this, t0()).await;
    active(&this, &token, now).await;
    other.revoke_credential(&credential, "user_blocked", now).await.expect("revoke");
    assert_eq!(answer_once_ended_within_a_second(&this, &token, now).await, Validation::Ended(EndReason::Revoked));
}

#[tokio::test]
async fn an_answer_read_before_an_end_is_never_kept_after_it() {
    let store = InMemorySessionStore::new();
    let (token, _) = open(&store, t0()).await;
    let session = active(&store, &token, t0() + Duration::minutes(1)).await;
    let cache = ValidationCache::new(1_000);

    // The validation asked the store, then the end was heard, then the
    // validation came back with its (by now stale) answer.
    let ticket = cache.ticket();
    cache.forget(token.tag());
    cache.keep(&token, &session, ticket);
    assert_eq!(cache.lookup(&token, session.last_used_at), None);

    // Without an end in between, it is kept.
    cache.keep(&token, &session, cache.ticket());
    assert_eq!(cache.lookup(&token, session.last_used_at), Some(session));
}

#[tokio::test]
async fn a_feed_that_may_have_lost_messages_empties_the_cache_and_stops_it_until_it_is_back() {
    let store = InMemorySessionStore::new();
    let (token, _) = open(&store, t0()).await;
    let session = active(&store, &token, t0() + Duration::minutes(1)).await;
    let now = session.last_used_at;
    let cache = ValidationCache::new(1_000);
    cache.keep(&token, &session, cache.ticket());
    assert!(cache.lookup(&token, now).is_some());

    let before_the_loss = cache.ticket();
    cache.follow(&FeedMessage::FeedLost);
    assert_eq!(cache.lookup(&token, now), None, "emptied");
    cache.keep(&token, &session, cache.ticket());
    assert_eq!(cache.lookup(&token, now), None, "nothing is kept or answered while the feed is down");

    let during_the_loss = cache.ticket();
    cache.follow(&FeedMessage::FeedRestored);
    cache.keep(&token, &session, before_the_loss);
    cache.keep(&token, &session, during_the_loss);
    assert!(cache.is_empty(), "answers read before the feed came back are not kept");
    cache.keep(&token, &session, cache.ticket());
    assert_eq!(cache.lookup(&token, now), Some(session));
}

#[tokio::test]
async fn entries_never_answer_past_an_expiry_or_for_another_token() {
    let store = InMemorySessionStore::new();
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    let short = NewSession { absolute_expires_at: t0() + Duration::minutes(10), ..new_session(credential, t0()) };
    store.open(&token, short).await.expect("open");
    let cache = ValidationCache::new(1_000);

    // 2 s before the absolute expiry the idle expiry is capped by it.
    let session = active(&store, &token, t0() + Duration::minutes(10) - Duration::seconds(2)).await;
    cache.keep(&token, &session, cache.ticket());
    assert!(cache.lookup(&token, session.last_used_at).is_some());
    assert_eq!(cache.lookup(&token, t0() + Duration::minutes(10)), None, "absolute expiry");
    assert_eq!(cache.lookup(&SessionToken::issue(&credential), session.last_used_at), None, "another token");
}

#[tokio::test]
async fn the_cache_holds_at_most_its_capacity() {
    let store = InMemorySessionStore::new();
    let cache = ValidationCache::new(SHARDS);
    let now = t0() + Duration::minutes(1);
    for _ in 0..SHARDS * 8 {
        let (token, _) = open(&store, t0()).await;
        let session = active(&store, &token, now).await;
        cache.keep(&token, &session, cache.ticket());
    }
    assert!(cache.len() <= SHARDS, "{} entries", cache.len());
    assert!(!cache.is_empty());
}

#[tokio::test]
async fn debug_output_shows_no_entry() {
    let store = InMemorySessionStore::new();
    let (token, _) = open(&store, t0()).await;
    let session = active(&store, &token, t0() + Duration::minutes(1)).await;
    let cache = ValidationCache::new(1_000);
    cache.keep(&token, &session, cache.ticket());
    let printed = format!("{cache:?}");
    assert!(!printed.contains(token.hash().as_str()) && !printed.contains("acme"), "{printed}");
}
