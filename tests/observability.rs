//! Operable in production: metrics, the access log, request ids, the admin
//! API's observability endpoints, `hookroute health`, and the deploy files.
//!
//! The Prometheus recorder is process-global, so counters without a
//! per-test label (events by outcome, rejections by reason, actions) are
//! shared by every test in this binary. Tests that send webhooks to an
//! in-process server hold [`TRAFFIC`] for their whole run, and the metrics
//! test asserts exact *differences* of those between two scrapes taken
//! under it; counters labelled by route or destination are unique to each
//! test and asserted as exact absolute values. The binary-based tests run
//! their own process and need no lock.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use hookroute::app::RunningServer;
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// Held by every test that sends webhooks to an in-process server.
static TRAFFIC: Mutex<()> = Mutex::const_new(());

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// ---------------------------------------------------------------------------
// Scraping.

/// One scrape: the raw text and its parsed samples.
struct Scrape {
    text: String,
    samples: Vec<prometheus_parse::Sample>,
}

impl Scrape {
    /// The value of the series `name{labels}` (exactly those labels); 0 when
    /// it does not exist yet.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: HashMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples
            .iter()
            .filter(|s| s.metric == name && *s.labels == wanted)
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                other => panic!("{name} is not a single value: {other:?}"),
            })
            .sum()
    }

    /// The cumulative bucket counts of histogram `name{labels}`, by bound.
    fn buckets(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let wanted: HashMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sample = self
            .samples
            .iter()
            .find(|s| s.metric == name && *s.labels == wanted)
            .unwrap_or_else(|| panic!("no histogram {name}{labels:?} in:\n{}", self.text));
        match &sample.value {
            prometheus_parse::Value::Histogram(b) => b.iter().map(|c| (c.less_than, c.count)).collect(),
            other => panic!("{name} is not a histogram: {other:?}"),
        }
    }
}

async fn scrape(server: &RunningServer) -> Scrape {
    let answer = send(client().get(admin_url(server, "/-/metrics"))).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = answer.text();
    assert_valid_exposition(&text);
    let samples = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("exposition does not parse: {e}\n{text}"))
        .samples;
    Scrape { text, samples }
}

