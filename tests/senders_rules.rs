//! Issue #19, kinds 2-4, on the real server with the bytes real senders
//! send: the three verification handshakes (Slack, Twitch EventSub, Meta),
//! negative conditions on absent values, 64-bit ids, and trailing slashes.
//!
//! Every request is also run through `hookroute explain --format json` and
//! `hookroute test`, and the three must agree on the routes taken, the
//! status and the reply: a rule that `serve` applies and the tools do not
//! (or the reverse) is a rule an operator cannot check before deploying.

mod common;

use common::*;
use serde_json::{json, Value};

/// One request and what every one of serve, explain and test must say.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    status: u16,
    routes: &'static [&'static str],
    /// The exact reply body, when hookroute writes a fixed one.
    reply: Option<&'static str>,
    /// The reply's Content-Type as serve sends it, when it matters.
    content_type: Option<&'static str>,
}

const POST: Case = Case {
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
async fn all_three_agree(yaml: &str, cases: &[Case]) {
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

// ---------------------------------------------------------------------------
// Kind 2: text versus JSON in replies.

/// Slack's Events API example (api.slack.com/events/url_verification).
const SLACK: &str = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;

/// Twitch EventSub's verification request (dev.twitch.tv/docs/eventsub/handling-webhook-events).
const TWITCH: &str = r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"1","cost":1,"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;

const HANDSHAKES: &str = r#"
routes:
  - name: slack-challenge
    path: /hooks/slack
    when: { json: $.type, equals: url_verification }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    respond: { status: 200, headers: { Content-Type: text/plain }, body: "{{ json.challenge }}" }
  - name: slack-json
    path: /hooks/slack-json
    when: { json: $.type, equals: url_verification }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    respond: { status: 200, headers: { Content-Type: application/json }, body: '{"challenge": "{{ json.challenge }}"}' }
  - name: twitch-verify
    path: /hooks/twitch
    when: { header: Twitch-Eventsub-Message-Type, equals: webhook_callback_verification }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    respond: { status: 200, body: "{{ json.challenge }}" }
  - name: meta-verify
    path: /hooks/meta
    methods: [GET]
    when:
      - { query: hub.mode, equals: subscribe }
      - { query: hub.verify_token, equals: meatyhamhock }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    respond: { status: 200, body: "{{ query['hub.challenge'] }}" }
"#;

#[tokio::test]
async fn verification_handshakes_are_answered_with_the_raw_challenge() {
    all_three_agree(
        HANDSHAKES,
        &[
            Case {
                name: "slack url_verification, text/plain",
                path: "/hooks/slack",
                body: SLACK,
                status: 200,
                routes: &["slack-challenge"],
                reply: Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"),
                content_type: Some("text/plain"),
                ..POST
            },
            Case {
                name: "slack url_verification, JSON",
                path: "/hooks/slack-json",
                body: SLACK,
                status: 200,
                routes: &["slack-json"],
                reply: Some(r#"{"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#),
                content_type: Some("application/json"),
                ..POST
            },
            Case {
                name: "twitch webhook_callback_verification",
                path: "/hooks/twitch",
                headers: &[
                    ("Content-Type", "application/json"),
                    ("Twitch-Eventsub-Message-Id", "e76c6bd4-55c9-4987-8304-da1588d8988b"),
                    ("Twitch-Eventsub-Message-Type", "webhook_callback_verification"),
                ],
                body: TWITCH,
                status: 200,
                routes: &["twitch-verify"],
                reply: Some("pogchamp-kappa-360noscope-vohiyo"),
                content_type: Some("text/plain; charset=utf-8"),
                ..POST
            },
            Case {
                name: "meta hub.challenge",
                method: "GET",
                path: "/hooks/meta",
                query: &[
                    ("hub.mode", "subscribe"),
                    ("hub.challenge", "1158201444"),
                    ("hub.verify_token", "meatyhamhock"),
                ],
                headers: &[],
                status: 200,
                routes: &["meta-verify"],
                reply: Some("1158201444"),
                content_type: Some("text/plain; charset=utf-8"),
                ..POST
            },
            Case {
                name: "meta with a wrong token",
                method: "GET",
                path: "/hooks/meta",
                query: &[("hub.mode", "subscribe"), ("hub.challenge", "1158201444"), ("hub.verify_token", "guess")],
                headers: &[],
                status: 202,
                routes: &[],
                ..POST
            },
        ],
    )
    .await;
}

#[test]
fn check_warns_about_a_body_that_can_only_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("routes.yaml"),
        r#"routes:
  - name: broken
    path: /in
    actions: [{ log: {} }]
    respond:
      status: 200
      headers: { Content-Type: application/json }
      body: "challenge={{ json.challenge }}"
  - name: old-style
    path: /old
    actions:
      - forward: { url: "http://127.0.0.1:9/x", body: '{"text": "{{ json.title }}"}' }
"#,
    )
    .unwrap();
    let (code, out, err) = run_binary(&["check", "-c", "routes.yaml"], dir.path());
    assert_eq!(code, 0, "warnings do not fail check: {out}{err}");
    let all = format!("{out}{err}");
    assert!(
        all.contains("routes.yaml:8:13: warning: route \"broken\": respond.body: this template can only fail"),
        "{all}"
    );
    assert!(
        all.contains("warning: route \"old-style\": actions[0].forward.body: this body is written as JSON but sent as `text/plain"),
        "{all}"
    );
}

// ---------------------------------------------------------------------------
// Kind 3: negation on absent values, exact integers.

const CONDITIONS: &str = r#"
routes:
  - name: not-archived
    path: /json
    when: { json: $.status, not_equals: archived }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
  - name: not-bot
    path: /header
    when: { header: X-Sender-Kind, not_equals: bot }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
  - name: not-dry-run
    path: /query
    when: { query: dry_run, not_equals: "1" }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
  - name: after-id
    path: /ids
    when: { json: $.id, gt: 7615917337495251230 }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    continue: true
  - name: this-id
    path: /ids
    when: { json: $.id, equals: 7615917337495251231 }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    continue: true
  - name: listed-id
    path: /ids
    when: { json: $.id, in: [7615917337495251232, 1] }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    continue: true
  - name: until-id
    path: /ids
    when: { json: $.id, lte: 7615917337495251230 }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    continue: true
  - name: header-id
    path: /ids
    when: { header: X-Id, gte: 7615917337495251231 }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
"#;

#[tokio::test]
async fn negative_conditions_hold_when_the_value_is_absent() {
    all_three_agree(
        CONDITIONS,
        &[
            Case { name: "json absent", path: "/json", body: r#"{"id":1}"#, routes: &["not-archived"], ..POST },
            Case { name: "json other", path: "/json", body: r#"{"status":"open"}"#, routes: &["not-archived"], ..POST },
            Case { name: "json equal", path: "/json", body: r#"{"status":"archived"}"#, routes: &[], ..POST },
            Case { name: "header absent", path: "/header", body: "{}", routes: &["not-bot"], ..POST },
            Case {
                name: "header equal",
                path: "/header",
                headers: &[("Content-Type", "application/json"), ("X-Sender-Kind", "bot")],
                body: "{}",
                routes: &[],
                ..POST
            },
            Case { name: "query absent", path: "/query", body: "{}", routes: &["not-dry-run"], ..POST },
            Case { name: "query equal", path: "/query", query: &[("dry_run", "1")], body: "{}", routes: &[], ..POST },
        ],
    )
    .await;
}

#[tokio::test]
async fn sixty_four_bit_ids_compare_exactly() {
    all_three_agree(
        CONDITIONS,
        &[
            // As f64, …230, …231 and …232 are all 7615917337495250944: only
            // an exact comparison tells them apart.
            Case {
                name: "id ...231",
                path: "/ids",
                headers: &[("Content-Type", "application/json"), ("X-Id", "7615917337495251231")],
                body: r#"{"id":7615917337495251231}"#,
                routes: &["after-id", "this-id", "header-id"],
                ..POST
            },
            Case {
                name: "id ...230",
                path: "/ids",
                headers: &[("Content-Type", "application/json"), ("X-Id", "7615917337495251230")],
                body: r#"{"id":7615917337495251230}"#,
                routes: &["until-id"],
                ..POST
            },
            Case {
                name: "id ...232",
                path: "/ids",
                body: r#"{"id":7615917337495251232}"#,
                routes: &["after-id", "listed-id"],
                ..POST
            },
            // Mixed integer/float: the doubles either side of the bound
            // (…251968 above it; …250944, its nearest double, below it).
            Case {
                name: "float above",
                path: "/ids",
                body: r#"{"id":7.6159173374952515e18}"#,
                routes: &["after-id"],
                ..POST
            },
            Case {
                name: "float below",
                path: "/ids",
                body: r#"{"id":7.615917337495251e18}"#,
                routes: &["until-id"],
                ..POST
            },
        ],
    )
    .await;
}

#[test]
fn explain_prints_absent_values_and_exact_operands() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), with_dir(CONDITIONS, dir.path())).unwrap();
    std::fs::write(dir.path().join("b.json"), r#"{"id":7615917337495251231}"#).unwrap();
    let (code, out, err) =
        run_binary(&["explain", "-c", "routes.yaml", "--path", "/json", "--body", "b.json"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("  json $.status = (absent) not_equals \"archived\" → true\n"), "{out}");
    let (code, out, err) =
        run_binary(&["explain", "-c", "routes.yaml", "--path", "/ids", "--body", "b.json"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("  json $.id = 7615917337495251231 gt 7615917337495251230 → true\n"), "{out}");
}

// ---------------------------------------------------------------------------
// Kind 4: trailing slashes.

const SLASHES: &str = r#"
routes:
  - name: github
    path: /hooks/github
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
  - name: webhook
    path: /webhook/
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
  - name: strict
    path: /strict
    strict_slash: true
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
  - name: strict-slash
    path: /dir/
    strict_slash: true
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
"#;

#[tokio::test]
async fn a_trailing_slash_reaches_the_route_unless_it_is_strict() {
    all_three_agree(
        SLASHES,
        &[
            Case { name: "as written", path: "/hooks/github", body: "{}", routes: &["github"], ..POST },
            Case { name: "slash added", path: "/hooks/github/", body: "{}", routes: &["github"], ..POST },
            Case { name: "slash dropped", path: "/webhook", body: "{}", routes: &["webhook"], ..POST },
            Case { name: "slash kept", path: "/webhook/", body: "{}", routes: &["webhook"], ..POST },
            Case { name: "strict as written", path: "/strict", body: "{}", routes: &["strict"], ..POST },
            Case { name: "strict with a slash", path: "/strict/", body: "{}", status: 404, ..POST },
            Case { name: "strict slash as written", path: "/dir/", body: "{}", routes: &["strict-slash"], ..POST },
            Case { name: "strict slash dropped", path: "/dir", body: "{}", status: 404, ..POST },
        ],
    )
    .await;
}

#[test]
fn check_treats_both_spellings_as_one_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("routes.yaml"),
        "routes:\n  - name: all\n    path: /hooks/x/\n    actions: [{ log: {} }]\n  - name: later\n    path: /hooks/x\n    actions: [{ log: {} }]\n  - name: strict\n    path: /hooks/y/\n    strict_slash: true\n    actions: [{ log: {} }]\n  - name: lenient\n    path: /hooks/y\n    actions: [{ log: {} }]\n",
    )
    .unwrap();
    let (code, out, err) = run_binary(&["check", "-c", "routes.yaml"], dir.path());
    assert_eq!(code, 0, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("warning: route \"later\": can never be reached: route \"all\" (line 2)"), "{all}");
    // The lenient route still takes /hooks/y, which the strict one refuses.
    assert!(!all.contains("route \"lenient\""), "{all}");
}
