//! OpenTelemetry traces (`telemetry: otlp:`): one trace per event, so an
//! operator can follow a webhook from the request that brought it to every
//! delivery attempt, including retries hours later, after a restart, and
//! manual replays.
//!
//! The request gets a server span (continuing an incoming `traceparent`),
//! with children for the signature check, the decision and the actions.
//! Each job stores the request span's `traceparent` with its record
//! (`JobRecord::trace`), and each attempt starts a client span as its child
//! and sends that span's `traceparent` upstream.
//!
//! The tracer is process-wide and set once at start ([`install`]), like the
//! metrics recorder: `telemetry:` is a restart-only key. Without it every
//! entry point here is one atomic load and returns `None`-like values:
//! nothing is built, the hot path pays nothing else. Spans are made through
//! the OpenTelemetry API directly rather than `tracing-opentelemetry`:
//! the parent of an attempt span is a string read from the store, not the
//! span the code happens to be in, and log lines stay independent of
//! whether traces are exported.

mod context;
mod export;
mod settings;

use std::future::Future;
use std::sync::{Arc, OnceLock};

use http::{HeaderMap, Method, StatusCode};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span};

pub(crate) use context::TRACEPARENT;
pub use export::ExportSetupError;
pub use settings::{Protocol, TraceSettings};

/// The installed exporter; unset without `telemetry:`.
struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

tokio::task_local! {
    /// The request span of the request the current task serves: the
    /// parent of its steps and of the jobs it queues.
    static REQUEST: Context;
}

/// Starts exporting per `settings` (None: nothing is traced). Once per
/// process: later calls keep the first exporter. Must run inside the tokio
/// runtime.
pub fn install(settings: Option<&TraceSettings>) -> Result<(), ExportSetupError> {
    let Some(settings) = settings else { return Ok(()) };
    if TRACING.get().is_some() {
        return Ok(());
    }
    let provider = export::provider(settings)?;
    let tracer = provider.tracer("hookroute");
    if TRACING.set(Tracing { provider, tracer }).is_ok() {
        tracing::info!(endpoint = %crate::redact::display(&settings.endpoint), "exporting traces over OTLP");
    }
    Ok(())
}

/// Exports every finished span now (at shutdown, so the last attempts are
/// not lost with the process). Blocks a blocking-pool thread, not the
/// runtime.
pub async fn flush() {
    if let Some(tracing) = TRACING.get() {
        let provider = tracing.provider.clone();
        let flushed = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!("cannot export the last spans: {e}");
        }
    }
}

fn tracer() -> Option<&'static SdkTracer> {
    TRACING.get().map(|t| &t.tracer)
}

/// The span of one request (its context and method); inert without
/// `telemetry:`.
pub(crate) struct RequestTrace(Option<(Context, Method)>);

impl RequestTrace {
    /// Starts the request's span, continuing the sender's `traceparent`.
    pub(crate) fn begin(method: &Method, path: &str, headers: &HeaderMap) -> RequestTrace {
        let Some(tracer) = tracer() else { return RequestTrace(None) };
        let incoming = headers.get(TRACEPARENT).and_then(|v| v.to_str().ok()).and_then(context::parse);
        let parent = match incoming {
            Some(remote) => Context::new().with_remote_span_context(remote),
            None => Context::new(),
        };
        let span = tracer
            .span_builder(method.to_string())
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("url.path", path.to_string()),
            ])
            .start_with_context(tracer, &parent);
        RequestTrace(Some((parent.with_span(span), method.clone())))
    }

    /// Runs `work` (the request's handling) with this span as the parent
    /// of [`step`]s and of the jobs queued ([`request_traceparent`]).
    pub(crate) async fn scope<F: Future>(&self, work: F) -> F::Output {
        match &self.0 {
            Some((cx, _)) => REQUEST.scope(cx.clone(), work).await,
            None => work.await,
        }
    }

    /// Ends the span with what the request became.
    pub(crate) fn finish(self, status: StatusCode, routes: &[Arc<str>], event_id: Option<&str>) {
        let Some((cx, method)) = self.0 else { return };
        let span = cx.span();
        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(status.as_u16())));
        if let Some(first) = routes.first() {
            span.update_name(format!("{method} {first}"));
            span.set_attribute(KeyValue::new("hookroute.route", first.to_string()));
            let all: Vec<opentelemetry::StringValue> = routes.iter().map(|r| r.to_string().into()).collect();
            span.set_attribute(KeyValue::new("hookroute.routes", opentelemetry::Value::Array(all.into())));
        }
        if let Some(id) = event_id {
            span.set_attribute(KeyValue::new("hookroute.event_id", id.to_string()));
        }
        if status.is_server_error() {
            span.set_status(Status::error(status.to_string()));
        }
        span.end();
    }
}

