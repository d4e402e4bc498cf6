//! Conformance checks of the feed (R41: every session end is reported, in
//! the order the store applied it; R38: access changes reach every
//! subscriber) and of ending one session by its id.

use roster_domain::ids::{AccountId, SessionId, UserId};

use super::{
    ended_event, expect_active, expect_nothing_published_since, minutes, new_credential, next_feed_message,
    next_session_event, open_new, t0, validate,
};
use crate::model::{reasons, ActiveSession, EndReason, FeedMessage, Validation};
use crate::store::SessionStore;
use crate::token::CredentialKey;

/// R41, R36: a login that replaces a live session reports it replaced, at
/// the new session's creation, naming the new session; a first login
/// reports nothing.
pub async fn r41_feed_reports_a_replaced_session_and_its_successor<S: SessionStore + 'static>(store: S) {
    let mut feed = store.subscribe();
    let credential = new_credential();
    let (_, first, _) = open_new(&store, credential, t0()).await;
    let (_, second, _) = open_new(&store, credential, minutes(1)).await;

    let expected = ended_event(&first, EndReason::Replaced, reasons::REPLACED, minutes(1), Some(second.session_id));
    assert_eq!(next_session_event(&mut feed).await, expected);
    expect_nothing_published_since(&store, &mut feed).await;
}

/// R41: a logout is reported once; logging out the dead token again
/// reports nothing.
pub async fn r41_feed_reports_a_logout_once<S: SessionStore + 'static>(store: S) {
    let mut feed = store.subscribe();
    let (token, opened, _) = open_new(&store, new_credential(), t0()).await;
    expect_active(store.logout(&token, minutes(1)).await.expect("logout"));
    store.logout(&token, minutes(2)).await.expect("second logout");

    let expected = ended_event(&opened, EndReason::LoggedOut, reasons::LOGGED_OUT, minutes(1), None);
    assert_eq!(next_session_event(&mut feed).await, expected);
    expect_nothing_published_since(&store, &mut feed).await;
}

/// R41, R37: the validation that finds a session expired reports it, at its
/// `now`; later looks at the dead token report nothing.
pub async fn r41_feed_reports_an_expiry_found_by_validate_once<S: SessionStore + 'static>(store: S) {
    let mut feed = store.subscribe();
    let credential = new_credential();
    let (token, opened, _) = open_new(&store, credential, t0()).await;
    assert_eq!(validate(&store, &token, minutes(16)).await, Validation::Ended(EndReason::Expired));
    assert_eq!(validate(&store, &token, minutes(17)).await, Validation::Ended(EndReason::Expired));
    store.logout(&token, minutes(18)).await.expect("logout");
    assert_eq!(store.revoke_credential(&credential, "administrator", minutes(19)).await.expect("revoke"), Vec::new());

    let expected = ended_event(&opened, EndReason::Expired, reasons::EXPIRED, minutes(16), None);
    assert_eq!(next_session_event(&mut feed).await, expected);
    expect_nothing_published_since(&store, &mut feed).await;
}

/// R41, R37: a login after the previous session's time passed reports that
/// session expired (not replaced, and with no successor).
pub async fn r41_feed_reports_an_expiry_found_by_a_later_open<S: SessionStore + 'static>(store: S) {
    let mut feed = store.subscribe();
    let credential = new_credential();
    let (_, old, _) = open_new(&store, credential, t0()).await;
    let (_, _, replaced) = open_new(&store, credential, minutes(20)).await;
    assert_eq!(replaced, None);

    let expected = ended_event(&old, EndReason::Expired, reasons::EXPIRED, minutes(20), None);
    assert_eq!(next_session_event(&mut feed).await, expected);
    expect_nothing_published_since(&store, &mut feed).await;
}

/// R41, R38: revocations, of a credential or of one session, are reported
/// with the reason the revoker gave.
pub async fn r41_feed_reports_revocations_with_the_given_reason<S: SessionStore + 'static>(store: S) {
    let mut feed = store.subscribe();
    let blocked = new_credential();
    let (_, blocked_session, _) = open_new(&store, blocked, t0()).await;
    let (_, other_session, _) = open_new(&store, new_credential(), t0()).await;

    store.revoke_credential(&blocked, "user_blocked", minutes(1)).await.expect("revoke credential");
    store.revoke_session(other_session.session_id, "administrator", minutes(2)).await.expect("revoke session");
    store.revoke_credential(&blocked, "user_deleted", minutes(3)).await.expect("revoke again");

    let expected = ended_event(&blocked_session, EndReason::Revoked, "user_blocked", minutes(1), None);
    assert_eq!(next_session_event(&mut feed).await, expected);
    let expected = ended_event(&other_session, EndReason::Revoked, "administrator", minutes(2), None);
    assert_eq!(next_session_event(&mut feed).await, expected);
    expect_nothing_published_since(&store, &mut feed).await;
}

