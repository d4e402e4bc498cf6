//! End to end: listing and ending sessions, and watching their events, as
//! users (R38, R41, R5, R43). Administrative use needs `sessions.view` /
//! `sessions.revoke`; a user may always see and end their own sessions; the
//! owner's sessions are the owner's. Each runs on SQLite (sessions in the
//! broker's memory) and on PostgreSQL (sessions in Redis).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use roster_e2e::cluster::with_bearer;
use roster_e2e::fixtures::{login_from, Member, Tenant, PASSWORD};
use roster_e2e::status::expect_error;
use roster_e2e::{on_directory_backends, Cluster, ClusterOptions};
use roster_proto::session::v1::session_event::Kind;
use roster_proto::session::v1::{
    ListSessionsRequest, RevokeSessionRequest, RevokeUserSessionsRequest, SessionInfo, ValidateSessionRequest,
    WatchSessionEventsRequest,
};
use tonic::Code;

on_directory_backends!(
    r38_sessions_are_listed_with_their_facts_and_never_their_tokens,
    r38_listing_others_sessions_needs_sessions_view_and_a_refusal_is_audited,
    r38_an_administrator_ends_one_session_and_it_is_audited,
    r5_nobody_but_the_owner_ends_the_owners_sessions,
    r38_a_user_ends_all_their_own_sessions,
    r41_a_user_with_sessions_view_watches_their_own_accounts_events,
);

async fn list(cluster: &Cluster, token: &str, request: ListSessionsRequest) -> Result<Vec<SessionInfo>, tonic::Status> {
    let mut sessions = cluster.sessions().await;
    let mut listed = Vec::new();
    let mut request = request;
    loop {
        let page = sessions.list_sessions(with_bearer(request.clone(), token)).await?.into_inner();
        listed.extend(page.sessions);
        if page.next_page_token.is_empty() {
            return Ok(listed);
        }
        request.page_token = page.next_page_token;
    }
}

fn logins(sessions: &[SessionInfo]) -> BTreeSet<String> {
    sessions.iter().map(|session| session.login_name.clone()).collect()
}

async fn validated(cluster: &Cluster, token: &str) -> Result<(), tonic::Status> {
    let request = ValidateSessionRequest { token: token.to_owned(), ..Default::default() };
    cluster.sessions().await.validate_session(request).await.map(|_| ())
}

/// Staff of a tenant: an administrator (sessions.view and sessions.revoke)
/// and two team members.
async fn staff(acme: &Tenant<'_>) -> (Member, Member, Member) {
    let admin = acme.member("admin", vec![acme.role("Administrator", None)]).await;
    let bob = acme.member("bob", vec![acme.role("Team member", None)]).await;
    let cat = acme.member("cat", vec![acme.role("Team member", None)]).await;
    (admin, bob, cat)
}

