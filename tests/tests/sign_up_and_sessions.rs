//! End to end, against the real binaries: sign-up (R2), login (R35), one
//! active session per credential (R36), validation (R40), logout (R38),
//! non-disclosing failures (R39) and bad input. Every scenario runs on
//! SQLite with the in-process session store, on SQLite with Redis, and on
//! PostgreSQL with Redis.

use std::collections::HashSet;

use roster_e2e::cluster::{login_request, sign_up_request, with_bearer, OPERATOR_PASSWORD};
use roster_e2e::status::{expect_error, reason, violated_fields};
use roster_e2e::{Cluster, ClusterOptions};
use roster_proto::directory::v1::{GetAccountRequest, NewOwner, UserStatus, VerifyCredentialsRequest};
use roster_proto::session::v1::{
    InvalidateAccessRequest, LogoutRequest, RevokeUserSessionsRequest, ValidateSessionRequest,
};
use tonic::metadata::MetadataValue;
use tonic::Code;

const PASSWORD: &str = "correct horse battery staple";

/// Runs each scenario once per backend combination.
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite_in_process {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(roster_e2e::ClusterOptions::sqlite_in_process()).await }) *
        }
        mod sqlite_redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(roster_e2e::ClusterOptions::sqlite_redis()).await }) *
        }
        mod postgres_redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() { super::$scenario(roster_e2e::ClusterOptions::postgres_redis()).await }) *
        }
    };
}

on_every_backend!(
    r2_sign_up_creates_the_account_and_its_active_owner,
    r36_a_second_login_replaces_the_first_session,
    r38_logout_ends_the_session,
    r39_wrong_password_unknown_login_and_unknown_account_answer_alike,
    r36_200_racing_logins_leave_exactly_one_valid_token,
    directory_calls_authenticate_through_the_broker,
    bad_input_is_invalid_argument_naming_the_field,
    a_taken_slug_is_already_exists,
    internal_rpcs_refuse_outside_callers,
    r38_revoking_a_user_ends_their_session,
    the_bootstrapped_platform_operator_can_log_in,
);

async fn r2_sign_up_creates_the_account_and_its_active_owner(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let created = cluster.sign_up("acme", "Alice", PASSWORD).await;
    let account = created.account.unwrap();
    let owner = created.owner.unwrap();
    assert_eq!(account.slug, "acme");
    assert_eq!(account.owner_user_id, owner.id, "R1: the owner is the account's owner");
    assert!(owner.is_owner);
    assert_eq!(owner.status, UserStatus::Active as i32);
    assert_eq!(owner.login_name, "Alice");

    let login = cluster.login("acme", "alice", PASSWORD).await.expect("R12: login names match case-insensitively");
    let principal = login.principal.unwrap();
    assert_eq!(principal.user_id, owner.id);
    assert_eq!(principal.account_id, account.id);
    assert_eq!(principal.account_slug, "acme");
    assert!(principal.is_owner);
    assert!(
        principal.group_names.contains(&"Administrator".to_owned()),
        "R2: the owner is in the owner group: {:?}",
        principal.group_names
    );
}

