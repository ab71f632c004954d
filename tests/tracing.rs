//! OpenTelemetry traces, end to end: a real OTLP/HTTP receiver in the test
//! decodes what hookroute exports (protobuf `ExportTraceServiceRequest`),
//! a real upstream records the `traceparent` it is sent, and hookroute runs
//! as the binary so it can be killed and restarted on its own queue.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{BinaryServer, Upstream, UpstreamReply, DEADLINE};
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

/// One received span, its ids as lower-case hex.
#[derive(Debug, Clone)]
struct Received {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    attributes: BTreeMap<String, String>,
}

impl Received {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// An OTLP/HTTP collector on a loopback port: `POST /v1/traces`.
struct Collector {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    async fn start() -> Collector {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the collector");
        let addr = listener.local_addr().expect("collector address");
        let sink = spans.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| receive(sink.clone(), req));
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Collector { addr, spans, task }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until some span satisfies `pred`; fails the test after DEADLINE.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(span) = self.spans().into_iter().find(|s| pred(s)) {
                return span;
            }
            assert!(Instant::now() < deadline, "no {what} within {DEADLINE:?}; received: {:#?}", self.spans());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Decodes one export and keeps its spans.
async fn receive(
    sink: Arc<Mutex<Vec<Received>>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    assert_eq!(req.uri().path(), "/v1/traces");
    let body = req.into_body().collect().await?.to_bytes();
    let request = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
    let mut sink = sink.lock().unwrap();
    for span in request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
        let attributes = span
            .attributes
            .iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(AnyValue::StringValue(s)) => s.clone(),
                    Some(AnyValue::IntValue(i)) => i.to_string(),
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                };
                (kv.key.clone(), value)
            })
            .collect();
        sink.push(Received {
            trace_id: hex::encode(&span.trace_id),
            span_id: hex::encode(&span.span_id),
            parent_span_id: hex::encode(&span.parent_span_id),
            name: span.name.clone(),
            attributes,
        });
    }
    let mut answer = hyper::Response::new(Full::new(Bytes::new()));
    answer.headers_mut().insert("content-type", http::HeaderValue::from_static("application/x-protobuf"));
    Ok(answer)
}

/// A durable forward with fast retries, exporting to `collector`.
fn config(collector: &Collector, upstream: &Upstream) -> String {
    format!(
        "data_dir: @DIR@/data\n\
         telemetry:\n  otlp:\n    endpoint: {}\n    protocol: http/protobuf\n    export_interval: 50ms\n\
         destinations:\n  circuit_breaker: {{ failures: 1000 }}\n\
         routes:\n  - name: orders\n    path: /hooks/orders\n    actions:\n      - forward:\n          url: {}\n          \
         retry: {{ initial_backoff: 50ms, max_backoff: 100ms, max_attempts: 1000 }}\n",
        collector.endpoint(),
        upstream.url("/in"),
    )
}

fn is_attempt(span: &Received) -> bool {
    span.attr("hookroute.attempt").is_some()
}

/// The span id a `traceparent` names, after checking its trace id.
fn span_of(traceparent: &str, trace_id: &str) -> String {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], trace_id, "the upstream's traceparent is in the event's trace: {traceparent}");
    parts[2].to_string()
}

