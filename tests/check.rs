//! The `hookroute` binary as an operator uses it: `check` on broken and
//! valid configs (exact located messages, exit codes), `serve` refusing a
//! broken config with the same messages, and the shipped example configs
//! loading through `check`, through the library and, end to end, through
//! `serve`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use hookroute::actions::Resources;
use hookroute::config::interpolate::{Environment, ProcessEnv};
use serde_json::json;

/// Writes `yaml` as `routes.yaml` in a fresh directory and runs
/// `hookroute check -c routes.yaml` there; returns (exit code, stdout, stderr).
fn check(yaml: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    run_binary(&["check", "-c", "routes.yaml"], dir.path())
}

/// `check` must fail with exactly these lines on stderr and nothing on
/// stdout. An expected line ending in `…` need only begin the actual line
/// (for lists of allowed keys, which grow as features arrive).
#[track_caller]
fn assert_problems(yaml: &str, expected: &[&str]) {
    let (code, stdout, stderr) = check(yaml);
    let lines: Vec<&str> = stderr.lines().collect();
    let matches = lines.len() == expected.len()
        && lines.iter().zip(expected).all(|(line, want)| match want.strip_suffix('…') {
            Some(prefix) => line.starts_with(prefix),
            None => line == want,
        });
    assert!(matches, "expected:\n{}\nstderr was:\n{stderr}", expected.join("\n"));
    assert_eq!(code, 1, "exit code");
    assert_eq!(stdout, "", "nothing on stdout when the config is broken");
}

const ACTIONS: &str = "    actions: [{log: {}}]\n";

#[test]
fn misspelt_key_names_the_key_and_suggests_the_right_one() {
    assert_problems(
        "routes:\n  - name: gh\n    path: /gh\n    when:\n      - header: X-GitHub-Event\n        equal: push\n    actions: [{log: {}}]\n",
        &["routes.yaml:6:9: route \"gh\": when[0].equal: unknown key `equal` (did you mean `equals`?); expected one of `json`, `header`, `query`, `path_param`, `method`, `exists`, `equals`, `not_equals`, `in`, `matches`, `contains`, `gt`, `gte`, `lt`, `lte`, `all`, `any`, `not`"],
    );
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n    metods: [POST]\n{ACTIONS}"),
        &["routes.yaml:4:5: route \"gh\": metods: unknown key `metods` (did you mean `methods`?); expected one of `name`, `path`, `methods`, `when`, `actions`, `continue`, `respond`…"],
    );
    assert_problems(
        "routes:\n  - name: gh\n    path: /gh\n    actions:\n      - log: { level: warning }\n",
        &["routes.yaml:5:23: route \"gh\": actions[0].log.level: unknown value `warning` (did you mean `warn`?); expected one of `trace`, `debug`, `info`, `warn`, `error`"],
    );
}

#[test]
fn invalid_jsonpath() {
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n    when:\n      - json: $.a[\n        equals: 1\n{ACTIONS}"),
        &["routes.yaml:5:15: route \"gh\": when[0].json: invalid JSONPath \"$.a[\": expected selector at character 5"],
    );
}

#[test]
fn invalid_regex() {
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n    when: {{ json: $.ref, matches: 'refs/(main' }}\n{ACTIONS}"),
        &["routes.yaml:4:35: route \"gh\": when[0].matches: invalid regex \"refs/(main\": unclosed group"],
    );
}

#[test]
fn unset_environment_variable() {
    assert_problems(
        "routes:\n  - name: ci\n    path: /ci\n    actions:\n      - forward: { url: \"${HOOKROUTE_TEST_SURELY_UNSET}/build\" }\n",
        &["routes.yaml:5:25: route \"ci\": actions[0].forward.url: environment variable HOOKROUTE_TEST_SURELY_UNSET is not set (write ${HOOKROUTE_TEST_SURELY_UNSET:-default} to give a default)"],
    );
}

