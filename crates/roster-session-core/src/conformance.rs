//! The one conformance suite every [`SessionStore`] must pass (R36–R38,
//! R41). The checks of the feed are in [`feed`], those of listing in
//! [`listing`].
//!
//! Each check is a public async function taking a fresh, isolated store; the
//! [`session_store_conformance_suite!`](crate::session_store_conformance_suite)
//! macro turns all of them into `#[tokio::test]`s for one store factory, so
//! every implementation runs exactly the same checks:
//!
//! ```text
//! mod conformance {
//!     roster_session_core::session_store_conformance_suite!(|| async { my_fresh_store().await });
//! }
//! ```
//!
//! Time never passes for real: every check passes explicit `now` values
//! from a fixed, millisecond-precise base, so stores that keep milliseconds
//! round-trip every timestamp exactly. Feed messages may arrive
//! asynchronously (Redis delivers them over its own connection), so checks
//! subscribe before they act and wait for each message with a timeout.
//!
//! Compiled for this crate's tests and, for other crates, with the
//! `conformance` feature.

mod feed;
mod listing;

pub use feed::*;
pub use listing::*;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use roster_domain::ids::{AccountId, SessionId, UserId};
use tokio::sync::broadcast;

use crate::model::{ActiveSession, EndReason, FeedMessage, NewSession, SessionEvent, Validation};
use crate::store::SessionStore;
use crate::token::{CredentialKey, SessionToken};

/// Generates one `#[tokio::test]` per conformance check for the stores made
/// by `$factory`: an expression callable with no argument that returns a
/// future of a fresh, isolated store (`S: SessionStore + 'static`), e.g. an
/// async fn path or `|| async { ... }`. The calling crate needs `tokio` (with
/// `macros` and `rt-multi-thread`) among its (dev-)dependencies.
#[macro_export]
macro_rules! session_store_conformance_suite {
    ($factory:expr) => {
        $crate::session_store_conformance_suite!(@checks $factory;
            r37_open_then_validate_returns_the_session,
            r36_open_replaces_previous_session,
            r36_replaced_tombstones_survive_later_logins,
            r36_concurrent_opens_leave_exactly_one_live_session,
            r37_open_after_expiry_ends_the_old_session_as_expired_not_replaced,
            r38_logout_ends_the_session_and_it_stays_logged_out,
            r38_logout_of_a_dead_token_reports_why_it_died,
            r37_idle_timeout_expires_the_session_for_good,
            r37_validation_slides_the_idle_expiry,
            r37_absolute_lifetime_caps_the_sliding,
            r38_revoke_credential_ends_the_live_session_and_returns_its_id,
            unknown_tokens_validate_as_unknown,
            sessions_of_different_credentials_are_independent,
            tokens_of_another_credential_never_match_or_replace,
            ping_answers_ok,
            r41_feed_reports_a_replaced_session_and_its_successor,
            r41_feed_reports_a_logout_once,
            r41_feed_reports_an_expiry_found_by_validate_once,
            r41_feed_reports_an_expiry_found_by_a_later_open,
            r41_feed_reports_revocations_with_the_given_reason,
            r41_feed_reports_session_ends_in_the_order_they_were_applied,
            r38_subscribers_receive_published_access_changes_from_then_on,
            r38_revoke_session_ends_that_session_and_returns_it_as_it_was,
            r38_find_session_returns_a_live_session_as_it_is_and_nothing_else,
            r38_revoke_session_of_an_expired_session_ends_it_as_expired,
            r38_revoke_session_of_an_unknown_or_ended_session_returns_none_and_publishes_nothing,
            r38_list_sessions_pages_through_an_account_with_cursors,
            r38_list_sessions_of_one_user_reads_only_that_credential,
            r38_list_sessions_leaves_out_ended_and_expired_sessions_and_other_accounts,
            r38_list_sessions_does_not_slide_idle_timers,
            r38_list_sessions_of_an_account_without_sessions_is_one_empty_page,
        );
    };
    (@checks $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let factory = $factory;
                $crate::conformance::$check(factory().await).await;
            }
        )*
    };
}

/// A fixed, millisecond-precise instant the checks count from.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_893_456_000_000).expect("2030-01-01 is a valid instant")
}

fn minutes(count: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(count)
}

