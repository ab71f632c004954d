//! Issue #19, kinds 2-4, on the real server with the bytes real senders
//! send: the three verification handshakes (Slack, Twitch EventSub, Meta),
//! negative conditions on absent values, 64-bit ids, integers past 64 bits,
//! and trailing slashes.
//!
//! Every request is also run through `hookroute explain --format json` and
//! `hookroute test`, and the three must agree on the routes taken, the
//! status and the reply: a rule that `serve` applies and the tools do not
//! (or the reverse) is a rule an operator cannot check before deploying
//! (`common/three_way.rs`).

mod common;

use common::three_way::*;
use common::*;

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

/// A 30-digit id: an f64 holds it as 123456789012345677877719597056, and
/// YAML holds no integer past 64 bits, so the bounds are written quoted.
const BIG: &str = r#"
routes:
  - name: echo-text
    path: /big
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    respond: { status: 200, body: "{{ json.id }} and {{ json.n }}" }
    continue: true
  - name: above
    path: /big
    when: { json: $.id, gt: "123456789012345678901234567889" }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    continue: true
  - name: exactly
    path: /big
    when: [{ json: $.id, gte: "123456789012345678901234567890" }, { json: $.id, lte: "123456789012345678901234567890" }]
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    continue: true
  - name: the-double
    path: /big
    when: { json: $.id, in: [1.2345678901234568e29, 1] }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    continue: true
  - name: until
    path: /big
    when: { json: $.id, lte: "123456789012345678901234567889" }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    continue: true
  - name: header-above
    path: /big
    when: { header: X-Id, gt: "123456789012345678901234567889" }
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
  - name: echo-json
    path: /big-json
    actions: [{ file: { path: "@DIR@/taken.jsonl" } }]
    respond: { status: 200, body: { id: "{{ json.id }}", n: "{{ json.n }}", text: "id {{ json.id }}" } }
"#;

#[tokio::test]
async fn integers_past_64_bits_compare_exactly_and_keep_their_digits() {
    let big = |id: &'static str| Case { path: "/big", body: id, status: 200, ..POST };
    all_three_agree(
        BIG,
        &[
            Case {
                name: "id ...890",
                headers: &[("Content-Type", "application/json"), ("X-Id", "123456789012345678901234567890")],
                routes: &["echo-text", "above", "exactly", "header-above"],
                reply: Some("123456789012345678901234567890 and -1234567890123456789012345678901234567890123"),
                ..big(r#"{"id":123456789012345678901234567890,"n":-1234567890123456789012345678901234567890123}"#)
            },
            Case {
                name: "id ...889",
                routes: &["echo-text", "until"],
                reply: Some("123456789012345678901234567889 and -1"),
                ..big(r#"{"id":123456789012345678901234567889,"n":-1}"#)
            },
            Case {
                name: "id ...891",
                headers: &[("Content-Type", "application/json"), ("X-Id", "123456789012345678901234567889")],
                routes: &["echo-text", "above"],
                ..big(r#"{"id":123456789012345678901234567891,"n":0}"#)
            },
            // The id's nearest double is below …889 and equal to no id.
            Case { name: "the double", routes: &["echo-text", "the-double", "until"], ..big(r#"{"id":1.2345678901234568e29,"n":2}"#) },
            Case {
                name: "as JSON values",
                path: "/big-json",
                routes: &["echo-json"],
                reply: Some(r#"{"id":123456789012345678901234567890,"n":-1234567890123456789012345678901234567890123,"text":"id 123456789012345678901234567890"}"#),
                ..big(r#"{"id":123456789012345678901234567890,"n":-1234567890123456789012345678901234567890123}"#)
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn a_file_record_keeps_every_digit() {
    let (server, dir) = start(BIG).await;
    let body = r#"{"id":123456789012345678901234567890,"n":-1234567890123456789012345678901234567890123,"f":1.50}"#;
    let answer = post(&url(&server, "/big-json"), "application/json", body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let log = dir.path().join("taken.jsonl");
    for _ in 0..200 {
        if log.exists() && !json_lines(&log).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(&format!(r#""body":{body}"#)), "{text}");
}

#[test]
fn an_unquoted_operand_past_64_bits_says_how_to_write_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("routes.yaml"),
        "routes:\n  - name: big\n    path: /big\n    when: { json: $.id, gt: 123456789012345678901234567889 }\n    actions: [{ log: {} }]\n",
    )
    .unwrap();
    let (code, out, err) = run_binary(&["check", "-c", "routes.yaml"], dir.path());
    assert_ne!(code, 0, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("routes.yaml:4:29:"), "{all}");
    assert!(all.contains("write a larger integer in quotes, `gt: \"123456789012345678901234567890\"`"), "{all}");
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
