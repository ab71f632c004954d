//! The example configs' route tests and real GitHub payloads, each sent
//! through the real `serve` (with loopback upstreams), `hookroute explain
//! --format json` and `hookroute test`: the three must report the same
//! routes taken, the same status and reply, and the same actions (issue #16:
//! one decision per request, executed by serve and printed by the tools).
//!
//! Serve's side is read from what it did, not from what it says: the
//! per-route counts of `GET /-/routes` (routes matched, actions run or
//! queued) and the requests the upstreams received. The examples are used
//! as shipped, with only their loopback URLs pointed at the test's upstream,
//! their `data/` paths moved into a temporary directory and the GitHub
//! secret given a value (requests are signed with it, as GitHub does).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

const SECRET: &str = "three-way-secret";

/// One request as a sender sends it.
#[derive(Debug, Clone)]
struct Request {
    name: String,
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// What one of serve, explain or test reports for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    routes: Vec<String>,
    status: Option<u16>,
    /// The reply body, when hookroute writes it (not a relayed answer).
    reply: Option<String>,
    /// Per route taken, the kinds of its actions, sorted (`file`, `forward`, `log`).
    actions: BTreeMap<String, Vec<String>>,
    /// The path and query of every forward, sorted.
    forwards: Vec<String>,
}

/// The ways `a` and `b` differ, each named.
fn disagreements(what: &str, a: &Seen, b: &Seen) -> Vec<String> {
    let mut out = Vec::new();
    if a.routes != b.routes {
        out.push(format!("{what}: routes {:?} vs {:?}", a.routes, b.routes));
    }
    if a.status != b.status {
        out.push(format!("{what}: status {:?} vs {:?}", a.status, b.status));
    }
    if a.reply.is_some() && b.reply.is_some() && a.reply != b.reply {
        out.push(format!("{what}: reply {:?} vs {:?}", a.reply, b.reply));
    }
    if a.actions != b.actions {
        out.push(format!("{what}: actions {:?} vs {:?}", a.actions, b.actions));
    }
    if a.forwards != b.forwards {
        out.push(format!("{what}: forwards {:?} vs {:?}", a.forwards, b.forwards));
    }
    out
}

/// An example config made runnable here: its loopback URLs on `upstream`,
/// its `data/` paths under `dir`, the GitHub secret set.
fn adapt(yaml: &str, upstream: &str, dir: &Path) -> String {
    let mut out = yaml.replace("${GITHUB_WEBHOOK_SECRET}", SECRET);
    for port in 8000..8100 {
        out = out.replace(&format!("http://127.0.0.1:{port}"), upstream);
    }
    let data = format!("{}/data/", dir.display());
    out.replace("path: data/", &format!("path: {data}")).replace("path: \"data/", &format!("path: \"{data}"))
}

/// The requests of a config's `tests:` list, as `hookroute test` builds them.
fn requests_of(yaml: &str, base: &Path) -> Vec<Request> {
    let root: Value = serde_yaml::from_str(yaml).expect("the example is YAML");
    let tests = root["tests"].as_array().cloned().unwrap_or_default();
    tests
        .iter()
        .map(|t| {
            let r = &t["request"];
            let mut headers: Vec<(String, String)> = r["headers"]
                .as_object()
                .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            let body = match (&r["body"], r["body_file"].as_str()) {
                (Value::String(s), _) => s.clone().into_bytes(),
                (Value::Null, Some(file)) => std::fs::read(base.join(file)).expect("read the body_file"),
                (Value::Null, None) => Vec::new(),
                (other, _) => other.to_string().into_bytes(),
            };
            if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            let query = r["query"]
                .as_object()
                .map(|q| q.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            Request {
                name: t["name"].as_str().unwrap_or_default().to_string(),
                method: r["method"].as_str().unwrap_or("POST").to_string(),
                path: r["path"].as_str().unwrap_or_default().to_string(),
                query,
                headers,
                body,
            }
        })
        .collect()
}

/// A GitHub delivery of `event` with `body`, with the headers GitHub sends.
fn github(name: &str, event: &str, body: Vec<u8>) -> Request {
    Request {
        name: name.to_string(),
        method: "POST".into(),
        path: "/hooks/github".into(),
        query: Vec::new(),
        headers: vec![
            ("X-GitHub-Event".into(), event.into()),
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "GitHub-Hookshot/a1b2c3d".into()),
            ("X-GitHub-Hook-ID".into(), "420018421".into()),
        ],
        body,
    }
}

/// `request` as GitHub signs and names it: a delivery id of its own (so
/// dedup sees a new event) and `X-Hub-Signature-256` over the body.
fn signed(mut request: Request, n: usize) -> Request {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&request.body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    request.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-hub-signature-256"));
    request.headers.push(("X-Hub-Signature-256".into(), signature));
    request.headers.push(("X-GitHub-Delivery".into(), format!("3f9a1c00-0000-11ef-8000-{n:012}")));
    request
}

fn query_string(request: &Request) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(&request.query).finish()
}