fn new_credential() -> CredentialKey {
    CredentialKey::new(AccountId::generate(), UserId::generate())
}

/// A session with the R37 defaults: 15 minutes idle, 12 hours absolute.
fn new_session(credential: CredentialKey, created_at: DateTime<Utc>) -> NewSession {
    NewSession {
        session_id: SessionId::generate(),
        credential,
        // Separators, quotes, newlines and non-ASCII must all round-trip.
        payload: "{\"groups\":[\"ops|admins\"],\"note\":\"line one\\nline two\",\"name\":\"Zoë 🔑\"}".to_owned(),
        client_address: "2001:db8::7".to_owned(),
        user_agent: String::new(),
        created_at,
        idle_timeout: Duration::minutes(15),
        absolute_expires_at: created_at + Duration::hours(12),
    }
}

/// Issues a token for `credential` and opens a default session under it.
async fn open_new(
    store: &dyn SessionStore,
    credential: CredentialKey,
    created_at: DateTime<Utc>,
) -> (SessionToken, NewSession, Option<SessionId>) {
    let token = SessionToken::issue(&credential);
    let session = new_session(credential, created_at);
    let replaced = store.open(&token, session.clone()).await.expect("open");
    (token, session, replaced)
}

async fn validate(store: &dyn SessionStore, token: &SessionToken, now: DateTime<Utc>) -> Validation {
    store.validate(token, now).await.expect("validate")
}

/// Validates `token` at `now` until the answer is not `Active`, for at most
/// one second (R38's bound; an end reaches another replica's validation
/// cache through the feed, normally within microseconds); the last answer.
pub async fn answer_once_ended_within_a_second(
    store: &dyn SessionStore,
    token: &SessionToken,
    now: DateTime<Utc>,
) -> Validation {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let answer = validate(store, token, now).await;
        if !matches!(answer, Validation::Active(_)) || tokio::time::Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// How long a check waits for one feed message.
const FEED_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The next message of `feed`, waited for at most [`FEED_WAIT`].
async fn next_feed_message(feed: &mut broadcast::Receiver<FeedMessage>) -> FeedMessage {
    match tokio::time::timeout(FEED_WAIT, feed.recv()).await {
        Ok(Ok(message)) => message,
        Ok(Err(error)) => panic!("the feed failed: {error}"),
        Err(_) => panic!("no feed message within {FEED_WAIT:?}"),
    }
}

async fn next_session_event(feed: &mut broadcast::Receiver<FeedMessage>) -> SessionEvent {
    match next_feed_message(feed).await {
        FeedMessage::Session(event) => event,
        other => panic!("expected a session event, got {other:?}"),
    }
}

/// Publishes an access change for a fresh account and expects it to be the
/// next message: nothing else was published since the last one read, since
/// the feed keeps the store's order.
async fn expect_nothing_published_since(store: &dyn SessionStore, feed: &mut broadcast::Receiver<FeedMessage>) {
    let marker = AccountId::generate();
    store.publish_access_change(marker, &[]).await.expect("publish an access change");
    let expected = FeedMessage::AccessChanged { account_id: marker, user_ids: Vec::new() };
    assert_eq!(next_feed_message(feed).await, expected, "nothing else was published before the marker");
}

/// Publishes an access change for a fresh account and reads the feed up to
/// it: whatever was published before is skipped.
async fn skip_until_published_marker(store: &dyn SessionStore, feed: &mut broadcast::Receiver<FeedMessage>) {
    let marker = AccountId::generate();
    store.publish_access_change(marker, &[]).await.expect("publish an access change");
    let expected = FeedMessage::AccessChanged { account_id: marker, user_ids: Vec::new() };
    while next_feed_message(feed).await != expected {}
}

/// The event reporting that `session` ended with `kind` at `occurred_at`.
fn ended_event(
    session: &NewSession,
    kind: EndReason,
    reason: &str,
    occurred_at: DateTime<Utc>,
    replaced_by: Option<SessionId>,
) -> SessionEvent {
    SessionEvent {
        kind,
        session_id: session.session_id,
        account_id: session.credential.account_id,
        user_id: session.credential.user_id,
        reason: reason.to_owned(),
        occurred_at,
        replaced_by,
    }
}

fn expect_active(validation: Validation) -> ActiveSession {
    match validation {
        Validation::Active(session) => session,
        other => panic!("expected an active session, got {other:?}"),
    }
}

/// R37: what `open` stored comes back from `validate`, with the use recorded.
pub async fn r37_open_then_validate_returns_the_session<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (token, opened, replaced) = open_new(&store, credential, t0()).await;
    assert_eq!(replaced, None, "nothing to replace on a first login");

    let active = expect_active(validate(&store, &token, minutes(1)).await);
    let expected = ActiveSession {
        session_id: opened.session_id,
        credential,
        payload: opened.payload,
        client_address: opened.client_address,
        user_agent: opened.user_agent,
        created_at: t0(),
        last_used_at: minutes(1),
        idle_expires_at: minutes(16),
        absolute_expires_at: t0() + Duration::hours(12),
    };
    assert_eq!(active, expected);
}

