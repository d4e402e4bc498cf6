//! Service tests: the directory's operations on a real SQLite store, with a
//! fake session broker on a local port that records what the directory tells
//! it (access invalidations, revocations) and can be told to fail or stall.

mod access_changes;
mod access_fill;
mod credentials;
mod principal;
mod replicas;
mod session_events;

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use roster_directory_store::scratch::FreshDatabase;
use roster_directory_store::SeaDirectoryStore;
use roster_domain::access::{RoleAssignment, Scope};
use roster_domain::account::{BillingLevel, User};
use roster_domain::audit::RequestContext;
use roster_domain::caller::{AuthenticatedUser, Caller};
use roster_domain::clock::SystemClock;
use roster_domain::filters::DataFilters;
use roster_domain::groups::GroupKey;
use roster_domain::hashing_threads::HashingPriority;
use roster_domain::ids::{AccountId, GroupId, SessionId, UserId};
use roster_domain::lockout::LockoutPolicy;
use roster_domain::names::{AccountSlug, DisplayName, EmailAddress, LoginName};
use roster_domain::network::IpAllowlist;
use roster_domain::password::{Argon2Settings, HashingPool, Password, PasswordHasher};
use roster_domain::presets::Presets;
use roster_domain::repository::DirectoryRepository;
use roster_proto::session::v1 as session_proto;
use roster_proto::session::v1::session_service_server::{SessionService, SessionServiceServer};
use roster_server::client::lazy_channel;
use roster_server::internal::InternalToken;
use secrecy::SecretString;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use super::accounts::SignUp;
use super::revoker::SessionRevoker;
use super::users::CreateUser;
use super::{Directory, LoginPolicy};
use crate::settings::SignupPolicy;

/// Argon2 parameters cheap enough for tests.
pub const CHEAP_ARGON2: Argon2Settings = Argon2Settings { memory_kib: 64, iterations: 1, parallelism: 1 };
/// The internal credential the directory and the fake broker share.
const INTERNAL_TOKEN: &str = "service-test-internal-credential-0123456789";
pub const PASSWORD: &str = "correct horse battery staple";

/// What the directory told the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerCall {
    /// `InvalidateAccess`: the account, and its users (none: all of them).
    Invalidate(AccountId, Vec<UserId>),
    /// `RevokeUserSessions`: the account, the user, the reason.
    Revoke(AccountId, UserId, String),
}

/// How the fake broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerMode {
    Healthy,
    /// Every call fails with `UNAVAILABLE`.
    Failing,
    /// Every call takes ten seconds.
    Stalled,
}

#[derive(Clone)]
struct FakeBroker {
    calls: Arc<Mutex<Vec<BrokerCall>>>,
    mode: Arc<Mutex<BrokerMode>>,
}

impl FakeBroker {
    /// Refuses calls without the internal credential; fails or stalls as
    /// told.
    async fn admit<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let presented = request.metadata().get("x-roster-internal").and_then(|value| value.to_str().ok());
        if presented != Some(INTERNAL_TOKEN) {
            return Err(Status::permission_denied("internal credential required"));
        }
        let mode = *self.mode.lock().unwrap();
        match mode {
            BrokerMode::Healthy => Ok(()),
            BrokerMode::Failing => Err(Status::unavailable("broker down for the test")),
            BrokerMode::Stalled => {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(())
            }
        }
    }

    fn record(&self, call: BrokerCall) {
        self.calls.lock().unwrap().push(call);
    }
}

fn parse_ids<T>(texts: &[String], parse: fn(&str, &str) -> Result<T, roster_domain::FieldViolation>) -> Vec<T> {
    texts.iter().map(|text| parse("id", text).expect("the directory sends ids")).collect()
}

type EventStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<session_proto::SessionEvent, Status>> + Send>>;

#[tonic::async_trait]
impl SessionService for FakeBroker {
    async fn login(
        &self,
        _: Request<session_proto::LoginRequest>,
    ) -> Result<Response<session_proto::LoginResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn validate_session(
        &self,
        _: Request<session_proto::ValidateSessionRequest>,
    ) -> Result<Response<session_proto::ValidateSessionResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn logout(
        &self,
        _: Request<session_proto::LogoutRequest>,
    ) -> Result<Response<session_proto::LogoutResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn revoke_user_sessions(
        &self,
        request: Request<session_proto::RevokeUserSessionsRequest>,
    ) -> Result<Response<session_proto::RevokeUserSessionsResponse>, Status> {
        self.admit(&request).await?;
        let message = request.into_inner();
        let account_id = parse_ids(&[message.account_id], AccountId::parse)[0];
        let user_id = parse_ids(&[message.user_id], UserId::parse)[0];
        self.record(BrokerCall::Revoke(account_id, user_id, message.reason));
        Ok(Response::new(session_proto::RevokeUserSessionsResponse::default()))
    }

