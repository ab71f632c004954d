//! `publish:` to NATS (issue #14), with a real `nats-server -js` started by
//! each test on loopback ports, and the real server in process: what a
//! subscriber or the stream holds is what is asserted. Each test skips with
//! one line when nats-server is missing (see `common/nats.rs`).

mod common;
#[path = "common/nats.rs"]
mod nats;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use common::*;
use futures_util::StreamExt;
use hookroute::app::RunningServer;
use nats::Nats;
use serde_json::Value;

/// A config with one connection `bus` and one route `/hooks/gh` publishing
/// with `publish` (the keys inside `publish: {to: bus, …}`), fast retries.
fn config(nats_url: &str, publish: &str, retry: &str) -> String {
    format!(
        "destinations: {{ circuit_breaker: {{ open_for: 100ms, max_open_for: 500ms }} }}\nbrokers:\n  bus: {{ nats: {{ servers: [{nats_url}] }} }}\nroutes:\n  - name: gh\n    path: /hooks/gh\n    actions:\n      - publish: {{ to: bus, {publish}, timeout: 2s, retry: {{ initial_backoff: 20ms, max_backoff: 200ms{retry} }} }}\n"
    )
}

async fn connect(nats: &Nats) -> async_nats::Client {
    async_nats::connect(nats.url()).await.expect("connect to nats-server")
}

