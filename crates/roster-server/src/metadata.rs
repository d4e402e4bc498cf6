//! Reading and writing request metadata: bearer tokens, W3C trace context,
//! and the request facts the audit log records.

use opentelemetry::propagation::{Extractor, Injector};
use roster_domain::audit::RequestContext;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The token of an `authorization: Bearer <token>` header, if any.
pub fn bearer_token(metadata: &MetadataMap) -> Option<&str> {
    let value = metadata.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return None;
    }
    Some(token.trim())
}

/// Writes trace context into outgoing gRPC metadata.
pub struct MetadataInjector<'a>(pub &'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value.as_str()))
        {
            self.0.insert(key, value);
        }
    }
}

/// Reads trace context from incoming gRPC metadata.
pub struct MetadataExtractor<'a>(pub &'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|key| match key {
                tonic::metadata::KeyRef::Ascii(key) => Some(key.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// Injects the current span's trace context into outgoing metadata, so the
/// trace follows the call into the other service.
pub fn inject_trace_context(metadata: &mut MetadataMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(metadata));
    });
}

/// The current trace id, when the request is being traced.
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

/// Metadata key a gateway uses to pass on the end user's user agent.
pub const FORWARDED_USER_AGENT_KEY: &str = "x-roster-user-agent";

/// The request facts for the audit log: client address (the peer), user
/// agent (a forwarded one first), trace id. The actor is filled in once the
/// caller is known.
pub fn request_context<T>(request: &tonic::Request<T>) -> RequestContext {
    let metadata = request.metadata();
    let user_agent = metadata
        .get(FORWARDED_USER_AGENT_KEY)
        .or_else(|| metadata.get("user-agent"))
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(512).collect());
    RequestContext {
        actor_id: None,
        actor_name: None,
        client_address: request.remote_addr().map(|address| address.ip().to_string()),
        user_agent,
        trace_id: current_trace_id(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut metadata = MetadataMap::new();
        assert_eq!(bearer_token(&metadata), None);
        metadata.insert("authorization", MetadataValue::from_static("bearer abc.def"));
        assert_eq!(bearer_token(&metadata), Some("abc.def"));
        metadata.insert("authorization", MetadataValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&metadata), None);
        metadata.insert("authorization", MetadataValue::from_static("Bearer "));
        assert_eq!(bearer_token(&metadata), None);
    }
}
