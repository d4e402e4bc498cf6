//! The tower stack both services serve behind, built in one function.

use std::time::Duration;

use tonic::transport::Server;
use tower::layer::util::{Identity, Stack};
use tower_http::classify::{GrpcErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::ServerLimits;

/// Builds the span of one RPC, continuing the caller's trace when the
/// request carries W3C `traceparent` metadata.
fn rpc_span(request: &http::Request<tonic::body::Body>) -> Span {
    let path = request.uri().path();
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "rpc",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(request.headers()))
    });
    // An invalid parent just starts a new trace.
    let _ = span.set_parent(parent);
    span
}

/// The span layer's type, spelled once.
pub type RpcTraceLayer = TraceLayer<
    SharedClassifier<GrpcErrorsAsFailures>,
    fn(&http::Request<tonic::body::Body>) -> Span,
    (),
    (),
    (),
    (),
    (),
>;

/// A gRPC server with Roster's protective stack. Outermost first:
pub fn grpc_server(limits: &ServerLimits) -> Server<Stack<RpcTraceLayer, Identity>> {
    let trace_layer: RpcTraceLayer = TraceLayer::new_for_grpc()
        .make_span_with(rpc_span as fn(&http::Request<tonic::body::Body>) -> Span)
        .on_request(())
        .on_response(())
        .on_body_chunk(())
        .on_eos(())
        .on_failure(());
    Server::builder()
        // Bounds each handler, so a stuck dependency cannot hold a connection forever.
        .timeout(Duration::from_millis(limits.request_timeout_ms))
        // Bounds the work one connection may have in flight (a gateway multiplexes many).
        .concurrency_limit_per_connection(limits.max_in_flight_per_connection)
        // Past the bound, refuse at once with RESOURCE_EXHAUSTED instead of queueing without limit.
        .load_shed(true)
        // Keeps idle connections from gateways alive and detects dead peers.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        // Innermost: one span per RPC, parented on the caller's trace context.
        .layer(trace_layer)
}