async fn r38_sessions_are_listed_with_their_facts_and_never_their_tokens(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let (admin, _, _) = staff(&acme).await;
    // Bob logs in again through a gateway that passes on his address and agent.
    let mut request = login_from("acme", "bob", PASSWORD, "203.0.113.7");
    request.user_agent = "test-agent/1.0".to_owned();
    let bob = cluster.sessions().await.login(request).await.unwrap().into_inner();

    let everyone = list(&cluster, &admin.token, ListSessionsRequest::default()).await.unwrap();
    assert_eq!(logins(&everyone), BTreeSet::from(["admin", "bob", "cat", "owner"].map(String::from)));
    let listed_bob = everyone.iter().find(|session| session.login_name == "bob").unwrap();
    assert_eq!(listed_bob.session_id, bob.session_id);
    assert_eq!(listed_bob.account_id, acme.account_id);
    assert_eq!(listed_bob.user_id, bob.principal.as_ref().unwrap().user_id);
    assert_eq!(listed_bob.client_address, "203.0.113.7");
    assert_eq!(listed_bob.user_agent, "test-agent/1.0");
    assert!(listed_bob.create_time.is_some() && listed_bob.last_use_time.is_some());
    assert!(listed_bob.idle_expire_time.is_some() && listed_bob.expire_time.is_some());
    let everything = format!("{everyone:?}");
    for token in [&bob.token, &admin.token, &acme.owner.token] {
        let secret_part = token.split('.').nth(1).unwrap();
        assert!(!everything.contains(secret_part), "a token appears in a listing");
    }

    // One user's, and page by page with the same result.
    let only_bob = ListSessionsRequest { user_id: listed_bob.user_id.clone(), ..Default::default() };
    let only_bob = list(&cluster, &admin.token, only_bob).await.unwrap();
    assert_eq!(logins(&only_bob), BTreeSet::from(["bob".to_owned()]));
    let paged = list(&cluster, &admin.token, ListSessionsRequest { page_size: 1, ..Default::default() }).await.unwrap();
    assert_eq!(paged.len(), 4, "{paged:?}");
    assert_eq!(logins(&paged), logins(&everyone));
    // An internal caller must say which account.
    let mut sessions = cluster.sessions().await;
    let unnamed = sessions.list_sessions(acme.internal(ListSessionsRequest::default())).await;
    expect_error(unnamed, Code::InvalidArgument, "INVALID_FIELD");
    let named = ListSessionsRequest { account_id: acme.account_id.clone(), ..Default::default() };
    assert_eq!(sessions.list_sessions(acme.internal(named)).await.unwrap().into_inner().sessions.len(), 4);
}

async fn r38_listing_others_sessions_needs_sessions_view_and_a_refusal_is_audited(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let (_, bob, _) = staff(&acme).await;
    let refused = list(&cluster, &bob.token, ListSessionsRequest::default()).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    let own = ListSessionsRequest { user_id: bob.id.clone(), ..Default::default() };
    assert_eq!(logins(&list(&cluster, &bob.token, own).await.unwrap()), BTreeSet::from(["bob".to_owned()]));
    // Another tenant's sessions are out of reach even for its owner's peers.
    let globex = Tenant::sign_up(&cluster, "globex").await;
    let foreign = ListSessionsRequest { account_id: acme.account_id.clone(), ..Default::default() };
    expect_error(list(&cluster, &globex.owner.token, foreign).await, Code::PermissionDenied, "OTHER_ACCOUNT");

    let since = Instant::now();
    let denied = loop {
        let filter = roster_proto::directory::v1::ListAuditEventsRequest {
            action: "session.list".to_owned(),
            actor_id: bob.id.clone(),
            ..Default::default()
        };
        let events = acme.audit_events(filter).await;
        if !events.is_empty() || since.elapsed() > Duration::from_secs(10) {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].outcome, "denied");
    assert_eq!(denied[0].reason, "MISSING_PERMISSION");
}

async fn r38_an_administrator_ends_one_session_and_it_is_audited(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let (admin, bob, cat) = staff(&acme).await;
    let bob_session =
        list(&cluster, &admin.token, ListSessionsRequest { user_id: bob.id.clone(), ..Default::default() })
            .await
            .unwrap()
            .remove(0)
            .session_id;
    let mut sessions = cluster.sessions().await;

    // A team member may not end someone else's session.
    let revoke = RevokeSessionRequest { session_id: bob_session.clone(), reason: String::new() };
    expect_error(
        sessions.revoke_session(with_bearer(revoke.clone(), &cat.token)).await,
        Code::PermissionDenied,
        "MISSING_PERMISSION",
    );
    let revoked = sessions.revoke_session(with_bearer(revoke.clone(), &admin.token)).await.unwrap().into_inner();
    assert_eq!(revoked.session_id, bob_session);
    assert_eq!(revoked.user_id, bob.id);
    expect_error(validated(&cluster, &bob.token).await, Code::Unauthenticated, "SESSION_REVOKED");
    validated(&cluster, &cat.token).await.expect("other sessions live on");
    expect_error(sessions.revoke_session(with_bearer(revoke, &admin.token)).await, Code::NotFound, "SESSION_NOT_FOUND");
    // Another tenant cannot even tell the session exists.
    let globex = Tenant::sign_up(&cluster, "globex").await;
    let cat_session =
        list(&cluster, &admin.token, ListSessionsRequest { user_id: cat.id.clone(), ..Default::default() })
            .await
            .unwrap()
            .remove(0)
            .session_id;
    let foreign = RevokeSessionRequest { session_id: cat_session, reason: String::new() };
    expect_error(
        sessions.revoke_session(with_bearer(foreign, &globex.owner.token)).await,
        Code::NotFound,
        "SESSION_NOT_FOUND",
    );

    let since = Instant::now();
    let audited = loop {
        let events = acme.audit_of("session.revoke", &bob_session).await;
        if !events.is_empty() || since.elapsed() > Duration::from_secs(10) {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].actor_id, admin.id);
    assert_eq!(audited[0].outcome, "success");
}