/// Per route in file order, its `matches` and action counts from `GET /-/routes`.
type Counts = Vec<(String, (u64, BTreeMap<String, u64>))>;

async fn counts(server: &hookroute::app::RunningServer) -> Counts {
    let routes = send(client().get(admin_url(server, "/-/routes"))).await.json();
    let mut out = Vec::new();
    for r in routes["routes"].as_array().expect("a routes list") {
        let mut kinds = BTreeMap::new();
        for (kind, outcomes) in r["action_counts"].as_object().into_iter().flatten() {
            let total: u64 = outcomes.as_object().into_iter().flatten().filter_map(|(_, n)| n.as_u64()).sum();
            kinds.insert(kind.clone(), total);
        }
        out.push((r["name"].as_str().unwrap_or_default().to_string(), (r["matches"].as_u64().unwrap_or(0), kinds)));
    }
    out
}

/// What serve did with `request`.
async fn serve(server: &hookroute::app::RunningServer, upstream: &Upstream, request: &Request) -> Seen {
    let before = counts(server).await;
    let received = upstream.count();
    let mut target = url(server, &request.path);
    if !request.query.is_empty() {
        target = format!("{target}?{}", query_string(request));
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut builder = client().request(method, target).body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let answer = send(builder).await;
    let after = counts(server).await;
    // /-/routes lists routes in file order, the order routes are taken in.
    let mut routes = Vec::new();
    let mut actions = BTreeMap::new();
    for (name, (matches, kinds)) in &after {
        let (was, was_kinds) = before.iter().find(|(n, _)| n == name).map(|(_, c)| c.clone()).unwrap_or_default();
        if *matches == was {
            continue;
        }
        routes.push(name.clone());
        let mut ran = Vec::new();
        for (kind, n) in kinds {
            for _ in *was_kinds.get(kind).unwrap_or(&0)..*n {
                ran.push(kind.clone());
            }
        }
        ran.sort();
        actions.insert(name.clone(), ran);
    }
    let queued: usize = actions.values().flatten().filter(|k| *k == "forward").count();
    let mut forwards: Vec<String> = upstream
        .wait_for(received + queued)
        .await
        .iter()
        .skip(received)
        .map(|r| match &r.query {
            Some(q) => format!("{}?{q}", r.path),
            None => r.path.clone(),
        })
        .collect();
    forwards.sort();
    let status = answer.status.as_u16();
    // serve's 202 body names the routes too; it must agree with the counts.
    if status == 202 && !routes.is_empty() {
        assert_eq!(answer.routes(), routes, "{}: serve's 202 names other routes than it ran", request.name);
    }
    // A 202's body carries the event id serve made up; the routes in it
    // are compared above.
    let reply = (status != 202).then(|| answer.text());
    Seen { routes, status: Some(status), reply, actions, forwards }
}

/// What `hookroute explain --format json` says about `request`.
fn explain(dir: &Path, request: &Request, n: usize) -> Seen {
    let body_file = format!("body-{n}");
    std::fs::write(dir.join(&body_file), &request.body).unwrap();
    let mut path = request.path.clone();
    if !request.query.is_empty() {
        path = format!("{path}?{}", query_string(request));
    }
    let header_args: Vec<String> = request.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let mut args = vec!["explain", "-c", "routes.yaml", "--format", "json", "-X", &request.method, "--path", &path];
    for h in &header_args {
        args.extend(["-H", h.as_str()]);
    }
    args.extend(["--body", &body_file]);
    let (code, out, err) = run_binary(&args, dir);
    assert_eq!(code, 0, "{}: explain failed: {out}{err}", request.name);
    let e: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("explain's JSON: {e}: {out}"));
    let routes: Vec<String> = serde_json::from_value(e["taken"].clone()).unwrap();
    let mut actions = BTreeMap::new();
    let mut forwards = Vec::new();
    for c in e["candidates"].as_array().into_iter().flatten().filter(|c| c["taken"] == json!(true)) {
        let mut kinds = Vec::new();
        for a in c["actions"].as_array().into_iter().flatten() {
            let kind = a["action"].as_str().unwrap_or_default();
            if kind == "respond" {
                continue;
            }
            kinds.push(kind.to_string());
            if kind == "forward" {
                let url = reqwest::Url::parse(a["url"].as_str().unwrap_or_default()).expect("a forward URL");
                forwards.push(match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_string(),
                });
            }
        }
        kinds.sort();
        actions.insert(c["route"].as_str().unwrap_or_default().to_string(), kinds);
    }
    forwards.sort();
    Seen {
        routes,
        status: e["status"].as_u64().map(|s| s as u16),
        reply: e["reply_body"].as_str().map(str::to_string),
        actions,
        forwards,
    }
}