/// R41: every subscriber sees every end and access change, in the order the
/// store applied them, across credentials and accounts.
pub async fn r41_feed_reports_session_ends_in_the_order_they_were_applied<S: SessionStore + 'static>(store: S) {
    let mut first_feed = store.subscribe();
    let mut second_feed = store.subscribe();
    let alice = new_credential();
    let bob = CredentialKey::new(alice.account_id, UserId::generate());
    let carol = new_credential();

    let (_, alice_first, _) = open_new(&store, alice, t0()).await;
    let (bob_token, bob_first, _) = open_new(&store, bob, t0()).await;
    let (_, carol_first, _) = open_new(&store, carol, t0()).await;
    let (_, alice_second, _) = open_new(&store, alice, minutes(1)).await;
    store.logout(&bob_token, minutes(2)).await.expect("logout");
    store.publish_access_change(alice.account_id, &[alice.user_id]).await.expect("access change");
    store.revoke_credential(&carol, "user_blocked", minutes(3)).await.expect("revoke credential");
    store.revoke_session(alice_second.session_id, "administrator", minutes(4)).await.expect("revoke session");

    let expected = vec![
        FeedMessage::Session(ended_event(
            &alice_first,
            EndReason::Replaced,
            reasons::REPLACED,
            minutes(1),
            Some(alice_second.session_id),
        )),
        FeedMessage::Session(ended_event(&bob_first, EndReason::LoggedOut, reasons::LOGGED_OUT, minutes(2), None)),
        FeedMessage::AccessChanged { account_id: alice.account_id, user_ids: vec![alice.user_id] },
        FeedMessage::Session(ended_event(&carol_first, EndReason::Revoked, "user_blocked", minutes(3), None)),
        FeedMessage::Session(ended_event(&alice_second, EndReason::Revoked, "administrator", minutes(4), None)),
    ];
    for feed in [&mut first_feed, &mut second_feed] {
        let mut received = Vec::with_capacity(expected.len());
        for _ in 0..expected.len() {
            received.push(next_feed_message(feed).await);
        }
        assert_eq!(received, expected);
    }
    expect_nothing_published_since(&store, &mut first_feed).await;
}

/// R38: an access change reaches every subscriber, users named or not (the
/// whole account); a subscriber gets everything published after it
/// subscribed.
pub async fn r38_subscribers_receive_published_access_changes_from_then_on<S: SessionStore + 'static>(store: S) {
    let account_id = AccountId::generate();
    let users = vec![UserId::generate(), UserId::generate()];
    let mut early_feed = store.subscribe();
    store.publish_access_change(account_id, &users).await.expect("publish");
    let mut late_feed = store.subscribe();
    store.publish_access_change(account_id, &[]).await.expect("publish for the whole account");

    let named = FeedMessage::AccessChanged { account_id, user_ids: users };
    let whole_account = FeedMessage::AccessChanged { account_id, user_ids: Vec::new() };
    assert_eq!(next_feed_message(&mut early_feed).await, named);
    assert_eq!(next_feed_message(&mut early_feed).await, whole_account);
    // A feed delivers asynchronously (Redis pub/sub): a subscriber may
    // still see what was published just before it subscribed, but never
    // anything older, and everything after.
    let first_late = next_feed_message(&mut late_feed).await;
    if first_late == named {
        assert_eq!(next_feed_message(&mut late_feed).await, whole_account);
    } else {
        assert_eq!(first_late, whole_account, "what came after subscribing");
    }
}

