//! What the log lines say (issue 21, item 4), read from the real binary's
//! JSON logs: a `log` action's `headers` field, the access line of a
//! deduplicated redelivery, and one WARN line per forged request however
//! many routes share its path.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn log_lines_carry_what_the_request_was_and_nothing_twice() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let signed: String = ["one", "two", "three"]
        .iter()
        .map(|n| format!("  - name: signed-{n}\n    path: /signed\n    verify: {{ bearer: {{ token: token-{n} }} }}\n    actions: [ {{ log: {{}} }} ]\n"))
        .collect();
    let config = write_config(
        dir.path(),
        &format!(
            "data_dir: {}/data\nroutes:\n  - name: plain\n    path: /plain\n    actions: [ {{ log: {{ message: plain-line }} }} ]\n  - name: picked\n    path: /picked\n    actions: [ {{ log: {{ message: picked-line, headers: [X-Source] }} }} ]\n  - name: dd\n    path: /dd\n    dedup: {{ header: X-Delivery }}\n    actions: [ {{ forward: {{ url: \"{}\" }} }} ]\n{signed}",
            dir.path().display(),
            up.url("/in")
        ),
    );
    let server = BinaryServer::start(&config, dir.path(), &[]);
    let post = |path: &str, headers: &[(&str, &str)]| {
        let mut request = client().post(server.url(path)).header("content-type", "application/json").body("{}");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        send(request)
    };

    // `log` without `headers:` writes no headers field; with it, an object.
    assert_eq!(post("/plain", &[("x-source", "ci")]).await.status, 202);
    let line = server.wait_for_log(|v| v["message"] == "plain-line").await;
    assert!(line.get("headers").is_none(), "{line}");
    assert_eq!(post("/picked", &[("x-source", "ci")]).await.status, 202);
    let line = server.wait_for_log(|v| v["message"] == "picked-line").await;
    assert_eq!(line["headers"], json!({"x-source": "ci"}), "{line}");

    // A redelivery answered with the first id is logged with that id.
    let first = post("/dd", &[("x-delivery", "d-1"), ("x-request-id", "dd-first")]).await;
    let again = post("/dd", &[("x-delivery", "d-1"), ("x-request-id", "dd-again")]).await;
    let first_id = first.json()["id"].as_str().unwrap().to_string();
    assert_eq!(again.json()["id"], first_id.as_str());
    let access = |rid: &'static str| move |v: &Value| v["target"] == "hookroute::access" && v["request_id"] == rid;
    let line = server.wait_for_log(access("dd-again")).await;
    assert_eq!(line["event_id"], first_id.as_str(), "{line}");
    up.expect_exactly(1).await;

    // A forged request on a path of three verified routes: one WARN line.
    let forged = post("/signed", &[("authorization", "Bearer forged"), ("x-request-id", "forged")]).await;
    assert_eq!(forged.status, 401);
    server.wait_for_log(access("forged")).await;
    let warnings: Vec<Value> = server
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with("signature verification failed")))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["level"], "WARN");
    assert_eq!(warnings[0]["routes"], "signed-one,signed-two,signed-three");
    let reason = warnings[0]["reason"].as_str().unwrap();
    for route in ["signed-one", "signed-two", "signed-three"] {
        assert!(reason.contains(route), "{reason}");
    }
    // A request one route verifies is taken without a warning.
    let taken = post("/signed", &[("authorization", "Bearer token-two"), ("x-request-id", "taken")]).await;
    assert_eq!(taken.status, 202);
    server.wait_for_log(access("taken")).await;
    let lines = server.logs();
    assert_eq!(lines.iter().filter(|l| l.contains("signature verification failed")).count(), 1);
}
