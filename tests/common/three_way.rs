//! Running one request through `serve`, `explain --format json` and
//! `hookroute test`, which must agree on the routes taken, the status and
//! the reply (issue #19: a rule `serve` applies and the tools do not is a
//! rule an operator cannot check before deploying).

use super::*;
use serde_json::{json, Value};

/// One request and what every one of serve, explain and test must say.
pub struct Case {
    pub name: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub query: &'static [(&'static str, &'static str)],
    pub headers: &'static [(&'static str, &'static str)],
    pub body: &'static str,
    pub status: u16,
    pub routes: &'static [&'static str],
    /// The exact reply body, when hookroute writes a fixed one.
    pub reply: Option<&'static str>,
    /// The reply's Content-Type as serve sends it, when it matters.
    pub content_type: Option<&'static str>,
}

pub const POST: Case = Case {
    name: "",
    method: "POST",
    path: "/",
    query: &[],
    headers: &[("Content-Type", "application/json")],
    body: "",
    status: 202,
    routes: &[],
    reply: None,
    content_type: None,
};

fn query_string(case: &Case) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(case.query.iter().copied()).finish()
}

/// What serve did: (status, routes taken, reply body, content type). Every
/// route in these configs appends to `taken.jsonl`, so the routes behind a
/// reply hookroute writes itself are read from there.
async fn serve(
    server: &hookroute::app::RunningServer,
    dir: &std::path::Path,
    case: &Case,
) -> (u16, Vec<String>, String, String) {
    let mut target = url(server, case.path);
    if !case.query.is_empty() {
        target = format!("{target}?{}", query_string(case));
    }
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
    let mut request = client().request(method, target).body(case.body.to_string());
    for (name, value) in case.headers {
        request = request.header(*name, *value);
    }
    let log = dir.join("taken.jsonl");
    let before = if log.exists() { json_lines(&log).len() } else { 0 };
    let answer = send(request).await;
    let text = answer.text();
    let content_type = answer.header("content-type").unwrap_or("").to_string();
    let status = answer.status.as_u16();
    let routes = match serde_json::from_str::<Value>(&text).ok().and_then(|v| v.get("routes").cloned()) {
        Some(routes) if status == 202 => serde_json::from_value(routes).unwrap(),
        _ if case.routes.is_empty() => Vec::new(),
        _ => {
            // The file action runs beside the reply; wait for its line.
            let mut lines = Vec::new();
            for _ in 0..200 {
                lines = if log.exists() { json_lines(&log) } else { Vec::new() };
                if lines.len() >= before + case.routes.len() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            lines.iter().skip(before).map(|l| l["route"].as_str().unwrap_or_default().to_string()).collect()
        }
    };
    (status, routes, text, content_type)
}

/// Runs every case through serve, explain and test, reporting all
/// disagreements with what the case says at once.
pub async fn all_three_agree(yaml: &str, cases: &[Case]) {
    let (server, dir) = start(yaml).await;
    let mut wrong = Vec::new();
    let mut tests = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let want_routes: Vec<String> = case.routes.iter().map(|r| r.to_string()).collect();
        // serve
        let (status, routes, body, content_type) = serve(&server, dir.path(), case).await;
        let got = (status, &routes);
        if got != (case.status, &want_routes) {
            wrong.push(format!("{}: serve answered {status} {body:?} taking {routes:?}", case.name));
        }
        if case.reply.is_some_and(|r| r != body) {
            wrong.push(format!("{}: serve replied {body:?}, not {:?}", case.name, case.reply));
        }
        if case.content_type.is_some_and(|c| c != content_type) {
            wrong.push(format!("{}: serve's Content-Type is {content_type:?}", case.name));
        }
        // explain
        let body_file = format!("body-{i}");
        std::fs::write(dir.path().join(&body_file), case.body).unwrap();
        let mut path = case.path.to_string();
        if !case.query.is_empty() {
            path = format!("{path}?{}", query_string(case));
        }
        let mut args = vec!["explain", "-c", "routes.yaml", "--format", "json", "-X", case.method, "--path", &path];
        let header_args: Vec<String> = case.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        for h in &header_args {
            args.extend(["-H", h.as_str()]);
        }
        args.extend(["--body", &body_file]);
        let (code, out, err) = run_binary(&args, dir.path());
        match serde_json::from_str::<Value>(&out) {
            Ok(e) if code == 0 => {
                if e["taken"] != json!(want_routes) || e["status"] != json!(case.status) {
                    wrong.push(format!("{}: explain took {} with status {}", case.name, e["taken"], e["status"]));
                }
                if let Some(reply) = case.reply {
                    if e["reply_body"] != json!(reply) {
                        wrong.push(format!("{}: explain would reply {}", case.name, e["reply_body"]));
                    }
                }
            }
            _ => wrong.push(format!("{}: explain exited {code}: {out}{err}", case.name)),
        }
        // test: the same request, expecting what the case says
        let mut expect = json!({"routes": want_routes, "status": case.status});
        if let Some(reply) = case.reply {
            expect["respond"] = json!({"body": reply});
        }
        let headers: serde_json::Map<String, Value> =
            case.headers.iter().map(|(n, v)| (n.to_string(), json!(v))).collect();
        let query: serde_json::Map<String, Value> = case.query.iter().map(|(n, v)| (n.to_string(), json!(v))).collect();
        tests.push(json!({
            "name": case.name,
            "request": {"method": case.method, "path": case.path, "headers": headers, "query": query, "body": case.body},
            "expect": expect,
        }));
    }
    // JSON is YAML: the tests file is written as JSON, bodies byte for byte.
    std::fs::write(dir.path().join("t.yaml"), json!({ "tests": tests }).to_string()).unwrap();
    let (code, out, err) = run_binary(&["test", "-c", "routes.yaml", "--tests", "t.yaml"], dir.path());
    if code != 0 {
        wrong.push(format!("hookroute test exited {code}:\n{out}{err}"));
    }
    assert!(wrong.is_empty(), "serve, explain and test disagree with the cases:\n{}", wrong.join("\n"));
}