#[tokio::test]
async fn one_trace_follows_an_event_through_a_retry_and_a_restart() {
    let collector = Collector::start().await;
    let upstream = Upstream::start_with(UpstreamReply::status(503)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = common::write_config(dir.path(), &config(&collector, &upstream));
    let server = BinaryServer::start(&path, dir.path(), &[]);

    // The sender's trace is continued.
    let (sender_trace, sender_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let answer = common::send(
        common::client()
            .post(server.url("/hooks/orders"))
            .header("traceparent", format!("00-{sender_trace}-{sender_span}-01"))
            .header("content-type", "application/json")
            .body(r#"{"order": 42}"#),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let event_id = answer.json()["id"].as_str().expect("an event id").to_string();

    let request = collector.wait_for("the request span", |s| s.attr("http.request.method").is_some()).await;
    assert_eq!(request.trace_id, sender_trace);
    assert_eq!(request.parent_span_id, sender_span);
    assert_eq!(request.name, "POST orders");
    assert_eq!(request.attr("hookroute.route"), Some("orders"));
    assert_eq!(request.attr("hookroute.event_id"), Some(event_id.as_str()));
    assert_eq!(request.attr("http.response.status_code"), Some("202"));
    for step in ["verify", "decide", "actions"] {
        let child = collector.wait_for(step, |s| s.name == step).await;
        assert_eq!((child.trace_id.as_str(), child.parent_span_id.as_str()), (sender_trace, request.span_id.as_str()));
    }

    // Two refused attempts, then a crash with the job still pending.
    upstream.wait_for(2).await;
    let second = collector.wait_for("the second attempt", |s| s.attr("hookroute.attempt") == Some("2")).await;
    assert_eq!(second.attr("hookroute.outcome"), Some("retry"));
    assert_eq!(second.attr("http.response.status_code"), Some("503"));
    let before_crash: Vec<String> = collector.spans().into_iter().filter(is_attempt).map(|s| s.span_id).collect();
    drop(server);
    upstream.set_reply(UpstreamReply::status(200));
    let restarted = BinaryServer::start(&path, dir.path(), &[]);

    let delivered =
        collector.wait_for("the delivering attempt", |s| s.attr("hookroute.outcome") == Some("success")).await;
    let attempts: Vec<Received> = collector.spans().into_iter().filter(is_attempt).collect();
    assert!(attempts.len() >= 3, "{attempts:#?}");
    for attempt in &attempts {
        assert_eq!(attempt.trace_id, sender_trace, "every attempt is in the event's trace: {attempt:#?}");
        assert_eq!(attempt.parent_span_id, request.span_id, "and a child of its request: {attempt:#?}");
        assert_eq!(attempt.attr("hookroute.route"), Some("orders"));
        assert_eq!(attempt.attr("hookroute.event_id"), Some(event_id.as_str()));
        assert_eq!(attempt.attr("hookroute.destination"), Some(upstream.addr.to_string().as_str()));
    }
    // Made by the restarted process (the record's attempt count after a
    // crash is the store's business: an unrecorded attempt is repeated).
    assert!(!before_crash.contains(&delivered.span_id), "{delivered:#?}");
    assert!(delivered.attr("hookroute.attempt").and_then(|n| n.parse::<u32>().ok()).is_some(), "{delivered:#?}");
    assert_eq!(delivered.attr("http.response.status_code"), Some("200"));

    // The upstream saw each attempt's own span.
    let received = upstream.requests();
    let last = received.last().expect("requests").header("traceparent").expect("a traceparent");
    assert_eq!(span_of(last, sender_trace), delivered.span_id);
    for request in &received {
        span_of(request.header("traceparent").expect("a traceparent"), sender_trace);
    }
    // Attempts a crash cut short of exporting aside, each one's span arrived.
    for number in ["1", "2"] {
        assert!(
            attempts.iter().any(|a| a.attr("hookroute.attempt") == Some(number)),
            "attempt {number}: {attempts:#?}"
        );
    }
    drop(restarted);
}

#[tokio::test]
async fn a_request_without_traceparent_starts_the_trace_its_attempts_and_replays_continue() {
    let collector = Collector::start().await;
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = common::write_config(dir.path(), &config(&collector, &upstream));
    let server = BinaryServer::start(&path, dir.path(), &[]);
    let answer = common::post(&server.url("/hooks/orders"), "application/json", r#"{"order": 7}"#).await;
    assert_eq!(answer.status, 202, "{}", answer.text());

    let request = collector.wait_for("the request span", |s| s.attr("http.request.method").is_some()).await;
    assert_eq!(request.parent_span_id, "", "a new trace: the request span is its root");
    let attempt = collector.wait_for("the attempt", is_attempt).await;
    assert_eq!(
        (attempt.trace_id.as_str(), attempt.parent_span_id.as_str()),
        (request.trace_id.as_str(), request.span_id.as_str())
    );
    assert_eq!(attempt.attr("hookroute.attempt"), Some("1"));
    assert_eq!(attempt.attr("hookroute.outcome"), Some("success"));
    let sent = upstream.wait_for(1).await;
    let traceparent = sent[0].header("traceparent").expect("a traceparent");
    assert_eq!(span_of(traceparent, &request.trace_id), attempt.span_id);

    // A manual replay joins the same trace.
    let job = attempt.attr("hookroute.job_id").expect("a job id");
    let replay = format!("http://{}/-/deliveries/{job}/retry", server.admin_addr);
    let answer = common::send(common::client().post(&replay)).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let again = collector.wait_for("the replayed attempt", |s| s.attr("hookroute.attempt") == Some("2")).await;
    assert_eq!(
        (again.trace_id.as_str(), again.parent_span_id.as_str()),
        (request.trace_id.as_str(), request.span_id.as_str())
    );
    let sent = upstream.wait_for(2).await;
    assert_eq!(span_of(sent[1].header("traceparent").expect("a traceparent"), &request.trace_id), again.span_id);
    drop(server);
}