/// The text format's grammar, line by line (the parser crate skips lines it
/// does not understand, so it alone would not catch a malformed one): HELP
/// and TYPE at most once per family, TYPE before the family's samples,
/// valid names, quoted and escaped label values, float values, no series
/// twice. Also `promtool check metrics` when promtool is installed.
fn assert_valid_exposition(text: &str) {
    let name = r"[a-zA-Z_:][a-zA-Z0-9_:]*";
    let label = r#"[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*""#;
    let value = r"(?:[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))";
    let sample =
        regex::Regex::new(&format!(r"^({name})(?:\{{(?:{label}(?:,{label})*)?\}})? {value}(?: -?[0-9]+)?$")).unwrap();
    let help = regex::Regex::new(&format!(r"^# HELP ({name}) .*$")).unwrap();
    let ty = regex::Regex::new(&format!(r"^# TYPE ({name}) (counter|gauge|histogram|summary|untyped)$")).unwrap();
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut helped = BTreeSet::new();
    let mut series = BTreeSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(c) = help.captures(line) {
            assert!(helped.insert(c[1].to_string()), "HELP twice for {}", &c[1]);
        } else if let Some(c) = ty.captures(line) {
            assert!(typed.insert(c[1].to_string(), c[2].to_string()).is_none(), "TYPE twice for {}", &c[1]);
        } else if let Some(c) = sample.captures(line) {
            let metric = &c[1];
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| metric.strip_suffix(s).filter(|f| typed.get(*f).is_some_and(|t| t == "histogram")))
                .unwrap_or(metric);
            assert!(typed.contains_key(family), "sample before (or without) its TYPE line: {line}");
            let key = line.rsplit_once(' ').map(|(k, _)| k.to_string()).unwrap_or_default();
            assert!(series.insert(key), "series twice: {line}");
        } else {
            panic!("not a valid exposition line: {line:?}");
        }
    }
    if let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Scrapes until `done` holds (background deliveries finish after the
/// sender's answer); fails the test after [`DEADLINE`].
async fn scrape_until(server: &RunningServer, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let s = scrape(server).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {DEADLINE:?}; last scrape:\n{}", s.text);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn destination(addr: SocketAddr) -> String {
    format!("127.0.0.1:{}", addr.port())
}

// ---------------------------------------------------------------------------
// Metrics.

#[tokio::test]
async fn scripted_sequence_gives_exact_counts() {
    let _traffic = TRAFFIC.lock().await;
    let up = Upstream::start().await;
    let refused_sync = refused_url("/fail").await;
    let refused_queued = refused_url("/dead").await;
    let yaml = format!(
        r#"listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
routes:
  - name: seq-matched
    path: /seq/log
    methods: [POST]
    when: {{ header: X-Kind, equals: "yes" }}
    actions:
      - log: {{ message: seq }}
      - file: {{ path: "@DIR@/seq.jsonl" }}
  - name: seq-forward
    path: /seq/forward
    actions:
      - forward: {{ url: "{queued}" }}
  - name: seq-relay
    path: /seq/relay
    actions:
      - forward: {{ url: "{relay}" }}
    respond: {{ from: forward }}
  - name: seq-fail
    path: /seq/fail
    actions:
      - forward: {{ url: "{refused_sync}" }}
    respond: {{ from: forward }}
  - name: seq-dead
    path: /seq/dead
    actions:
      - forward: {{ url: "{refused_queued}", retry: {{ max_attempts: 1 }} }}
  - name: seq-small
    path: /seq/small
    max_body_bytes: 10
    actions: [ {{ log: {{}} }} ]
  - name: seq-signed
    path: /seq/signed
    verify: {{ bearer: {{ tokens: [s3cret] }} }}
    actions: [ {{ log: {{}} }} ]
"#,
        queued = up.url("/queued"),
        relay = up.url("/relay"),
    );
    let (server, _dir) = start(&yaml).await;
    let before = scrape(&server).await;

    let json = |path: &str| client().post(url(&server, path)).header("content-type", "application/json");
    let status = |a: Answer| a.status.as_u16();
    // matched: log + file
    assert_eq!(status(send(json("/seq/log").header("x-kind", "yes").body("{}")).await), 202);
    // ignored: the path is served, its condition does not hold
    assert_eq!(status(send(json("/seq/log").header("x-kind", "no").body("{}")).await), 202);
    // forwarded: queued, then delivered
    assert_eq!(status(send(json("/seq/forward").body("{}")).await), 202);
    // forwarded: relayed synchronously
    assert_eq!(status(send(json("/seq/relay").body("{}")).await), 200);
    // failed: the relay's upstream is down
    assert_eq!(status(send(json("/seq/fail").body("{}")).await), 502);
    // failed: queued, then dead after its only attempt
    assert_eq!(status(send(json("/seq/dead").body("{}")).await), 202);
    // rejected, by the ingress: 404, 405, 413, 400
    assert_eq!(status(send(json("/seq/nowhere").body("{}")).await), 404);
    assert_eq!(status(send(client().get(url(&server, "/seq/log"))).await), 405);
    assert_eq!(status(send(json("/seq/small").body("x".repeat(100))).await), 413);
    assert_eq!(status(send(json("/seq/log").header("x-kind", "yes").body("{")).await), 400);
    // rejected, by the door: 401
    assert_eq!(status(send(json("/seq/signed").body("{}")).await), 401);
    // matched, verified
    assert_eq!(status(send(json("/seq/signed").header("authorization", "Bearer s3cret").body("{}")).await), 202);

    let (up_dest, sync_dest, dead_dest) = (
        destination(up.addr),
        refused_sync.trim_start_matches("http://").trim_end_matches("/fail").to_string(),
        refused_queued.trim_start_matches("http://").trim_end_matches("/dead").to_string(),
    );
    let after = scrape_until(&server, "the queued deliveries", |s| {
        s.value(hookroute::metrics::FORWARD_ATTEMPTS, &[("destination", &up_dest), ("outcome", "success")]) >= 2.0
            && s.value(hookroute::metrics::DEAD_LETTERS, &[("route", "seq-dead")]) >= 1.0
    })
    .await;
    let delta = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);

    use hookroute::metrics as m;
    // Per route: absolute (unique to this test).
    for (route, class) in [
        ("seq-matched", "2xx"),
        ("seq-forward", "2xx"),
        ("seq-relay", "2xx"),
        ("seq-fail", "5xx"),
        ("seq-dead", "2xx"),
        ("seq-signed", "2xx"),
    ] {
        assert_eq!(after.value(m::REQUESTS, &[("route", route), ("status", class)]), 1.0, "requests of {route}");
        assert_eq!(after.value(m::ROUTE_MATCHES, &[("route", route)]), 1.0, "matches of {route}");
    }
    assert_eq!(after.value(m::ROUTE_MATCHES, &[("route", "seq-small")]), 0.0);
    assert_eq!(after.value(m::FORWARD_ATTEMPTS, &[("destination", &up_dest), ("outcome", "success")]), 2.0);
    assert_eq!(after.value(m::FORWARD_ATTEMPTS, &[("destination", &sync_dest), ("outcome", "failed")]), 1.0);
    assert_eq!(after.value(m::FORWARD_ATTEMPTS, &[("destination", &dead_dest), ("outcome", "failed")]), 1.0);
    assert_eq!(after.value(m::DEAD_LETTERS, &[("route", "seq-dead")]), 1.0);
    let duration_count = format!("{}_count", m::FORWARD_DURATION);
    assert_eq!(after.value(&duration_count, &[("destination", &up_dest)]), 2.0);
    assert_eq!(after.value(&duration_count, &[("destination", &dead_dest)]), 1.0);
    let buckets = after.buckets(m::FORWARD_DURATION, &[("destination", &up_dest)]);
    let bounds: Vec<f64> = buckets.iter().map(|(b, _)| *b).collect();
    let mut expected: Vec<f64> = hookroute::observe::exporter::FORWARD_DURATION_BUCKETS.to_vec();
    expected.push(f64::INFINITY);
    assert_eq!(bounds, expected, "forward latency buckets");
    assert_eq!(buckets.last().map(|(_, c)| *c), Some(2.0));

    // Shared counters: exact differences over the sequence.
    assert_eq!(delta(m::REQUESTS, &[("route", "none"), ("status", "2xx")]), 1.0, "ignored");
    assert_eq!(delta(m::REQUESTS, &[("route", "none"), ("status", "4xx")]), 5.0, "rejected");
    assert_eq!(delta(m::EVENTS, &[("outcome", "matched")]), 6.0);
    assert_eq!(delta(m::EVENTS, &[("outcome", "ignored")]), 1.0);
    assert_eq!(delta(m::EVENTS, &[("outcome", "rejected")]), 5.0);
    for reason in ["not_found", "method", "size", "body", "signature"] {
        assert_eq!(delta(m::REJECTED, &[("reason", reason)]), 1.0, "rejected for {reason}");
    }
    for reason in ["ip", "rate", "overload", "timeout", "admin_token"] {
        assert_eq!(delta(m::REJECTED, &[("reason", reason)]), 0.0, "rejected for {reason}");
    }
    assert_eq!(delta(m::ACTIONS, &[("action", "log"), ("outcome", "ok")]), 2.0);
    assert_eq!(delta(m::ACTIONS, &[("action", "file"), ("outcome", "ok")]), 1.0);
    assert_eq!(delta(m::ACTIONS, &[("action", "file"), ("outcome", "error")]), 0.0);
    assert_eq!(delta(m::ACTIONS, &[("action", "forward"), ("outcome", "queued")]), 2.0);
    assert_eq!(delta(m::ACTIONS, &[("action", "forward"), ("outcome", "ok")]), 1.0);
    assert_eq!(delta(m::ACTIONS, &[("action", "forward"), ("outcome", "error")]), 1.0);

    // Process-wide facts.
    assert_eq!(after.value(m::BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert!(after.value(m::CONFIG_LAST_SUCCESS, &[]) > 1.6e9);
    assert!(after.text.contains(&format!("# TYPE {} gauge", m::QUEUE_DEPTH)), "{}", after.text);
    for d in hookroute::observe::catalog::CATALOG.iter().filter(|d| after.text.contains(&format!("{} ", d.name))) {
        assert!(after.text.contains(&format!("# HELP {} ", d.name)), "no HELP for {}", d.name);
    }

    // The same story per route, from the admin API.
    let routes = send(client().get(admin_url(&server, "/-/routes"))).await.json();
    let by_name: HashMap<&str, &Value> =
        routes["routes"].as_array().unwrap().iter().map(|r| (r["name"].as_str().unwrap(), r)).collect();
    assert_eq!(by_name["seq-matched"]["matches"], 1);
    assert_eq!(by_name["seq-matched"]["action_counts"], json!({"file": {"ok": 1}, "log": {"ok": 1}}));
    assert_eq!(by_name["seq-matched"]["actions"], json!(["log", "file"]));
    assert_eq!(by_name["seq-matched"]["methods"], json!(["POST"]));
    assert_eq!(by_name["seq-forward"]["action_counts"], json!({"forward": {"queued": 1}}));
    assert_eq!(by_name["seq-relay"]["action_counts"], json!({"forward": {"ok": 1}}));
    assert_eq!(by_name["seq-fail"]["action_counts"], json!({"forward": {"error": 1}}));
    assert_eq!(by_name["seq-small"]["matches"], 0);
    assert_eq!(by_name["seq-small"]["action_counts"], json!({}));
    server.shutdown().await;
}

#[tokio::test]
async fn shed_requests_are_counted_as_rejected_requests() {
    let _traffic = TRAFFIC.lock().await;
    let slow = Upstream::start_with(UpstreamReply::default().delay(Duration::from_millis(1000))).await;
    let yaml = format!(
        "max_concurrent_requests: 1\nroutes:\n  - name: shed-slow\n    path: /shed\n    actions: [ {{ forward: {{ url: \"{}\" }} }} ]\n    respond: {{ from: forward }}\n",
        slow.url("/")
    );
    let (server, _dir) = start(&yaml).await;
    let before = scrape(&server).await;
    let shed_url = url(&server, "/shed");
    let holding = tokio::spawn(async move { post_json(&shed_url, &json!({})).await });
    slow.wait_for(1).await;
    let shed = post_json(&url(&server, "/shed"), &json!({})).await;
    assert_eq!(shed.status, 503);
    assert_eq!(holding.await.unwrap().status, 200);

    let after = scrape(&server).await;
    let delta = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
    use hookroute::metrics as m;
    assert_eq!(delta(m::REJECTED, &[("reason", "overload")]), 1.0);
    assert_eq!(delta(m::REQUESTS, &[("route", "none"), ("status", "5xx")]), 1.0);
    assert_eq!(delta(m::EVENTS, &[("outcome", "rejected")]), 1.0);
    assert_eq!(delta(m::EVENTS, &[("outcome", "matched")]), 1.0);
    assert_eq!(after.value(m::REQUESTS, &[("route", "shed-slow"), ("status", "2xx")]), 1.0);
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_need_the_admin_token_when_one_is_set() {
    let (server, _dir) =
        start("admin_token: t0ken\nroutes:\n  - { name: tok, path: /tok, actions: [ { log: {} } ] }\n").await;
    let refused = send(client().get(admin_url(&server, "/-/metrics"))).await;
    assert_eq!(refused.status, 401);
    let allowed = send(client().get(admin_url(&server, "/-/metrics")).bearer_auth("t0ken")).await;
    assert_eq!(allowed.status, 200);
    assert!(allowed.text().contains(hookroute::metrics::BUILD_INFO));
    let routes = send(client().get(admin_url(&server, "/-/routes")).bearer_auth("t0ken")).await;
    assert_eq!(routes.json()["routes"][0]["name"], "tok");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// /-/routes across reloads.

#[tokio::test]
async fn route_counts_survive_a_reload_by_name() {
    let _traffic = TRAFFIC.lock().await;
    let route = |name: &str, message: &str| {
        format!("  - name: {name}\n    path: /r/{name}\n    actions: [ {{ log: {{ message: {message} }} }} ]\n")
    };
    let yaml = format!("routes:\n{}{}", route("keep", "one"), route("gone", "one"));
    let (server, dir) = start(&yaml).await;
    for path in ["/r/keep", "/r/keep", "/r/gone"] {
        assert_eq!(post_json(&url(&server, path), &json!({})).await.status, 202);
    }
    // `keep` changes (a modified route), `gone` goes, `new` comes.
    write_config(dir.path(), &format!("routes:\n{}{}", route("keep", "two"), route("new", "one")));
    let reload = send(client().post(admin_url(&server, "/-/reload"))).await;
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert_eq!(post_json(&url(&server, "/r/keep"), &json!({})).await.status, 202);

    let routes = send(client().get(admin_url(&server, "/-/routes"))).await.json();
    let list = routes["routes"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["keep", "new"]);
    assert_eq!(list[0]["matches"], 3);
    assert_eq!(list[0]["action_counts"], json!({"log": {"ok": 3}}));
    assert_eq!(list[1]["matches"], 0);
    assert!(routes["since"].as_str().unwrap().ends_with('Z'));
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Request ids.

#[tokio::test]
async fn request_id_is_kept_or_generated_returned_and_forwarded() {
    let _traffic = TRAFFIC.lock().await;
    let up = Upstream::start().await;
    let yaml = format!(
        "routes:\n  - name: rid-relay\n    path: /rid/relay\n    actions: [ {{ forward: {{ url: \"{}\" }} }} ]\n    respond: {{ from: forward }}\n  - name: rid-queued\n    path: /rid/queued\n    actions: [ {{ forward: {{ url: \"{}\" }} }} ]\n",
        up.url("/relay"),
        up.url("/queued")
    );
    let (server, _dir) = start(&yaml).await;
    let post = |path: &str, id: Option<&str>| {
        let mut request = client().post(url(&server, path)).header("content-type", "application/json").body("{}");
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        send(request)
    };

    // Kept: the sender's id comes back and reaches both kinds of forward.
    let relayed = post("/rid/relay", Some("req-abc.123")).await;
    assert_eq!(relayed.status, 200);
    assert_eq!(relayed.header("x-request-id"), Some("req-abc.123"));
    let queued = post("/rid/queued", Some("req-def")).await;
    assert_eq!(queued.status, 202);
    assert_eq!(queued.header("x-request-id"), Some("req-def"));
    // Generated: no id, or one unfit to log and send on.
    let fresh = post("/rid/relay", None).await;
    let generated = fresh.header("x-request-id").expect("a generated request id").to_string();
    assert_eq!(generated.len(), 26, "a ULID: {generated}");
    let odd = post("/rid/queued", Some("two words")).await;
    let replaced = odd.header("x-request-id").expect("a replacement request id").to_string();
    assert_ne!(replaced, "two words");
    // Refusals carry one too.
    let missing = post("/rid/nowhere", Some("req-404")).await;
    assert_eq!((missing.status.as_u16(), missing.header("x-request-id")), (404, Some("req-404")));

    let seen = up.wait_for(4).await;
    let ids = |path: &str| -> Vec<String> {
        seen.iter().filter(|r| r.path == path).map(|r| r.header("x-request-id").unwrap_or("").to_string()).collect()
    };
    assert_eq!(ids("/relay"), vec!["req-abc.123".to_string(), generated]);
    assert_eq!(ids("/queued"), vec!["req-def".to_string(), replaced]);
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// The access log, from the real binary.

#[tokio::test]
async fn access_log_line_has_the_request_fields() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "data_dir: {}/data\nroutes:\n  - name: acc-first\n    path: /acc\n    continue: true\n    actions: [ {{ log: {{}} }} ]\n  - name: acc-second\n    path: /acc\n    actions: [ {{ forward: {{ url: \"{}\" }} }} ]\n",
            dir.path().display(),
            up.url("/in")
        ),
    );
    let server = BinaryServer::start(&config, dir.path(), &[]);
    let answer = send(
        client()
            .post(server.url("/acc?token=do-not-log"))
            .header("content-type", "application/json")
            .header("x-request-id", "acc-rid-1")
            .body(r#"{"a":1}"#),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let event_id = answer.header("x-hookroute-event-id").unwrap().to_string();
    let line = server.wait_for_log(|v| v["target"] == "hookroute::access" && v["request_id"] == "acc-rid-1").await;

    assert_eq!(line["level"], "INFO");
    assert_eq!(line["event_id"], event_id.as_str());
    assert_eq!(line["client"], "127.0.0.1");
    assert!(line["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{line}");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["path"], "/acc");
    assert_eq!(line["routes"], "acc-first,acc-second");
    assert_eq!(line["status"], 202);
    assert_eq!(line["bytes"], answer.body.len());
    assert_eq!(line["outcome"], "matched");
    assert!(line.get("reason").is_none(), "{line}");
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0, "{line}");
    assert_eq!(line["message"], "POST /acc 202");

    // The forward went out with the same request id.
    let got = up.wait_for(1).await;
    assert_eq!(got[0].header("x-request-id"), Some("acc-rid-1"));

    // A refusal is logged with its reason, and no id of an event never made.
    send(client().get(server.url("/nope")).header("x-request-id", "acc-rid-2")).await;
    let refused = server.wait_for_log(|v| v["request_id"] == "acc-rid-2").await;
    assert_eq!((refused["status"].as_u64(), refused["outcome"].as_str()), (Some(404), Some("rejected")));
    assert_eq!(refused["reason"], "not_found");
    assert_eq!(refused["routes"], "");
    assert!(refused.get("event_id").is_none(), "{refused}");
    assert!(server.logs().iter().all(|l| !l.contains("do-not-log")), "the query string was logged");
}

#[tokio::test]
async fn a_failing_forward_neither_logs_nor_answers_the_urls_credentials() {
    // Distinctive secrets, so no other text in the logs (a temporary
    // directory's random name) can contain them by chance.
    let closed = refused_url("/x").await;
    let target = closed.replace("http://", "http://user:pw-s3cret@") + "?token=abc-t0ken";
    let shown = closed.replace("http://", "http://user:***@") + "?token=***";
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "data_dir: {}/data\nroutes:\n  - name: leak-relayed\n    path: /relayed\n    actions: [ {{ forward: {{ url: \"{target}\" }} }} ]\n    respond: {{ from: forward }}\n  - name: leak-queued\n    path: /queued\n    actions: [ {{ forward: {{ url: \"{target}\", retry: {{ max_attempts: 2, initial_backoff: 10ms }} }} }} ]\n",
            dir.path().display()
        ),
    );
    let server = BinaryServer::start(&config, dir.path(), &[]);
    let post = |path: &str| send(client().post(server.url(path)).header("content-type", "application/json").body("{}"));

    // Relayed: the sender learns which upstream failed, not its credentials.
    let relayed = post("/relayed").await;
    assert_eq!(relayed.status, 502, "{}", relayed.text());
    assert!(relayed.error().starts_with(&format!("upstream {shown}: cannot connect: ")), "{}", relayed.error());
    let line = server
        .wait_for_log(|v| {
            v["route"] == "leak-relayed" && v["message"].as_str().is_some_and(|m| m.starts_with("forward failed"))
        })
        .await;
    assert_eq!(line["url"], shown.as_str());

    // Queued: a retry, then a dead letter, each logged with the URL.
    let queued = post("/queued").await;
    assert_eq!(queued.status, 202, "{}", queued.text());
    let retried = server.wait_for_log(|v| v["route"] == "leak-queued" && v["attempt"] == 1).await;
    assert_eq!(retried["url"], shown.as_str());
    let dead = server.wait_for_log(|v| v["route"] == "leak-queued" && v["attempt"] == 2).await;
    assert!(dead["message"].as_str().unwrap().starts_with("forward moved to dead letters"), "{dead}");
    assert_eq!(dead["url"], shown.as_str());

    for secret in ["pw-s3cret", "abc-t0ken"] {
        assert!(!relayed.text().contains(secret), "the answer has {secret}: {}", relayed.text());
        let leaks: Vec<String> = server.logs().into_iter().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "logged {secret}:\n{}", leaks.join("\n"));
    }
}

// ---------------------------------------------------------------------------
// Readiness and `hookroute health`.

/// `hookroute health ARGS` from a blocking thread (it waits for the process).
async fn health(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_binary(&[&["health"], args.as_slice()].concat(), Path::new(env!("CARGO_MANIFEST_DIR")))
    })
    .await
    .unwrap()
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn health_exits_zero_when_ready_and_non_zero_when_down() {
    // From the config: its admin_listen, and its admin_token is sent.
    let admin = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("admin_listen: {admin}\nadmin_token: hx\nroutes:\n  - {{ name: h, path: /h, actions: [ {{ log: {{}} }} ] }}\n"),
    );
    let data_dir = Some(dir.path().join("data"));
    let server = start_with(hookroute::app::ServeOptions {
        config_path: config.clone(),
        admin_listen: None,
        data_dir,
        ..serve_options()
    })
    .await
    .expect("server starts");
    assert_eq!(server.admin_addr, admin);

    let (code, out, err) = health(vec!["-c".into(), config.display().to_string()]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(out.trim(), format!("ready: http://{admin}/-/readyz answered 200 OK"));
    let (code, _, err) = health(vec!["--admin".into(), admin.to_string()]).await;
    assert_eq!(code, 0, "{err}");

    server.shutdown().await;
    let (code, out, err) = health(vec!["--admin".into(), admin.to_string()]).await;
    assert_eq!(code, 1, "stdout: {out}");
    assert!(
        err.starts_with(&format!("not ready: cannot reach http://{admin}/-/readyz: ")) && err.contains("running"),
        "{err}"
    );
    let (code, _, err) = health(vec!["-c".into(), config.display().to_string()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("not ready"), "{err}");
    // A config it cannot read says so.
    let (code, _, err) = health(vec!["-c".into(), dir.path().join("missing.yaml").display().to_string()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("cannot read config file") && err.contains("--admin"), "{err}");
}

#[tokio::test]
async fn readyz_turns_unready_while_shutting_down() {
    let _traffic = TRAFFIC.lock().await;
    let slow = Upstream::start_with(UpstreamReply::default().delay(Duration::from_millis(1500))).await;
    let yaml = format!(
        "routes:\n  - name: drain\n    path: /drain\n    actions: [ {{ forward: {{ url: \"{}\" }} }} ]\n    respond: {{ from: forward }}\n",
        slow.url("/")
    );
    let (server, _dir) = start(&yaml).await;
    let admin = server.admin_addr;
    assert_eq!(send(client().get(admin_url(&server, "/-/readyz"))).await.status, 200);

    let drain_url = url(&server, "/drain");
    let in_flight = tokio::spawn(async move { post_json(&drain_url, &json!({})).await });
    slow.wait_for(1).await;
    let stopping = tokio::spawn(server.shutdown());
    // Unready while the request in progress drains, and still answering.
    let deadline = Instant::now() + DEADLINE;
    let readyz = format!("http://{admin}/-/readyz");
    loop {
        let answer = send(client().get(&readyz)).await;
        if answer.status == 503 {
            assert_eq!(answer.json()["status"], "not ready");
            break;
        }
        assert!(Instant::now() < deadline, "readyz never turned 503 during shutdown");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (code, _, err) = health(vec!["--admin".into(), admin.to_string()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("answered 503 Service Unavailable (not ready)"), "{err}");

    assert_eq!(in_flight.await.unwrap().status, 200, "the request in progress finished");
    stopping.await.unwrap();
    assert!(client().get(&readyz).send().await.is_err(), "the admin listener closed last");
}

// ---------------------------------------------------------------------------
// The OpenAPI document.

/// (method, path) of every route the admin filters declare, read from
/// their source: `warp::path!("-" / "deliveries" / String).and(warp::get())`.
fn served_admin_paths() -> BTreeSet<(String, String)> {
    let re = regex::Regex::new(r"warp::path!\(([^)]*)\)\s*\.and\(warp::(get|post|put|delete|patch)\(\)\)").unwrap();
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(repo("src/server")).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("admin") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for c in re.captures_iter(&source) {
            let segments: Vec<String> = c[1]
                .split('/')
                .map(|s| s.trim())
                .map(|s| if s.starts_with('"') { s.trim_matches('"').to_string() } else { "{}".to_string() })
                .collect();
            out.insert((c[2].to_string(), format!("/{}", segments.join("/"))));
        }
    }
    out
}

#[tokio::test]
async fn openapi_document_is_the_committed_one_and_lists_every_admin_path() {
    let (server, _dir) = start("routes:\n  - { name: o, path: /o, actions: [ { log: {} } ] }\n").await;
    let answer = send(client().get(admin_url(&server, "/-/openapi.json"))).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let committed = std::fs::read_to_string(repo("docs/openapi.json")).unwrap();
    assert_eq!(answer.text(), committed);
    let doc = answer.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let param = regex::Regex::new(r"\{[^}]+\}").unwrap();
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((method.clone(), param.replace_all(path, "{}").to_string()));
        }
    }
    let served = served_admin_paths();
    assert!(served.len() >= 11, "the source scan found too little: {served:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "served but not in docs/openapi.json: {undocumented:?}");
    assert!(unserved.is_empty(), "in docs/openapi.json but not served: {unserved:?}");

    // And each documented GET without parameters really answers.
    for (method, path) in &documented {
        if method == "get" && !path.contains("{}") {
            let answer = send(client().get(admin_url(&server, path))).await;
            assert_ne!(answer.status, 404, "GET {path}: {}", answer.text());
        }
    }
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Documentation.

/// `pub const NAME: &str = "hookroute_..."` in src/metrics.rs.
fn metric_names_in_source() -> Vec<String> {
    let source = std::fs::read_to_string(repo("src/metrics.rs")).unwrap();
    let re = regex::Regex::new(r#"pub const [A-Z_]+: &str = "([a-z_]+)";"#).unwrap();
    re.captures_iter(&source).map(|c| c[1].to_string()).collect()
}

#[test]
fn operating_doc_has_every_metric_with_its_type_and_labels() {
    let names = metric_names_in_source();
    assert!(names.len() >= 14, "{names:?}");
    let doc = std::fs::read_to_string(repo("docs/operating.md")).unwrap();
    // | `name` | type | `a`, `b` | meaning |
    let row = regex::Regex::new(r"(?m)^\| `(hookroute_[a-z_]+)` \| (\w+) \| ([^|]*) \|").unwrap();
    let table: BTreeMap<String, (String, Vec<String>)> = row
        .captures_iter(&doc)
        .map(|c| {
            let labels = c[3].split(',').map(|l| l.trim().trim_matches('`').to_string()).filter(|l| !l.is_empty());
            (c[1].to_string(), (c[2].to_string(), labels.collect()))
        })
        .collect();
    let catalog = hookroute::observe::catalog::CATALOG;
    for name in &names {
        let described = catalog
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} is in src/metrics.rs but not in observe::catalog::CATALOG"));
        let (kind, labels) =
            table.get(name).unwrap_or_else(|| panic!("{name} is not in the metrics table of docs/operating.md"));
        assert_eq!(kind, described.kind.as_str(), "type of {name} in docs/operating.md");
        assert_eq!(labels, &described.labels.to_vec(), "labels of {name} in docs/operating.md");
    }
    assert_eq!(table.len(), names.len(), "docs/operating.md lists metrics that do not exist");
    assert_eq!(catalog.len(), names.len(), "the catalog describes metrics that do not exist");
    for path in ["/-/healthz", "/-/readyz", "/-/metrics", "/-/config", "/-/reload", "/-/routes", "/-/openapi.json"] {
        assert!(doc.contains(&format!(" {path}`")), "docs/operating.md's endpoint table lacks {path}");
    }
}

// ---------------------------------------------------------------------------
// Deploy files.

/// Resolves `${VAR}` from a container's env and `${file:PATH}` from the
/// Secrets mounted in the pod, so the ConfigMap is checked exactly as the
/// pod would load it.
struct PodEnv {
    vars: HashMap<String, String>,
    files: HashMap<String, Vec<u8>>,
}

impl hookroute::config::interpolate::Environment for PodEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self.files.get(path).cloned().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("{path} is not in any Secret mounted in the pod"))
        })
    }
}