/// A stream `HOOKS` taking `subjects`.
async fn stream(client: &async_nats::Client, subjects: &[&str]) -> stream::Stream {
    let js = jetstream::new(client.clone());
    js.get_or_create_stream(stream::Config {
        name: "HOOKS".into(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .await
    .expect("create the stream")
}

/// The stream's messages once it holds `n` (fails after the deadline).
async fn wait_messages(stream: &stream::Stream, n: u64) -> Vec<jetstream::message::StreamMessage> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = stream.get_info().await.expect("stream info");
        if info.state.messages >= n {
            let mut out = Vec::new();
            for seq in info.state.first_sequence..=info.state.last_sequence {
                out.push(stream.get_raw_message(seq).await.expect("read a message"));
            }
            return out;
        }
        assert!(Instant::now() < deadline, "the stream holds {} messages, expected {n}", info.state.messages);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn header(message: &jetstream::message::StreamMessage, name: &str) -> Option<String> {
    message.headers.get(name).map(|v| v.as_str().to_string())
}

async fn post_event(server: &RunningServer, body: &str, event: &str) -> String {
    let answer = send(
        client()
            .post(url(server, "/hooks/gh"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .body(body.to_string()),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    answer.json()["id"].as_str().expect("an event id").to_string()
}

async fn jobs_of(server: &RunningServer, event: &str) -> Vec<Value> {
    let list = send(client().get(admin_url(server, &format!("/-/deliveries?event={event}")))).await.json();
    list["deliveries"].as_array().cloned().unwrap_or_default()
}

/// Waits until every job of `event` has `status`; returns them.
async fn wait_status(server: &RunningServer, event: &str, status: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = jobs_of(server, event).await;
        if !jobs.is_empty() && jobs.iter().all(|j| j["status"] == status) {
            return jobs;
        }
        assert!(Instant::now() < deadline, "jobs of {event} never became {status}: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The body bytes, subject rendered from a header, and the headers arrive
/// in the stream; the job succeeds on the JetStream ack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_arrives_in_the_stream_with_its_bytes_and_headers() {
    let Some(bin) = nats::nats_server("a_webhook_arrives_in_the_stream_with_its_bytes_and_headers") else { return };
    let nats = Nats::single(&bin);
    let nc = connect(&nats).await;
    let hooks = stream(&nc, &["github.>"]).await;
    let (server, _dir) =
        start(&config(&nats.url(), "subject: \"github.{{ headers['x-github-event'] }}\", jetstream: true", "")).await;

    let body = "{\"action\":\"opened\",  \"n\": 1.50}";
    let id = post_event(&server, body, "push").await;
    let messages = wait_messages(&hooks, 1).await;
    let m = &messages[0];
    assert_eq!(m.subject.as_str(), "github.push");
    assert_eq!(&m.payload[..], body.as_bytes(), "the exact bytes received");
    assert_eq!(header(m, "hookroute-event-id").as_deref(), Some(id.as_str()));
    assert_eq!(header(m, "hookroute-route").as_deref(), Some("gh"));
    assert_eq!(header(m, "content-type").as_deref(), Some("application/json"));
    assert_eq!(header(m, "traceparent").as_deref(), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    let jobs = wait_status(&server, &id, "succeeded").await;
    assert_eq!(jobs[0]["destination"], "broker:bus");
    assert_eq!(jobs[0]["kind"], "publish");
    // Counted per route and per destination, as forwards are.
    let routes = send(client().get(admin_url(&server, "/-/routes"))).await.json();
    assert_eq!(routes["routes"][0]["action_counts"]["publish"]["queued"], 1, "{routes}");
    let metrics = send(client().get(admin_url(&server, "/-/metrics"))).await.text();
    assert!(
        metrics.contains("hookroute_forward_attempts_total{destination=\"broker:bus\",outcome=\"success\"} 1"),
        "{metrics}"
    );
    server.shutdown().await;
}

/// Core NATS: a subscriber connected at the time receives the message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_nats_delivers_to_a_subscriber() {
    let Some(bin) = nats::nats_server("core_nats_delivers_to_a_subscriber") else { return };
    let nats = Nats::single(&bin);
    let nc = connect(&nats).await;
    let mut sub = nc.subscribe("core.>").await.expect("subscribe");
    nc.flush().await.expect("flush");
    let (server, _dir) = start(&config(&nats.url(), "subject: \"core.{{ json.action }}\", jetstream: false", "")).await;

    let body = "{\"action\":\"closed\"}";
    let id = post_event(&server, body, "issues").await;
    let m = tokio::time::timeout(Duration::from_secs(30), sub.next()).await.expect("a message in time").expect("one");
    assert_eq!(m.subject.as_str(), "core.closed");
    assert_eq!(&m.payload[..], body.as_bytes());
    let headers = m.headers.expect("headers");
    assert_eq!(headers.get("hookroute-event-id").map(|v| v.as_str()), Some(id.as_str()));
    wait_status(&server, &id, "succeeded").await;
    server.shutdown().await;
}

/// NATS stopped: every event is still accepted (the queue is on disk), and
/// the attempts fail and are retried; NATS restarted: every one arrives,
/// once, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_is_retried_and_every_accepted_event_arrives_after_a_restart() {
    let Some(bin) = nats::nats_server("nats_down_is_retried_and_every_accepted_event_arrives_after_a_restart") else {
        return;
    };
    let mut nats = Nats::single(&bin);
    {
        let nc = connect(&nats).await;
        stream(&nc, &["down.>"]).await;
    }
    let (server, _dir) =
        start(&config(&nats.url(), "subject: \"down.{{ headers['x-github-event'] }}\"", ", max_attempts: 100000"))
            .await;
    // One delivered while up, so the connector has a live client to lose.
    let first = post_event(&server, "{\"i\":0}", "e0").await;
    wait_status(&server, &first, "succeeded").await;

    nats.kill();
    let mut ids = vec![first];
    for i in 1..=20 {
        ids.push(post_event(&server, &format!("{{\"i\":{i}}}"), &format!("e{i}")).await);
    }
    // Failed attempts are recorded while NATS is down.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = jobs_of(&server, &ids[1]).await;
        if jobs.first().is_some_and(|j| j["attempts"].as_u64().unwrap_or(0) >= 2) {
            assert_eq!(jobs[0]["status"], "pending");
            assert!(jobs[0]["last_error"].as_str().unwrap_or("").contains("bus"), "{jobs:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempts recorded: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    nats.start();
    let nc = connect(&nats).await;
    let js = jetstream::new(nc.clone());
    let hooks = js.get_stream("HOOKS").await.expect("the stream survived the restart");
    for id in &ids {
        wait_status(&server, id, "succeeded").await;
    }
    let messages = wait_messages(&hooks, 21).await;
    let got: BTreeSet<String> = messages.iter().filter_map(|m| header(m, "hookroute-event-id")).collect();
    assert_eq!(got, ids.iter().cloned().collect::<BTreeSet<_>>(), "every accepted event, once");
    assert_eq!(messages.len(), 21, "no duplicates");
    server.shutdown().await;
}

/// No stream takes the subject: attempts are refused until max_attempts,
/// then the job is a dead letter saying why. With a stream created, a
/// single replay and a bulk replay through the admin API deliver them.
/// A subject whose rendered value is a wildcard is dead at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_jobs_are_dead_letters_and_replays_deliver_them() {
    let Some(bin) = nats::nats_server("exhausted_jobs_are_dead_letters_and_replays_deliver_them") else { return };
    let nats = Nats::single(&bin);
    let (server, _dir) =
        start(&config(&nats.url(), "subject: \"late.{{ headers['x-github-event'] }}\"", ", max_attempts: 2")).await;

    let ids = [
        post_event(&server, "{\"n\":1}", "one").await,
        post_event(&server, "{\"n\":2}", "two").await,
        post_event(&server, "{\"n\":3}", "three").await,
    ];
    for id in &ids {
        let jobs = wait_status(&server, id, "dead").await;
        let reason = jobs[0]["dead_reason"].as_str().unwrap_or("");
        assert!(reason.contains("gave up after 2") && reason.contains("no JetStream stream"), "{reason}");
    }
    // A wildcard injected through the payload: never sent, dead with the reason.
    let bad = post_event(&server, "{}", "*").await;
    let jobs = wait_status(&server, &bad, "dead").await;
    assert!(jobs[0]["dead_reason"].as_str().unwrap_or("").contains("wildcard"), "{jobs:?}");
    assert_eq!(jobs[0]["attempts"], 0);

    let nc = connect(&nats).await;
    let hooks = stream(&nc, &["late.>"]).await;
    let job = jobs_of(&server, &ids[0]).await[0]["id"].as_str().unwrap().to_string();
    let answer = send(client().post(admin_url(&server, &format!("/-/deliveries/{job}/retry")))).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    wait_status(&server, &ids[0], "succeeded").await;
    assert_eq!(wait_messages(&hooks, 1).await[0].subject.as_str(), "late.one");

    let answer = send(client().post(admin_url(&server, "/-/deliveries/retry?status=dead&route=gh"))).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    for id in &ids[1..] {
        wait_status(&server, id, "succeeded").await;
    }
    let subjects: BTreeSet<String> = wait_messages(&hooks, 3).await.iter().map(|m| m.subject.to_string()).collect();
    assert_eq!(subjects, ["late.one", "late.three", "late.two"].map(String::from).into_iter().collect());
    // The wildcard one was replayed too, and is dead again without sending.
    assert_eq!(jobs_of(&server, &bad).await[0]["status"], "dead");
    server.shutdown().await;
}

/// `check` (the same load) reports every publish problem, located.
#[tokio::test]
async fn publish_problems_are_located_config_errors() {
    let yaml = "brokers:\n  bus: { nats: { servers: [] } }\n  bus2: { nats: { servers: [nats://127.0.0.1:4222] } }\n  both: { nats: { servers: [nats://a:1] }, redis: { url: redis://a } }\nroutes:\n  - name: gh\n    path: /hooks/gh\n    actions:\n      - publish: { to: buss2, subject: x }\n      - publish: { to: bus2, subject: \"a.*.{{ json.x }}\" }\n      - publish: { to: bus2, subject: a, topic: t }\n      - publish: { to: bus2 }\n";
    let Err((e, _dir)) = try_start(yaml).await else { panic!("a bad config started") };
    let text = e.to_string();
    for expected in [
        "brokers.bus.nats.servers: list at least one server",
        "brokers.both: a broker connection has exactly one of",
        "actions[0].publish.to: no broker connection named \"buss2\" (did you mean `bus2`?)",
        "actions[1].publish.subject: the literal parts of \"a.*.{{ json.x }}\"",
        "wildcard",
        "actions[2].publish.topic: `topic` does not apply to `bus2`, a nats connection (it takes subject, jetstream)",
        "actions[3].publish.subject: a publish to `bus2` (nats) needs `subject`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Each problem has its line.
    assert!(text.lines().filter(|l| l.contains("routes.yaml:")).count() >= 6, "{text}");
}

/// `explain` shows the message each publish would send, rendered, without
/// a broker (none runs here) and without sending it.
#[test]
fn explain_shows_each_rendered_message_without_sending() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("release.json");
    std::fs::write(
        &body,
        r#"{"action":"published","repository":{"name":"api","full_name":"acme/api"},"release":{"tag_name":"v1.2"}}"#,
    )
    .unwrap();
    let body = body.display().to_string();
    let args =
        ["explain", "-c", "examples/brokers.yaml", "--path", "/hooks/github", "-H", "Content-Type: application/json"];
    let mut release = args.to_vec();
    release.extend(["-H", "X-GitHub-Event: release", "--body", &body]);
    let (code, out, err) = run_binary(&release, repo);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("    publish to bus: JetStream subject github.release\n"), "{out}");
    assert!(out.contains("      hookroute-route: github-events\n      content-type: application/json\n"), "{out}");
    assert!(out.contains("    publish to bus: subject deploys.api\n"), "{out}");
    assert!(out.contains(r#"      body: {"repository":"acme/api","tag":"v1.2"}"#), "{out}");
}

/// On the shared JetStream queue (`store: jetstream:`) a publish job is
/// stored, leased and delivered like a forward: its record (with its
/// `kind`) round-trips through the KV bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_jobs_run_on_the_shared_jetstream_queue_too() {
    let Some(bin) = nats::nats_server("publish_jobs_run_on_the_shared_jetstream_queue_too") else { return };
    let nats = Nats::single(&bin);
    let nc = connect(&nats).await;
    let hooks = stream(&nc, &["shared.>"]).await;
    let store = format!("store:\n  jetstream:\n    servers: [{}]\n    stream: q\n", nats.url());
    let yaml = format!("{store}{}", config(&nats.url(), "subject: \"shared.{{ headers['x-github-event'] }}\"", ""));
    let (server, _dir) = start(&yaml).await;
    let id = post_event(&server, "{\"shared\":true}", "push").await;
    let m = &wait_messages(&hooks, 1).await[0];
    assert_eq!(m.subject.as_str(), "shared.push");
    assert_eq!(&m.payload[..], b"{\"shared\":true}");
    let jobs = wait_status(&server, &id, "succeeded").await;
    let job = send(client().get(admin_url(&server, &format!("/-/deliveries/{}", jobs[0]["id"].as_str().unwrap()))))
        .await
        .json();
    assert_eq!(job["request"]["kind"], "publish", "{job}");
    assert_eq!(job["request"]["address"]["nats"]["subject"], "shared.push", "{job}");
    server.shutdown().await;
}