/// A `hookroute test` case expecting what `seen` reports for `request`.
fn test_case(request: &Request, seen: &Seen) -> Value {
    let mut expect = json!({ "routes": seen.routes, "status": seen.status });
    if let Some(reply) = &seen.reply {
        expect["respond"] = json!({ "body": reply });
    }
    let headers: serde_json::Map<String, Value> = request.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let query: serde_json::Map<String, Value> = request.query.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    json!({
        "name": request.name,
        "request": {
            "method": request.method,
            "path": request.path,
            "headers": headers,
            "query": query,
            "body": String::from_utf8(request.body.clone()).expect("UTF-8 bodies"),
        },
        "expect": expect,
    })
}

/// Runs `hookroute test` on `cases`; Ok when every case passed, else its report.
fn run_tests(dir: &Path, file: &str, cases: &[Value]) -> Result<(), String> {
    std::fs::write(dir.join(file), json!({ "tests": cases }).to_string()).unwrap();
    let (code, out, err) = run_binary(&["test", "-c", "routes.yaml", "--tests", file], dir);
    match code {
        0 => Ok(()),
        _ => Err(format!("{out}{err}")),
    }
}

/// Runs `extra` and the example's own tests through all three; returns
/// every disagreement.
async fn three_way(example: &str, extra: Vec<Request>) -> Vec<String> {
    let upstream = Upstream::start().await;
    let base = upstream.url("");
    let base = base.trim_end_matches('/');
    let text = std::fs::read_to_string(Path::new("examples").join(example)).unwrap();
    let dir_holder = tempfile::tempdir().unwrap();
    let yaml = adapt(&text, base, dir_holder.path());
    let (server, dir) = start(&yaml).await;
    let dir = dir.path();
    // The example's body files, where its tests name them.
    let fixtures = dir.join("fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    for f in std::fs::read_dir("examples/fixtures").unwrap().flatten() {
        std::fs::copy(f.path(), fixtures.join(f.file_name())).unwrap();
    }
    let mut wrong = Vec::new();
    // The example's expectations hold in `hookroute test` as shipped.
    let (code, out, err) = run_binary(&["test", "-c", "routes.yaml"], dir);
    if code != 0 {
        wrong.push(format!("{example}: its own tests fail:\n{out}{err}"));
    }
    let requests: Vec<Request> = requests_of(&yaml, dir).into_iter().chain(extra).collect();
    assert!(!requests.is_empty(), "{example} has no requests to send");
    let mut cases = Vec::new();
    let mut tampered = Vec::new();
    for (n, request) in requests.into_iter().enumerate() {
        let request = signed(request, n);
        let served = serve(&server, &upstream, &request).await;
        let explained = explain(dir, &request, n);
        wrong.extend(disagreements(&format!("{example}: {}: serve vs explain", request.name), &served, &explained));
        // A deliberate disagreement is seen: the comparison can fail.
        let mut off = served.clone();
        off.status = off.status.map(|s| s + 1);
        assert!(!disagreements("", &off, &explained).is_empty(), "a changed status goes unnoticed");
        let mut off = served.clone();
        off.actions.values_mut().for_each(|kinds| kinds.push("log".into()));
        if !off.actions.is_empty() {
            assert!(!disagreements("", &off, &explained).is_empty(), "an extra action goes unnoticed");
        }
        let expected = served.clone();
        cases.push(test_case(&request, &expected));
        let mut other = expected.clone();
        other.status = expected.status.map(|s| if s == 202 { 200 } else { 202 });
        tampered.push(test_case(&request, &other));
    }
    if let Err(report) = run_tests(dir, "serve.yaml", &cases) {
        wrong.push(format!("{example}: hookroute test disagrees with serve:\n{report}"));
    }
    // And `hookroute test` does fail a case that expects what serve did not do.
    if run_tests(dir, "tampered.yaml", &tampered).is_ok() {
        wrong.push(format!("{example}: hookroute test passed expectations serve contradicts"));
    }
    drop(server);
    wrong
}

#[tokio::test]
async fn github_example_and_real_github_deliveries() {
    let mut extra = Vec::new();
    for f in std::fs::read_dir("examples/fixtures").unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("github-").and_then(|n| n.strip_suffix(".json")) else { continue };
        let event = rest.split('-').next().unwrap_or_default().to_string();
        extra.push(github(&name, &event, std::fs::read(f.path()).unwrap()));
    }
    extra.push(github("bench push", "push", std::fs::read("bench/fixtures/github-push.json").unwrap()));
    assert!(extra.len() >= 6, "the GitHub fixtures are missing");
    let wrong = three_way("github.yaml", extra).await;
    assert!(wrong.is_empty(), "serve, explain and test disagree:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn fanout_example() {
    let wrong = three_way("fanout.yaml", Vec::new()).await;
    assert!(wrong.is_empty(), "serve, explain and test disagree:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn data_sync_example() {
    let wrong = three_way("data-sync.yaml", Vec::new()).await;
    assert!(wrong.is_empty(), "serve, explain and test disagree:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn templates_example() {
    let wrong = three_way("templates.yaml", Vec::new()).await;
    assert!(wrong.is_empty(), "serve, explain and test disagree:\n{}", wrong.join("\n"));
}