fn yaml_documents(path: &Path) -> Vec<serde_yaml::Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn kubernetes_manifests_parse_and_the_configmap_config_checks() {
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(repo("examples/kubernetes")).unwrap() {
        let path = entry.unwrap().path();
        if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            for doc in yaml_documents(&path) {
                assert!(doc["apiVersion"].is_string() && doc["kind"].is_string(), "{}: {doc:?}", path.display());
                docs.push(doc);
            }
        }
    }
    let of_kind = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).collect::<Vec<_>>();
    let (config_maps, secrets, deployments) = (of_kind("ConfigMap"), of_kind("Secret"), of_kind("Deployment"));
    assert_eq!((config_maps.len(), secrets.len(), deployments.len(), of_kind("Service").len()), (1, 1, 1, 1));
    let pod = &deployments[0]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];

    // Probes on the admin port.
    let admin_port = container["ports"].as_sequence().unwrap().iter().find(|p| p["name"] == "admin").unwrap();
    assert_eq!(admin_port["containerPort"], 9090);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/-/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/-/readyz");
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "admin");
    }

    // Mounts: whole directories (hot reload needs it), each backed by a volume.
    let volumes: HashMap<&str, &serde_yaml::Value> =
        pod["volumes"].as_sequence().unwrap().iter().map(|v| (v["name"].as_str().unwrap(), v)).collect();
    let mut files = HashMap::new();
    let mut config_dir = None;
    for mount in container["volumeMounts"].as_sequence().unwrap() {
        assert!(mount.get("subPath").is_none(), "subPath mounts never see ConfigMap or Secret updates: {mount:?}");
        let dir = mount["mountPath"].as_str().unwrap();
        let volume = volumes[mount["name"].as_str().unwrap()];
        if let Some(name) = volume["secret"]["secretName"].as_str() {
            let secret = secrets.iter().find(|s| s["metadata"]["name"] == name).expect("the mounted Secret");
            for (key, value) in secret["stringData"].as_mapping().unwrap() {
                files.insert(format!("{dir}/{}", key.as_str().unwrap()), value.as_str().unwrap().as_bytes().to_vec());
            }
        }
        if volume["configMap"]["name"] == config_maps[0]["metadata"]["name"] {
            config_dir = Some(dir.to_string());
        }
    }
    let config_dir = config_dir.expect("the ConfigMap is mounted");
    let vars: HashMap<String, String> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].as_str().unwrap_or("").to_string()))
        .collect();
    let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let config_path = format!("{config_dir}/routes.yaml");
    assert!(args.contains(&config_path.as_str()), "serve reads {config_path}: {args:?}");

    // The embedded routes.yaml passes the same check `serve` runs, with the
    // pod's variables and Secrets.
    let text = config_maps[0]["data"]["routes.yaml"].as_str().expect("data.routes.yaml");
    let env = PodEnv { vars, files };
    let resources = hookroute::actions::Resources::new().unwrap();
    let loaded = hookroute::settings::load_str("configmap routes.yaml", text, &env, &resources)
        .unwrap_or_else(|e| panic!("the ConfigMap's routes.yaml does not check:\n{e}"));
    let (snapshot, settings) = (&loaded.snapshot, &loaded.settings);
    assert!(settings.security.admin_token.is_some(), "admin on 0.0.0.0 needs a token");
    assert!(snapshot.any_route_verifies(), "a route verifies with the Secret");
    assert_eq!(settings.admin_listen.port(), 9090);

    // The memory limit covers what the config lets the process hold: bodies
    // being received, durable bodies kept for a first attempt, a baseline.
    let limit = mebibytes(container["resources"]["limits"]["memory"].as_str().expect("a memory limit"));
    let concurrent = settings.security.max_concurrent_requests.expect("the ConfigMap sets max_concurrent_requests");
    let body = snapshot.largest_body_limit();
    let needed = (concurrent * body + settings.delivery.queued_body_memory) / (1 << 20) + 64;
    assert!(limit >= needed, "memory limit {limit} MiB is below the configured caps ({needed} MiB)");

    // No API token in a pod that never calls the API; the admin port only
    // from selected peers; kustomize applies everything but the Secret.
    assert_eq!(pod["automountServiceAccountToken"], false);
    let policies = of_kind("NetworkPolicy");
    assert_eq!(policies.len(), 1);
    let rules = policies[0]["spec"]["ingress"].as_sequence().unwrap();
    for rule in rules {
        let admin = rule["ports"].as_sequence().unwrap().iter().any(|p| p["port"] == "admin" || p["port"] == 9090);
        assert!(!admin || rule["from"].as_sequence().is_some_and(|f| !f.is_empty()), "admin open to all: {rule:?}");
    }
    let kustomization = of_kind("Kustomization");
    let resources: Vec<&str> =
        kustomization[0]["resources"].as_sequence().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for entry in std::fs::read_dir(repo("examples/kubernetes")).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_dir() {
            continue; // another example (replicas/), applied on its own
        }
        let name = entry.file_name().into_string().unwrap();
        let listed = resources.contains(&name.as_str());
        let meant = name != "kustomization.yaml" && name != "secret.example.yaml";
        assert_eq!(listed, meant, "{name} in kustomization.yaml's resources");
    }
}