    async fn revoke_session(
        &self,
        _: Request<session_proto::RevokeSessionRequest>,
    ) -> Result<Response<session_proto::RevokeSessionResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn list_sessions(
        &self,
        _: Request<session_proto::ListSessionsRequest>,
    ) -> Result<Response<session_proto::ListSessionsResponse>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    type WatchSessionEventsStream = EventStream;

    async fn watch_session_events(
        &self,
        _: Request<session_proto::WatchSessionEventsRequest>,
    ) -> Result<Response<Self::WatchSessionEventsStream>, Status> {
        Err(Status::unimplemented("not in the fake"))
    }

    async fn invalidate_access(
        &self,
        request: Request<session_proto::InvalidateAccessRequest>,
    ) -> Result<Response<session_proto::InvalidateAccessResponse>, Status> {
        self.admit(&request).await?;
        let message = request.into_inner();
        let account_id = parse_ids(&[message.account_id], AccountId::parse)[0];
        self.record(BrokerCall::Invalidate(account_id, parse_ids(&message.user_ids, UserId::parse)));
        Ok(Response::new(session_proto::InvalidateAccessResponse::default()))
    }
}

/// A directory on a fresh SQLite file, and the fake broker it talks to.
pub struct Harness {
    pub directory: Directory,
    broker: FakeBroker,
    _data: tempfile::TempDir,
    _postgres: Option<FreshDatabase>,
}

/// A signed-up account and its owner, as a caller.
pub struct Tenant {
    pub account_id: AccountId,
    pub owner: User,
    pub caller: Caller,
}

impl Harness {
    /// Hashing with [`CHEAP_ARGON2`].
    pub async fn start() -> Self {
        Self::with_argon2(CHEAP_ARGON2).await
    }