async fn r36_a_second_login_replaces_the_first_session(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await;
    let first = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    assert!(first.token.len() >= 43, "R35: at least 256 random bits");
    let mut sessions = cluster.sessions().await;
    let validated = sessions
        .validate_session(ValidateSessionRequest { token: first.token.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(validated.principal.unwrap().session_id, first.session_id);

    let second = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    assert_ne!(second.session_id, first.session_id);
    let status = expect_error(
        sessions.validate_session(ValidateSessionRequest { token: first.token.clone(), ..Default::default() }).await,
        Code::Unauthenticated,
        "SESSION_REPLACED",
    );
    assert!(status.message().contains("replaced by a newer login"), "{status:?}");
    let current = sessions
        .validate_session(ValidateSessionRequest { token: second.token, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.principal.unwrap().session_id, second.session_id);
}

async fn r38_logout_ends_the_session(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await;
    let login = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    let mut sessions = cluster.sessions().await;
    sessions.logout(LogoutRequest { token: login.token.clone() }).await.unwrap();
    expect_error(
        sessions.validate_session(ValidateSessionRequest { token: login.token.clone(), ..Default::default() }).await,
        Code::Unauthenticated,
        "SESSION_LOGGED_OUT",
    );
    sessions.logout(LogoutRequest { token: login.token }).await.expect("logging out twice is harmless");
    let again = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    sessions
        .validate_session(ValidateSessionRequest { token: again.token, ..Default::default() })
        .await
        .expect("a new login works after logout");
}

async fn r39_wrong_password_unknown_login_and_unknown_account_answer_alike(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await;
    let wrong_password = expect_error(
        cluster.login("acme", "alice", "not the password at all").await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    let unknown_login =
        expect_error(cluster.login("acme", "mallory", PASSWORD).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
    let unknown_account = expect_error(
        cluster.login("nobody-here", "alice", PASSWORD).await,
        Code::Unauthenticated,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(wrong_password.message(), unknown_login.message());
    assert_eq!(wrong_password.message(), unknown_account.message());
}

async fn r36_200_racing_logins_leave_exactly_one_valid_token(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await;
    race_logins(&cluster, 200).await;
}

/// Issue 6, scenario 7 (the benchmark repeats it 20 times at production
/// hashing cost): 1,000 racing logins of one credential, twice in a row.
/// On PostgreSQL and Redis only, the production pair, to keep the suite's
/// time sane, and with the broker's default login admission (the harness
/// raises it): the excess is refused at once as overload, as in production,
/// instead of queueing past the request timeout on a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r36_1000_racing_logins_leave_exactly_one_valid_token_each_time() {
    let default_admission = [("ROSTER_SESSION__LOGINS_IN_FLIGHT", "0")];
    let cluster = Cluster::start_with_session_env(ClusterOptions::postgres_redis(), &default_admission).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await;
    for _ in 0..2 {
        race_logins(&cluster, 1_000).await;
    }
}

/// Starts `logins` logins of acme/alice at once; checks that only overload
/// refused any, that the tokens are unique and that exactly one of them
/// validates (R36, the others answering `SESSION_REPLACED`). Returns the
/// tokens.
async fn race_logins(cluster: &Cluster, logins: usize) -> Vec<String> {
    let sessions = cluster.sessions().await;
    let logins = (0..logins).map(|_| {
        let mut client = sessions.clone();
        tokio::spawn(async move { client.login(login_request("acme", "alice", PASSWORD)).await })
    });
    let mut tokens = Vec::new();
    for login in futures::future::join_all(logins).await {
        match login.unwrap() {
            Ok(response) => tokens.push(response.into_inner().token),
            Err(status) => assert_eq!(
                status.code(),
                Code::ResourceExhausted,
                "only overload may refuse a correct login: {status:?}"
            ),
        }
    }
    // How many get through before the rest are shed depends on the
    // machine's load (issue 6's scenario 7 measures it); R36 needs one.
    assert!(!tokens.is_empty(), "a correct login gets through the race");
    assert_eq!(tokens.iter().collect::<HashSet<_>>().len(), tokens.len(), "tokens are unique");
    let mut valid = 0;
    for token in &tokens {
        let request = ValidateSessionRequest { token: token.clone(), ..Default::default() };
        match sessions.clone().validate_session(request).await {
            Ok(_) => valid += 1,
            Err(status) => assert_eq!(reason(&status), "SESSION_REPLACED", "{status:?}"),
        }
    }
    assert_eq!(valid, 1, "R36: exactly one token validates after racing logins");
    tokens
}

async fn directory_calls_authenticate_through_the_broker(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let acme = cluster.sign_up("acme", "alice", PASSWORD).await.account.unwrap();
    let globex = cluster.sign_up("globex", "gina", PASSWORD).await.account.unwrap();
    let alice = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    let mut accounts = cluster.accounts().await;

    let read = accounts
        .get_account(with_bearer(GetAccountRequest { account: "acme".into() }, &alice.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.id, acme.id);
    let by_id = accounts
        .get_account(with_bearer(GetAccountRequest { account: acme.id.clone() }, &alice.token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_id.slug, "acme");

    expect_error(
        accounts.get_account(GetAccountRequest { account: "acme".into() }).await,
        Code::Unauthenticated,
        "SESSION_REQUIRED",
    );
    expect_error(
        accounts.get_account(with_bearer(GetAccountRequest { account: globex.id.clone() }, &alice.token)).await,
        Code::PermissionDenied,
        "OTHER_ACCOUNT",
    );

    // The directory hears the broker's reason for a dead token.
    cluster.login("acme", "alice", PASSWORD).await.unwrap();
    expect_error(
        accounts.get_account(with_bearer(GetAccountRequest { account: "acme".into() }, &alice.token)).await,
        Code::Unauthenticated,
        "SESSION_REPLACED",
    );
}

async fn bad_input_is_invalid_argument_naming_the_field(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let mut accounts = cluster.accounts().await;
    let mut request = sign_up_request("Not A Slug!", "alice", PASSWORD);
    request.owner = Some(NewOwner {
        login_name: "has space".into(),
        email: "nope".into(),
        display_name: String::new(),
        password: "short".into(),
    });
    let status = accounts.create_account(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason(&status), "INVALID_FIELD");
    let fields: HashSet<String> = violated_fields(&status).into_iter().collect();
    for field in ["slug", "owner.login_name", "owner.email", "owner.display_name", "owner.password"] {
        assert!(fields.contains(field), "{field} should be named: {fields:?}");
    }
    assert!(!status.message().contains("short"), "R9: the password is never echoed");

    let mut missing_owner = sign_up_request("acme", "alice", PASSWORD);
    missing_owner.owner = None;
    let status = accounts.create_account(missing_owner).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["owner"]);

    let mut sessions = cluster.sessions().await;
    let status = sessions.login(login_request("acme", "", "")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: HashSet<String> = violated_fields(&status).into_iter().collect();
    assert_eq!(fields, HashSet::from(["login_name".to_owned(), "password".to_owned()]));
    let mut bad_address = login_request("acme", "alice", PASSWORD);
    bad_address.client_address = "not-an-ip".into();
    assert_eq!(violated_fields(&sessions.login(bad_address).await.unwrap_err()), ["client_address"]);
    let status = sessions
        .validate_session(ValidateSessionRequest { token: String::new(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["token"]);
    expect_error(
        sessions.validate_session(ValidateSessionRequest { token: "garbage".into(), ..Default::default() }).await,
        Code::Unauthenticated,
        "SESSION_UNKNOWN",
    );
}

async fn a_taken_slug_is_already_exists(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await;
    let mut accounts = cluster.accounts().await;
    expect_error(
        accounts.create_account(sign_up_request("ACME", "bob", PASSWORD)).await,
        Code::AlreadyExists,
        "ACCOUNT_SLUG_TAKEN",
    );
    // Nothing half-written: bob cannot log in anywhere.
    expect_error(cluster.login("acme", "bob", PASSWORD).await, Code::Unauthenticated, "INVALID_CREDENTIALS");
}

async fn internal_rpcs_refuse_outside_callers(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let created = cluster.sign_up("acme", "alice", PASSWORD).await;
    let request = VerifyCredentialsRequest {
        account: "acme".into(),
        login_name: "alice".into(),
        password: PASSWORD.into(),
        ..Default::default()
    };
    expect_error(
        cluster.credentials().await.verify_credentials(request.clone()).await,
        Code::PermissionDenied,
        "INTERNAL_CREDENTIAL_REQUIRED",
    );
    let mut forged = tonic::Request::new(request);
    forged.metadata_mut().insert("x-roster-internal", MetadataValue::from_static("guessed-secret"));
    expect_error(
        cluster.credentials().await.verify_credentials(forged).await,
        Code::PermissionDenied,
        "INTERNAL_CREDENTIAL_REQUIRED",
    );

    let owner = created.owner.unwrap();
    // Administrative broker RPCs take the internal credential or a session.
    let revoke =
        RevokeUserSessionsRequest { account_id: owner.account_id.clone(), user_id: owner.id, reason: "test".into() };
    expect_error(
        cluster.sessions().await.revoke_user_sessions(revoke).await,
        Code::Unauthenticated,
        "SESSION_REQUIRED",
    );
    // The access invalidation is the directory's alone.
    let invalidate = InvalidateAccessRequest { account_id: owner.account_id, user_ids: Vec::new() };
    let mut forged = tonic::Request::new(invalidate);
    forged.metadata_mut().insert("x-roster-internal", MetadataValue::from_static("guessed-secret"));
    expect_error(
        cluster.sessions().await.invalidate_access(forged).await,
        Code::PermissionDenied,
        "INTERNAL_CREDENTIAL_REQUIRED",
    );
}

async fn r38_revoking_a_user_ends_their_session(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let owner = cluster.sign_up("acme", "alice", PASSWORD).await.owner.unwrap();
    let login = cluster.login("acme", "alice", PASSWORD).await.unwrap();
    let mut request = tonic::Request::new(RevokeUserSessionsRequest {
        account_id: owner.account_id,
        user_id: owner.id,
        reason: "user_blocked".into(),
    });
    request
        .metadata_mut()
        .insert("x-roster-internal", MetadataValue::try_from(cluster.internal_token.as_str()).unwrap());
    let revoked = cluster.sessions().await.revoke_user_sessions(request).await.unwrap().into_inner();
    assert_eq!(revoked.revoked_session_ids, [login.session_id]);
    expect_error(
        cluster
            .sessions()
            .await
            .validate_session(ValidateSessionRequest { token: login.token, ..Default::default() })
            .await,
        Code::Unauthenticated,
        "SESSION_REVOKED",
    );
}

async fn the_bootstrapped_platform_operator_can_log_in(options: ClusterOptions) {
    let cluster = Cluster::start(options).await.unwrap();
    let login = cluster.login("platform", "operator", OPERATOR_PASSWORD).await.unwrap();
    let principal = login.principal.unwrap();
    assert!(principal.is_platform_operator);
    assert_eq!(principal.account_slug, "platform");
    // A tenant cannot take the platform's slug.
    let status =
        cluster.accounts().await.create_account(sign_up_request("platform", "eve", PASSWORD)).await.unwrap_err();
    assert_eq!(violated_fields(&status), ["slug"]);
}