/// R36: a second login replaces the first, which then says so.
pub async fn r36_open_replaces_previous_session<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (first_token, first, _) = open_new(&store, credential, t0()).await;
    let (second_token, second, replaced) = open_new(&store, credential, minutes(1)).await;

    assert_eq!(replaced, Some(first.session_id));
    assert_eq!(validate(&store, &first_token, minutes(2)).await, Validation::Ended(EndReason::Replaced));
    let active = expect_active(validate(&store, &second_token, minutes(2)).await);
    assert_eq!(active.session_id, second.session_id);
}

/// R36: the "replaced" answer outlives further logins of the credential.
pub async fn r36_replaced_tombstones_survive_later_logins<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (first_token, _, _) = open_new(&store, credential, t0()).await;
    let (second_token, _, _) = open_new(&store, credential, minutes(1)).await;
    let (third_token, _, _) = open_new(&store, credential, minutes(2)).await;

    let replaced = Validation::Ended(EndReason::Replaced);
    assert_eq!(validate(&store, &first_token, minutes(3)).await, replaced);
    assert_eq!(validate(&store, &second_token, minutes(3)).await, replaced);
    expect_active(validate(&store, &third_token, minutes(3)).await);
}

/// R36: of many racing logins of one credential exactly one stays live, and
/// every other one is reported replaced, by exactly one later open.
pub async fn r36_concurrent_opens_leave_exactly_one_live_session<S: SessionStore + 'static>(store: S) {
    const RACERS: usize = 200;
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let credential = new_credential();
    let mut racers = Vec::with_capacity(RACERS);
    for _ in 0..RACERS {
        let store = Arc::clone(&store);
        racers.push(tokio::spawn(async move {
            let (token, session, replaced) = open_new(store.as_ref(), credential, t0()).await;
            (token, session.session_id, replaced)
        }));
    }
    let mut opened = Vec::with_capacity(RACERS);
    for racer in racers {
        opened.push(racer.await.expect("racing open task"));
    }

    let mut live_ids = Vec::new();
    for (token, session_id, _) in &opened {
        match validate(store.as_ref(), token, minutes(1)).await {
            Validation::Active(active) => live_ids.push(active.session_id),
            Validation::Ended(EndReason::Replaced) => {}
            other => {
                panic!("a racing login must be live or replaced, got {other:?} for {session_id}")
            }
        }
    }
    assert_eq!(live_ids.len(), 1, "exactly one racing login stays live");

    let replaced_ids: Vec<SessionId> = opened.iter().filter_map(|(_, _, replaced)| *replaced).collect();
    let distinct_replaced: HashSet<SessionId> = replaced_ids.iter().copied().collect();
    let expected_replaced: HashSet<SessionId> =
        opened.iter().map(|(_, session_id, _)| *session_id).filter(|id| *id != live_ids[0]).collect();
    assert_eq!(replaced_ids.len(), RACERS - 1, "every open but the first replaced one session");
    assert_eq!(distinct_replaced, expected_replaced, "each dead login was replaced exactly once");
}

/// R37: a login after the previous session expired ends it as expired — it
/// was not live, so there is nothing replaced to report.
pub async fn r37_open_after_expiry_ends_the_old_session_as_expired_not_replaced<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (old_token, _, _) = open_new(&store, credential, t0()).await;
    let (new_token, _, replaced) = open_new(&store, credential, minutes(20)).await;

    assert_eq!(replaced, None);
    assert_eq!(validate(&store, &old_token, minutes(21)).await, Validation::Ended(EndReason::Expired));
    expect_active(validate(&store, &new_token, minutes(21)).await);
}

