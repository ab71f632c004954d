//! Dead letters that say what to do next, and finding them by the id the
//! sender got: each attempt keeps its answer's status, telling headers and a
//! bounded body excerpt; the admin API and `hookroute deliveries` take an
//! event id as well as a job id; an upstream that answers 200 and then
//! stalls is delivered, once. The real server, real loopback upstreams, the
//! real binary for the CLI.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use hookroute::app::RunningServer;
use serde_json::{json, Value};

async fn admin_get(server: &RunningServer, path: &str) -> Answer {
    send(client().get(admin_url(server, path))).await
}

async fn accept(server: &RunningServer, path: &str, body: Value) -> String {
    let answer = post_json(&url(server, path), &body).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    answer.json()["id"].as_str().unwrap().to_string()
}

/// Waits until a job of `event` has `status`; returns its full record.
async fn wait_job(server: &RunningServer, event: &str, status: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let list = admin_get(server, "/-/deliveries?limit=500").await.json();
        let jobs = list["deliveries"].as_array().unwrap().clone();
        if let Some(job) = jobs.iter().find(|j| j["event_id"] == event && j["status"] == status) {
            let id = job["id"].as_str().unwrap();
            return admin_get(server, &format!("/-/deliveries/{id}")).await.json();
        }
        assert!(Instant::now() < deadline, "event {event}: no job became {status} within {DEADLINE:?}: {jobs:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A route `name` on `/hooks/name` forwarding to `url` with fast retries.
fn route(name: &str, url: &str, retry: &str) -> String {
    format!(
        "  - name: {name}\n    path: /hooks/{name}\n    actions:\n      - forward:\n          url: {url}\n          retry: {{ initial_backoff: 20ms, max_backoff: 50ms{retry} }}\n"
    )
}

fn config(routes: &str) -> String {
    format!("routes:\n{routes}")
}

/// `hookroute ARGS` in `cwd`, off the async runtime.
async fn cli(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_binary(&args, &cwd)
    })
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------
// What an attempt keeps of the answer.

#[tokio::test]
async fn a_301_is_dead_at_once_and_its_location_is_shown_by_the_api_and_the_cli() {
    let up = Upstream::start_with(
        UpstreamReply::status(301).header("location", "/webhook/").body("text/html", "<a href=\"/webhook/\">Moved</a>"),
    )
    .await;
    let (server, dir) = start(&config(&route("gh", &up.url("/webhook"), ""))).await;
    let id = accept(&server, "/hooks/gh", json!({"n": 1})).await;
    let job = wait_job(&server, &id, "dead").await;
    up.expect_exactly(1).await;
    let attempt = &job["attempts"][0];
    assert_eq!(attempt["status"], 301);
    assert_eq!(attempt["headers"], json!([["location", "/webhook/"], ["content-type", "text/html"]]), "{job:#}");
    assert_eq!(attempt["body"], "<a href=\"/webhook/\">Moved</a>");

    let admin = server.admin_addr.to_string();
    let (code, out, err) =
        cli(&["deliveries", "--admin", &admin, "show", job["id"].as_str().unwrap()], dir.path()).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Location: /webhook/"), "{out}");
    assert!(out.contains("<a href=\"/webhook/\">Moved</a>"), "{out}");
}

#[tokio::test]
async fn a_503_keeps_its_retry_after_and_a_bounded_excerpt_of_its_body() {
    let big = "x".repeat(5000);
    let up = Upstream::start_with(
        UpstreamReply::status(503).header("retry-after", "120").header("server", "nginx").body("text/plain", big),
    )
    .await;
    let (server, _dir) = start(&config(&route("gh", &up.url("/"), ", max_attempts: 1"))).await;
    let id = accept(&server, "/hooks/gh", json!({})).await;
    let job = wait_job(&server, &id, "dead").await;
    let attempt = &job["attempts"][0];
    assert_eq!(attempt["status"], 503);
    // `server` says nothing an operator acts on; it is not kept.
    assert_eq!(attempt["headers"], json!([["retry-after", "120"], ["content-type", "text/plain"]]));
    assert_eq!(attempt["body"].as_str().unwrap(), "x".repeat(1024), "the excerpt is the first 1 KiB");
    assert_eq!(attempt["body_truncated"], true);
    assert!(job["dead_reason"].as_str().unwrap().contains("503"), "{job:#}");
}

#[tokio::test]
async fn successful_attempts_keep_no_answer_details() {
    let up =
        Upstream::start_with(UpstreamReply::status(201).header("location", "/things/1").body("text/plain", "made"))
            .await;
    let (server, _dir) = start(&config(&route("gh", &up.url("/"), ""))).await;
    let id = accept(&server, "/hooks/gh", json!({})).await;
    let job = wait_job(&server, &id, "succeeded").await;
    let attempt = job["attempts"][0].as_object().unwrap();
    assert_eq!(attempt["status"], 201);
    for key in ["headers", "body", "body_truncated", "note"] {
        assert!(!attempt.contains_key(key), "a 2xx attempt keeps {key}: {attempt:?}");
    }
}

// ---------------------------------------------------------------------------
// An upstream that answers and then stalls.

#[tokio::test]
async fn an_upstream_that_answers_200_and_stalls_is_delivered_once() {
    let up = Upstream::start_with(UpstreamReply::status(200).body("text/plain", "ok so f").then_stall()).await;
    let (server, _dir) = start(&config(
        &route("gh", &up.url("/"), "").replace("          retry:", "          timeout: 300ms\n          retry:"),
    ))
    .await;
    let id = accept(&server, "/hooks/gh", json!({})).await;
    let job = wait_job(&server, &id, "succeeded").await;
    up.expect_exactly(1).await;
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{job:#}");
    assert_eq!(attempts[0]["status"], 200);
    let note = attempts[0]["note"].as_str().unwrap();
    assert!(note.contains("the body did not finish within 300ms") && note.contains("delivered"), "{note}");
}

#[tokio::test]
async fn a_503_that_stalls_is_retried_and_its_status_is_kept() {
    let up = Upstream::start_with(UpstreamReply::status(503).body("text/plain", "busy").then_stall()).await;
    let (server, _dir) = start(&config(
        &route("gh", &up.url("/"), ", max_attempts: 2")
            .replace("          retry:", "          timeout: 300ms\n          retry:"),
    ))
    .await;
    let id = accept(&server, "/hooks/gh", json!({})).await;
    let job = wait_job(&server, &id, "dead").await;
    up.expect_exactly(2).await;
    for attempt in job["attempts"].as_array().unwrap() {
        assert_eq!(attempt["status"], 503, "{job:#}");
        assert_eq!(attempt["body"], "busy");
        assert_eq!(attempt["body_truncated"], true);
    }
    let reason = job["dead_reason"].as_str().unwrap();
    assert!(reason.contains("answered 503"), "a dead letter without the status it saw: {reason}");
}

#[tokio::test]
async fn a_relayed_answer_whose_body_stalls_is_a_504_that_names_the_status() {
    let up = Upstream::start_with(UpstreamReply::status(200).body("application/json", "{\"ok\":").then_stall()).await;
    let yaml = format!(
        "routes:\n  - name: sync\n    path: /sync\n    respond: {{ from: forward }}\n    actions:\n      - forward: {{ url: \"{}\", timeout: 300ms }}\n",
        up.url("/")
    );
    let (server, _dir) = start(&yaml).await;
    let answer = post_json(&url(&server, "/sync"), &json!({})).await;
    assert_eq!(answer.status, 504, "{}", answer.text());
    assert!(answer.error().contains("answered 200 OK but its body did not arrive within 300ms"), "{}", answer.text());
    up.expect_exactly(1).await;
}
