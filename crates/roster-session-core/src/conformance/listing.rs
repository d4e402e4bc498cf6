//! Conformance checks of listing live sessions (R38: administrators see the
//! sessions they may end): by account or by user, in pages, read-only.

use std::collections::HashSet;

use roster_domain::ids::{AccountId, SessionId, UserId};

use super::{
    expect_active, expect_nothing_published_since, minutes, new_credential, open_new, skip_until_published_marker, t0,
    validate,
};
use crate::model::{ActiveSession, EndReason, SessionPage, Validation};
use crate::store::SessionStore;
use crate::token::CredentialKey;

async fn list(
    store: &dyn SessionStore,
    account_id: AccountId,
    user_id: Option<UserId>,
    cursor: Option<&str>,
    limit: usize,
) -> SessionPage {
    store.list_sessions(account_id, user_id, cursor, limit, minutes(1)).await.expect("list sessions")
}

fn ids_of(sessions: &[ActiveSession]) -> Vec<SessionId> {
    sessions.iter().map(|session| session.session_id).collect()
}

/// R38: five sessions listed two at a time come in three pages, the last
/// without a cursor, each session exactly once, ordered by credential tag;
/// one page holds all when the limit allows.
pub async fn r38_list_sessions_pages_through_an_account_with_cursors<S: SessionStore + 'static>(store: S) {
    let account_id = AccountId::generate();
    let mut opened = HashSet::new();
    for _ in 0..5 {
        let (_, session, _) = open_new(&store, CredentialKey::new(account_id, UserId::generate()), t0()).await;
        opened.insert(session.session_id);
    }
    open_new(&store, new_credential(), t0()).await;

    let mut listed = Vec::new();
    let mut page_sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = list(&store, account_id, None, cursor.as_deref(), 2).await;
        page_sizes.push(page.sessions.len());
        listed.extend(page.sessions);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(page_sizes.len() < 10, "paging does not end");
    }
    assert_eq!(page_sizes, vec![2, 2, 1]);
    let listed_ids = ids_of(&listed);
    assert_eq!(listed_ids.iter().copied().collect::<HashSet<_>>(), opened, "every session of the account once");
    assert_eq!(listed_ids.len(), 5, "no session twice");
    let tags: Vec<String> = listed.iter().map(|session| session.credential.tag()).collect();
    assert!(tags.windows(2).all(|pair| pair[0] < pair[1]), "ordered by credential tag");

    let everything = list(&store, account_id, None, None, 10).await;
    assert_eq!(ids_of(&everything.sessions), listed_ids);
    assert_eq!(everything.next_cursor, None);
}

/// R38: listing one user's sessions returns that credential's live session
/// as validation would, and nothing of other users or accounts.
pub async fn r38_list_sessions_of_one_user_reads_only_that_credential<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let colleague = CredentialKey::new(credential.account_id, UserId::generate());
    let (token, _, _) = open_new(&store, credential, t0()).await;
    open_new(&store, colleague, t0()).await;
    let same_user_elsewhere = CredentialKey::new(AccountId::generate(), credential.user_id);
    open_new(&store, same_user_elsewhere, t0()).await;

    let page = list(&store, credential.account_id, Some(credential.user_id), None, 10).await;
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.sessions.len(), 1);
    // Validated after listing, at the listing's `now`: the same session,
    // which the listing did not touch.
    let active = expect_active(validate(&store, &token, minutes(1)).await);
    assert_eq!(page.sessions[0], ActiveSession { last_used_at: t0(), idle_expires_at: minutes(15), ..active });

    let page = list(&store, credential.account_id, Some(credential.user_id), Some(&credential.tag()), 10).await;
    assert_eq!(page, SessionPage { sessions: Vec::new(), next_cursor: None }, "nothing after its own cursor");
    let nobody = list(&store, credential.account_id, Some(UserId::generate()), None, 10).await;
    assert_eq!(nobody, SessionPage { sessions: Vec::new(), next_cursor: None });
}