/// R38: logout returns the live session it ended; the token stays logged out.
pub async fn r38_logout_ends_the_session_and_it_stays_logged_out<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (token, opened, _) = open_new(&store, credential, t0()).await;

    let before = expect_active(store.logout(&token, minutes(1)).await.expect("logout"));
    assert_eq!(before.session_id, opened.session_id);

    let logged_out = Validation::Ended(EndReason::LoggedOut);
    assert_eq!(validate(&store, &token, minutes(2)).await, logged_out);
    assert_eq!(validate(&store, &token, minutes(30)).await, logged_out, "no expiry overwrites the logout");
    assert_eq!(store.logout(&token, minutes(31)).await.expect("second logout"), logged_out);
    assert_eq!(store.revoke_credential(&credential, "administrator", minutes(32)).await.expect("revoke"), Vec::new());
}

/// R38: logging out a dead token reports why it died and changes nothing.
pub async fn r38_logout_of_a_dead_token_reports_why_it_died<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (replaced_token, _, _) = open_new(&store, credential, t0()).await;
    let (idle_token, _, _) = open_new(&store, credential, minutes(1)).await;

    let replaced = Validation::Ended(EndReason::Replaced);
    assert_eq!(store.logout(&replaced_token, minutes(2)).await.expect("logout"), replaced);
    assert_eq!(validate(&store, &replaced_token, minutes(3)).await, replaced);

    let expired = Validation::Ended(EndReason::Expired);
    assert_eq!(store.logout(&idle_token, minutes(30)).await.expect("logout"), expired);
    assert_eq!(validate(&store, &idle_token, minutes(31)).await, expired);

    let never_opened = SessionToken::issue(&credential);
    assert_eq!(store.logout(&never_opened, minutes(32)).await.expect("logout"), Validation::Unknown);
}

/// R37: past its idle timeout a session is expired, and stays so whatever
/// `now` later validations pass.
pub async fn r37_idle_timeout_expires_the_session_for_good<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (token, _, _) = open_new(&store, credential, t0()).await;

    let expired = Validation::Ended(EndReason::Expired);
    assert_eq!(validate(&store, &token, minutes(16)).await, expired);
    assert_eq!(validate(&store, &token, minutes(17)).await, expired);
    assert_eq!(validate(&store, &token, minutes(1)).await, expired, "an earlier clock does not revive it");
}

/// R37: each use slides the idle expiry: a 15-minute session used at +10
/// minutes is alive at +20 minutes.
pub async fn r37_validation_slides_the_idle_expiry<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let (token, _, _) = open_new(&store, credential, t0()).await;

    let at_ten = expect_active(validate(&store, &token, minutes(10)).await);
    assert_eq!((at_ten.last_used_at, at_ten.idle_expires_at), (minutes(10), minutes(25)));
    let at_twenty = expect_active(validate(&store, &token, minutes(20)).await);
    assert_eq!((at_twenty.last_used_at, at_twenty.idle_expires_at), (minutes(20), minutes(35)));
    assert_eq!(validate(&store, &token, minutes(36)).await, Validation::Ended(EndReason::Expired));
}

/// R37: sliding never extends a session beyond its absolute lifetime.
pub async fn r37_absolute_lifetime_caps_the_sliding<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let token = SessionToken::issue(&credential);
    let session = NewSession { absolute_expires_at: minutes(60), ..new_session(credential, t0()) };
    store.open(&token, session).await.expect("open");

    for minute in [10, 20, 30, 40, 50] {
        expect_active(validate(&store, &token, minutes(minute)).await);
    }
    let near_the_end = expect_active(validate(&store, &token, minutes(59)).await);
    assert_eq!(near_the_end.idle_expires_at, minutes(60), "idle expiry capped at the absolute one");

    let expired = Validation::Ended(EndReason::Expired);
    assert_eq!(validate(&store, &token, minutes(61)).await, expired);
    assert_eq!(validate(&store, &token, minutes(62)).await, expired);
}

