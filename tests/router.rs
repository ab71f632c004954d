//! The router as a webhook sender and an internal service see it: the real
//! server on loopback, real upstreams, real files. Covers every operator and
//! combinator, every subject, route selection, every status at the door,
//! body decoding, what a forward delivers, what a file records, and the
//! answers a route can give.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Conditions: one route per condition, each on its own path, so a 202's
// `routes` list says whether that condition held.

/// Routes named after the keys, each on `/c/NAME`, each with the given
/// `when` (flow YAML).
fn condition_routes(conditions: &[(&str, &str)]) -> String {
    let mut yaml = String::from("routes:\n");
    for (name, when) in conditions {
        yaml.push_str(&format!(
            "  - name: {name}\n    path: /c/{name}\n    when: {when}\n    actions: [{{log: {{}}}}]\n"
        ));
    }
    yaml
}

/// Posts `body` to `/c/NAME` and says whether the route was taken.
async fn holds(server: &hookroute::app::RunningServer, name: &str, body: Value) -> bool {
    let answer = post_json(&url(server, &format!("/c/{name}")), &body).await;
    assert_eq!(answer.status, 202, "{name}: {}", answer.text());
    match answer.routes().as_slice() {
        [] => false,
        [taken] if taken == name => true,
        other => panic!("{name}: unexpected routes {other:?}"),
    }
}

