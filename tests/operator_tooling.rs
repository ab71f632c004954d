//! Operator tooling on the real server and the real binary: templates at
//! every site (bytes at a real upstream, file lines, replies), their safety
//! rules (at load and at run time), `explain` in text and JSON on real
//! GitHub payloads, `test` passing and failing with its exit codes, the
//! schema's freshness, `check`'s warnings, and the one way every
//! command prints its errors.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn github_push() -> Value {
    serde_json::from_slice(&std::fs::read(repo("examples/fixtures/github-push.json")).unwrap()).unwrap()
}

/// Writes `yaml` as routes.yaml in a fresh directory and runs the binary there.
fn run_with_config(yaml: &str, args: &[&str]) -> (i32, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    let (code, out, err) = run_binary(args, dir.path());
    (code, out, err, dir)
}

// ---------------------------------------------------------------------------
// Templates on the real server.

#[tokio::test]
async fn forward_url_headers_and_body_are_rendered_for_the_upstream() {
    let up = Upstream::start().await;
    let yaml = format!(
        r#"
routes:
  - name: gh
    path: /hooks/{{provider}}
    actions:
      - forward:
          url: "{base}/builds/{{{{ json.repository.full_name }}}}?sha={{{{ json.after }}}}&via={{{{ path_params.provider }}}}"
          headers: {{ X-Pusher: "{{{{ json.pusher.name }}}}", X-Static: plain }}
          body:
            text: "{{{{ json.pusher.name }}}} pushed to {{{{ json.repository.full_name }}}}"
            commits: "{{{{ json.commits | length }}}}"
            route: "{{{{ route }}}}"
"#,
        base = up.url("").trim_end_matches('/')
    );
    let (server, _dir) = start(&yaml).await;
    let answer = send(
        client()
            .post(url(&server, "/hooks/github"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", "sha256=abc")
            .body(github_push().to_string()),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let got = up.wait_for(1).await.remove(0);
    assert_eq!(got.path, "/builds/Codertocat%2FHello-World");
    assert_eq!(got.query.as_deref(), Some("sha=6113728f27ae82c7b1a177c8d03f9e96e0adf246&via=github"));
    assert_eq!(got.header("x-pusher"), Some("Codertocat"));
    assert_eq!(got.header("x-static"), Some("plain"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    // The provider signed the original body, not this one.
    assert_eq!(got.header("x-hub-signature-256"), None);
    assert_eq!(got.json(), json!({"text": "Codertocat pushed to Codertocat/Hello-World", "commits": 1, "route": "gh"}));
}

#[tokio::test]
async fn a_json_text_body_stays_valid_json_whatever_the_values() {
    let up = Upstream::start().await;
    let yaml = format!(
        r#"
routes:
  - name: t
    path: /in
    actions:
      - forward:
          url: {}
          headers: {{ Content-Type: application/json }}
          body: '{{"text": "{{{{ json.title }}}}", "labels": {{{{ json.labels | tojson }}}}}}'
"#,
        up.url("/slack")
    );
    let (server, _dir) = start(&yaml).await;
    let title = "say \"hi\"\nand \\ leave";
    let answer = post_json(&url(&server, "/in"), &json!({"title": title, "labels": ["a", "b"]})).await;
    assert_eq!(answer.status, 202);
    let got = up.wait_for(1).await.remove(0);
    assert_eq!(got.json(), json!({"text": title, "labels": ["a", "b"]}));
    assert_eq!(got.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_plain_body_and_url_are_sent_as_written() {
    let up = Upstream::start().await;
    let yaml = format!(
        "routes:\n  - name: p\n    path: /in\n    actions:\n      - forward: {{ url: {}, body: 'build please' }}\n",
        up.url("/x?a=1")
    );
    let (server, _dir) = start(&yaml).await;
    post_json(&url(&server, "/in"), &json!({"a": 1})).await;
    let got = up.wait_for(1).await.remove(0);
    assert_eq!((got.path.as_str(), got.query.as_deref()), ("/x", Some("a=1")));
    assert_eq!(&got.body[..], b"build please");
    assert_eq!(got.header("content-type"), Some("text/plain; charset=utf-8"));
}

#[tokio::test]
async fn file_paths_and_reply_are_rendered() {
    let (server, dir) = start(
        r#"
routes:
  - name: slack
    path: /hooks/{provider}
    actions:
      - file: { path: "@DIR@/events/{{ path_params.provider }}/{{ json.type }}.jsonl" }
      - log: { message: "{{ json.type }} from {{ path_params.provider }}" }
    respond:
      status: 200
      headers: { X-Challenge: "{{ json.challenge }}" }
      body: { challenge: "{{ json.challenge }}" }
"#,
    )
    .await;
    let answer =
        post_json(&url(&server, "/hooks/slack"), &json!({"type": "url_verification", "challenge": "3eZbrw1aB"})).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json(), json!({"challenge": "3eZbrw1aB"}));
    assert_eq!(answer.header("x-challenge"), Some("3eZbrw1aB"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let lines = json_lines(&dir.path().join("events/slack/url_verification.jsonl"));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["body"]["challenge"], "3eZbrw1aB");
}

#[tokio::test]
async fn a_reply_that_cannot_render_is_a_500_with_the_reason_and_nothing_runs() {
    let (server, dir) = start(
        r#"
routes:
  - name: r
    path: /in
    actions:
      - file: { path: "@DIR@/events.jsonl" }
    respond: { status: 200, body: "challenge={{ json.challenge }}" }
"#,
    )
    .await;
    let answer = post_json(&url(&server, "/in"), &json!({"type": "event_callback"})).await;
    assert_eq!(answer.status, 500);
    assert!(answer.error().contains("undefined value `json.challenge`"), "{}", answer.error());
    assert!(!dir.path().join("events.jsonl").exists(), "nothing runs when the reply cannot be given");
    // The server is still serving.
    assert_eq!(post_json(&url(&server, "/in"), &json!({"challenge": "c"})).await.text(), "challenge=c");
}

#[tokio::test]
async fn a_forward_that_cannot_render_is_dead_lettered_with_the_message() {
    let up = Upstream::start().await;
    let yaml = format!(
        r#"
routes:
  - name: gh
    path: /in
    actions:
      - forward: {{ url: "{}", body: {{ text: "{{{{ json.pusher.name }}}} pushed" }} }}
      - file: {{ path: "@DIR@/kept.jsonl" }}
"#,
        up.url("/slack")
    );
    let (server, dir) = start(&yaml).await;
    let answer = post_json(&url(&server, "/in"), &json!({"zen": "no pusher here"})).await;
    assert_eq!(answer.status, 202, "the event is accepted; only the forward fails");
    assert_eq!(json_lines(&dir.path().join("kept.jsonl")).len(), 1, "the route's other actions still run");
    let dead = send(client().get(admin_url(&server, "/-/deliveries?status=dead"))).await.json();
    let job = &dead["deliveries"][0];
    assert_eq!(job["route"], "gh");
    let reason = job["dead_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("body") && reason.contains("`json.pusher.name`"), "{job}");
    // A manual retry ends the same way, without sending anything.
    let id = job["id"].as_str().unwrap().to_string();
    send(client().post(admin_url(&server, &format!("/-/deliveries/{id}/retry")))).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let again = send(client().get(admin_url(&server, &format!("/-/deliveries/{id}")))).await.json();
    assert_eq!(again["status"], "dead", "{again}");
    assert_eq!(up.count(), 0, "nothing was ever sent");
}

#[tokio::test]
async fn a_rendered_file_path_cannot_leave_its_directory() {
    let (server, dir) = start(
        r#"
routes:
  - name: f
    path: /in
    actions:
      - file: { path: "@DIR@/events/{{ json.name }}.jsonl" }
"#,
    )
    .await;
    for name in ["../../escaped", "/tmp/absolute", "a\u{0}b"] {
        let answer = post_json(&url(&server, "/in"), &json!({ "name": name })).await;
        assert_eq!(answer.status, 202, "{name}: the action fails, not the request");
    }
    assert!(!dir.path().join("escaped.jsonl").exists());
    assert!(!dir.path().parent().unwrap().join("escaped.jsonl").exists());
    assert!(!dir.path().join("events").exists(), "no file was written for a refused path");
    post_json(&url(&server, "/in"), &json!({"name": "ok"})).await;
    assert_eq!(json_lines(&dir.path().join("events/ok.jsonl")).len(), 1);
}

// ---------------------------------------------------------------------------
// Safety rules at load time, located like every other config error.

#[test]
fn templated_scheme_host_port_and_unanchored_file_paths_are_refused_at_load() {
    let yaml = r#"routes:
  - name: a
    path: /a
    actions:
      - forward: { url: "http://{{ json.host }}/x" }
      - forward: { url: "{{ json.scheme }}://svc/x" }
      - forward: { url: "http://svc:80{{ json.port }}/x" }
      - file: { path: "{{ json.name }}.jsonl" }
      - log: { message: "{{ json.a " }
"#;
    let (code, out, err, _dir) = run_with_config(yaml, &["check", "-c", "routes.yaml"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert!(lines[0].starts_with("routes.yaml:5:25: route \"a\": actions[0].forward.url: URL \"http://{{ json.host }}/x\": the host or port is templated"), "{err}");
    assert!(lines[1].starts_with("routes.yaml:6:25: route \"a\": actions[1].forward.url: URL \"{{ json.scheme }}://svc/x\": the scheme is templated or missing"), "{err}");
    assert!(lines[2].starts_with("routes.yaml:7:25: route \"a\": actions[2].forward.url:"), "{err}");
    assert!(lines[3].starts_with("routes.yaml:8:23: route \"a\": actions[3].file.path: file path \"{{ json.name }}.jsonl\" must start with a literal directory"), "{err}");
    assert!(
        lines[4].starts_with("routes.yaml:9:25: route \"a\": actions[4].log.message: invalid template: syntax error"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// explain.

const GITHUB: &str = "examples/github.yaml";

fn explain(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["explain", "-c", GITHUB, "--path", "/hooks/github"];
    all.extend_from_slice(args);
    run_binary_with_env(&all, &repo(""), &[EXAMPLE_GITHUB_SECRET])
}

#[test]
fn explain_shows_why_a_real_push_is_not_built() {
    let (code, out, err) = explain(&[
        "-H",
        "X-GitHub-Event: push",
        "-H",
        "Content-Type: application/json",
        "--body",
        "examples/fixtures/github-push.json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("POST /hooks/github\n"), "{out}");
    // The ping route: the header it saw, and why it is false.
    assert!(out.contains("route github-ping  (/hooks/github)\n  header x-github-event = \"push\" equals \"ping\" → false\n  → not taken: a condition is false\n"), "{out}");
    // The build route: which condition failed and the value it saw.
    assert!(
        out.contains(
            "  json $.repository.full_name = \"Codertocat/Hello-World\" in [\"acme/api\",\"acme/web\"] → false\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("  json $.ref = \"refs/heads/master\" matches '^refs/heads/(main|release/.+)$' → false\n"),
        "{out}"
    );
    assert!(out.contains("route github-other  (/hooks/github)\n  no conditions → true\n  → TAKEN\n    file data/events/github-other.jsonl\n"), "{out}");
    assert!(out.ends_with("taken: github-other\nstatus: 202\n"), "{out}");
}

#[test]
fn explain_renders_a_taken_forward_and_says_what_follows_is_not_tried() {
    let body = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(body.path(), r#"{"ref":"refs/heads/main","repository":{"full_name":"acme/api"}}"#).unwrap();
    let (code, out, err) = explain(&["-H", "X-GitHub-Event: push", "--body", body.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("  json $.ref = \"refs/heads/main\" matches '^refs/heads/(main|release/.+)$' → true\n"),
        "{out}"
    );
    assert!(out.contains("  not → true\n    json $.deleted = (absent) equals true → false\n"), "{out}");
    assert!(out.contains("    forward POST http://127.0.0.1:8001/build\n"), "{out}");
    assert!(out.contains("      x-source: github\n"), "{out}");
    assert!(out.contains("    log info: build requested\n"), "{out}");
    assert!(
        out.contains(
            "route github-other  (/hooks/github)\n  not tried: github-push-build was taken and does not `continue`\n"
        ),
        "{out}"
    );
}

#[test]
fn explain_json_output_is_for_machines() {
    let (code, out, err) = explain(&[
        "-H",
        "X-GitHub-Event: release",
        "--body",
        "examples/fixtures/github-release-published.json",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["taken"], json!(["github-release"]));
    assert_eq!(e["status"], 202);
    let release = e["candidates"].as_array().unwrap().iter().find(|c| c["route"] == "github-release").unwrap();
    let action = &release["conditions"][1];
    assert_eq!(action["subject"], "json $.action");
    assert_eq!(action["values"][0]["value"], "published");
    assert_eq!(action["result"], true);
    assert_eq!(release["actions"][0]["action"], "forward");
    assert_eq!(release["actions"][0]["url"], "http://127.0.0.1:8003/release");
    assert_eq!(release["actions"][0]["original_body"], true);
    assert_eq!(release["actions"][1]["action"], "file");
    assert_eq!(release["actions"][1]["path"], "data/events/github-releases.jsonl");
    let ping = &e["candidates"][0];
    assert_eq!((ping["route"].as_str(), ping["holds"].as_bool()), (Some("github-ping"), Some(false)));
}

#[test]
fn explain_shows_rendered_templates_and_a_failing_one() {
    let yaml = r#"routes:
  - name: t
    path: /in
    actions:
      - log: { message: "hello {{ json.who }}" }
      - file: { path: "out/{{ json.who }}.jsonl" }
      - forward: { url: "http://127.0.0.1:9/x", body: { who: "{{ json.nobody }}" } }
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    std::fs::write(dir.path().join("b.json"), r#"{"who":"ada"}"#).unwrap();
    let (code, out, err) =
        run_binary(&["explain", "--path", "/in", "--body", "b.json", "-c", "routes.yaml"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("    log info: hello ada\n"), "{out}");
    assert!(out.contains("    file out/ada.jsonl\n"), "{out}");
    assert!(out.contains("    forward: NOT SENT: body: undefined value `json.nobody`"), "{out}");
    assert!(!dir.path().join("out").exists(), "explain writes nothing");
}

// ---------------------------------------------------------------------------
// test.

#[test]
fn every_shipped_config_passes_its_own_tests() {
    for file in [
        "routes.yaml",
        "examples/github.yaml",
        "examples/data-sync.yaml",
        "examples/fanout.yaml",
        "examples/templates.yaml",
        "examples/compose/routes.yaml",
    ] {
        let (code, out, err) = run_binary_with_env(&["test", "-c", file], &repo(""), &[EXAMPLE_GITHUB_SECRET]);
        assert_eq!(code, 0, "{file}:\n{out}{err}");
        assert!(out.contains(" passed, 0 failed\n"), "{file}:\n{out}");
        assert!(!out.contains("FAIL"), "{file}:\n{out}");
    }
}

#[test]
fn a_failing_test_prints_what_differs_and_exits_1() {
    let yaml = r#"routes:
  - name: push
    path: /hooks/github
    when: { header: X-GitHub-Event, equals: push }
    actions:
      - forward: { url: "http://127.0.0.1:9/slack", body: { text: "{{ json.pusher.name }} pushed" } }
tests:
  - name: passes
    request: { path: /hooks/github, headers: { X-GitHub-Event: push }, body: { pusher: { name: ada } } }
    expect: { routes: [push], status: 202, forward: { body: { text: ada pushed } } }
  - name: wrong body
    request: { path: /hooks/github, headers: { X-GitHub-Event: push }, body: { pusher: { name: bob } } }
    expect: { forward: { body: { text: ada pushed } } }
  - name: wrong route
    request: { path: /hooks/github, headers: { X-GitHub-Event: issues }, body: {} }
    expect: { routes: [push] }
"#;
    let (code, out, err, _dir) = run_with_config(yaml, &["test", "-c", "routes.yaml"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("PASS  passes\nFAIL  wrong body\n"), "{out}");
    assert!(out.contains("  forward body differs:\n"), "{out}");
    assert!(out.contains("-  \"text\": \"ada pushed\"\n"), "{out}");
    assert!(out.contains("+  \"text\": \"bob pushed\"\n"), "{out}");
    assert!(out.contains("FAIL  wrong route\n  routes: expected [\"push\"], got []\n"), "{out}");
    assert!(out.contains("header x-github-event = \"issues\" equals \"push\" → false"), "{out}");
    assert!(out.ends_with("\n1 passed, 2 failed\n"), "{out}");
}

#[test]
fn tests_in_a_separate_file_and_their_mistakes_are_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), "routes:\n  - name: a\n    path: /a\n    actions: [{ log: {} }]\n")
        .unwrap();
    std::fs::write(
        dir.path().join("a.test.yaml"),
        "tests:\n  - name: a\n    request: { path: /a }\n    expect: { routes: [a] }\n",
    )
    .unwrap();
    let (code, out, err) = run_binary(&["test", "-c", "routes.yaml", "--tests", "a.test.yaml"], dir.path());
    assert_eq!((code, out.as_str(), err.as_str()), (0, "PASS  a\n\n1 passed, 0 failed\n", ""));
    std::fs::write(
        dir.path().join("bad.test.yaml"),
        "tests:\n  - name: a\n    request: { path: /a }\n    expect: { route: [a] }\n",
    )
    .unwrap();
    let (code, _, err) = run_binary(&["test", "-c", "routes.yaml", "--tests", "bad.test.yaml"], dir.path());
    assert_eq!(code, 1);
    assert!(
        err.starts_with("bad.test.yaml:4:15: tests[0].expect.route: unknown key `route` (did you mean `routes`?)"),
        "{err}"
    );
    let (code, _, err) = run_binary(&["test", "-c", "routes.yaml"], dir.path());
    assert_eq!(code, 1, "no tests is a failure in CI");
    assert!(err.contains("no tests found"), "{err}");
}

// ---------------------------------------------------------------------------
// Schema.

#[test]
fn routes_schema_json_is_fresh() {
    let (code, out, err) = run_binary(&["schema"], &repo(""));
    assert_eq!(code, 0, "{err}");
    let committed = std::fs::read_to_string(repo("routes.schema.json")).unwrap_or_default();
    assert!(
        out == committed,
        "routes.schema.json is stale: the config types changed. Regenerate it with\n  cargo run -- schema > routes.schema.json"
    );
    let schema: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(schema["additionalProperties"], false, "unknown top-level keys are refused, as the parser does");
    assert!(schema["properties"]["routes"]["description"].is_string());
    assert!(schema["properties"]["tests"].is_object());
    let first_line = std::fs::read_to_string(repo("routes.yaml")).unwrap().lines().next().unwrap().to_string();
    assert_eq!(first_line, "# yaml-language-server: $schema=./routes.schema.json");
}

// ---------------------------------------------------------------------------
// check warnings.

#[test]
fn check_warns_about_routes_that_can_never_be_taken_and_exits_0() {
    let yaml = r#"routes:
  - name: everything
    path: /hooks/a
    actions: [{ log: {} }]
  - name: shadowed
    path: /hooks/a
    when: { header: X-Kind, equals: push }
    actions: [{ log: {} }]
  - name: first
    path: /hooks/b
    when: { json: $.type, equals: paid }
    actions: [{ log: {} }]
  - name: twin
    path: /hooks/b
    when: { json: $.type, equals: paid }
    actions: [{ log: {} }]
  - name: get-only
    path: /hooks/a
    methods: [GET]
    actions: [{ log: {} }]
"#;
    let (code, out, err, _dir) = run_with_config(yaml, &["check", "-c", "routes.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "ok: 5 routes\n");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "routes.yaml:5:5: warning: route \"shadowed\": can never be reached: route \"everything\" (line 2) has no conditions, takes every POST request to /hooks/a first, and does not `continue`",
            "routes.yaml:13:5: warning: route \"twin\": can never be reached: it has the same path and conditions as route \"first\" (line 9), which is tried first and does not `continue`",
        ],
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Errors at the terminal.

/// Every command that fails prints one error line, `hookroute: error: …`,
/// last on stderr; located problems (as `check` lists them) come before it.
#[test]
fn every_failing_command_ends_with_one_prefixed_error_line() {
    let broken = "routes:\n  - name: a\n    path: a\n    actions: [ { log: {} } ]\n";
    let (code, out, err, dir) = run_with_config(broken, &["test", "-c", "routes.yaml"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(
        err,
        "routes.yaml:3:11: route \"a\": path: path \"a\" must start with `/`\n\
         hookroute: error: the config has problems; no tests run\n"
    );
    for (args, last) in [
        (&["explain", "--path", "/a"][..], "hookroute: error: the config has problems; nothing explained"),
        (&["alerts"][..], "hookroute: error: the config has problems; no rules written"),
    ] {
        let (code, _, err) = run_binary(args, dir.path());
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.starts_with("routes.yaml:3:11: route \"a\": path:"), "{args:?}: {err}");
        assert_eq!(err.lines().last(), Some(last), "{args:?}: {err}");
    }

    let fine = "routes:\n  - name: a\n    path: /a\n    actions: [ { log: {} } ]\n";
    let (code, _, err, dir) = run_with_config(fine, &["explain", "--path", "/a", "-X", "NOT A METHOD"]);
    assert_eq!((code, err.as_str()), (1, "hookroute: error: invalid method \"NOT A METHOD\"\n"));
    let (code, _, err) = run_binary(&["explain", "--path", "/a", "-H", "no colon"], dir.path());
    assert_eq!((code, err.as_str()), (1, "hookroute: error: header \"no colon\": write it as `Name: value`\n"));
    let (code, _, err) = run_binary(&["test"], dir.path());
    assert_eq!(code, 1);
    assert!(err.starts_with("hookroute: error: no tests found in routes.yaml"), "{err}");
    let (code, _, err) = run_binary(&["deliveries", "--admin", "127.0.0.1:9", "retry"], dir.path());
    assert_eq!(
        (code, err.as_str()),
        (1, "hookroute: error: give a delivery id, or --status dead (and/or --route NAME) to retry many\n")
    );
    let (code, _, err) = run_binary(&["health", "-c", "missing.yaml"], dir.path());
    assert_eq!(code, 1);
    assert!(err.starts_with("missing.yaml: cannot read config file: "), "{err}");
    assert_eq!(
        err.lines().last(),
        Some("hookroute: error: cannot read the admin address from the config; or give --admin ADDR"),
        "{err}"
    );
    // A usage mistake, found by the argument parser: the same prefix, and
    // exit 2 as before.
    let (code, _, err) = run_binary(&["no-such-command"], dir.path());
    assert_eq!(code, 2);
    assert!(err.starts_with("hookroute: error: unrecognized subcommand 'no-such-command'"), "{err}");
}