#[test]
fn a_condition_needs_exactly_one_subject_and_one_operator() {
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n    when:\n      - json: $.a\n        header: X-A\n        equals: 1\n{ACTIONS}"),
        &["routes.yaml:5:9: route \"gh\": when[0]: a condition has exactly one subject, found `json` and `header`"],
    );
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n    when:\n      - any:\n          - json: $.a\n{ACTIONS}"),
        &["routes.yaml:6:13: route \"gh\": when[0].any[0]: a condition needs one operator: `exists`, `equals`, `not_equals`, `in`, `matches`, `contains`, `gt`, `gte`, `lt` or `lte`"],
    );
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n    when: {{ json: $.a, equals: 1, in: [1] }}\n{ACTIONS}"),
        &["routes.yaml:4:13: route \"gh\": when[0]: a condition has exactly one operator, found `equals` and `in` (use `all` to combine)"],
    );
}

#[test]
fn bad_path_pattern() {
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /hooks/{{*rest}}/x\n{ACTIONS}"),
        &["routes.yaml:3:11: route \"gh\": path: {*rest} must be the last segment of path \"/hooks/{*rest}/x\""],
    );
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: hooks\n{ACTIONS}"),
        &["routes.yaml:3:11: route \"gh\": path: path \"hooks\" must start with `/`"],
    );
}

#[test]
fn duplicate_route_names() {
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /a\n{ACTIONS}  - name: gh\n    path: /b\n{ACTIONS}"),
        &["routes.yaml:5:11: route \"gh\": name: duplicate route name (also used by route #1, line 2)"],
    );
}

#[test]
fn invalid_urls() {
    assert_problems(
        "routes:\n  - name: ci\n    path: /ci\n    actions:\n      - forward: { url: ci.internal:8000/build }\n",
        &["routes.yaml:5:25: route \"ci\": actions[0].forward.url: URL \"ci.internal:8000/build\" has no scheme (write http://ci.internal:8000/build or https://...)"],
    );
    assert_problems(
        "routes:\n  - name: ci\n    path: /ci\n    actions:\n      - forward: { url: /build }\n",
        &["routes.yaml:5:25: route \"ci\": actions[0].forward.url: invalid URL \"/build\": relative URL without a base (add http:// or https://)"],
    );
    assert_problems(
        "routes:\n  - name: ci\n    path: /ci\n    actions:\n      - forward: { url: 'ftp://files.internal/x' }\n",
        &["routes.yaml:5:25: route \"ci\": actions[0].forward.url: URL \"ftp://files.internal/x\" must be http:// or https:// with a host (scheme was \"ftp\")"],
    );
}

#[test]
fn bad_duration() {
    assert_problems(
        "routes:\n  - name: ci\n    path: /ci\n    actions:\n      - forward: { url: 'http://ci', timeout: 5 seconds please }\n",
        &["routes.yaml:5:47: route \"ci\": actions[0].forward.timeout: invalid duration \"5 seconds please\": expected number at 10 (write e.g. 500ms, 5s, 1m)"],
    );
}

#[test]
fn yaml_syntax_error() {
    assert_problems(
        "routes:\n  - name: gh\n   path: /gh\n",
        &["routes.yaml:3:4: invalid YAML: did not find expected '-' indicator (check the indentation here and on the line above: keys of one mapping start in the same column, and YAML indents with spaces, not tabs)"],
    );
}

#[test]
fn respond_from_forward_without_a_forward() {
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n{ACTIONS}    respond: {{ from: forward }}\n"),
        &["routes.yaml:5:22: route \"gh\": respond.from: `from: forward` needs a `forward` action in this route"],
    );
}

#[test]
fn bad_listen_address_and_size() {
    assert_problems(
        &format!("listen: localhost\nmax_body_bytes: lots\nroutes:\n  - name: gh\n    path: /gh\n{ACTIONS}"),
        &[
            "routes.yaml:1:9: listen: invalid address \"localhost\": invalid socket address syntax (write e.g. 0.0.0.0:8080)",
            "routes.yaml:2:17: max_body_bytes: invalid size \"lots\" (write a number of bytes, or e.g. 512 KiB, 1 MiB)",
        ],
    );
}