/// R38: revoking a credential ends its live session and names it; with no
/// live session it ends nothing.
pub async fn r38_revoke_credential_ends_the_live_session_and_returns_its_id<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    assert_eq!(store.revoke_credential(&credential, "administrator", t0()).await.expect("revoke"), Vec::new());

    let (token, opened, _) = open_new(&store, credential, t0()).await;
    let revoked = store.revoke_credential(&credential, "administrator", minutes(1)).await.expect("revoke");
    assert_eq!(revoked, vec![opened.session_id]);
    assert_eq!(validate(&store, &token, minutes(2)).await, Validation::Ended(EndReason::Revoked));
    assert_eq!(
        store.revoke_credential(&credential, "administrator", minutes(3)).await.expect("revoke again"),
        Vec::new()
    );
    assert_eq!(validate(&store, &token, minutes(4)).await, Validation::Ended(EndReason::Revoked));

    let (new_token, _, replaced) = open_new(&store, credential, minutes(5)).await;
    assert_eq!(replaced, None, "a revoked session is not live, so nothing is replaced");
    expect_active(validate(&store, &new_token, minutes(6)).await);
}

/// Tokens never opened are unknown, even when their credential has a live
/// session (same slot tag, different hash).
pub async fn unknown_tokens_validate_as_unknown<S: SessionStore + 'static>(store: S) {
    let credential = new_credential();
    let never_seen = SessionToken::issue(&new_credential());
    assert_eq!(validate(&store, &never_seen, t0()).await, Validation::Unknown);

    let (live_token, _, _) = open_new(&store, credential, t0()).await;
    let same_credential_never_opened = SessionToken::issue(&credential);
    assert_eq!(validate(&store, &same_credential_never_opened, minutes(1)).await, Validation::Unknown);
    expect_active(validate(&store, &live_token, minutes(1)).await);
}

/// R36 is per credential: one credential's logins, logouts and revocations
/// leave another's session alone.
pub async fn sessions_of_different_credentials_are_independent<S: SessionStore + 'static>(store: S) {
    let alice = new_credential();
    let bob = CredentialKey::new(alice.account_id, UserId::generate());
    let (alice_token, alice_session, _) = open_new(&store, alice, t0()).await;
    let (bob_token, bob_session, bob_replaced) = open_new(&store, bob, t0()).await;
    assert_eq!(bob_replaced, None);

    assert_eq!(expect_active(validate(&store, &alice_token, minutes(1)).await).session_id, alice_session.session_id);
    assert_eq!(expect_active(validate(&store, &bob_token, minutes(1)).await).session_id, bob_session.session_id);

    expect_active(store.logout(&alice_token, minutes(2)).await.expect("logout"));
    expect_active(validate(&store, &bob_token, minutes(3)).await);

    let (alice_again, _, _) = open_new(&store, alice, minutes(4)).await;
    assert_eq!(
        store.revoke_credential(&bob, "administrator", minutes(5)).await.expect("revoke"),
        vec![bob_session.session_id]
    );
    expect_active(validate(&store, &alice_again, minutes(6)).await);
}

/// A token of one credential never validates, logs out or replaces anything
/// of another credential, however many sessions exist.
pub async fn tokens_of_another_credential_never_match_or_replace<S: SessionStore + 'static>(store: S) {
    let owner = new_credential();
    let stranger = new_credential();
    assert_ne!(owner.tag(), stranger.tag());
    let (owner_token, owner_session, _) = open_new(&store, owner, t0()).await;

    let stranger_token = SessionToken::issue(&stranger);
    assert_eq!(validate(&store, &stranger_token, minutes(1)).await, Validation::Unknown);
    assert_eq!(store.logout(&stranger_token, minutes(1)).await.expect("logout"), Validation::Unknown);
    assert_eq!(store.revoke_credential(&stranger, "administrator", minutes(1)).await.expect("revoke"), Vec::new());

    let (stranger_token, _, replaced) = open_new(&store, stranger, minutes(2)).await;
    assert_eq!(replaced, None, "another credential's login replaces nothing of the owner's");
    assert_eq!(expect_active(validate(&store, &owner_token, minutes(3)).await).session_id, owner_session.session_id);
    expect_active(validate(&store, &stranger_token, minutes(3)).await);
}

/// A reachable store answers `ping`.
pub async fn ping_answers_ok<S: SessionStore + 'static>(store: S) {
    store.ping().await.expect("ping");
}