/// A Kubernetes memory quantity (`256Mi`, `1Gi`) in MiB.
fn mebibytes(quantity: &str) -> usize {
    match quantity.split_at(quantity.len() - 2) {
        (n, "Mi") => n.parse().unwrap(),
        (n, "Gi") => n.parse::<usize>().unwrap() * 1024,
        _ => panic!("write the memory limit in Mi or Gi, not {quantity:?}"),
    }
}

#[test]
fn compose_mounts_the_config_directory_and_its_config_checks() {
    let compose = &yaml_documents(&repo("examples/docker-compose.yml"))[0];
    let router = &compose["services"]["hookroute"];
    assert!(compose["services"]["upstream"]["image"].is_string(), "a sample upstream");
    let mount = router["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .find(|v| v.contains(":/etc/hookroute"))
        .expect("the config is mounted");
    let source = repo("examples").join(mount.split(':').next().unwrap());
    assert!(source.is_dir(), "mount the config directory, not the file: {mount}");
    let vars: HashMap<String, String> = router["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.as_str().unwrap_or("").to_string()))
        .collect();
    let env = PodEnv { vars, files: HashMap::new() };
    let text = std::fs::read_to_string(source.join("routes.yaml")).unwrap();
    let resources = hookroute::actions::Resources::new().unwrap();
    hookroute::settings::load_str("compose routes.yaml", &text, &env, &resources)
        .unwrap_or_else(|e| panic!("examples/compose/routes.yaml does not check:\n{e}"));
}

#[test]
fn dockerfile_follows_the_container_conventions() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    for needle in [
        "docker/build-native.sh",
        "USER 65532:65532",
        "HOOKROUTE_CONFIG=/etc/hookroute/routes.yaml",
        "HOOKROUTE_DATA_DIR=/var/lib/hookroute",
        r#"VOLUME ["/var/lib/hookroute"]"#,
        "EXPOSE 8080 9090",
        r#"CMD ["hookroute", "health"]"#,
        // One Dockerfile for both builds (docker/build-image.sh): the base
        // images are arguments, and the build stage's output comes from
        // the Rust image or from docker/build-native.sh's tree.
        "ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12:nonroot",
        "ARG BUILD_FROM=source",
        "COPY docker/native-out/ /out/",
        "FROM build-${BUILD_FROM} AS build",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks {needle:?}");
    }
    let script = std::fs::read_to_string(repo("docker/build-native.sh")).unwrap();
    assert!(script.contains("cargo build --release --locked"), "the image builds with the locked dependencies");
    assert!(repo(".dockerignore").is_file());
}