#[test]
fn route_shape_mistakes() {
    assert_problems(
        "routes:\n  - name: Deploy Hook\n    path: /d\n    methods: [POST, 'GE T']\n    actions: []\n  - path: /nameless\n    actions: [{log: {}}]\n",
        &[
            "routes.yaml:2:11: route \"Deploy Hook\": name: route name \"Deploy Hook\" may use only a-z, 0-9, - and _",
            "routes.yaml:4:21: route \"Deploy Hook\": methods[1]: invalid HTTP method \"GE T\"",
            "routes.yaml:5:14: route \"Deploy Hook\": actions: a route needs at least one action",
            "routes.yaml:6:5: routes[1]: missing required key `name`",
        ],
    );
    assert_problems(
        "routes:\n  - name: two\n    path: /two\n    actions:\n      - log: {}\n        file: { path: x.jsonl }\n",
        &["routes.yaml:5:9: route \"two\": actions[0]: an action has exactly one of `forward`, `publish`, `log`, `file` or `exec`; list each as its own `- ` item"],
    );
}

#[test]
fn every_problem_in_a_file_is_reported_in_file_order() {
    let yaml = r#"version: 1
listen: 0.0.0.0:99999
routes:
  - name: github
    path: /hooks/github
    when:
      - json: $.a[
        equals: 1
      - header: X-GitHub-Event
        equal: push
      - json: $.ref
        matches: '(unclosed'
    actions:
      - forward: { url: "${HOOKROUTE_TEST_SURELY_UNSET}", timeout: soon }
  - name: github
    path: /hooks/{bad name}
    actions:
      - forward: { url: "ci.internal:8000/build" }
    respond: { from: forward }
  - name: fine
    path: /fine
    actions: [{log: {}}]
"#;
    assert_problems(
        yaml,
        &[
            "routes.yaml:2:9: listen: invalid address \"0.0.0.0:99999\": invalid socket address syntax (write e.g. 0.0.0.0:8080)",
            "routes.yaml:7:15: route \"github\": when[0].json: invalid JSONPath \"$.a[\": expected selector at character 5",
            "routes.yaml:10:9: route \"github\": when[1].equal: unknown key `equal` (did you mean `equals`?); expected one of `json`, `header`, `query`, `path_param`, `method`, `exists`, `equals`, `not_equals`, `in`, `matches`, `contains`, `gt`, `gte`, `lt`, `lte`, `all`, `any`, `not`",
            "routes.yaml:12:18: route \"github\": when[2].matches: invalid regex \"(unclosed\": unclosed group",
            "routes.yaml:14:25: route \"github\": actions[0].forward.url: environment variable HOOKROUTE_TEST_SURELY_UNSET is not set (write ${HOOKROUTE_TEST_SURELY_UNSET:-default} to give a default)",
            "routes.yaml:14:68: route \"github\": actions[0].forward.timeout: invalid duration \"soon\": expected number at 0 (write e.g. 500ms, 5s, 1m)",
            "routes.yaml:15:11: route \"github\": name: duplicate route name (also used by route #1, line 4)",
            "routes.yaml:16:11: route \"github\": path: invalid parameter name \"bad name\" in path \"/hooks/{bad name}\" (use letters, digits and _)",
            "routes.yaml:18:25: route \"github\": actions[0].forward.url: URL \"ci.internal:8000/build\" has no scheme (write http://ci.internal:8000/build or https://...)",
        ],
    );
}

#[test]
fn a_valid_file_prints_ok_and_exits_0() {
    let (code, stdout, stderr) =
        check(&format!("routes:\n  - name: a\n    path: /a\n{ACTIONS}  - name: b\n    path: /b\n{ACTIONS}"));
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "ok: 2 routes\n", ""));
    let (code, stdout, _) = check(&format!("routes:\n  - name: a\n    path: /a\n{ACTIONS}"));
    assert_eq!((code, stdout.as_str()), (0, "ok: 1 route\n"));
}

#[test]
fn the_config_path_comes_from_c_then_hookroute_config_then_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), format!("routes:\n  - name: a\n    path: /a\n{ACTIONS}")).unwrap();
    std::fs::write(dir.path().join("other.yaml"), "routes: []\n").unwrap();
    assert_eq!(run_binary(&["check"], dir.path()).1, "ok: 1 route\n");
    let out = binary().args(["check"]).env("HOOKROUTE_CONFIG", "other.yaml").current_dir(dir.path()).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok: 0 routes\n");
    let out = binary()
        .args(["check", "-c", "routes.yaml"])
        .env("HOOKROUTE_CONFIG", "other.yaml")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok: 1 route\n");

    let (code, _, stderr) = run_binary(&["check", "-c", "missing.yaml"], dir.path());
    assert_eq!(code, 1);
    assert!(stderr.starts_with("missing.yaml: cannot read config file: "), "{stderr}");
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = run_binary(&["--version"], dir.path());
    assert_eq!((code, stdout.as_str()), (0, concat!("hookroute ", env!("CARGO_PKG_VERSION"), "\n")));
    let (code, stdout, _) = run_binary(&["--help"], dir.path());
    assert_eq!(code, 0);
    assert!(stdout.contains("Examples:") && stdout.contains("hookroute serve -c routes.yaml"), "{stdout}");
}