/// R38: listing shows live sessions only: not logged out, revoked, replaced
/// or expired ones (an expired one is left out, not ended: listing reports
/// nothing on the feed), and not another account's.
pub async fn r38_list_sessions_leaves_out_ended_and_expired_sessions_and_other_accounts<S: SessionStore + 'static>(
    store: S,
) {
    let account_id = AccountId::generate();
    let user = || CredentialKey::new(account_id, UserId::generate());
    let (live, logged_out, revoked, revoked_by_id, relogged, idle) = (user(), user(), user(), user(), user(), user());
    let mut feed = store.subscribe();
    let (idle_token, _, _) = open_new(&store, idle, t0()).await;
    let (_, live_session, _) = open_new(&store, live, minutes(10)).await;
    let (logged_out_token, _, _) = open_new(&store, logged_out, minutes(10)).await;
    open_new(&store, revoked, minutes(10)).await;
    let (_, revoked_session, _) = open_new(&store, revoked_by_id, minutes(10)).await;
    open_new(&store, relogged, minutes(10)).await;
    let (_, relogged_session, _) = open_new(&store, relogged, minutes(11)).await;
    open_new(&store, new_credential(), minutes(11)).await;

    store.logout(&logged_out_token, minutes(12)).await.expect("logout");
    store.revoke_credential(&revoked, "user_blocked", minutes(12)).await.expect("revoke credential");
    store.revoke_session(revoked_session.session_id, "administrator", minutes(12)).await.expect("revoke session");

    // The ends above reach the feed asynchronously (Redis pub/sub): read
    // past them before listing.
    skip_until_published_marker(&store, &mut feed).await;
    let page = store.list_sessions(account_id, None, None, 10, minutes(16)).await.expect("list");
    let mut expected = vec![(live.tag(), live_session.session_id), (relogged.tag(), relogged_session.session_id)];
    expected.sort();
    let listed: Vec<(String, SessionId)> =
        page.sessions.iter().map(|session| (session.credential.tag(), session.session_id)).collect();
    assert_eq!(listed, expected);
    assert_eq!(page.next_cursor, None);

    let idle_alone = store.list_sessions(account_id, Some(idle.user_id), None, 10, minutes(16)).await.expect("list");
    assert_eq!(idle_alone.sessions, Vec::new(), "an expired session is left out when listed by user too");
    expect_nothing_published_since(&store, &mut feed).await;
    assert_eq!(validate(&store, &idle_token, minutes(17)).await, Validation::Ended(EndReason::Expired));
}

/// R37, R38: listing reads; it does not count as a use, so idle timers do
/// not slide.
pub async fn r38_list_sessions_does_not_slide_idle_timers<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (token, _, _) = open_new(&store, credential, t0()).await;

    for minute in [5, 10, 14] {
        let by_account = store.list_sessions(credential.account_id, None, None, 10, minutes(minute)).await;
        let by_user =
            store.list_sessions(credential.account_id, Some(credential.user_id), None, 10, minutes(minute)).await;
        for page in [by_account.expect("list by account"), by_user.expect("list by user")] {
            assert_eq!(page.sessions.len(), 1);
            assert_eq!((page.sessions[0].last_used_at, page.sessions[0].idle_expires_at), (t0(), minutes(15)));
        }
    }
    assert_eq!(validate(&store, &token, minutes(16)).await, Validation::Ended(EndReason::Expired));
}

/// An account without live sessions lists as one empty, last page.
pub async fn r38_list_sessions_of_an_account_without_sessions_is_one_empty_page<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let empty = SessionPage { sessions: Vec::new(), next_cursor: None };
    assert_eq!(list(&store, credential.account_id, None, None, 10).await, empty);

    let (token, _, _) = open_new(&store, credential, t0()).await;
    store.logout(&token, minutes(1)).await.expect("logout");
    assert_eq!(list(&store, credential.account_id, None, None, 10).await, empty);
    assert_eq!(list(&store, credential.account_id, Some(credential.user_id), None, 10).await, empty);
}
