//! R9, R35: a capture of every span (name and every field, as the
//! OpenTelemetry layer would export them) and every log event, at TRACE
//! level, from both services running in this process, during sign-up,
//! login, validation with a permission check, a directory call with the
//! bearer token, a wrong password, logout and a session listing, contains
//! neither a password nor a token (nor a password hash).
//!
//! The capture runs under the filter the services install, opened up to
//! TRACE for everything Roster's own filter lets through
//! (`roster_server::telemetry::secret_safe`): the most an operator can
//! ask for with `RUST_LOG`.
//!
//! One test in its own binary: it installs the process-wide subscriber.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use roster_e2e::cluster::{login_request, with_bearer};
use roster_e2e::in_process::{InProcessCluster, InProcessOptions};
use roster_proto::directory::v1::account_service_client::AccountServiceClient;
use roster_proto::directory::v1::GetAccountRequest;
use roster_proto::session::v1::{ListSessionsRequest, LogoutRequest, ValidateSessionRequest};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const PASSWORD: &str = "Tr0ub4dor&3-never-to-be-seen";
const WRONG_PASSWORD: &str = "Wr0ng-but-also-secret-9c1f";

/// Writes every span and event, with all their fields, into one text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<String>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attributes: &Attributes<'_>, _id: &Id, _context: Context<'_, S>) {
        let mut text = self.0.lock().unwrap();
        let _ = write!(text, "\nspan {}", attributes.metadata().name());
        attributes.record(&mut Fields(&mut text));
    }

    fn on_record(&self, _id: &Id, values: &Record<'_>, _context: Context<'_, S>) {
        let mut text = self.0.lock().unwrap();
        text.push_str("\nrecord");
        values.record(&mut Fields(&mut text));
    }

    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let mut text = self.0.lock().unwrap();
        let _ = write!(text, "\nevent {}", event.metadata().target());
        event.record(&mut Fields(&mut text));
    }
}

async fn exercise(options: InProcessOptions) -> Vec<String> {
    let cluster = InProcessCluster::start(options).await.unwrap();
    cluster.sign_up("acme", "alice", PASSWORD).await.unwrap();
    let mut sessions = cluster.sessions().await;
    let first = sessions.login(login_request("acme", "alice", PASSWORD)).await.unwrap().into_inner();
    let second = sessions.login(login_request("acme", "alice", PASSWORD)).await.unwrap().into_inner();
    let check = ValidateSessionRequest {
        token: second.token.clone(),
        permission: "users.view".to_owned(),
        store_id: String::new(),
    };
    sessions.validate_session(check).await.unwrap();
    let _ =
        sessions.validate_session(ValidateSessionRequest { token: first.token.clone(), ..Default::default() }).await;
    let mut accounts = AccountServiceClient::new(roster_e2e::Cluster::channel(&cluster.directory_url).await);
    let account = accounts
        .get_account(with_bearer(GetAccountRequest { account: "acme".to_owned() }, &second.token))
        .await
        .unwrap()
        .into_inner();
    let listing = ListSessionsRequest { account_id: account.id, ..Default::default() };
    sessions.list_sessions(with_bearer(listing, &second.token)).await.unwrap();
    assert!(sessions.login(login_request("acme", "alice", WRONG_PASSWORD)).await.is_err());
    sessions.logout(LogoutRequest { token: second.token.clone() }).await.unwrap();
    vec![first.token, second.token]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_or_hash_appears_in_any_span_or_log_event() {
    let capture = Capture::default();
    let most_verbose = roster_server::telemetry::secret_safe(tracing_subscriber::EnvFilter::new("trace"));
    let subscriber = tracing_subscriber::registry().with(capture.clone().with_filter(most_verbose));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut tokens = exercise(InProcessOptions::default()).await;
    let redis = InProcessOptions { redis_url: Some(roster_e2e::test_redis_url()), ..InProcessOptions::default() };
    tokens.extend(exercise(redis).await);

    let captured = capture.0.lock().unwrap().clone();
    // The capture did see the work: the RPC spans and their fields.
    for expected in ["SessionService/Login", "SessionService/ValidateSession", "AccountService/GetAccount"] {
        assert!(captured.contains(expected), "the capture holds the {expected} span");
    }
    for secret in [PASSWORD, WRONG_PASSWORD] {
        assert!(!captured.contains(secret), "a password appears in the spans or logs");
    }
    for token in &tokens {
        let (_, random_part) = token.split_once('.').expect("a token has two parts");
        assert!(!captured.contains(random_part), "a token appears in the spans or logs");
    }
    let hash_at = captured.find("$argon2");
    assert!(
        hash_at.is_none(),
        "a password hash appears in the spans or logs: {}",
        hash_at.map(|at| &captured[captured[..at].rfind('\n').unwrap_or(0)..at]).unwrap_or_default()
    );
}