    pub async fn with_argon2(argon2: Argon2Settings) -> Self {
        let data = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}/directory.db?mode=rwc", data.path().display());
        Self::on_store(&url, argon2, data).await
    }

    /// A directory on a fresh PostgreSQL database of its own
    /// (`ROSTER_TEST_POSTGRES_URL`), dropped with the harness, and its URL
    /// for replicas ([`Self::replica_on`]).
    pub async fn on_postgres() -> (Self, String) {
        let admin = std::env::var("ROSTER_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let database = FreshDatabase::create(&admin).await.expect("a fresh database");
        let url = database.url.clone();
        let mut harness = Self::on_store(&url, CHEAP_ARGON2, tempfile::tempdir().expect("a temporary directory")).await;
        harness._postgres = Some(database);
        (harness, url)
    }

    async fn on_store(url: &str, argon2: Argon2Settings, data: tempfile::TempDir) -> Self {
        let store = SeaDirectoryStore::connect(url).await.expect("a fresh store");
        let broker = FakeBroker { calls: Arc::default(), mode: Arc::new(Mutex::new(BrokerMode::Healthy)) };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
        let address = listener.local_addr().expect("its address");
        let server = tonic::transport::Server::builder()
            .add_service(SessionServiceServer::new(broker.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener));
        tokio::spawn(server);
        let channel = lazy_channel(&format!("http://{address}")).expect("a channel to the fake broker");
        let token = InternalToken::from_configured(SecretString::from(INTERNAL_TOKEN)).expect("a valid credential");
        let hashing =
            HashingPool::new(PasswordHasher::new(argon2).expect("argon2 parameters"), 2, 8, HashingPriority::Normal)
                .expect("hashing threads");
        let repository: Arc<dyn DirectoryRepository> = Arc::new(store);
        let login = LoginPolicy { clock: Arc::new(SystemClock), lockout: LockoutPolicy::default() };
        let directory = Directory::new(
            repository,
            hashing,
            Presets::builtin(),
            SignupPolicy::Open,
            SessionRevoker::new(channel, token),
            login,
        );
        Self { directory, broker, _data: data, _postgres: None }
    }

    /// A second directory replica over the same database: everything
    /// shared but the access cache, as in another process.
    pub fn replica(&self) -> Directory {
        Directory { access: super::access_cache::AccessCache::default(), ..self.directory.clone() }
    }

    /// A replica in another process, as far as the database can tell: a
    /// store of its own on `url` (its own pool and, on PostgreSQL, its own
    /// listener) and its own access cache.
    pub async fn replica_on(&self, url: &str) -> Directory {
        let store = SeaDirectoryStore::connect(url).await.expect("a second store");
        let repository: Arc<dyn DirectoryRepository> = Arc::new(store);
        let access = super::access_cache::AccessCache::new(repository.access_freshness());
        Directory { repository, access, ..self.directory.clone() }
    }

    /// What the directory told the broker since the last look.
    pub fn broker_calls(&self) -> Vec<BrokerCall> {
        std::mem::take(&mut *self.broker.calls.lock().unwrap())
    }

    pub fn set_broker(&self, mode: BrokerMode) {
        *self.broker.mode.lock().unwrap() = mode;
    }

    /// Signs `slug` up; the owner logs in as `owner-<slug>`.
    pub async fn sign_up(&self, slug: &str) -> Tenant {
        let login = format!("owner-{slug}");
        let sign_up = SignUp {
            slug: AccountSlug::parse("slug", slug).unwrap(),
            display_name: display_name(&format!("{slug} ltd")),
            billing_level: BillingLevel::Account,
            owner_login_name: LoginName::parse("login_name", &login).unwrap(),
            owner_email: EmailAddress::parse("email", &format!("{login}@example.com")).unwrap(),
            owner_display_name: display_name("Owner Person"),
            owner_password: Password::parse_new("password", PASSWORD).unwrap(),
        };
        let (account, owner) =
            self.directory.create_account(&Caller::Anonymous, context(), sign_up).await.expect("signing up");
        let caller = caller_of(&owner);
        self.broker_calls();
        Tenant { account_id: account.id, owner, caller }
    }

    /// Creates `login` (password [`PASSWORD`], allowed from anywhere) with
    /// `assignments` and `filters`, as the owner.
    pub async fn create_user(
        &self,
        tenant: &Tenant,
        login: &str,
        assignments: BTreeSet<RoleAssignment>,
        filters: DataFilters,
    ) -> UserId {
        let request = CreateUser {
            login_name: LoginName::parse("login_name", login).unwrap(),
            email: EmailAddress::parse("email", &format!("{login}@example.com")).unwrap(),
            display_name: display_name(&format!("User {login}")),
            password: Some(Password::parse_new("password", PASSWORD).unwrap()),
            ip_allowlist: IpAllowlist::Anywhere,
            data_filters: filters,
            assignments,
            overrides: BTreeSet::new(),
        };
        let created = self.directory.create_user(&tenant.caller, context(), tenant.account_id, request).await;
        created.unwrap_or_else(|error| panic!("creating {login}: {error}")).profile.user.id
    }

    /// Logs `login` in with [`PASSWORD`], which activates an invited user
    /// (R17); panics if the login is refused.
    pub async fn log_in(&self, tenant: &Tenant, login: &str) {
        let check = crate::service::credentials::LoginCheck {
            account: roster_domain::names::AccountKey::Id(tenant.account_id),
            login_name: LoginName::parse("login_name", login).unwrap(),
            password: Password::for_verification(PASSWORD),
            client_address: None,
        };
        let verified = self.directory.verify_credentials(context(), check).await;
        verified.unwrap_or_else(|error| panic!("{login} logs in: {error}"));
    }

    /// A seeded group by name.
    pub async fn group(&self, tenant: &Tenant, name: &str) -> GroupId {
        let key = GroupKey::Name(display_name(name));
        self.directory.repository.find_group(tenant.account_id, &key).await.unwrap().expect("a seeded group").id
    }
}

/// The caller a full session of `user` would be.
pub fn caller_of(user: &User) -> Caller {
    Caller::User(AuthenticatedUser {
        user_id: user.id,
        account_id: user.account_id,
        session_id: SessionId::generate(),
        login_name: user.login_name.display().to_owned(),
        display_name: user.display_name.as_str().to_owned(),
        is_platform_operator: false,
        restricted_to_password_change: false,
    })
}

pub fn context() -> RequestContext {
    RequestContext {
        client_address: Some("192.0.2.44".to_owned()),
        user_agent: Some("service-test/1".to_owned()),
        trace_id: Some("0af7651916cd43dd8448eb211c80319c".to_owned()),
        ..RequestContext::default()
    }
}

pub fn display_name(text: &str) -> DisplayName {
    DisplayName::parse("name", text).unwrap()
}

pub fn account_wide(group_id: GroupId) -> RoleAssignment {
    RoleAssignment { group_id, scope: Scope::Account }
}

pub fn in_store(group_id: GroupId, store_id: roster_domain::ids::StoreId) -> RoleAssignment {
    RoleAssignment { group_id, scope: Scope::Store(store_id) }
}

/// `{name: values}` as data filters.
pub fn filters(name: &str, values: &[&str]) -> DataFilters {
    let map = [(name.to_owned(), values.iter().map(|value| (*value).to_owned()).collect())].into();
    DataFilters::parse("data_filters", &map).unwrap()
}
