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

// ---------------------------------------------------------------------------
// The id the sender got.

/// Starts the server on `yaml`, whose `admin_listen` is a port picked now,
/// so the CLI's `-c routes.yaml` finds the admin API where the file says.
async fn start_with_admin_from_config(yaml: &str) -> (RunningServer, tempfile::TempDir) {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = free.local_addr().unwrap();
    drop(free);
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &format!("admin_listen: {admin}\n{yaml}"));
    let options = hookroute::app::ServeOptions {
        config_path: path,
        data_dir: Some(dir.path().join("data")),
        admin_listen: None,
        ..serve_options()
    };
    let server = start_with(options).await.expect("the server starts");
    assert_eq!(server.admin_addr, admin);
    (server, dir)
}

#[tokio::test]
async fn the_cli_shows_lists_and_retries_by_the_event_id_from_the_202_with_c_routes_yaml() {
    let failing = Upstream::start_with(UpstreamReply::status(400).body("application/json", r#"{"error":"bad"}"#)).await;
    let fine = Upstream::start().await;
    let yaml = format!(
        "routes:\n  - name: fan\n    path: /hooks/fan\n    actions:\n      - forward: {{ url: \"{}\" }}\n      - forward: {{ url: \"{}\" }}\n",
        failing.url("/a"),
        fine.url("/b")
    );
    let (server, dir) = start_with_admin_from_config(&yaml).await;
    let other = accept(&server, "/hooks/fan", json!({"n": 0})).await;
    let id = accept(&server, "/hooks/fan", json!({"n": 1})).await;
    wait_job(&server, &id, "dead").await;
    wait_job(&server, &id, "succeeded").await;
    wait_job(&server, &other, "dead").await;
    let config = dir.path().join("routes.yaml");
    let c = config.to_str().unwrap();

    let (code, out, err) = cli(&["deliveries", "-c", c, "show", &id], Path::new("/")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("event {id}: 2 deliveries")), "{out}");
    assert!(out.contains("answered 400") && out.contains(r#"{"error":"bad"}"#), "{out}");

    // Without -c, ./routes.yaml is read.
    let (code, out, err) = cli(&["deliveries", "list", "--event", &id], dir.path()).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows.iter().any(|r| r.contains("dead")) && rows.iter().any(|r| r.contains("succeeded")), "{out}");
    let api = admin_get(&server, &format!("/-/deliveries?event={id}")).await.json();
    assert!(api["deliveries"].as_array().unwrap().iter().all(|d| d["event_id"] == id.as_str()), "{api:#}");

    // Retrying the event sends its dead delivery again, not the one taken.
    failing.set_reply(UpstreamReply::default());
    let (code, out, err) = cli(&["deliveries", "-c", c, "retry", &id], Path::new("/")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("1 delivery queued"), "{out}");
    let deadline = Instant::now() + DEADLINE;
    while admin_get(&server, &format!("/-/deliveries?event={id}&status=succeeded")).await.json()["deliveries"]
        .as_array()
        .unwrap()
        .len()
        < 2
    {
        assert!(Instant::now() < deadline, "the event's dead delivery was not delivered after the retry");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    fine.expect_exactly(2).await; // one per event, none again
    failing.expect_exactly(3).await; // each event once, then the retried one
    let (code, _, err) = cli(&["deliveries", "-c", c, "retry", &id], Path::new("/")).await;
    assert_eq!(code, 1);
    assert!(err.contains(&format!("event {id} has no dead deliveries (0 pending, 2 succeeded)")), "{err}");

    let (code, _, err) = cli(&["deliveries", "-c", c, "show", "01JNOTANID"], Path::new("/")).await;
    assert_eq!(code, 1);
    assert!(err.contains("no delivery and no event 01JNOTANID"), "{err}");
    assert!(err.contains("the `id` in the sender's 202") && err.contains("dead ones 7days"), "{err}");
}

/// A store file as the version before this one wrote it: no
/// `jobs_by_event` table, attempts without answer details.
#[tokio::test]
async fn a_store_from_the_previous_version_is_read_and_found_by_event_id() {
    use hookroute::delivery::redb_tables::{BY_STATUS, JOBS};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let record = format!(
        r#"{{"id":"01JOLDJOB0000000000000000","event_id":"01JOLDEVENT000000000000000","route":"gh","status":"dead",
        "created_at":"{now}","updated_at":"{now}","destination":"127.0.0.1:9","request":{{"method":"POST",
        "url":"http://127.0.0.1:9/in","headers":[],"timeout_ms":1000}},"retry":{{"max_attempts":10,"initial_backoff":1000,
        "max_backoff":600000,"max_age":86400000}},"round_started_at":"{now}","round_first_attempt":0,
        "attempts":[{{"number":1,"at":"{now}","status":301,"error":"answered 301 Moved Permanently","latency_ms":3}}],
        "dead_reason":"answered 301 Moved Permanently; not retried"}}"#
    );
    let updated = humantime::parse_rfc3339(&now).unwrap().duration_since(std::time::UNIX_EPOCH).unwrap();
    {
        let db = redb::Database::create(data.join("deliveries.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut jobs = txn.open_table(JOBS).unwrap();
            jobs.insert("01JOLDJOB0000000000000000", record.as_bytes()).unwrap();
            let mut index = txn.open_table(BY_STATUS).unwrap();
            index.insert((2u8, updated.as_millis() as u64, "01JOLDJOB0000000000000000"), "gh").unwrap();
        }
        txn.commit().unwrap();
    }
    let path = write_config(dir.path(), "routes:\n  - { name: gh, path: /gh, actions: [ { log: {} } ] }\n");
    let options = hookroute::app::ServeOptions { config_path: path, data_dir: Some(data), ..serve_options() };
    let server = start_with(options).await.expect("the server starts on the old store");

    let job = admin_get(&server, "/-/deliveries/01JOLDJOB0000000000000000").await;
    assert_eq!(job.status, 200, "{}", job.text());
    assert_eq!(job.json()["attempts"][0]["status"], 301);
    let event = admin_get(&server, "/-/deliveries/01JOLDEVENT000000000000000").await;
    assert_eq!(event.status, 200, "{}", event.text());
    assert_eq!(event.json()["deliveries"][0]["id"], "01JOLDJOB0000000000000000");
    let dead = admin_get(&server, "/-/deliveries?status=dead").await.json();
    assert_eq!(dead["deliveries"].as_array().unwrap().len(), 1, "{dead:#}");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// Breakers.

#[tokio::test]
async fn an_open_breaker_shows_in_the_api_the_gauge_and_the_cli_and_a_replay_says_it_waits() {
    let up = Upstream::start_with(UpstreamReply::status(503)).await;
    let yaml = format!(
        "destinations:\n  circuit_breaker: {{ failures: 2, open_for: 1h, max_open_for: 1h }}\n{}",
        config(&route("gh", &up.url("/"), ", max_attempts: 2"))
    );
    let (server, dir) = start_with_admin_from_config(&yaml).await;
    let id = accept(&server, "/hooks/gh", json!({})).await;
    wait_job(&server, &id, "dead").await;
    up.expect_exactly(2).await;
    let name = up.addr.to_string();

    let all = admin_get(&server, "/-/destinations").await.json();
    let d = &all["destinations"][0];
    assert_eq!(d["destination"], name.as_str(), "{all:#}");
    assert_eq!(d["breaker"], "open", "{all:#}");
    assert!(d["open_until"].is_string(), "{all:#}");

    let gauge = format!("hookroute_breaker_state{{destination=\"{name}\"}} 2");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let metrics = admin_get(&server, "/-/metrics").await.text();
        if metrics.lines().any(|l| l == gauge) {
            break;
        }
        assert!(Instant::now() < deadline, "no `{gauge}` in:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let c = dir.path().join("routes.yaml");
    let c = c.to_str().unwrap();
    let (code, out, err) = cli(&["deliveries", "-c", c, "list", "--status", "dead"], Path::new("/")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("destination {name}: circuit breaker open until")), "{out}");
    let (code, out, err) = cli(&["deliveries", "-c", c, "destinations"], Path::new("/")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with(&name) && l.contains("open")), "{out}");

    up.set_reply(UpstreamReply::default());
    let (code, out, err) = cli(&["deliveries", "-c", c, "retry", &id], Path::new("/")).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("1 delivery queued"), "{out}");
    assert!(out.contains(&format!("destination {name}: circuit breaker open until")), "{out}");
    assert!(out.contains("when one probe goes out (half-open)"), "{out}");
    up.expect_exactly(2).await; // held back by the breaker, not sent
}
