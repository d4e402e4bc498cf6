//! Calls from one Roster service to the other: lazy channels that reconnect
//! by themselves, with trace context and (optionally) the internal
//! credential on every request.

use std::time::Duration;

use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::internal::InternalToken;
use crate::metadata::inject_trace_context;

/// Adds W3C trace context, and the internal credential when it has one.
#[derive(Debug, Clone)]
pub struct OutgoingInterceptor {
    internal_token: Option<InternalToken>,
}

impl OutgoingInterceptor {
    /// For calls that act as the service itself (internal RPCs).
    pub fn internal(token: InternalToken) -> Self {
        Self { internal_token: Some(token) }
    }

    /// For calls on behalf of an outside caller (no internal credential).
    pub fn plain() -> Self {
        Self { internal_token: None }
    }
}

impl Interceptor for OutgoingInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        inject_trace_context(request.metadata_mut());
        if let Some(token) = &self.internal_token {
            token.attach_to(request.metadata_mut());
        }
        Ok(request)
    }
}

/// A channel to `url` that connects on first use and reconnects after
/// failures; calls fail with `UNAVAILABLE` while the peer is down.
pub fn lazy_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}
