//! Unit tests of the in-process store: what the conformance suite cannot see.

use super::*;

/// The same suite every store passes.
mod conformance {
    use super::InMemorySessionStore;

    crate::session_store_conformance_suite!(|| async { InMemorySessionStore::new() });
}

fn new_session(credential: CredentialKey, created_at: DateTime<Utc>) -> NewSession {
    NewSession {
        session_id: SessionId::generate(),
        credential,
        payload: "{\"secret\":\"payload\"}".to_owned(),
        client_address: "192.0.2.1".to_owned(),
        user_agent: "test".to_owned(),
        created_at,
        idle_timeout: Duration::minutes(15),
        absolute_expires_at: created_at + Duration::hours(12),
    }
}

#[tokio::test]
async fn tombstones_are_pruned_after_their_absolute_expiry_so_memory_stays_bounded() {
    let store = InMemorySessionStore::new();
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let start = DateTime::UNIX_EPOCH;
    for _ in 0..10 {
        store.open(&SessionToken::issue(&credential), new_session(credential, start)).await.unwrap();
    }
    assert_eq!(store.counts(), (1, 1, 9));

    let after_lifetime = start + Duration::hours(13);
    store.open(&SessionToken::issue(&credential), new_session(credential, after_lifetime)).await.unwrap();
    // The session live at `start` is past its absolute expiry too, so it
    // leaves no tombstone either.
    assert_eq!(store.counts(), (1, 1, 0));
}

#[tokio::test]
async fn the_sweep_forgets_credentials_that_never_log_in_again() {
    let store = InMemorySessionStore::new();
    let start = DateTime::UNIX_EPOCH;
    for _ in 0..MINIMUM_OPENS_BETWEEN_SWEEPS - 1 {
        let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
        store.open(&SessionToken::issue(&credential), new_session(credential, start)).await.unwrap();
    }
    let (credentials, _, _) = store.counts();
    assert_eq!(credentials, MINIMUM_OPENS_BETWEEN_SWEEPS - 1);

    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let much_later = start + Duration::days(2);
    store.open(&SessionToken::issue(&credential), new_session(credential, much_later)).await.unwrap();
    assert_eq!(store.counts(), (1, 1, 0));
}

#[tokio::test]
async fn debug_output_shows_counts_but_no_tokens_or_payloads() {
    let store = InMemorySessionStore::new();
    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    let token = SessionToken::issue(&credential);
    store.open(&token, new_session(credential, DateTime::UNIX_EPOCH)).await.unwrap();
    let printed = format!("{store:?}");
    assert_eq!(printed, "InMemorySessionStore { credentials: 1, live_sessions: 1, tombstones: 0 }");
    assert!(!printed.contains(token.expose()) && !printed.contains("secret"));
}

impl InMemorySessionStore {
    /// Numbers of entries in the account index and the session id index.
    fn index_sizes(&self) -> (usize, usize) {
        let state = self.lock();
        (state.account_tags.values().map(BTreeSet::len).sum(), state.live_session_tags.len())
    }
}

#[tokio::test]
async fn index_entries_go_when_their_sessions_end() {
    let store = InMemorySessionStore::new();
    let account_id = AccountId::generate();
    let start = DateTime::UNIX_EPOCH;
    let mut opened = Vec::new();
    for _ in 0..4 {
        let credential = CredentialKey::new(account_id, UserId::generate());
        let token = SessionToken::issue(&credential);
        let session = new_session(credential, start);
        store.open(&token, session.clone()).await.unwrap();
        opened.push((credential, token, session.session_id));
    }
    let (credential, _, _) = opened[0];
    store.open(&SessionToken::issue(&credential), new_session(credential, start)).await.unwrap();
    assert_eq!(store.index_sizes(), (4, 4), "a replaced session's entries make room for its successor's");

    store.logout(&opened[1].1, start).await.unwrap();
    store.revoke_credential(&opened[2].0, "administrator", start).await.unwrap();
    store.revoke_session(opened[3].2, "administrator", start).await.unwrap();
    assert_eq!(store.index_sizes(), (1, 1));
    assert_eq!(
        store.validate(&opened[0].1, start + Duration::hours(1)).await.unwrap(),
        Validation::Ended(EndReason::Replaced)
    );
    store.revoke_credential(&credential, "administrator", start + Duration::hours(13)).await.unwrap();
    assert_eq!(store.index_sizes(), (0, 0), "an expiry found by a revocation ends the session too");
}

#[tokio::test]
async fn the_sweep_drops_index_entries_of_sessions_nobody_ended() {
    let store = InMemorySessionStore::new();
    let start = DateTime::UNIX_EPOCH;
    for _ in 0..MINIMUM_OPENS_BETWEEN_SWEEPS - 1 {
        let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
        store.open(&SessionToken::issue(&credential), new_session(credential, start)).await.unwrap();
    }
    assert_eq!(store.index_sizes(), (MINIMUM_OPENS_BETWEEN_SWEEPS - 1, MINIMUM_OPENS_BETWEEN_SWEEPS - 1));

    let credential = CredentialKey::new(AccountId::generate(), UserId::generate());
    store.open(&SessionToken::issue(&credential), new_session(credential, start + Duration::days(2))).await.unwrap();
    assert_eq!(store.index_sizes(), (1, 1));
}
