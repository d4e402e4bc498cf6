//! Building and running the directory: `Application::build` binds the
//! listener (port 0 in tests) and wires everything; `run_until_stopped`
//! serves until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use roster_directory_store::SeaDirectoryStore;
use roster_domain::account::NewOwner;
use roster_domain::clock::{SharedClock, SystemClock};
use roster_domain::names::{DisplayName, EmailAddress, LoginName};
use roster_domain::password::{HashingPool, Password, PasswordHasher};
use roster_domain::presets::Presets;
use roster_domain::repository::DirectoryRepository;
use roster_proto::directory::v1::account_service_server::AccountServiceServer;
use roster_proto::directory::v1::audit_service_server::AuditServiceServer;
use roster_proto::directory::v1::authorization_service_server::AuthorizationServiceServer;
use roster_proto::directory::v1::credential_service_server::CredentialServiceServer;
use roster_proto::directory::v1::group_service_server::GroupServiceServer;
use roster_proto::directory::v1::invitation_service_server::InvitationServiceServer;
use roster_proto::directory::v1::password_service_server::PasswordServiceServer;
use roster_proto::directory::v1::permission_service_server::PermissionServiceServer;
use roster_proto::directory::v1::role_service_server::RoleServiceServer;
use roster_proto::directory::v1::store_service_server::StoreServiceServer;
use roster_proto::directory::v1::user_service_server::UserServiceServer;
use roster_server::client::lazy_channel;
use roster_server::config::ServerLimits;
use roster_server::internal::InternalToken;
use roster_server::reflection::{reflection_v1, reflection_v1alpha};
use roster_server::stack::grpc_server;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::auth::Authenticator;
use crate::grpc::accounts::AccountGrpc;
use crate::grpc::audit::AuditGrpc;
use crate::grpc::authorization::AuthorizationGrpc;
use crate::grpc::credentials::CredentialGrpc;
use crate::grpc::groups::GroupGrpc;
use crate::grpc::invitations::InvitationGrpc;
use crate::grpc::passwords::PasswordGrpc;
use crate::grpc::permissions::PermissionGrpc;
use crate::grpc::stores::StoreGrpc;
use crate::grpc::users::{RoleGrpc, UserGrpc};
use crate::mail::MailWorker;
use crate::service::revoker::SessionRevoker;
use crate::service::{Directory, Lifecycle, LoginPolicy};
use crate::settings::DirectorySettings;

/// The names under which health is reported, besides the overall `""`.
const SERVICE_NAMES: &[&str] = &[
    <AccountServiceServer<AccountGrpc> as NamedService>::NAME,
    <CredentialServiceServer<CredentialGrpc> as NamedService>::NAME,
    <UserServiceServer<UserGrpc> as NamedService>::NAME,
    <RoleServiceServer<RoleGrpc> as NamedService>::NAME,
    <GroupServiceServer<GroupGrpc> as NamedService>::NAME,
    <StoreServiceServer<StoreGrpc> as NamedService>::NAME,
    <PermissionServiceServer<PermissionGrpc> as NamedService>::NAME,
    <AuthorizationServiceServer<AuthorizationGrpc> as NamedService>::NAME,
    <AuditServiceServer<AuditGrpc> as NamedService>::NAME,
    <InvitationServiceServer<InvitationGrpc> as NamedService>::NAME,
    <PasswordServiceServer<PasswordGrpc> as NamedService>::NAME,
];

/// A directory, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    local_address: SocketAddr,
    directory: Directory,
    authenticator: Authenticator,
    repository: Arc<dyn DirectoryRepository>,
    limits: ServerLimits,
    mail_worker: MailWorker,
}

