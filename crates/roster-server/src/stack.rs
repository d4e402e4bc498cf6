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

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tonic::metadata::MetadataMap;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::rpc_span;
    use crate::metadata::{current_trace_id, inject_trace_context};

    #[test]
    fn a_trace_continues_from_an_outgoing_call_into_the_next_services_rpc_span() {
        crate::telemetry::install_propagator();
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let caller_span = tracing::info_span!("broker.login");
            let _caller = caller_span.enter();
            let caller_trace = current_trace_id().expect("the caller's span is traced");

            let mut metadata = MetadataMap::new();
            inject_trace_context(&mut metadata);
            let traceparent =
                metadata.get("traceparent").expect("traceparent is injected").to_str().unwrap().to_owned();
            assert!(traceparent.contains(&caller_trace), "{traceparent} carries trace {caller_trace}");

            let request = http::Request::builder()
                .uri("/roster.directory.v1.CredentialService/VerifyCredentials")
                .header("traceparent", &traceparent)
                .body(tonic::body::Body::empty())
                .unwrap();
            let server_span = rpc_span(&request);
            let _server = server_span.enter();
            assert_eq!(
                current_trace_id().as_deref(),
                Some(caller_trace.as_str()),
                "the rpc span joins the caller's trace"
            );
        });
    }

    #[test]
    fn a_request_without_trace_context_starts_a_new_trace() {
        crate::telemetry::install_propagator();
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let request = http::Request::builder()
                .uri("/roster.session.v1.SessionService/Login")
                .body(tonic::body::Body::empty())
                .unwrap();
            let server_span = rpc_span(&request);
            let _server = server_span.enter();
            assert!(current_trace_id().is_some(), "a fresh trace is started");
        });
    }
}