/// Checks each (condition, body, expected) case, reporting all failures.
async fn check_cases(server: &hookroute::app::RunningServer, cases: &[(&str, Value, bool)]) {
    let mut wrong = Vec::new();
    for (name, body, expected) in cases {
        if holds(server, name, body.clone()).await != *expected {
            wrong.push(format!("{name} on {body}: expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "conditions that decided wrongly:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_operator_on_json() {
    let (server, _dir) = start(&condition_routes(&[
        ("exists-true", "{json: $.a, exists: true}"),
        ("exists-false", "{json: $.a, exists: false}"),
        ("equals-str", "{json: $.event, equals: push}"),
        ("not-equals", "{json: $.ref, not_equals: main}"),
        ("in-list", "{json: $.repo, in: [acme/api, acme/web]}"),
        ("matches", "{json: $.ref, matches: '^refs/heads/(main|release/.+)$'}"),
        ("contains-str", "{json: $.text, contains: deploy}"),
        ("contains-arr", "{json: $.labels, contains: bug}"),
        ("contains-num", "{json: $.ids, contains: 3}"),
        ("gt", "{json: $.n, gt: 10}"),
        ("gte", "{json: $.n, gte: 10}"),
        ("lt", "{json: $.n, lt: 0.5}"),
        ("lte", "{json: $.n, lte: -1}"),
    ]))
    .await;
    check_cases(
        &server,
        &[
            // `exists` is about presence: a null is present.
            ("exists-true", json!({"a": null}), true),
            ("exists-true", json!({"a": {"deep": 1}}), true),
            ("exists-true", json!({"b": 1}), false),
            ("exists-false", json!({"b": 1}), true),
            ("exists-false", json!({"a": false}), false),
            ("equals-str", json!({"event": "push"}), true),
            ("equals-str", json!({"event": "Push"}), false),
            ("equals-str", json!({}), false),
            ("not-equals", json!({"ref": "dev"}), true),
            ("not-equals", json!({"ref": "main"}), false),
            // `not_equals` is `not: {equals}`: a missing field is not `main`.
            ("not-equals", json!({}), true),
            ("in-list", json!({"repo": "acme/web"}), true),
            ("in-list", json!({"repo": "acme/webx"}), false),
            ("matches", json!({"ref": "refs/heads/release/1.2"}), true),
            ("matches", json!({"ref": "refs/heads/main"}), true),
            ("matches", json!({"ref": "refs/heads/feature/x"}), false),
            ("matches", json!({"ref": 5}), false),
            ("contains-str", json!({"text": "please deploy api"}), true),
            ("contains-str", json!({"text": "Deploy"}), false),
            ("contains-arr", json!({"labels": ["ui", "bug"]}), true),
            ("contains-arr", json!({"labels": ["bugfix"]}), false),
            ("contains-num", json!({"ids": [1, 2, 3.0]}), true),
            ("contains-num", json!({"ids": ["3"]}), false),
            ("gt", json!({"n": 11}), true),
            ("gt", json!({"n": 10.5}), true),
            ("gt", json!({"n": 10}), false),
            // Typed: a numeric string is not a number.
            ("gt", json!({"n": "11"}), false),
            ("gte", json!({"n": 10}), true),
            ("gte", json!({"n": 9.99}), false),
            ("lt", json!({"n": 0.25}), true),
            ("lt", json!({"n": 0.5}), false),
            ("lte", json!({"n": -1}), true),
            ("lte", json!({"n": -0.5}), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn equality_is_typed_and_numeric_across_int_and_float() {
    let (server, _dir) = start(&condition_routes(&[
        ("str-42", "{json: $.n, equals: '42'}"),
        ("num-42", "{json: $.n, equals: 42}"),
        ("num-1", "{json: $.n, equals: 1.0}"),
        ("bool", "{json: $.flag, equals: true}"),
        ("is-null", "{json: $.v, equals: null}"),
        ("object", "{json: $.o, equals: {x: 1, y: [a]}}"),
        ("in-mixed", "{json: $.n, in: [1, '2']}"),
    ]))
    .await;
    check_cases(
        &server,
        &[
            ("str-42", json!({"n": "42"}), true),
            ("str-42", json!({"n": 42}), false),
            ("num-42", json!({"n": 42}), true),
            ("num-42", json!({"n": 42.0}), true),
            ("num-42", json!({"n": "42"}), false),
            ("num-1", json!({"n": 1}), true),
            ("num-1", json!({"n": 1.5}), false),
            ("bool", json!({"flag": true}), true),
            ("bool", json!({"flag": "true"}), false),
            ("bool", json!({"flag": 1}), false),
            ("is-null", json!({"v": null}), true),
            ("is-null", json!({}), false),
            ("is-null", json!({"v": 0}), false),
            ("object", json!({"o": {"y": ["a"], "x": 1.0}}), true),
            ("object", json!({"o": {"x": 1, "y": ["a"], "z": 0}}), false),
            ("in-mixed", json!({"n": 1.0}), true),
            ("in-mixed", json!({"n": "2"}), true),
            ("in-mixed", json!({"n": 2}), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn combinators_nest_freely() {
    let (server, _dir) = start(&condition_routes(&[
        ("list-is-all", "[{json: $.a, equals: 1}, {json: $.b, equals: 2}]"),
        ("all", "{all: [{json: $.a, equals: 1}, {json: $.b, equals: 2}]}"),
        ("any", "{any: [{json: $.a, equals: 1}, {json: $.b, equals: 2}]}"),
        ("not", "{not: {json: $.deleted, equals: true}}"),
        (
            "nested",
            "{any: [{all: [{json: $.x, equals: 1}, {not: {json: $.y, exists: true}}]}, {not: {any: [{json: $.z, lt: 0}, {json: $.z, exists: false}]}}]}",
        ),
    ]))
    .await;
    check_cases(
        &server,
        &[
            ("list-is-all", json!({"a": 1, "b": 2}), true),
            ("list-is-all", json!({"a": 1, "b": 3}), false),
            ("all", json!({"a": 1, "b": 2}), true),
            ("all", json!({"a": 1}), false),
            ("any", json!({"b": 2}), true),
            ("any", json!({"a": 1}), true),
            ("any", json!({"a": 2, "b": 1}), false),
            ("not", json!({"deleted": false}), true),
            ("not", json!({}), true),
            ("not", json!({"deleted": true}), false),
            // x == 1 and no y
            ("nested", json!({"x": 1}), true),
            ("nested", json!({"x": 1, "y": 0}), false),
            // z present and not negative
            ("nested", json!({"z": 3}), true),
            ("nested", json!({"z": -3}), false),
            ("nested", json!({"x": 2}), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_multi_node_jsonpath_holds_if_any_node_does() {
    let (server, _dir) = start(&condition_routes(&[
        ("email", "{json: '$.commits[*].author.email', equals: b@acme.com}"),
        ("email-re", "{json: '$.commits[*].author.email', matches: '@partner\\.io$'}"),
        ("no-commits", "{json: '$.commits[*]', exists: false}"),
        ("descendant", "{json: '$..id', in: [7]}"),
        ("filter", "{json: '$.commits[?@.distinct == true].id', exists: true}"),
    ]))
    .await;
    let commits = |emails: &[&str]| json!({"commits": emails.iter().map(|e| json!({"author": {"email": e}})).collect::<Vec<_>>()});
    check_cases(
        &server,
        &[
            ("email", commits(&["a@acme.com", "b@acme.com"]), true),
            ("email", commits(&["a@acme.com"]), false),
            ("email-re", commits(&["a@acme.com", "x@partner.io"]), true),
            ("email-re", commits(&["a@acme.com"]), false),
            ("no-commits", json!({"commits": []}), true),
            ("no-commits", json!({}), true),
            ("no-commits", commits(&["a@acme.com"]), false),
            ("descendant", json!({"a": {"b": [{"id": 3}, {"id": 7}]}}), true),
            ("descendant", json!({"a": {"b": [{"id": 3}]}}), false),
            ("filter", json!({"commits": [{"id": 1, "distinct": false}, {"id": 2, "distinct": true}]}), true),
            ("filter", json!({"commits": [{"id": 1, "distinct": false}]}), false),
        ],
    )
    .await;
}

#[tokio::test]
async fn header_query_path_param_and_method_subjects() {
    let (server, _dir) = start(
        r#"
routes:
  - name: header
    path: /h
    when: { header: X-GitHub-Event, equals: push }
    actions: [{log: {}}]
  - name: header-any-value
    path: /h-multi
    when: { header: x-tag, equals: b }
    actions: [{log: {}}]
  - name: header-number
    path: /h-num
    when: [{ header: X-Count, gt: 10 }, { header: X-Count, equals: 12 }]
    actions: [{log: {}}]
  - name: header-absent
    path: /h-absent
    when: { header: X-Signature, exists: false }
    actions: [{log: {}}]
  - name: query
    path: /q
    when: [{ query: env, equals: prod }, { query: who, equals: "a b" }]
    actions: [{log: {}}]
  - name: param
    path: /repos/{owner}/{repo}
    when: [{ path_param: owner, in: [acme, "acme corp"] }, { path_param: repo, matches: '^api' }]
    actions: [{log: {}}]
  - name: method
    path: /m
    methods: [POST, PUT, PATCH]
    when: { method: true, in: [put, patch] }
    actions: [{log: {}}]
"#,
    )
    .await;
    let c = client();
    let taken = |answer: Answer| {
        assert_eq!(answer.status, 202, "{}", answer.text());
        answer.routes()
    };
    let none: Vec<String> = Vec::new();

    // Header names are case-insensitive whichever way they are written.
    assert_eq!(taken(send(c.post(url(&server, "/h")).header("x-github-event", "push")).await), ["header"]);
    assert_eq!(taken(send(c.post(url(&server, "/h")).header("X-GITHUB-EVENT", "push")).await), ["header"]);
    assert_eq!(taken(send(c.post(url(&server, "/h")).header("X-GitHub-Event", "Push")).await), none);
    assert_eq!(taken(send(c.post(url(&server, "/h"))).await), none);
    // A repeated header holds if any of its values does.
    let multi = c.post(url(&server, "/h-multi")).header("X-Tag", "a").header("X-Tag", "b");
    assert_eq!(taken(send(multi).await), ["header-any-value"]);
    // Header text compares with configured numbers as a number.
    assert_eq!(taken(send(c.post(url(&server, "/h-num")).header("X-Count", "12")).await), ["header-number"]);
    assert_eq!(taken(send(c.post(url(&server, "/h-num")).header("X-Count", "9")).await), none);
    assert_eq!(taken(send(c.post(url(&server, "/h-absent"))).await), ["header-absent"]);
    assert_eq!(taken(send(c.post(url(&server, "/h-absent")).header("x-signature", "s")).await), none);

    // Query values are percent-decoded; a repeated name holds if any value does.
    assert_eq!(taken(send(c.post(url(&server, "/q?env=dev&env=prod&who=a%20b"))).await), ["query"]);
    assert_eq!(taken(send(c.post(url(&server, "/q?env=prod&who=a+b"))).await), ["query"]);
    assert_eq!(taken(send(c.post(url(&server, "/q?env=dev&who=a%20b"))).await), none);
    assert_eq!(taken(send(c.post(url(&server, "/q"))).await), none);

    assert_eq!(taken(send(c.post(url(&server, "/repos/acme/api-gateway"))).await), ["param"]);
    assert_eq!(taken(send(c.post(url(&server, "/repos/acme%20corp/api"))).await), ["param"]);
    assert_eq!(taken(send(c.post(url(&server, "/repos/other/api"))).await), none);
    assert_eq!(taken(send(c.post(url(&server, "/repos/acme/web"))).await), none);

    assert_eq!(taken(send(c.put(url(&server, "/m"))).await), ["method"]);
    assert_eq!(taken(send(c.patch(url(&server, "/m"))).await), ["method"]);
    assert_eq!(taken(send(c.post(url(&server, "/m"))).await), none);
}

// ---------------------------------------------------------------------------
// Selection.

#[tokio::test]
async fn first_match_wins_unless_a_route_says_continue() {
    let (server, _dir) = start(
        r#"
routes:
  - name: audit
    path: /fan
    when: { json: $.kind, equals: a }
    continue: true
    actions: [{log: {}}]
  - name: specific
    path: /fan
    when: { json: $.kind, in: [a, b] }
    actions: [{log: {}}]
  - name: fallback
    path: /fan
    actions: [{log: {}}]
  - name: by-provider
    path: /hooks/{provider}
    when: { path_param: provider, equals: github }
    continue: true
    actions: [{log: {}}]
  - name: literal
    path: /hooks/github
    actions: [{log: {}}]
  - name: any-hook
    path: /hooks/{*rest}
    actions: [{log: {}}]
"#,
    )
    .await;
    let routes = |path: &'static str, body: Value| {
        let server = &server;
        async move { post_json(&url(server, path), &body).await.routes() }
    };
    // `continue` on the first lets the next matching one be taken too; the
    // second does not continue, so the fallback is not.
    assert_eq!(routes("/fan", json!({"kind": "a"})).await, ["audit", "specific"]);
    assert_eq!(routes("/fan", json!({"kind": "b"})).await, ["specific"]);
    assert_eq!(routes("/fan", json!({"kind": "c"})).await, ["fallback"]);
    // Routes on overlapping patterns are candidates together, in file order.
    assert_eq!(routes("/hooks/github", json!({})).await, ["by-provider", "literal"]);
    assert_eq!(routes("/hooks/stripe", json!({})).await, ["any-hook"]);
    assert_eq!(routes("/hooks/a/b/c", json!({})).await, ["any-hook"]);
}

// ---------------------------------------------------------------------------
// The door: every status a sender can get.

const DOOR: &str = r#"
max_body_bytes: 1 KiB
routes:
  - name: push
    path: /door
    methods: [POST]
    when: { json: $.event, equals: push }
    actions: [{log: {}}]
  - name: put-only
    path: /door
    methods: [PUT]
    when: { json: $.event, equals: never }
    actions: [{log: {}}]
  - name: plain
    path: /plain
    when: { json: $.a, exists: false }
    actions: [{log: {}}]
"#;

#[tokio::test]
async fn matched_and_ignored_events_are_both_accepted() {
    let (server, _dir) = start(DOOR).await;
    let answer = post_json(&url(&server, "/door"), &json!({"event": "push"})).await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let body = answer.json();
    let id = body["id"].as_str().expect("an event id");
    assert_eq!(id.len(), 26, "a ULID: {id}");
    assert_eq!(body["routes"], json!(["push"]));
    assert_eq!(answer.header("x-hookroute-event-id"), Some(id));

    // A known path where no condition holds: still 202, so the provider does not retry.
    let ignored = post_json(&url(&server, "/door"), &json!({"event": "star"})).await;
    assert_eq!(ignored.status, 202);
    assert_eq!(ignored.json()["routes"], json!([]));
    let second_id = ignored.json()["id"].as_str().unwrap().to_string();
    assert!(second_id.as_str() > id, "ids are time-ordered: {id} then {second_id}");
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
    let (server, _dir) = start(DOOR).await;
    let c = client();
    let missing = send(c.post(url(&server, "/nope")).body("{}")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error(), "no route for path /nope");
    // A trailing slash is insignificant: /door/ is /door (405 for GET below).
    assert_eq!(send(c.get(url(&server, "/door/"))).await.status, 405);

    let wrong = send(c.get(url(&server, "/door"))).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("POST, PUT"));
    assert!(wrong.error().contains("method GET not allowed"), "{}", wrong.error());
    // The PUT route is a candidate for PUT (and its condition does not hold).
    let put = send(c.put(url(&server, "/door")).header("content-type", "application/json").body("{}")).await;
    assert_eq!((put.status.as_u16(), put.routes()), (202, vec![]));
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let (server, _dir) = start(DOOR).await;
    // At the limit: accepted.
    let at_limit = format!("{{\"event\":\"push\",\"pad\":\"{}\"}}", "x".repeat(1024 - 25));
    assert_eq!(at_limit.len(), 1024);
    let ok = post(&url(&server, "/door"), "application/json", at_limit.clone()).await;
    assert_eq!((ok.status.as_u16(), ok.routes()), (202, vec!["push".to_string()]));

    // Declared too large: refused before any body byte is sent.
    let declared = raw_http(
        server.addr,
        b"POST /door HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n",
    )
    .await;
    assert_eq!(declared.status, 413);
    assert_eq!(declared.error(), "request body exceeds the limit of 1024 bytes");

    // Chunked with no length: refused once the limit is passed, without
    // waiting for a body that never ends (no final chunk is ever sent).
    let mut chunked =
        b"POST /door HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(b"200\r\n");
        chunked.extend_from_slice(&[b' '; 0x200]);
        chunked.extend_from_slice(b"\r\n");
    }
    let streamed = raw_http(server.addr, &chunked).await;
    assert_eq!(streamed.status, 413);
    assert!(streamed.error().contains("exceeds the limit"), "{}", streamed.error());
}

#[tokio::test]
async fn malformed_json_is_400_with_line_and_column() {
    let (server, _dir) = start(DOOR).await;
    let bad = post(&url(&server, "/door"), "application/json", "{\"event\": \"push\",\n  \"x\": }").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error(), "invalid JSON body: expected value at line 2 column 8");
    // `application/*+json` is JSON too.
    let vendor = post(&url(&server, "/door"), "application/vnd.github+json; charset=utf-8", "[1,").await;
    assert_eq!(vendor.status, 400);
    assert!(vendor.error().contains("line 1 column 3"), "{}", vendor.error());
    // Other content types are not parsed: `json` conditions see no document
    // (`text/plain` that is, whole, JSON is read as JSON: see
    // tests/senders_bodies.rs), and a body that is not JSON is no error.
    let csv = post(&url(&server, "/plain"), "text/csv", "{\"a\": 1}").await;
    assert_eq!(csv.routes(), ["plain"]);
    let text = post(&url(&server, "/plain"), "text/plain", "{\"a\": 1}").await;
    assert_eq!(text.routes(), Vec::<String>::new());
    let not_json = post(&url(&server, "/plain"), "text/plain", "{ not json").await;
    assert_eq!(not_json.routes(), ["plain"]);
}

// ---------------------------------------------------------------------------
// Form-encoded payloads.

#[tokio::test]
async fn form_fields_and_a_json_payload_field_are_matchable() {
    let upstream = Upstream::start().await;
    let (server, dir) = start(&format!(
        r#"
routes:
  - name: github-form
    path: /form
    when: [{{ json: $.payload.action, equals: opened }}, {{ json: $.payload.number, gt: 5 }}]
    actions:
      - forward: {{ url: "{}" }}
      - file: {{ path: "@DIR@/form.jsonl" }}
  - name: slack-command
    path: /form
    when: [{{ json: $.command, equals: /deploy }}, {{ json: $.text, contains: prod }}]
    actions: [{{ file: {{ path: "@DIR@/form.jsonl" }} }}]
"#,
        upstream.url("/in")
    ))
    .await;
    let form = "payload=%7B%22action%22%3A%22opened%22%2C%22number%22%3A7%7D&token=t0k";
    let answer = post(&url(&server, "/form"), "application/x-www-form-urlencoded", form).await;
    assert_eq!(answer.routes(), ["github-form"]);
    let slack =
        post(&url(&server, "/form"), "application/x-www-form-urlencoded", "command=%2Fdeploy&text=api+prod").await;
    assert_eq!(slack.routes(), ["slack-command"]);
    let neither = post(&url(&server, "/form"), "application/x-www-form-urlencoded", "command=%2Fdeploy&text=api").await;
    assert_eq!(neither.routes(), Vec::<String>::new());

    // The forward carries the form bytes as sent, not the decoded fields.
    let got = upstream.wait_for(1).await;
    assert_eq!(got[0].body, form.as_bytes());
    assert_eq!(got[0].header("content-type"), Some("application/x-www-form-urlencoded"));
    // The file records the fields, with the payload parsed.
    let lines = json_lines(&dir.path().join("form.jsonl"));
    assert_eq!(lines[0]["body"], json!({"payload": {"action": "opened", "number": 7}, "token": "t0k"}));
    assert_eq!(lines[1]["body"], json!({"command": "/deploy", "text": "api prod"}));
}

// ---------------------------------------------------------------------------
// Forward: what arrives at the internal service.

#[tokio::test]
async fn forward_delivers_exact_bytes_and_the_right_headers() {
    let upstream = Upstream::start().await;
    let (server, _dir) = start(&format!(
        r#"
routes:
  - name: fwd
    path: /fwd
    actions:
      - forward:
          url: "{}"
          headers: {{ X-Source: hookroute, Authorization: Bearer internal }}
"#,
        upstream.url("/build?from=hookroute")
    ))
    .await;
    // Odd spacing, key order and non-ASCII text: only the exact bytes verify
    // a provider's signature downstream.
    let body = "{ \"b\" :2,\n\t\"a\": \"caf\u{e9} \u{1F680}\", \"n\": 1.0e0 }  \n";
    let head = "POST /fwd?x=1 HTTP/1.1\r\nHost: hooks.example.com\r\nContent-Type: application/json\r\n\
         Connection: keep-alive, X-Hop-Private\r\nX-Hop-Private: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\
         Proxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Forwarded-For: 203.0.113.7\r\nX-Source: client\r\n\
         X-GitHub-Delivery: 72d3162e\r\nX-Multi: one\r\nX-Multi: two\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut request = head.as_bytes().to_vec();
    // Two chunks, so the body also crosses a read boundary.
    let (first, second) = body.as_bytes().split_at(10);
    for part in [first, second] {
        request.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        request.extend_from_slice(part);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let answer = raw_http(server.addr, &request).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let id = answer.json()["id"].as_str().unwrap().to_string();

    let got = upstream.wait_for(1).await;
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str(), r.query.as_deref()), ("POST", "/build", Some("from=hookroute")));
    assert_eq!(r.body, body.as_bytes(), "body bytes changed on the way");
    // Passed through.
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-github-delivery"), Some("72d3162e"));
    assert_eq!(r.header_all("x-multi"), ["one", "two"]);
    // Hop-by-hop (including those named in Connection), Host and the
    // original framing are not passed through.
    for dropped in ["x-hop-private", "keep-alive", "te", "proxy-authorization", "transfer-encoding", "connection"] {
        assert_eq!(r.header(dropped), None, "{dropped} should not be forwarded");
    }
    assert_eq!(r.header("host"), Some(upstream.addr.to_string().as_str()));
    assert_eq!(r.header_all("content-length"), [body.len().to_string()]);
    // Added by hookroute.
    assert_eq!(r.header("x-hookroute-event-id"), Some(id.as_str()));
    assert_eq!(r.header("x-hookroute-route"), Some("fwd"));
    assert_eq!(r.header("x-forwarded-for"), Some("203.0.113.7, 127.0.0.1"));
    assert_eq!(r.header("x-forwarded-proto"), Some("http"));
    assert_eq!(r.header("x-forwarded-host"), Some("hooks.example.com"));
    // Configured headers win, replacing what the sender sent.
    assert_eq!(r.header_all("x-source"), ["hookroute"]);
    assert_eq!(r.header("authorization"), Some("Bearer internal"));
}

#[tokio::test]
async fn credentials_in_a_forward_url_are_sent_as_basic_auth_not_in_the_request_line() {
    let upstream = Upstream::start().await;
    let with_credentials = upstream.url("/in").replace("http://", "http://ci%40bot:s3cret@");
    let (server, _dir) = start(&format!(
        r#"
routes:
  - name: relayed
    path: /relayed
    actions: [ {{ forward: {{ url: "{with_credentials}" }} }} ]
    respond: {{ from: forward }}
  - name: queued
    path: /queued
    actions: [ {{ forward: {{ url: "{with_credentials}" }} }} ]
"#
    ))
    .await;
    assert_eq!(post_json(&url(&server, "/relayed"), &json!({"n": 1})).await.status, 200);
    assert_eq!(post_json(&url(&server, "/queued"), &json!({"n": 2})).await.status, 202);
    let got = upstream.wait_for(2).await;
    // "ci@bot:s3cret", percent-decoded as a browser would.
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ci@bot:s3cret"));
    for r in &got {
        assert_eq!(r.path, "/in");
        assert_eq!(r.header("authorization"), Some(expected.as_str()));
        assert_eq!(r.header("host"), Some(upstream.addr.to_string().as_str()), "no credentials in Host");
        assert_eq!(r.header("accept"), Some("*/*"));
    }
}

#[tokio::test]
async fn binary_bodies_and_fan_out_reach_every_upstream_unchanged() {
    let (a, b) = (Upstream::start().await, Upstream::start().await);
    let (server, _dir) = start(&format!(
        r#"
routes:
  - name: to-a
    path: /bin
    continue: true
    actions: [{{ forward: {{ url: "{}", method: PUT }} }}]
  - name: to-b
    path: /bin
    actions: [{{ forward: {{ url: "{}" }} }}]
"#,
        a.url("/a"),
        b.url("/b")
    ))
    .await;
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let answer = post(&url(&server, "/bin"), "application/octet-stream", body.clone()).await;
    assert_eq!(answer.routes(), ["to-a", "to-b"]);
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let (at_a, at_b) = (a.expect_exactly(1).await, b.expect_exactly(1).await);
    assert_eq!(at_a[0].method, "PUT");
    assert_eq!(at_b[0].method, "POST");
    for (r, route) in [(&at_a[0], "to-a"), (&at_b[0], "to-b")] {
        assert!(r.body == body, "{route}: body changed ({} bytes arrived)", r.body.len());
        assert_eq!(r.header("x-hookroute-event-id"), Some(id.as_str()), "one event, one id");
        assert_eq!(r.header("x-hookroute-route"), Some(route));
    }
}

// ---------------------------------------------------------------------------
// File: one JSON line per event.

// Several runtime threads, so requests really do arrive at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_lines_stay_whole_under_200_concurrent_requests() {
    let (server, dir) = start(
        r#"
routes:
  - name: rec
    path: /rec
    actions: [{ file: { path: "@DIR@/nested/dir/events.jsonl" } }]
"#,
    )
    .await;
    let c = client();
    // Bodies large enough that a torn write would split lines.
    let pad = "p".repeat(16 * 1024);
    let requests = (0..200).map(|i| {
        let request = c
            .post(url(&server, &format!("/rec?n={i}&tag=a&tag=b")))
            .header("content-type", "application/json")
            .header("x-seq", i.to_string())
            .body(json!({"seq": i, "pad": pad, "nested": {"list": [i, "x"]}}).to_string());
        send(request)
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut ids: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 202, "{}", a.text());
            a.json()["id"].as_str().unwrap().to_string()
        })
        .collect();

    let lines = json_lines(&dir.path().join("nested/dir/events.jsonl"));
    assert_eq!(lines.len(), 200);
    let mut seen: Vec<i64> = Vec::new();
    let mut line_ids: Vec<String> = Vec::new();
    for line in &lines {
        let seq = line["body"]["seq"].as_i64().expect("seq");
        assert_eq!(line["body"]["pad"].as_str().map(str::len), Some(pad.len()));
        assert_eq!(line["body"]["nested"], json!({"list": [seq, "x"]}));
        assert_eq!(line["route"], "rec");
        assert_eq!(line["method"], "POST");
        assert_eq!(line["path"], "/rec");
        assert_eq!(line["query"], json!({"n": seq.to_string(), "tag": ["a", "b"]}));
        assert_eq!(line["headers"]["x-seq"], seq.to_string());
        let received = line["received_at"].as_str().expect("received_at");
        assert!(humantime::parse_rfc3339(received).is_ok(), "not RFC 3339: {received}");
        seen.push(seq);
        line_ids.push(line["id"].as_str().unwrap().to_string());
    }
    seen.sort();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    ids.sort();
    line_ids.sort();
    assert_eq!(ids, line_ids, "each answered id has exactly its line");
}

#[tokio::test]
async fn file_records_text_and_binary_bodies_and_fails_loudly() {
    let (server, dir) = start(
        r#"
routes:
  - name: rec
    path: /rec
    actions: [{ file: { path: "@DIR@/events.jsonl" } }]
  - name: broken
    path: /broken
    actions: [{ file: { path: "@DIR@/a-file/events.jsonl" } }]
"#,
    )
    .await;
    post(&url(&server, "/rec"), "text/plain", "hello\nworld").await;
    post(&url(&server, "/rec"), "application/octet-stream", vec![0xff, 0x00, 0xfe]).await;
    post(&url(&server, "/rec"), "application/json", "{\"a\":[1,2]}").await;
    let lines = json_lines(&dir.path().join("events.jsonl"));
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["body_text"], "hello\nworld");
    assert_eq!(lines[0].get("body"), None);
    assert_eq!(lines[1]["body_base64"], "/wD+");
    assert_eq!(lines[2]["body"], json!({"a": [1, 2]}));

    // The event cannot be recorded: the sender hears 500 and will retry.
    std::fs::write(dir.path().join("a-file"), "not a directory").unwrap();
    let failed = post(&url(&server, "/broken"), "application/json", "{}").await;
    assert_eq!(failed.status, 500);
    assert!(failed.error().starts_with("route broken: could not record the event: cannot open"), "{}", failed.error());
}

/// Conditions are evaluated on a document built only along the paths they
/// read; the rest of the body is still validated, and actions that record
/// the document still see all of it.
#[tokio::test]
async fn conditions_read_part_of_the_body_but_actions_see_all_of_it() {
    let (server, dir) = start(
        r#"
routes:
  - name: main-pushes
    path: /push
    when:
      - json: $.repository.full_name
        equals: acme/api
      - json: $.commits[0].id
        exists: true
    actions: [{ file: { path: "@DIR@/events.jsonl" } }]
"#,
    )
    .await;
    let body = json!({
        "ref": "refs/heads/main",
        "repository": { "full_name": "acme/api", "owner": { "login": "acme" }, "topics": ["x"] },
        "commits": [{ "id": "c1", "message": "fix" }],
        "sender": { "login": "octocat" },
    });
    let taken = post_json(&url(&server, "/push"), &body).await;
    assert_eq!(taken.routes(), ["main-pushes"]);
    let mut other = body.clone();
    other["repository"]["full_name"] = json!("acme/web");
    assert!(post_json(&url(&server, "/push"), &other).await.routes().is_empty());
    let lines = json_lines(&dir.path().join("events.jsonl"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["body"], body);

    // Broken after everything routing reads: still not JSON, still refused.
    let broken = r#"{"repository": {"full_name": "acme/api"}, "commits": [{"id": "c1"}], "sender": {"login": }"#;
    let refused = post(&url(&server, "/push"), "application/json", broken).await;
    assert_eq!(refused.status, 400);
    // The same error, at the same place, as a full decode gives.
    let full = serde_json::from_str::<Value>(broken).unwrap_err();
    assert_eq!(refused.error(), format!("invalid JSON body: {full}"));
    assert!(refused.error().ends_with("expected value at line 1 column 90"), "{}", refused.error());
    let not_utf8 = post(&url(&server, "/push"), "application/json", b"{\"sender\": \"\xff\"}".to_vec()).await;
    assert_eq!(not_utf8.status, 400);
    assert!(not_utf8.error().starts_with("invalid JSON body: not UTF-8 text"), "{}", not_utf8.error());
    // What routing does not read is checked as strictly as a full decode
    // checks it: nesting past serde_json's limit, a lone surrogate, a number
    // out of range — each refused with the full decode's message.
    let deep = format!(
        r#"{{"repository": {{"full_name": "acme/api"}}, "commits": [{{"id": "c1"}}], "x": {}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let lone_surrogate = r#"{"repository": {"full_name": "acme/api"}, "commits": [{"id": "c1"}], "x": "\ud800"}"#;
    let huge = r#"{"repository": {"full_name": "acme/api"}, "commits": [{"id": "c1"}], "x": 1e400}"#;
    for bad in [deep.as_str(), lone_surrogate] {
        let refused = post(&url(&server, "/push"), "application/json", bad.to_string()).await;
        assert_eq!(refused.status, 400, "{bad}");
        let full = serde_json::from_str::<Value>(bad).unwrap_err();
        assert_eq!(refused.error(), format!("invalid JSON body: {full}"));
    }
    // serde_json keeps a number's digits unchecked (integers of any size
    // are exact); hookroute checks a fraction's range itself, and reports
    // it where serde_json did: at the last digit.
    let refused = post(&url(&server, "/push"), "application/json", huge.to_string()).await;
    assert_eq!(refused.status, 400, "{huge}");
    assert_eq!(refused.error(), "invalid JSON body: number out of range at line 1 column 79");
    assert_eq!(json_lines(&dir.path().join("events.jsonl")).len(), 1);
}

// ---------------------------------------------------------------------------
// Answers: static and relayed.

#[tokio::test]
async fn respond_from_forward_relays_status_type_and_body() {
    let upstream = Upstream::start_with(
        UpstreamReply::status(201).body("application/xml", "<ok id=\"1\"/>").header("x-upstream-secret", "no"),
    )
    .await;
    let (server, _dir) = start(&format!(
        r#"
routes:
  - name: proxy
    path: /sync
    actions: [{{ forward: {{ url: "{}" }} }}]
    respond: {{ from: forward }}
"#,
        upstream.url("/answer")
    ))
    .await;
    let answer = post_json(&url(&server, "/sync"), &json!({"q": 1})).await;
    assert_eq!(answer.status, 201);
    assert_eq!(answer.header("content-type"), Some("application/xml"));
    assert_eq!(answer.text(), "<ok id=\"1\"/>");
    assert_eq!(answer.header("x-upstream-secret"), None, "only status, type and body are relayed");
    // The relayed forward is the route's forward: it is not sent twice.
    let got = upstream.expect_exactly(1).await;
    assert_eq!(got[0].body, "{\"q\":1}");

    // An upstream error status is relayed as it is.
    upstream.set_reply(UpstreamReply::status(503).body("text/plain", "busy"));
    let busy = post_json(&url(&server, "/sync"), &json!({})).await;
    assert_eq!((busy.status.as_u16(), busy.text().as_str()), (503, "busy"));
}

#[tokio::test]
async fn respond_from_forward_is_502_when_the_upstream_is_down_and_504_when_it_is_slow() {
    let slow = Upstream::start_with(UpstreamReply::default().delay(Duration::from_secs(30))).await;
    let down = refused_url("/x").await;
    let (server, _dir) = start(&format!(
        r#"
routes:
  - name: down
    path: /down
    actions: [{{ forward: {{ url: "{down}" }} }}]
    respond: {{ from: forward }}
  - name: slow
    path: /slow
    actions: [{{ forward: {{ url: "{}", timeout: 300ms }} }}]
    respond: {{ from: forward }}
"#,
        slow.url("/x")
    ))
    .await;
    let refused = post_json(&url(&server, "/down"), &json!({})).await;
    assert_eq!(refused.status, 502);
    assert!(refused.error().starts_with(&format!("upstream {down}: cannot connect")), "{}", refused.error());
    assert!(refused.header("x-hookroute-event-id").is_some());

    let timed_out = post_json(&url(&server, "/slow"), &json!({})).await;
    assert_eq!(timed_out.status, 504);
    assert!(timed_out.error().ends_with("timed out after 300ms"), "{}", timed_out.error());
    assert_eq!(slow.count(), 1, "the slow upstream did get the request");
}

#[tokio::test]
async fn static_respond_answers_as_configured() {
    let (server, _dir) = start(
        r#"
routes:
  - name: text
    path: /text
    actions: [{log: {}}]
    respond: { status: 200, headers: { Content-Type: text/plain, X-Custom: "yes" }, body: ok }
  - name: json
    path: /json
    actions: [{log: {}}]
    respond: { status: 201, body: { accepted: true, n: [1, 2] } }
  - name: empty
    path: /empty
    actions: [{log: {}}]
    respond: { status: 204 }
"#,
    )
    .await;
    let text = post_json(&url(&server, "/text"), &json!({})).await;
    assert_eq!((text.status.as_u16(), text.text().as_str()), (200, "ok"));
    assert_eq!(text.header("content-type"), Some("text/plain"));
    assert_eq!(text.header("x-custom"), Some("yes"));
    let json = post_json(&url(&server, "/json"), &json!({})).await;
    assert_eq!(json.status, 201);
    assert_eq!(json.header("content-type"), Some("application/json"));
    assert_eq!(json.json(), json!({"accepted": true, "n": [1, 2]}));
    let empty = post_json(&url(&server, "/empty"), &json!({})).await;
    assert_eq!((empty.status.as_u16(), empty.body.len()), (204, 0));
}