#[test]
fn serve_refuses_a_broken_config_with_the_same_messages() {
    let yaml = "routes:\n  - name: gh\n    path: /gh\n    when: { json: '$.a[', equals: 1 }\n    actions:\n      - forward: { url: /x }\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    let (check_code, _, check_err) = run_binary(&["check", "-c", "routes.yaml"], dir.path());
    let (serve_code, serve_out, serve_err) = run_binary(
        &["serve", "-c", "routes.yaml", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
        dir.path(),
    );
    assert_eq!((check_code, serve_code), (1, 1));
    assert_eq!(check_err.lines().count(), 2, "{check_err}");
    assert_eq!(serve_err, format!("{check_err}hookroute: error: the config has problems; not starting\n"));
    assert!(!serve_out.contains("listening on"), "{serve_out}");
}

// ---------------------------------------------------------------------------
// The shipped configs.

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

const SHIPPED: [(&str, usize); 6] = [
    ("routes.yaml", 3),
    ("examples/github.yaml", 5),
    ("examples/data-sync.yaml", 3),
    ("examples/fanout.yaml", 4),
    ("examples/brokers.yaml", 2),
    ("examples/brokers-fanout.yaml", 1),
];

/// The process environment plus [`EXAMPLE_GITHUB_SECRET`].
fn example_env(name: &str) -> Option<String> {
    let (var, secret) = EXAMPLE_GITHUB_SECRET;
    if name == var {
        return Some(secret.to_string());
    }
    ProcessEnv.var(name)
}

#[test]
fn shipped_configs_pass_check_and_load_through_the_library() {
    let resources = Resources::new().unwrap();
    for (file, routes) in SHIPPED {
        let (code, stdout, stderr) = run_binary_with_env(
            &["check", "-c", file],
            Path::new(env!("CARGO_MANIFEST_DIR")),
            &[EXAMPLE_GITHUB_SECRET],
        );
        assert_eq!(
            (code, stdout.as_str(), stderr.as_str()),
            (0, format!("ok: {routes} route{}\n", if routes == 1 { "" } else { "s" }).as_str(), ""),
            "{file}"
        );
        let snapshot = hookroute::settings::load_file(&repo_file(file), &example_env, &resources)
            .unwrap_or_else(|e| panic!("{file}:\n{e}"))
            .snapshot;
        assert_eq!(snapshot.route_count(), routes, "{file}");
    }
}

#[tokio::test]
async fn shipped_routes_yaml_serves_the_readme_example() {
    let cwd = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(&repo_file("routes.yaml"), cwd.path(), &[]);
    let answer = send(
        client()
            .post(server.url("/hooks/github"))
            .header("X-GitHub-Event", "push")
            .header("Content-Type", "application/json")
            .body(r#"{"ref":"refs/heads/main","repository":{"full_name":"acme/api"}}"#),
    )
    .await;
    assert_eq!((answer.status.as_u16(), answer.routes()), (202, vec!["github-push-main".to_string()]));
    // Its `log` action wrote a structured line, with the selected header.
    let id = answer.json()["id"].as_str().unwrap().to_string();
    let line = server.wait_for_log(|l| l["event_id"] == id.as_str()).await;
    assert_eq!(line["message"], "push to a deployable branch");
    assert_eq!(line["route"], "github-push-main");
    assert_eq!(line["path"], "/hooks/github");
    // Its `file` action recorded the event under the working directory.
    let lines = json_lines(&cwd.path().join("data/events/github.jsonl"));
    assert_eq!(lines[0]["id"], id.as_str());
    assert_eq!(lines[0]["body"]["repository"]["full_name"], "acme/api");

    let other = send(client().post(server.url("/hooks/stripe")).body("x")).await;
    assert_eq!((other.status.as_u16(), other.text().as_str()), (200, "ok"));
}

/// `X-Hub-Signature-256` for `body`, as GitHub computes it.
fn github_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn github_example_checks_signatures_and_answers_a_redelivery_without_repeating_it() {
    let cwd = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(&repo_file("examples/github.yaml"), cwd.path(), &[EXAMPLE_GITHUB_SECRET]);
    let url = server.url("/hooks/github");
    // GitHub's documented test vector: its secret (the example's test
    // secret) over this body.
    let vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let ping = |signature: Option<&str>| {
        let request = client().post(&url).header("X-GitHub-Event", "ping").body("Hello, World!");
        match signature {
            Some(signature) => request.header("X-Hub-Signature-256", signature),
            None => request,
        }
    };
    let signed = send(ping(Some(vector))).await;
    assert_eq!((signed.status.as_u16(), signed.text().as_str()), (200, "pong"));
    assert_eq!(send(ping(None)).await.status.as_u16(), 401, "unsigned");
    assert_eq!(send(ping(Some(&vector.replace('7', "8")))).await.status.as_u16(), 401, "wrong signature");

    // GitHub's "Redeliver" sends the same X-GitHub-Delivery: the first
    // answer again, and the catch-all's file gets one line, not two.
    let body: &'static [u8] = br#"{"action":"opened","issue":{"number":1}}"#;
    let issue = || {
        client()
            .post(&url)
            .header("X-GitHub-Event", "issues")
            .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", github_signature(EXAMPLE_GITHUB_SECRET.1, body))
            .body(body)
    };
    let first = send(issue()).await;
    assert_eq!((first.status.as_u16(), first.routes()), (202, vec!["github-other".to_string()]));
    let again = send(issue()).await;
    assert_eq!((again.status.as_u16(), again.json()["id"].clone()), (202, first.json()["id"].clone()));
    assert_eq!(json_lines(&cwd.path().join("data/events/github-other.jsonl")).len(), 1);
}

#[tokio::test]
async fn data_sync_example_sends_updates_and_deletions_to_different_endpoints() {
    let (updates, deletions) = (Upstream::start().await, Upstream::start().await);
    let cwd = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(
        &repo_file("examples/data-sync.yaml"),
        cwd.path(),
        &[("DATA_UPDATES_URL", &updates.url("/sync/updated")), ("DATA_DELETIONS_URL", &deletions.url("/sync/deleted"))],
    );
    let update = json!({"event_type": "data_updated", "record": {"id": 42, "name": "x"}});
    let delete = json!({"event_type": "data_deleted", "record": {"id": 42}});
    let other = json!({"event_type": "data_archived", "record": {"id": 42}});
    assert_eq!(post_json(&server.url("/hooks/data-sync"), &update).await.routes(), ["data-updated"]);
    assert_eq!(post_json(&server.url("/hooks/data-sync"), &delete).await.routes(), ["data-deleted"]);
    assert_eq!(post_json(&server.url("/hooks/data-sync"), &other).await.routes(), ["data-unhandled"]);

    let (at_updates, at_deletions) = (updates.expect_exactly(1).await, deletions.expect_exactly(1).await);
    assert_eq!((at_updates[0].path.as_str(), at_updates[0].json()), ("/sync/updated", update));
    assert_eq!((at_deletions[0].path.as_str(), at_deletions[0].json()), ("/sync/deleted", delete));
    assert_eq!(json_lines(&cwd.path().join("data/events/data-sync-unhandled.jsonl"))[0]["body"], other);
}

#[tokio::test]
async fn fanout_example_delivers_one_event_to_every_interested_system() {
    let (billing, warehouse, chat) = (Upstream::start().await, Upstream::start().await, Upstream::start().await);
    let cwd = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(
        &repo_file("examples/fanout.yaml"),
        cwd.path(),
        &[
            ("BILLING_URL", &billing.url("/events")),
            ("WAREHOUSE_URL", &warehouse.url("/shipments")),
            ("CHAT_URL", &chat.url("/notify")),
        ],
    );
    let url = server.url("/hooks/orders");
    let big = json!({"type": "order.paid", "order": {"total": 2500, "items": [{"sku": "A-1"}]}});
    assert_eq!(
        post_json(&url, &big).await.routes(),
        ["orders-archive", "orders-billing", "orders-warehouse", "orders-big-sale"]
    );
    let refund = json!({"type": "order.refunded", "order": {"total": 10}});
    assert_eq!(post_json(&url, &refund).await.routes(), ["orders-archive", "orders-billing"]);
    let created = json!({"type": "order.created"});
    assert_eq!(post_json(&url, &created).await.routes(), ["orders-archive"]);

    let at_billing = billing.expect_exactly(2).await;
    assert_eq!(at_billing.iter().map(|r| r.json()).collect::<Vec<_>>().len(), 2);
    assert!(at_billing.iter().all(|r| r.header("x-consumer") == Some("billing")));
    assert_eq!(warehouse.expect_exactly(1).await[0].json(), big);
    assert_eq!(chat.expect_exactly(1).await[0].json(), big);
    assert_eq!(json_lines(&cwd.path().join("data/events/orders.jsonl")).len(), 3);
}

#[tokio::test]
async fn a_failed_background_forward_is_logged_not_lost() {
    let down = refused_url("/gone").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routes.yaml");
    std::fs::write(
        &config,
        format!("routes:\n  - name: to-nowhere\n    path: /x\n    actions: [{{forward: {{url: \"{down}\"}}}}]\n"),
    )
    .unwrap();
    let server = BinaryServer::start(&config, dir.path(), &[]);
    let answer = post_json(&server.url("/x"), &json!({})).await;
    assert_eq!(answer.status, 202);
    let id = answer.json()["id"].as_str().unwrap().to_string();
    // Whether it is then retried is delivery's business; the failure and its
    // cause are on record either way.
    let line = server
        .wait_for_log(|l| {
            l["event_id"] == id.as_str() && l["message"].as_str().is_some_and(|m| m.starts_with("forward failed"))
        })
        .await;
    assert_eq!(line["route"], "to-nowhere");
    assert_eq!(line["url"], down.as_str());
    let message = line["message"].as_str().unwrap();
    assert!(message.contains("cannot connect"), "{message}");
}

// ---------------------------------------------------------------------------
// What `check` catches before it bites (issue 21, item 5).

#[test]
fn a_template_naming_an_unknown_variable_is_a_warning_with_a_suggestion() {
    let yaml = "routes:\n  - name: gh\n    path: /gh\n    actions:\n      - log: { message: \"{{ jsn.event_type }} from {{ headers['x-source'] }}\" }\n      - forward:\n          url: http://127.0.0.1:9/x\n          body: { text: \"{% for c in json.commits %}{{ c.id }}{{ loop.index }}{% endfor %}{{ range(2) | length }}{{ payload }}\" }\n";
    let (code, stdout, stderr) = check(yaml);
    assert_eq!(code, 0, "a warning does not fail check:\n{stderr}");
    assert_eq!(stdout, "ok: 1 route\n");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "routes.yaml:5:25: warning: route \"gh\": actions[0].log.message: template reads `jsn`, which no event has (did you mean `json`?); a template sees `json`, `headers`, `query`, `path_params`, `event`, `route`",
            "routes.yaml:8:25: warning: route \"gh\": actions[1].forward.body.text: template reads `payload`, which no event has; a template sees `json`, `headers`, `query`, `path_params`, `event`, `route`",
        ],
        "{stderr}"
    );
}

