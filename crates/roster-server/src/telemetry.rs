//! Tracing set-up: log lines always, OpenTelemetry export over OTLP only
//! when an endpoint is configured. W3C trace context is the propagator.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::TelemetrySettings;

/// Flushes exported spans when dropped.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(error) = provider.shutdown() {
                eprintln!("telemetry shutdown failed: {error}");
            }
        }
    }
}

/// Installs the global subscriber and propagator. Call once, from `main`.
pub fn init_telemetry(service_name: &'static str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&settings.log_filter))?;
    let filter = secret_safe(filter);
    let log_layer = match settings.log_format.as_str() {
        "json" => tracing_subscriber::fmt::layer().json().boxed(),
        _ => tracing_subscriber::fmt::layer().boxed(),
    };
    let provider = match &settings.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint).build()?;
            let resource = Resource::builder().with_service_name(service_name).build();
            Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
        }
        None => None,
    };
    let otel_layer =
        provider.as_ref().map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name)));
    tracing_subscriber::registry().with(filter).with(log_layer).with(otel_layer).try_init()?;
    Ok(TelemetryGuard { provider })
}

/// Libraries whose most verbose instrumentation carries what Roster never
/// writes down: SeaORM's TRACE spans hold every statement's bound values
/// (password hashes among them), and the HTTP/2 stack's TRACE events can
/// show header frames (bearer tokens). They are capped at INFO whatever
/// `RUST_LOG` or the configured filter ask for.
pub const SECRET_BEARING_TARGETS: [&str; 7] =
    ["sea_orm", "sea_orm_migration", "sqlx", "h2", "hyper", "hyper_util", "tonic"];

/// `filter`, with [`SECRET_BEARING_TARGETS`] capped at INFO.
pub fn secret_safe(filter: EnvFilter) -> EnvFilter {
    SECRET_BEARING_TARGETS.iter().fold(filter, |filter, target| {
        filter.add_directive(format!("{target}=info").parse().expect("a target name and a level form a directive"))
    })
}

/// For tests: W3C propagation without installing a subscriber, so trace ids
/// flow even when nothing is exported.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}
