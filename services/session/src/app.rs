//! Building and running the broker: `Application::build` picks the session
//! store and the login throttle (both in Redis when configured, in-process
//! otherwise) and binds the listener; `run_until_stopped` serves until
//! shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use roster_domain::clock::{SharedClock, SystemClock};
use roster_proto::directory::v1::credential_service_client::CredentialServiceClient;
use roster_proto::session::v1::session_service_server::SessionServiceServer;
use roster_server::client::{lazy_channel, OutgoingInterceptor};
use roster_server::config::ServerLimits;
use roster_server::internal::InternalToken;
use roster_server::reflection::{reflection_v1, reflection_v1alpha};
use roster_server::stack::grpc_server;
use roster_session_core::{
    CachedSessionStore, InMemoryLoginThrottle, InMemorySessionStore, LoginThrottle, SessionStore,
};
use roster_session_redis::{RedisLoginThrottle, RedisSessionStore};
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::grpc::sessions::SessionGrpc;
use crate::service::access::AccessCache;
use crate::service::audit::{AuditTrail, AuditWriter};
use crate::service::directory::Directory;
use crate::service::sessions::{follow_feed, Broker, BrokerParts, Timeouts};
use crate::settings::SessionSettings;

/// A broker, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    local_address: SocketAddr,
    broker: Broker,
    audit_writer: AuditWriter,
    internal_token: InternalToken,
    limits: ServerLimits,
}

/// How long a stopping broker waits for the directory to take the audit
/// events still queued (R43).
const AUDIT_DRAIN_LIMIT: Duration = Duration::from_secs(5);

impl Application {
    /// Builds with the wall clock.
    pub async fn build(settings: SessionSettings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds with an injected clock (tests move time instead of sleeping).
    pub async fn build_with_clock(settings: SessionSettings, clock: SharedClock) -> anyhow::Result<Self> {
        let throttle_policy = settings.throttle.policy().context("reading the throttle settings")?;
        // The throttle counts where the sessions live, so that every replica
        // sharing a Redis sees every failure (R39).
        let (store, throttle): (Arc<dyn SessionStore>, Arc<dyn LoginThrottle>) = match &settings.redis.url {
            Some(url) if !url.trim().is_empty() => {
                tracing::info!("sessions and login failure counts in redis");
                let store =
                    RedisSessionStore::connect(url, &settings.redis.key_prefix).await.context("connecting to redis")?;
                let throttle = RedisLoginThrottle::sharing_connection_of(&store, throttle_policy);
                let store: Arc<dyn SessionStore> = match settings.validation_cache_sessions {
                    0 => Arc::new(store),
                    capacity => Arc::new(CachedSessionStore::new(Arc::new(store), capacity)),
                };
                (store, Arc::new(throttle))
            }
            _ => {
                tracing::info!("no redis configured: sessions in process memory (embedded default)");
                (Arc::new(InMemorySessionStore::default()), Arc::new(InMemoryLoginThrottle::new(throttle_policy)))
            }
        };
        let internal_token = InternalToken::resolve(settings.internal_token.clone(), &settings.data_dir)
            .context("resolving the internal credential")?;
        let directory = Directory::new(CredentialServiceClient::with_interceptor(
            lazy_channel(&settings.directory_url)?,
            OutgoingInterceptor::internal(internal_token.clone()),
        ));
        let access = AccessCache::new(Arc::new(directory.clone()), Duration::from_secs(settings.access_cache_seconds));
        // Subscribed before the first request: no change is missed.
        tokio::spawn(follow_feed(store.subscribe(), access.clone()));
        let (audit, audit_writer) = AuditTrail::start(directory.clone());
        let timeouts = Timeouts {
            idle: chrono::Duration::seconds(settings.idle_timeout_seconds as i64),
            absolute: chrono::Duration::seconds(settings.absolute_lifetime_seconds as i64),
        };
        let logins_in_flight = match settings.logins_in_flight {
            0 => 4 * std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            configured => configured,
        };
        let broker =
            Broker::new(BrokerParts { store, throttle, directory, access, audit, clock, timeouts, logins_in_flight });
        let listener = TcpListener::bind(&settings.listen_address)
            .await
            .with_context(|| format!("binding {}", settings.listen_address))?;
        let local_address = listener.local_addr()?;
        Ok(Self { listener, local_address, broker, audit_writer, internal_token, limits: settings.limits })
    }

    pub fn local_address(&self) -> SocketAddr {
        self.local_address
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests and
    /// the audit queue.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let health_task = tokio::spawn(report_health(self.broker.store().clone(), health_reporter));
        let reflection = reflection_v1()?;
        let reflection_v1alpha = reflection_v1alpha()?;
        let sessions = SessionGrpc { broker: self.broker, internal_token: self.internal_token };
        let served = grpc_server(&self.limits)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(SessionServiceServer::new(sessions))
            .serve_with_incoming_shutdown(roster_server::connection::incoming(self.listener), shutdown)
            .await;
        health_task.abort();
        // No request is left to queue an event: write the queued ones.
        self.audit_writer.finish(AUDIT_DRAIN_LIMIT).await;
        served.context("serving grpc")
    }
}

/// Reports NOT_SERVING while the session store cannot be reached.
async fn report_health(store: Arc<dyn SessionStore>, reporter: HealthReporter) {
    let service_name = <SessionServiceServer<SessionGrpc> as NamedService>::NAME;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    let mut last = None;
    loop {
        interval.tick().await;
        let status = match store.ping().await {
            Ok(()) => ServingStatus::Serving,
            Err(error) => {
                if last != Some(ServingStatus::NotServing) {
                    tracing::warn!(%error, "session store unreachable: not serving");
                }
                ServingStatus::NotServing
            }
        };
        if last == Some(status) {
            continue;
        }
        reporter.set_service_status("", status).await;
        reporter.set_service_status(service_name, status).await;
        last = Some(status);
    }
}