#[test]
fn jsonpath_errors_say_how_to_write_the_path() {
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n    when: {{ json: event.type, equals: a }}\n{ACTIONS}"),
        &["routes.yaml:4:19: route \"gh\": when[0].json: invalid JSONPath \"event.type\": expected jp_query at character 1 (a JSONPath starts with `$`: write `$.event.type`)"],
    );
    assert_problems(
        &format!("routes:\n  - name: gh\n    path: /gh\n    when: {{ json: \"$.event-type\", equals: a }}\n{ACTIONS}"),
        &["routes.yaml:4:19: route \"gh\": when[0].json: invalid JSONPath \"$.event-type\": expected EOI, segment, or ALPHA at character 8 (a key with `-`, a space or another symbol is written in brackets: `$['event-type']`; a key containing `.` likewise: `$['a.b']`)"],
    );
}

#[test]
fn yaml_mistakes_get_a_hint() {
    // An unquoted template inside a flow mapping.
    assert_problems(
        "routes:\n  - name: gh\n    path: /gh\n    actions:\n      - log: { message: {{ json.a }} pushed }\n",
        &["routes.yaml:5:38: invalid YAML: did not find expected ',' or '}' (a `{{ … }}` template inside `{ … }` or `[ … ]` must be quoted: `{ message: \"{{ json.a }} pushed\" }`)"],
    );
    assert_problems(
        "routes:\n  - name: gh\n    path: /gh\n    actions:\n      - log: { message: {{ json.a }} }\n",
        &["routes.yaml:5:26: route \"gh\": actions[0].log.message: invalid type: map, expected a string (if this is a `{{ … }}` template, put it in quotes: \"{{ json.a }}\")"],
    );
    // A key one column off.
    assert_problems(
        "routes:\n  - name: gh\n    path: /gh\n     actions:\n      - log: {}\n",
        &["routes.yaml:4:13: invalid YAML: mapping values are not allowed in this context (check the indentation here and on the line above: keys of one mapping start in the same column, and YAML indents with spaces, not tabs)"],
    );
}