impl Application {
    /// Connects the database (running migrations), bootstraps the platform
    /// operator on first start, and binds the listener; time is the wall
    /// clock's.
    pub async fn build(settings: DirectorySettings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with an injected clock for the login rules
    /// (tests move time instead of sleeping through a 30-minute lockout).
    pub async fn build_with_clock(settings: DirectorySettings, clock: SharedClock) -> anyhow::Result<Self> {
        let presets = match &settings.presets_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading presets file {}", path.display()))?;
                Presets::parse(&text)?
            }
            None => Presets::builtin(),
        };
        let store = SeaDirectoryStore::connect(&settings.database_url())
            .await
            .context("opening the database")?
            // One "now" for the whole directory: audit times and last-login
            // times agree with the login rules.
            .with_clock(clock.clone());
        let repository: Arc<dyn DirectoryRepository> = Arc::new(store);
        let hasher = PasswordHasher::new(settings.argon2)?;
        let workers = match settings.hashing_workers {
            0 => std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            configured => configured,
        };
        let queue = match settings.hashing_queue {
            0 => workers * 4,
            configured => configured,
        };
        let hashing = HashingPool::new(hasher, workers, queue, settings.hashing_priority())
            .context("starting the password hashing threads")?;
        let internal_token = InternalToken::resolve(settings.internal_token.clone(), &settings.data_dir)
            .context("resolving the internal credential")?;
        let broker_channel = lazy_channel(&settings.broker_url)?;
        let authenticator = Authenticator::new(broker_channel.clone(), internal_token.clone());
        let revoker = SessionRevoker::new(broker_channel, internal_token);
        let mail_worker = MailWorker::new(repository.clone(), clock.clone(), &settings.mail, &settings.data_dir)?;
        let login = LoginPolicy { clock, lockout: settings.lockout.policy() };
        let lifecycle = Lifecycle {
            // Only real delivery: without SMTP every login would leave a file.
            notify_session_replaced: settings.mail.smtp_url.is_some() && settings.mail.notify_session_replaced,
            ..Lifecycle::from_settings(&settings.invitations, &settings.passwords, settings.mail.link_base_url.clone())
        };
        let directory = Directory::new(repository.clone(), hashing, presets, settings.signup, revoker, login)
            .with_lifecycle(lifecycle);
        bootstrap_platform_operator(&directory, &settings).await?;
        let listener = TcpListener::bind(&settings.listen_address)
            .await
            .with_context(|| format!("binding {}", settings.listen_address))?;
        let local_address = listener.local_addr()?;
        Ok(Self { listener, local_address, directory, authenticator, repository, limits: settings.limits, mail_worker })
    }

    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let health_task = tokio::spawn(report_health(self.repository.clone(), health_reporter));
        let mail_task = tokio::spawn(self.mail_worker.run());
        let reflection = reflection_v1()?;
        let reflection_v1alpha = reflection_v1alpha()?;
        let accounts = AccountGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let credentials =
            CredentialGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let users = UserGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let roles = RoleGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let groups = GroupGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let stores = StoreGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let permissions =
            PermissionGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let authorization =
            AuthorizationGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let audit = AuditGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let invitations =
            InvitationGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let passwords = PasswordGrpc { directory: self.directory.clone(), authenticator: self.authenticator.clone() };
        let served = grpc_server(&self.limits)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(AccountServiceServer::new(accounts))
            .add_service(CredentialServiceServer::new(credentials))
            .add_service(UserServiceServer::new(users))
            .add_service(RoleServiceServer::new(roles))
            .add_service(GroupServiceServer::new(groups))
            .add_service(StoreServiceServer::new(stores))
            .add_service(PermissionServiceServer::new(permissions))
            .add_service(AuthorizationServiceServer::new(authorization))
            .add_service(AuditServiceServer::new(audit))
            .add_service(InvitationServiceServer::new(invitations))
            .add_service(PasswordServiceServer::new(passwords))
            .serve_with_incoming_shutdown(roster_server::connection::incoming(self.listener), shutdown)
            .await;
        health_task.abort();
        mail_task.abort();
        served.context("serving grpc")
    }
}

/// Creates the platform account and its operator on first start. A
/// generated password is printed to standard output once, never logged.
async fn bootstrap_platform_operator(directory: &Directory, settings: &DirectorySettings) -> anyhow::Result<()> {
    let bootstrap = &settings.bootstrap;
    let (password, generated) = match &bootstrap.operator_password {
        Some(secret) => (Password::parse_new("bootstrap.operator_password", secret.expose_secret())?, false),
        None => (Password::generate_temporary(), true),
    };
    let operator = NewOwner {
        login_name: LoginName::parse("bootstrap.operator_login", &bootstrap.operator_login)?,
        email: EmailAddress::parse("bootstrap.operator_email", &bootstrap.operator_email)?,
        display_name: DisplayName::parse("bootstrap.operator_login", "Platform operator")?,
        password_hash: directory.hashing.hash(password.clone()).await?,
    };
    let created = directory.repository.bootstrap_platform(operator, &directory.presets).await?;
    if created {
        tracing::info!(login = %bootstrap.operator_login, "platform operator created");
        if generated {
            println!(
                "\n  Roster platform operator created. Shown once, never again:\n    account:  platform\n    login:    {}\n    password: {}\n",
                bootstrap.operator_login,
                password.expose()
            );
        }
    }
    Ok(())
}

/// Reports NOT_SERVING while the database cannot be reached.
async fn report_health(repository: Arc<dyn DirectoryRepository>, reporter: HealthReporter) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    let mut last = None;
    loop {
        interval.tick().await;
        let status = match repository.ping().await {
            Ok(()) => ServingStatus::Serving,
            Err(error) => {
                if last != Some(ServingStatus::NotServing) {
                    tracing::warn!(%error, "database unreachable: not serving");
                }
                ServingStatus::NotServing
            }
        };
        if last == Some(status) {
            continue;
        }
        reporter.set_service_status("", status).await;
        for name in SERVICE_NAMES {
            reporter.set_service_status(*name, status).await;
        }
        last = Some(status);
    }
}