async fn r5_nobody_but_the_owner_ends_the_owners_sessions(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let (admin, _, _) = staff(&acme).await;
    let owner_id = acme.owner.id.clone();
    let mut sessions = cluster.sessions().await;
    let revoke =
        RevokeUserSessionsRequest { account_id: String::new(), user_id: owner_id.clone(), reason: String::new() };
    expect_error(
        sessions.revoke_user_sessions(with_bearer(revoke.clone(), &admin.token)).await,
        Code::PermissionDenied,
        "OWNER_PROTECTED",
    );
    validated(&cluster, &acme.owner.token).await.expect("the owner's session lives on");
    // The owner may end any session, their own included.
    let admin_sessions = RevokeUserSessionsRequest { user_id: admin.id.clone(), ..revoke.clone() };
    let ended = sessions.revoke_user_sessions(acme.as_owner(admin_sessions)).await.unwrap().into_inner();
    assert_eq!(ended.revoked_session_ids.len(), 1);
    expect_error(validated(&cluster, &admin.token).await, Code::Unauthenticated, "SESSION_REVOKED");
}

async fn r38_a_user_ends_all_their_own_sessions(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let (_, bob, _) = staff(&acme).await;
    let mut sessions = cluster.sessions().await;
    let own =
        RevokeUserSessionsRequest { account_id: String::new(), user_id: bob.id.clone(), reason: "lost phone".into() };
    let ended = sessions.revoke_user_sessions(with_bearer(own, &bob.token)).await.unwrap().into_inner();
    assert_eq!(ended.revoked_session_ids.len(), 1);
    expect_error(validated(&cluster, &bob.token).await, Code::Unauthenticated, "SESSION_REVOKED");
    // An unknown bearer gets no say at all.
    let anyone =
        RevokeUserSessionsRequest { account_id: String::new(), user_id: bob.id.clone(), reason: String::new() };
    expect_error(sessions.revoke_user_sessions(anyone).await, Code::Unauthenticated, "SESSION_REQUIRED");
}

async fn r41_a_user_with_sessions_view_watches_their_own_accounts_events(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = Tenant::sign_up(&cluster, "acme").await;
    let globex = Tenant::sign_up(&cluster, "globex").await;
    let (admin, bob, _) = staff(&acme).await;
    let mut sessions = cluster.sessions().await;
    let refused = sessions.watch_session_events(with_bearer(WatchSessionEventsRequest::default(), &bob.token)).await;
    expect_error(refused, Code::PermissionDenied, "MISSING_PERMISSION");
    let foreign = WatchSessionEventsRequest { account_id: globex.account_id.clone() };
    let refused = sessions.watch_session_events(with_bearer(foreign, &admin.token)).await;
    expect_error(refused, Code::PermissionDenied, "OTHER_ACCOUNT");

    let stream = sessions.watch_session_events(with_bearer(WatchSessionEventsRequest::default(), &admin.token)).await;
    let mut stream = stream.unwrap().into_inner();
    // Globex's eviction is not Acme's business; Bob's is.
    globex.log_in("owner").await;
    acme.log_in("bob").await;
    let event = tokio::time::timeout(Duration::from_secs(5), stream.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(event.kind, Kind::Replaced as i32);
    assert_eq!(event.user_id, bob.id);
    assert_eq!(event.account_id, acme.account_id);
}