/// A child span of the current request (`verify`, `decide`, `actions`),
/// ended when dropped; inert outside a traced request.
pub(crate) struct Step(Option<Span>);

/// Starts the step `name` of the current request.
pub(crate) fn step(name: &'static str) -> Step {
    let Some(tracer) = tracer() else { return Step(None) };
    Step(REQUEST.try_with(|cx| tracer.start_with_context(name, cx)).ok())
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(span) = &mut self.0 {
            span.end();
        }
    }
}

/// The `traceparent` of the current request's span: stored with each job
/// it queues, the parent of the job's attempt spans.
pub(crate) fn request_traceparent() -> Option<String> {
    tracer()?;
    REQUEST.try_with(|cx| context::format(&cx.span().span_context().clone())).ok()
}

/// What an attempt span records besides its outcome.
pub(crate) struct AttemptInfo<'a> {
    pub route: &'a str,
    pub destination: &'a str,
    pub event_id: &'a str,
    pub job_id: &'a str,
    /// 1-based, as `X-Hookroute-Attempt`.
    pub number: u32,
    /// As stored (credentials are hidden before it is recorded).
    pub url: &'a str,
}

/// The span of one delivery attempt; inert without `telemetry:`.
pub(crate) struct AttemptSpan(Option<Span>);

impl AttemptSpan {
    /// Starts an attempt as a child of the job's stored `traceparent`
    /// (a new trace for a job stored without one).
    pub(crate) fn begin(parent: Option<&str>, info: AttemptInfo<'_>) -> AttemptSpan {
        let Some(tracer) = tracer() else { return AttemptSpan(None) };
        let parent = match parent.and_then(context::parse) {
            Some(remote) => Context::new().with_remote_span_context(remote),
            None => Context::new(),
        };
        let span = tracer
            .span_builder(format!("deliver {}", info.route))
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("hookroute.route", info.route.to_string()),
                KeyValue::new("hookroute.destination", info.destination.to_string()),
                KeyValue::new("hookroute.event_id", info.event_id.to_string()),
                KeyValue::new("hookroute.job_id", info.job_id.to_string()),
                KeyValue::new("hookroute.attempt", i64::from(info.number)),
                KeyValue::new("url.full", crate::redact::display(info.url).to_string()),
            ])
            .start_with_context(tracer, &parent);
        AttemptSpan(Some(span))
    }

    /// The `traceparent` to send upstream: this span's context.
    pub(crate) fn traceparent(&self) -> Option<String> {
        self.0.as_ref().map(|span| context::format(span.span_context()))
    }

    /// Ends the span: the upstream's status (None without an answer), the
    /// outcome (`success`, `retry`, `failed`) and the failure in words.
    pub(crate) fn finish(self, status: Option<u16>, outcome: &'static str, error: Option<&str>) {
        let Some(mut span) = self.0 else { return };
        if let Some(code) = status {
            span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
        }
        span.set_attribute(KeyValue::new("hookroute.outcome", outcome));
        if let Some(error) = error {
            span.set_status(Status::error(error.to_string()));
        }
        span.end();
    }
}