/// R38: revoking one session by its id ends exactly that session and returns
/// it as it was; other sessions stay.
pub async fn r38_revoke_session_ends_that_session_and_returns_it_as_it_was<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let neighbour = CredentialKey::new(credential.account_id, UserId::generate());
    let (token, opened, _) = open_new(&store, credential, t0()).await;
    let (neighbour_token, _, _) = open_new(&store, neighbour, t0()).await;
    let used = expect_active(validate(&store, &token, minutes(1)).await);

    let revoked = store.revoke_session(opened.session_id, "administrator", minutes(2)).await.expect("revoke");
    let expected = ActiveSession {
        session_id: opened.session_id,
        credential,
        payload: opened.payload.clone(),
        client_address: opened.client_address.clone(),
        user_agent: opened.user_agent.clone(),
        created_at: t0(),
        last_used_at: minutes(1),
        idle_expires_at: minutes(16),
        absolute_expires_at: opened.absolute_expires_at,
    };
    assert_eq!(used, expected);
    assert_eq!(revoked, Some(expected));
    assert_eq!(validate(&store, &token, minutes(3)).await, Validation::Ended(EndReason::Revoked));
    assert_eq!(store.revoke_session(opened.session_id, "administrator", minutes(4)).await.expect("again"), None);
    expect_active(validate(&store, &neighbour_token, minutes(5)).await);

    let (new_token, _, replaced) = open_new(&store, credential, minutes(6)).await;
    assert_eq!(replaced, None, "a revoked session is not live, so nothing is replaced");
    expect_active(validate(&store, &new_token, minutes(7)).await);
}

/// R38, R37: a session whose time has passed is not live, so revoking it
/// returns nothing; it ends (and is reported) as expired.
pub async fn r38_revoke_session_of_an_expired_session_ends_it_as_expired<S: SessionStore + 'static>(store: S) {
    let mut feed = store.subscribe();
    let (token, opened, _) = open_new(&store, new_credential(), t0()).await;

    assert_eq!(store.revoke_session(opened.session_id, "administrator", minutes(16)).await.expect("revoke"), None);
    assert_eq!(validate(&store, &token, minutes(17)).await, Validation::Ended(EndReason::Expired));
    let expected = ended_event(&opened, EndReason::Expired, reasons::EXPIRED, minutes(16), None);
    assert_eq!(next_session_event(&mut feed).await, expected);
    expect_nothing_published_since(&store, &mut feed).await;
}

/// R38: revoking a session id that was never issued, or whose session
/// already ended, returns nothing, changes nothing and reports nothing.
pub async fn r38_revoke_session_of_an_unknown_or_ended_session_returns_none_and_publishes_nothing<
    S: SessionStore + 'static,
>(
    store: S,
) {
    let mut feed = store.subscribe();
    assert_eq!(store.revoke_session(SessionId::generate(), "administrator", t0()).await.expect("revoke"), None);

    let credential = new_credential();
    let (logged_out_token, logged_out, _) = open_new(&store, credential, t0()).await;
    expect_active(store.logout(&logged_out_token, minutes(1)).await.expect("logout"));
    let (_, replaced, _) = open_new(&store, credential, minutes(2)).await;
    let (live_token, live, _) = open_new(&store, credential, minutes(3)).await;
    assert_eq!(next_session_event(&mut feed).await.session_id, logged_out.session_id);
    assert_eq!(next_session_event(&mut feed).await.session_id, replaced.session_id);

    for ended in [logged_out.session_id, replaced.session_id] {
        assert_eq!(store.revoke_session(ended, "administrator", minutes(4)).await.expect("revoke"), None);
    }
    assert_eq!(validate(&store, &logged_out_token, minutes(5)).await, Validation::Ended(EndReason::LoggedOut));
    assert_eq!(expect_active(validate(&store, &live_token, minutes(5)).await).session_id, live.session_id);
    expect_nothing_published_since(&store, &mut feed).await;
}

/// R38: a live session is found by its id, as it is, without sliding its
/// idle timer; an ended, expired or unknown one is not found.
pub async fn r38_find_session_returns_a_live_session_as_it_is_and_nothing_else<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (token, opened, _) = open_new(&store, credential, t0()).await;
    let used = expect_active(validate(&store, &token, minutes(1)).await);
    let found = store.find_session(opened.session_id, minutes(2)).await.expect("find");
    assert_eq!(found, Some(used.clone()));
    // Finding does not slide the idle timer: it still ends 15 minutes after the last use.
    assert_eq!(store.find_session(opened.session_id, minutes(15)).await.expect("find"), Some(used));
    assert_eq!(store.find_session(opened.session_id, minutes(16)).await.expect("find"), None, "expired");
    assert_eq!(store.find_session(SessionId::generate(), minutes(2)).await.expect("find"), None, "unknown");

    let (_, second, _) = open_new(&store, credential, minutes(3)).await;
    assert_eq!(store.find_session(opened.session_id, minutes(4)).await.expect("find"), None, "replaced");
    assert!(store.find_session(second.session_id, minutes(4)).await.expect("find").is_some());
    store.revoke_session(second.session_id, "administrator", minutes(5)).await.expect("revoke");
    assert_eq!(store.find_session(second.session_id, minutes(6)).await.expect("find"), None, "revoked");
}
