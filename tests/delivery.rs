//! Durable delivery, end to end: the real server, real loopback upstreams,
//! the admin API and the CLI. Backoffs are configured short (tens of
//! milliseconds) so retries happen in real time; no test asserts a
//! duration, only what arrived and what the store says.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hookroute::app::{RunningServer, ServeOptions};
use serde_json::{json, Value};
use tokio::net::TcpListener;

fn event_id(r: &Recorded) -> String {
    r.header("x-hookroute-event-id").unwrap_or_default().to_string()
}

fn attempt_of(r: &Recorded) -> u32 {
    r.header("x-hookroute-attempt").and_then(|a| a.parse().ok()).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Admin API helpers.

async fn admin_get(server: &RunningServer, path: &str) -> Answer {
    send(client().get(admin_url(server, path))).await
}

async fn admin_post(server: &RunningServer, path: &str) -> Answer {
    send(client().post(admin_url(server, path))).await
}

/// The jobs of one event (through the listing).
async fn jobs_of(server: &RunningServer, event: &str) -> Vec<Value> {
    let list = admin_get(server, "/-/deliveries?limit=500").await.json();
    list["deliveries"].as_array().unwrap().iter().filter(|d| d["event_id"] == event).cloned().collect()
}

/// Waits until the single job of `event` has `status`; returns its full record.
async fn wait_job(server: &RunningServer, event: &str, status: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let jobs = jobs_of(server, event).await;
        if let Some(job) = jobs.iter().find(|j| j["status"] == status) {
            let id = job["id"].as_str().unwrap();
            return admin_get(server, &format!("/-/deliveries/{id}")).await.json();
        }
        assert!(Instant::now() < deadline, "event {event}: no job became {status} within {DEADLINE:?}: {jobs:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn accept(server: &RunningServer, path: &str, body: Value) -> String {
    let answer = post_json(&url(server, path), &body).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    answer.json()["id"].as_str().unwrap().to_string()
}

/// A forward block with fast retries.
fn forward(url: &str, extra: &str) -> String {
    format!("      - forward:\n          url: {url}\n          retry: {{ initial_backoff: 20ms, max_backoff: 50ms{extra} }}\n")
}

fn config(routes: &str) -> String {
    format!("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nroutes:\n{routes}")
}

fn route(name: &str, actions: &str) -> String {
    format!("  - name: {name}\n    path: /hooks/{name}\n    actions:\n{actions}")
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn retries_until_success_with_stable_event_id_and_attempt_numbers() {
    let up = Upstream::start().await;
    up.push_replies([UpstreamReply::status(503), UpstreamReply::status(500)]);
    let (server, _dir) = start(&config(&route("gh", &forward(&up.url("/in"), "")))).await;
    let id = accept(&server, "/hooks/gh", json!({"n": 1})).await;
    let got = up.wait_for(3).await;
    assert!(got.iter().all(|r| event_id(r) == id), "the event id changed between attempts");
    assert_eq!(got.iter().map(attempt_of).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(got.iter().all(|r| r.body == got[0].body && r.json() == json!({"n": 1})));
    let job = wait_job(&server, &id, "succeeded").await;
    let statuses: Vec<Value> = job["attempts"].as_array().unwrap().iter().map(|a| a["status"].clone()).collect();
    assert_eq!(statuses, vec![json!(503), json!(500), json!(200)]);
    up.expect_exactly(3).await;
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    // With backoffs of up to an hour, only Retry-After can bring the
    // second attempt within the test's deadline.
    let slow = Upstream::start().await;
    slow.push_replies([UpstreamReply::status(503).header("retry-after", "1")]);
    let capped = Upstream::start().await;
    capped.push_replies([UpstreamReply::status(429).header("retry-after", "86400")]);
    let routes = route(
        "slow",
        &format!(
            "      - forward:\n          url: {}\n          retry: {{ initial_backoff: 1h, max_backoff: 1h }}\n",
            slow.url("/")
        ),
    ) + &route("capped", &forward(&capped.url("/"), ""));
    let (server, _dir) = start(&config(&routes)).await;
    let id = accept(&server, "/hooks/slow", json!({})).await;
    let capped_id = accept(&server, "/hooks/capped", json!({})).await;
    slow.wait_for(2).await;
    capped.wait_for(2).await;
    let job = wait_job(&server, &id, "succeeded").await;
    let first = &job["attempts"][0];
    assert_eq!(first["status"], 503);
    let second_at = humantime::parse_rfc3339(job["attempts"][1]["at"].as_str().unwrap()).unwrap();
    let first_at = humantime::parse_rfc3339(first["at"].as_str().unwrap()).unwrap();
    assert!(second_at.duration_since(first_at).unwrap() >= Duration::from_secs(1), "Retry-After: 1 not waited for");
    wait_job(&server, &capped_id, "succeeded").await;
}

#[tokio::test]
async fn permanent_4xx_goes_straight_to_dead_letters() {
    let up =
        Upstream::start_with(UpstreamReply::status(422).body("application/json", r#"{"error":"unknown repo"}"#)).await;
    let (server, _dir) = start(&config(&route("gh", &forward(&up.url("/"), "")))).await;
    let id = accept(&server, "/hooks/gh", json!({})).await;
    let job = wait_job(&server, &id, "dead").await;
    up.expect_exactly(1).await;
    let reason = job["dead_reason"].as_str().unwrap();
    assert!(reason.contains("422") && reason.contains("not retried"), "{reason}");
    assert_eq!(job["attempts"].as_array().unwrap().len(), 1);
    assert!(job["attempts"][0]["error"].as_str().unwrap().contains("unknown repo"));
    // The listing finds it among dead letters.
    let dead = admin_get(&server, "/-/deliveries?status=dead").await.json();
    assert_eq!(dead["deliveries"][0]["event_id"], id.as_str());
}

#[tokio::test]
async fn exhausted_retries_go_to_dead_letters_then_single_replay_delivers() {
    let up = Upstream::start_with(UpstreamReply::status(500)).await;
    let (server, _dir) = start(&config(&route("gh", &forward(&up.url("/"), ", max_attempts: 3")))).await;
    let id = accept(&server, "/hooks/gh", json!({"n": 7})).await;
    let job = wait_job(&server, &id, "dead").await;
    up.expect_exactly(3).await;
    assert!(job["dead_reason"].as_str().unwrap().contains("gave up after 3 attempt(s)"), "{job}");

    let job_id = job["id"].as_str().unwrap();
    up.set_reply(UpstreamReply::default());
    let retried = admin_post(&server, &format!("/-/deliveries/{job_id}/retry")).await;
    assert_eq!(retried.status, 202, "{}", retried.text());
    let got = up.wait_for(4).await;
    assert_eq!(event_id(&got[3]), id);
    assert_eq!(attempt_of(&got[3]), 4, "attempt numbers continue across a manual retry");
    let job = wait_job(&server, &id, "succeeded").await;
    assert_eq!(job["attempts"].as_array().unwrap().len(), 4, "history kept");
    // An unknown job is 404.
    assert_eq!(admin_post(&server, "/-/deliveries/nope/retry").await.status, 404);
    assert_eq!(admin_get(&server, "/-/deliveries/nope").await.status, 404);
}

#[tokio::test]
async fn bulk_replay_retries_dead_letters_of_one_route() {
    let up = Upstream::start_with(UpstreamReply::status(404)).await;
    let routes = route("a", &forward(&up.url("/a"), "")) + &route("b", &forward(&up.url("/b"), ""));
    let (server, _dir) = start(&config(&routes)).await;
    let mut a_ids = Vec::new();
    for i in 0..3 {
        a_ids.push(accept(&server, "/hooks/a", json!({"i": i})).await);
    }
    let b_id = accept(&server, "/hooks/b", json!({})).await;
    for id in &a_ids {
        wait_job(&server, id, "dead").await;
    }
    wait_job(&server, &b_id, "dead").await;
    up.expect_exactly(4).await;
    up.set_reply(UpstreamReply::default());
    let answer = admin_post(&server, "/-/deliveries/retry?status=dead&route=a").await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.json()["retried"], 3);
    let got = up.expect_exactly(7).await;
    assert!(got[4..].iter().all(|r| r.path == "/a"), "only route a was replayed");
    for id in &a_ids {
        wait_job(&server, id, "succeeded").await;
    }
    assert_eq!(jobs_of(&server, &b_id).await[0]["status"], "dead");
}

#[tokio::test]
async fn ordering_key_failing_head_blocks_only_its_key() {
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    // x#1 fails until released; everything else succeeds.
    let down = Downstream::start(move |req, _| {
        let body = req.json();
        if body == json!({"key": "x", "seq": 1}) && !r.load(Ordering::SeqCst) {
            UpstreamReply::status(503)
        } else {
            UpstreamReply::status(204)
        }
    })
    .await;
    let yaml = config(&route(
        "sync",
        &format!(
            "      - forward:\n          url: {}\n          ordering_key: $.key\n          retry: {{ initial_backoff: 20ms, max_backoff: 100ms, max_attempts: 1000 }}\n",
            down.url("/")
        ),
    )) + "destinations:\n  circuit_breaker: { failures: 1000 }\n";
    let (server, _dir) = start(&yaml).await;
    for (key, seq) in [("x", 1), ("x", 2), ("y", 1), ("x", 3), ("y", 2)] {
        accept(&server, "/hooks/sync", json!({"key": key, "seq": seq})).await;
    }
    // y is delivered while x's head keeps failing...
    let seen = down
        .wait_until("y#1 and y#2 delivered while x#1 retries", |seen| {
            let ys = seen.iter().filter(|r| r.json()["key"] == "y").count();
            let x1 = seen.iter().filter(|r| r.json() == json!({"key": "x", "seq": 1})).count();
            ys == 2 && x1 >= 2
        })
        .await;
    let ys: Vec<Value> = seen.iter().map(Recorded::json).filter(|b| b["key"] == "y").collect();
    assert_eq!(ys, vec![json!({"key": "y", "seq": 1}), json!({"key": "y", "seq": 2})]);
    // ...and nothing behind x's head was sent.
    assert!(seen.iter().all(|r| r.json()["key"] != "x" || r.json()["seq"] == 1), "x#2/x#3 overtook the head");
    release.store(true, Ordering::SeqCst);
    let seen = down
        .wait_until("x#1..3 delivered", |seen| seen.iter().any(|r| r.json() == json!({"key": "x", "seq": 3})))
        .await;
    let xs: Vec<i64> =
        seen.iter().map(Recorded::json).filter(|b| b["key"] == "x").map(|b| b["seq"].as_i64().unwrap()).collect();
    let first_other = xs.iter().position(|s| *s != 1).unwrap();
    assert!(xs[..first_other].iter().all(|s| *s == 1));
    assert_eq!(&xs[first_other..], &[2, 3], "x's updates arrived out of order: {xs:?}");
}

#[tokio::test]
async fn dedup_answers_redeliveries_with_the_original_id() {
    let up = Upstream::start().await;
    let routes = format!(
        "{}    dedup: {{ header: X-GitHub-Delivery, window: 1h }}\n{}    dedup: {{ json: $.id }}\n",
        route("gh", &forward(&up.url("/gh"), "")),
        route("stripe", &forward(&up.url("/stripe"), "")),
    );
    let (server, _dir) = start(&config(&routes)).await;
    let post_gh = |delivery: &'static str| {
        let url = url(&server, "/hooks/gh");
        async move {
            send(
                client()
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-github-delivery", delivery)
                    .body("{}"),
            )
            .await
        }
    };
    let first = post_gh("d-1").await;
    assert_eq!(first.status, 202);
    let again = post_gh("d-1").await;
    assert_eq!((again.status, again.json()["id"].clone()), (first.status, first.json()["id"].clone()));
    assert_eq!(again.header("x-hookroute-event-id"), first.header("x-hookroute-event-id"));
    assert_ne!(post_gh("d-2").await.json()["id"], first.json()["id"]);
    // Concurrent redeliveries of one Stripe event: one event, one delivery.
    let url = url(&server, "/hooks/stripe");
    let stripe_event = json!({"id": "evt_1", "type": "invoice.paid"});
    let answers = futures_util::future::join_all((0..10).map(|_| post_json(&url, &stripe_event))).await;
    let ids: std::collections::HashSet<String> =
        answers.iter().map(|a| a.json()["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 1, "concurrent redeliveries got different ids: {ids:?}");
    let got = up.expect_exactly(3).await;
    assert_eq!(got.iter().filter(|r| r.path == "/stripe").count(), 1);
}

#[tokio::test]
async fn circuit_breaker_opens_then_closes() {
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let down = Downstream::start(move |_, _| {
        if h.load(Ordering::SeqCst) {
            UpstreamReply::status(200)
        } else {
            UpstreamReply::status(503)
        }
    })
    .await;
    let yaml = config(&route("gh", &forward(&down.url("/"), ", max_attempts: 1000")))
        + "destinations:\n  circuit_breaker: { failures: 3, open_for: 300ms, max_open_for: 300ms }\n";
    let (server, _dir) = start(&yaml).await;
    let first = accept(&server, "/hooks/gh", json!({"n": 1})).await;
    down.wait_until("three failures", |s| s.len() >= 3).await;
    // Open: with 20-50ms backoffs a closed breaker would make dozens of
    // attempts in a second; open, it lets one probe through per 300ms.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = down.seen().len();
    assert!(during <= 3 + 5, "breaker did not stop attempts: {during} in about a second");
    healthy.store(true, Ordering::SeqCst);
    wait_job(&server, &first, "succeeded").await;
    // Closed again: new events go straight through.
    let second = accept(&server, "/hooks/gh", json!({"n": 2})).await;
    let job = wait_job(&server, &second, "succeeded").await;
    assert_eq!(job["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dead_destination_does_not_delay_a_healthy_one() {
    // A destination that accepts connections and never answers: every
    // attempt takes its full timeout.
    let blackhole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole = blackhole.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = blackhole.accept().await {
            open.push(s);
        }
    });
    let up = Upstream::start().await;
    let actions = format!(
        "      - forward: {{ url: http://{hole}/, timeout: 10s }}\n      - forward: {{ url: {} }}\n",
        up.url("/")
    );
    let yaml = config(&route("fan", &actions)) + "destinations: { concurrency: 2 }\n";
    let (server, _dir) = start(&yaml).await;
    for i in 0..20 {
        accept(&server, "/hooks/fan", json!({"i": i})).await;
    }
    // Behind the black hole's 2 slots, 20 jobs would take 100 s; the healthy
    // destination gets all of its 20 within the deadline.
    up.wait_for(20).await;
    held.abort();
}

#[tokio::test]
async fn with_no_body_memory_a_first_attempt_reads_the_exact_body_from_the_store() {
    let up = Upstream::start().await;
    let routes = route("lean", &forward(&up.url("/in"), ""));
    let (server, _dir) = start(&format!("queued_body_memory: 0\n{}", config(&routes))).await;
    // Odd spacing and non-ASCII text: the bytes must come back from the
    // store exactly as received.
    let body = "{\"text\": \"caf\u{e9} \u{1F680}\",\n \"n\":  1.0e0 }";
    let answer = post(&url(&server, "/hooks/lean"), "application/json", body.to_string()).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    let got = up.wait_for(1).await;
    assert_eq!(got[0].body, body.as_bytes());
    assert_eq!(attempt_of(&got[0]), 1);
}

#[tokio::test]
async fn memory_delivery_is_queued_but_not_stored() {
    let up = Upstream::start().await;
    let routes = format!("{}    delivery: memory\n", route("fast", &forward(&up.url("/"), "")));
    let (server, _dir) = start(&config(&routes)).await;
    let id = accept(&server, "/hooks/fast", json!({})).await;
    let got = up.wait_for(1).await;
    assert_eq!(event_id(&got[0]), id);
    assert!(jobs_of(&server, &id).await.is_empty(), "a memory job was written to the store");
}

#[tokio::test]
async fn memory_backlog_past_its_limit_is_refused_with_503_and_accepted_again_once_delivered() {
    // A destination that is down (503) until `up` is set: the memory jobs
    // stay held, retrying. Every answer is noted with the event's `n`.
    let up = Arc::new(AtomicBool::new(false));
    let answered: Arc<std::sync::Mutex<Vec<(i64, u16)>>> = Arc::default();
    let (flag, log) = (up.clone(), answered.clone());
    let downstream = Downstream::start(move |r, _| {
        let status = if flag.load(Ordering::SeqCst) { 200 } else { 503 };
        log.lock().unwrap().push((r.json()["n"].as_i64().unwrap_or(-1), status));
        UpstreamReply::status(status)
    })
    .await;
    let routes =
        format!("{}    delivery: memory\n", route("mem", &forward(&downstream.url("/"), ", max_attempts: 1000")));
    let (server, _dir) = start(&format!("memory_queue_limit: 3\n{}", config(&routes))).await;
    for n in 0..3 {
        accept(&server, "/hooks/mem", json!({"n": n})).await;
    }

    // Full: the next events are refused, told to come back, and not queued.
    for n in 3..5 {
        let answer = post_json(&url(&server, "/hooks/mem"), &json!({"n": n})).await;
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert_eq!(answer.header("retry-after"), Some("5"));
        assert!(answer.error().contains("memory_queue_limit"), "{}", answer.error());
    }
    // The gauge says how full it is. (The recorder is shared by every
    // server in this test binary, each setting it once a second: poll.)
    let metrics = admin_url(&server, "/-/metrics");
    let deadline = Instant::now() + DEADLINE;
    while !send(client().get(&metrics)).await.text().lines().any(|l| l == "hookroute_queue_memory_depth 3") {
        assert!(Instant::now() < deadline, "hookroute_queue_memory_depth never showed the 3 jobs held");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // The destination recovers: each accepted event is delivered, once.
    up.store(true, Ordering::SeqCst);
    downstream
        .wait_until("the 3 accepted events delivered", |_| {
            answered.lock().unwrap().iter().filter(|(_, status)| *status == 200).count() >= 3
        })
        .await;
    // With room again, a new event is accepted (the release follows the
    // 200 by a moment) and delivered.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = post_json(&url(&server, "/hooks/mem"), &json!({"n": 5})).await;
        if answer.status == 202 {
            break;
        }
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert!(Instant::now() < deadline, "still refused {DEADLINE:?} after the backlog was delivered");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    downstream.wait_until("the new event delivered", |seen| seen.iter().any(|r| r.json()["n"] == 5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut delivered: Vec<i64> =
        answered.lock().unwrap().iter().filter(|(_, status)| *status == 200).map(|(n, _)| *n).collect();
    delivered.sort();
    assert_eq!(delivered, vec![0, 1, 2, 5], "delivered: each accepted event once, no refused one");
    assert!(answered.lock().unwrap().iter().all(|(n, _)| ![3, 4].contains(n)), "a refused event was forwarded");
}

#[tokio::test]
async fn restart_resumes_pending_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let yaml = config(&route("gh", &forward(&format!("http://{port}/"), ", max_attempts: 1000")));
    let options = || ServeOptions {
        config_path: write_config(dir.path(), &yaml),
        data_dir: Some(dir.path().join("data")),
        ..serve_options()
    };
    let server = start_with(options()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(accept(&server, "/hooks/gh", json!({"i": i})).await);
    }
    server.shutdown().await;
    let down = Downstream::start_on(port, |_, _| UpstreamReply::status(200)).await;
    let server = start_with(options()).await.unwrap();
    let seen = down
        .wait_until("all five delivered after the restart", |s| {
            ids.iter().all(|id| s.iter().any(|r| event_id(r) == *id && r.json().is_object()))
        })
        .await;
    assert!(seen.len() >= 5);
    for id in &ids {
        wait_job(&server, id, "succeeded").await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn listing_pages_and_retention_prunes() {
    let up = Upstream::start().await;
    let yaml = config(&route("gh", &forward(&up.url("/"), ""))) + "retention: { succeeded: 1s }\n";
    let (server, _dir) = start(&yaml).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(accept(&server, "/hooks/gh", json!({"i": i})).await);
    }
    up.wait_for(5).await;
    for id in &ids {
        wait_job(&server, id, "succeeded").await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = admin_get(&server, &format!("/-/deliveries?status=succeeded&route=gh&limit=2&cursor={cursor}"))
            .await
            .json();
        let items = page["deliveries"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|d| d["event_id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected, "pages are newest first, complete, without repeats");
    assert_eq!(admin_get(&server, "/-/deliveries?status=bogus").await.status, 400);
    // Past retention, succeeded jobs disappear.
    let deadline = Instant::now() + DEADLINE;
    while !jobs_of(&server, &ids[0]).await.is_empty() {
        assert!(Instant::now() < deadline, "succeeded jobs were not pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn cli_lists_shows_and_retries_through_the_admin_api() {
    let up = Upstream::start_with(UpstreamReply::status(400)).await;
    let (server, dir) = start(&config(&route("gh", &forward(&up.url("/"), "")))).await;
    let id = accept(&server, "/hooks/gh", json!({})).await;
    let job = wait_job(&server, &id, "dead").await;
    let job_id = job["id"].as_str().unwrap().to_string();
    let admin = server.admin_addr.to_string();
    let cwd = dir.path().to_path_buf();
    let run = move |args: Vec<String>| {
        let cwd = cwd.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_binary(&args, &cwd)
        })
    };
    let args = |rest: &[&str]| -> Vec<String> {
        ["deliveries", "--admin", &admin].iter().chain(rest).map(|s| s.to_string()).collect()
    };
    let (code, out, err) = run(args(&["list", "--status", "dead"])).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&job_id) && out.contains("dead"), "{out}");
    let (code, out, _) = run(args(&["show", &job_id])).await.unwrap();
    assert_eq!(code, 0);
    assert!(out.contains("answered 400"), "{out}");
    up.set_reply(UpstreamReply::default());
    let (code, out, _) = run(args(&["retry", "--status", "dead", "--route", "gh"])).await.unwrap();
    assert_eq!(code, 0);
    assert!(out.starts_with("1 delivery"), "{out}");
    wait_job(&server, &id, "succeeded").await;
    let (code, _, err) = run(args(&["show", "nope"])).await.unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("no delivery and no event nope"), "{err}");
}

#[tokio::test]
async fn config_errors_are_located() {
    let yaml = "memory_queue_limit: 0\nroutes:\n  - name: a\n    path: /a\n    dedup: { window: 1h }\n    actions:\n      - forward:\n          url: http://127.0.0.1:1/\n          ordering_key: \"$.[\"\n          retry: { max_attempts: 0 }\n";
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), yaml);
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        run_binary(&["check", "-c", path.to_str().unwrap()], std::path::Path::new("."))
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    for needle in [
        "dedup: name where the event id is",
        "actions[0].forward.ordering_key",
        "max_attempts: must be at least 1",
        "routes.yaml:1:1: memory_queue_limit: must be at least 1 (default 10000)",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}