#[test]
fn a_duration_without_a_unit_says_what_to_write() {
    assert_problems(
        "routes:\n  - name: gh\n    path: /gh\n    actions:\n      - forward: { url: \"http://127.0.0.1:9/\", timeout: 5 }\n",
        &["routes.yaml:5:57: route \"gh\": actions[0].forward.timeout: a duration needs a unit: write `5s` (or 5ms, 5m)"],
    );
}

#[test]
fn an_empty_secret_file_is_named_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gh-secret"), "\n").unwrap();
    let yaml = format!(
        "routes:\n  - name: gh\n    path: /gh\n    verify: {{ github: {{ secret: \"${{file:{}/gh-secret}}\" }} }}\n{ACTIONS}",
        dir.path().display()
    );
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    let (code, _, err) = run_binary(&["check", "-c", "routes.yaml"], dir.path());
    assert_eq!(code, 1);
    assert!(err.trim_end().ends_with("/gh-secret is empty"), "{err}");
    assert!(!err.contains("variable"), "{err}");
}

#[test]
fn a_taken_port_is_reported_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "listen: {}\nadmin_listen: 127.0.0.1:0\ndata_dir: data\nroutes:\n  - name: a\n    path: /a\n{ACTIONS}",
        taken.local_addr().unwrap()
    );
    std::fs::write(dir.path().join("routes.yaml"), yaml).unwrap();
    let (code, _, err) = run_binary(&["serve", "-c", "routes.yaml"], dir.path());
    assert_eq!(code, 1, "{err}");
    let line = err.lines().find(|l| l.contains("cannot listen on")).unwrap_or_else(|| panic!("{err}"));
    assert_eq!(line.matches("Address already in use").count(), 1, "{line}");
}

/// A delivery store another server holds: one error line, its cause said
/// once (printing the error's chain used to repeat it).
#[tokio::test]
async fn a_store_held_by_another_server_is_reported_once() {
    let (server, dir) = start("routes:\n  - name: a\n    path: /a\n    actions: [ { log: {} } ]\n").await;
    let cwd = dir.path().to_path_buf();
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        run_binary(
            &[
                "serve",
                "-c",
                "routes.yaml",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--data-dir",
                "data",
            ],
            &cwd,
        )
    })
    .await
    .unwrap();
    server.shutdown().await;
    assert_eq!(code, 1, "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("hookroute: error: cannot open the delivery store at "), "{err}");
    assert_eq!(last.matches("has it open").count(), 1, "{last}");
}

/// A lone condition written as a mapping with a misspelt subject is one
/// mistake: the unknown key is reported, not also "needs one subject".
#[test]
fn a_misspelt_subject_in_a_lone_condition_is_reported_once() {
    let (code, stdout, stderr) =
        check("routes:\n  - name: a\n    path: /x\n    when: { methods: POST, equals: x }\n    actions: [{ log: { message: hi } }]\n");
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("unknown key `methods` (did you mean `method`?)"), "{stderr}");
    assert!(!stderr.contains("needs one subject"), "the same mistake twice:\n{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("routes.yaml:")).count(), 1, "{stderr}");
}
