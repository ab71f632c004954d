//! Several replicas sharing one queue on NATS JetStream (issue #13), with
//! real `nats-server` processes and real hookroute servers — in process
//! where only HTTP is observed, as child processes where one must be
//! killed. Each test skips with one line when nats-server is missing (see
//! `common/nats.rs`).

mod common;
#[path = "common/nats.rs"]
mod nats;
#[path = "common/target.rs"]
mod target;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hookroute::app::RunningServer;
use nats::{Cluster, Nats};
use serde_json::{json, Value};
use target::Target;

/// Jobs a dead replica leased come back after the lease (10 s); tests
/// that kill something wait longer than the usual deadline.
const RECOVERY: Duration = Duration::from_secs(60);

fn store_block(servers: &[String], stream: &str, replicas: u32) -> String {
    format!(
        "store:\n  jetstream:\n    servers: [{}]\n    stream: {stream}\n    replicas: {replicas}\n",
        servers.join(", ")
    )
}

/// A config with one route `/hooks/r` forwarding to `url` with fast retries
/// that never give up (unless `extra` says otherwise).
fn config(store: &str, url: &str, route_extra: &str, forward_extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ndestinations: {{ circuit_breaker: {{ open_for: 100ms, max_open_for: 500ms }} }}\n{store}routes:\n  - name: r\n    path: /hooks/r\n{route_extra}    actions:\n      - forward:\n          url: {url}\n{forward_extra}          retry: {{ initial_backoff: 20ms, max_backoff: 200ms, max_attempts: 100000, max_age: 1h }}\n"
    )
}

/// Starts `n` in-process replicas on the same config.
async fn replicas(n: usize, yaml: &str) -> Vec<(RunningServer, tempfile::TempDir)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(start(yaml).await);
    }
    out
}

/// Sends `n` events round-robin over `targets` from `clients` concurrent
/// clients; returns the ids of those answered 202 (others are not counted:
/// their sender was not told they were stored).
async fn send_round_robin(targets: &[String], n: usize, clients: usize) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let targets = Arc::new(targets.to_vec());
    let tasks = (0..clients).map(|_| {
        let (next, targets) = (next.clone(), targets.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return ids;
                }
                let url = &targets[i % targets.len()];
                let sent =
                    client().post(url).header("content-type", "application/json").body(json!({"i": i}).to_string());
                if let Ok(answer) = sent.send().await {
                    if answer.status() == 202 {
                        let body = answer.bytes().await.unwrap_or_default();
                        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                            ids.push(v["id"].as_str().unwrap_or_default().to_string());
                        }
                    }
                }
            }
        })
    });
    let mut ids = Vec::new();
    for task in futures_util::future::join_all(tasks).await {
        ids.extend(task.expect("client task"));
    }
    ids
}

async fn admin(server: &RunningServer, method: reqwest::Method, path: &str) -> Answer {
    send(client().request(method, admin_url(server, path))).await
}

/// Test 1: three replicas on one JetStream node. 1,000 events sent
/// round-robin to a healthy upstream arrive exactly once each; then, with
/// the upstream failing and recovering, every accepted event arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_share_the_work_exactly_once_and_lose_nothing_across_failures() {
    let Some(bin) = nats::nats_server("three_replicas_share_the_work") else { return };
    let nats = Nats::single(&bin);
    let up = Target::start(true, 503).await;
    let yaml = config(&store_block(&[nats.url()], "t1", 1), &up.url(), "", "");
    let servers = replicas(3, &yaml).await;
    let targets: Vec<String> = servers.iter().map(|(s, _)| url(s, "/hooks/r")).collect();

    let ids = send_round_robin(&targets, 1000, 16).await;
    assert_eq!(ids.len(), 1000, "every event is accepted while NATS is up");
    up.wait_all(&ids, RECOVERY).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // room for a duplicate to show
    let delivered = up.delivered();
    assert_eq!(delivered.len(), 1000, "each event exactly once");
    assert_eq!(up.attempts(), 1000);

    up.set_healthy(false);
    let ids = send_round_robin(&targets, 300, 16).await;
    assert_eq!(ids.len(), 300);
    up.wait_attempts(1000 + 20).await; // attempts are being made, and failing
    up.set_healthy(true);
    up.wait_all(&ids, RECOVERY).await;
}

/// Test 2: SIGKILL one of two replicas (processes) while 16 clients send
/// and the upstream is down; once it is up, every acknowledged event is
/// delivered by the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_replicas_jobs_are_delivered_by_the_survivor() {
    let Some(bin) = nats::nats_server("a_killed_replicas_jobs_are_delivered_by_the_survivor") else { return };
    let nats = Nats::single(&bin);
    let up = Target::start(false, 503).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(&store_block(&[nats.url()], "t2", 1), &up.url(), "", "");
    let path = write_config(dir.path(), &yaml);
    let mut a = BinaryServer::start(&path, dir.path(), &[]);
    let b = BinaryServer::start(&path, dir.path(), &[]);
    let targets = vec![a.url("/hooks/r"), b.url("/hooks/r")];
    let sending = tokio::spawn(async move { send_round_robin(&targets, 1500, 16).await });
    // Kill A while the clients are sending and it holds leases.
    up.wait_attempts(20).await;
    a.child.kill().expect("SIGKILL a replica");
    let _ = a.child.wait();
    let ids = sending.await.unwrap();
    assert!(ids.len() > 700, "the survivor kept accepting: {} acknowledged", ids.len());
    up.set_healthy(true);
    up.wait_all(&ids, RECOVERY).await;
}

/// Test 3: a three-node cluster with `replicas: 3`. Killing one node while
/// clients send loses no acknowledged event; the replicas accept again
/// within seconds on the surviving quorum.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_one_of_three_nats_nodes_loses_no_acknowledged_event() {
    let Some(bin) = nats::nats_server("losing_one_of_three_nats_nodes") else { return };
    let mut cluster = Cluster::start(&bin);
    let up = Target::start(false, 503).await;
    let yaml = config(&store_block(&cluster.urls(), "t3", 3), &up.url(), "", "");
    let servers = replicas(2, &yaml).await;
    let targets: Vec<String> = servers.iter().map(|(s, _)| url(s, "/hooks/r")).collect();
    let sending = tokio::spawn({
        let targets = targets.clone();
        async move { send_round_robin(&targets, 1000, 16).await }
    });
    up.wait_attempts(20).await;
    cluster.nodes[0].kill();
    let ids = sending.await.unwrap();
    assert!(!ids.is_empty());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut more = Vec::new();
    while more.len() < 20 {
        more.extend(send_round_robin(&targets, 20, 4).await);
        assert!(Instant::now() < deadline, "no event accepted on the surviving quorum");
    }
    for (server, _) in &servers {
        let ready = send(client().get(admin_url(server, "/-/readyz"))).await;
        assert_eq!(ready.status, 200, "a replica is not ready on the surviving quorum");
    }
    up.set_healthy(true);
    let all: Vec<String> = ids.into_iter().chain(more).collect();
    up.wait_all(&all, RECOVERY).await;
}

/// Test 4a: the same dedup key sent to two replicas at once is one job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_dedup_key_sent_to_two_replicas_is_one_job() {
    let Some(bin) = nats::nats_server("one_dedup_key_sent_to_two_replicas_is_one_job") else { return };
    let nats = Nats::single(&bin);
    let up = Target::start(true, 503).await;
    let route_extra = "    dedup: { header: X-GitHub-Delivery, window: 1h }\n";
    let yaml = config(&store_block(&[nats.url()], "t4a", 1), &up.url(), route_extra, "");
    let servers = replicas(2, &yaml).await;
    let mut events = HashSet::new();
    for round in 0..10 {
        let delivery = format!("d-{round}");
        let sends = servers.iter().flat_map(|(s, _)| [url(s, "/hooks/r"), url(s, "/hooks/r")]).map(|u| {
            let delivery = delivery.clone();
            async move {
                let request = client()
                    .post(u)
                    .header("content-type", "application/json")
                    .header("x-github-delivery", delivery)
                    .body("{}");
                send(request).await
            }
        });
        let answers = futures_util::future::join_all(sends).await;
        assert!(answers.iter().all(|a| a.status == 202), "{:?}", answers.iter().map(|a| a.text()).collect::<Vec<_>>());
        let ids: HashSet<String> =
            answers.iter().map(|a| a.json()["id"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!(ids.len(), 1, "round {round}: redeliveries across replicas got different ids: {ids:?}");
        events.extend(ids);
    }
    let all: Vec<String> = events.into_iter().collect();
    up.wait_all(&all, DEADLINE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(up.attempts(), 10, "one job per dedup key");
}

/// Test 4b: events sharing an ordering key, sent across replicas while the
/// upstream fails every third request, arrive in acceptance order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ordering_keys_hold_across_replicas_while_the_upstream_fails() {
    let Some(bin) = nats::nats_server("ordering_keys_hold_across_replicas") else { return };
    let nats = Nats::single(&bin);
    let up = Target::start_with(|n, _| if n % 3 == 2 { 503 } else { 200 }, true).await;
    let yaml = config(&store_block(&[nats.url()], "t4b", 1), &up.url(), "", "          ordering_key: $.key\n");
    let servers = replicas(3, &yaml).await;
    let keys = ["a", "b", "c", "d"];
    let per_key = 15;
    let mut ids = Vec::new();
    // One after another, so acceptance order is the sequence number.
    for seq in 0..per_key {
        for (k, key) in keys.iter().enumerate() {
            let (server, _) = &servers[(seq * keys.len() + k) % servers.len()];
            let answer = post_json(&url(server, "/hooks/r"), &json!({"key": key, "seq": seq})).await;
            assert_eq!(answer.status, 202, "{}", answer.text());
            ids.push(answer.json()["id"].as_str().unwrap().to_string());
        }
    }
    up.wait_all(&ids, RECOVERY).await;
    let mut by_key: HashMap<String, Vec<i64>> = HashMap::new();
    for r in up.down.seen() {
        let body = r.json();
        by_key
            .entry(body["key"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(body["seq"].as_i64().unwrap_or(-1));
    }
    assert_eq!(by_key.len(), keys.len());
    for (key, seqs) in by_key {
        assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "key {key}: attempts out of acceptance order: {seqs:?}");
    }
}

/// Test 5: a dead letter accepted on replica A is listed by replica B and
/// replayed through B's admin API, then delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_from_one_replica_is_replayed_through_another() {
    let Some(bin) = nats::nats_server("a_dead_letter_from_one_replica_is_replayed_through_another") else { return };
    let nats = Nats::single(&bin);
    let up = Target::start(false, 422).await;
    let yaml = config(&store_block(&[nats.url()], "t5", 1), &up.url(), "", "");
    let servers = replicas(2, &yaml).await;
    let (a, b) = (&servers[0].0, &servers[1].0);
    let answer = post_json(&url(a, "/hooks/r"), &json!({"n": 5})).await;
    assert_eq!(answer.status, 202);
    let event = answer.json()["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + DEADLINE;
    let job_id = loop {
        let dead = admin(b, reqwest::Method::GET, "/-/deliveries?status=dead").await.json();
        let found =
            dead["deliveries"].as_array().and_then(|d| d.iter().find(|j| j["event_id"] == event.as_str()).cloned());
        if let Some(job) = found {
            break job["id"].as_str().unwrap().to_string();
        }
        let all = admin(a, reqwest::Method::GET, "/-/deliveries").await.text();
        assert!(
            Instant::now() < deadline,
            "B never listed A's dead letter: {dead}; A lists {all}; attempts {}",
            up.attempts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(up.attempts(), 1, "a 422 is not retried");
    up.set_healthy(true);
    let replayed = admin(b, reqwest::Method::POST, &format!("/-/deliveries/{job_id}/retry")).await;
    assert_eq!(replayed.status, 202, "{}", replayed.text());
    up.wait_all(std::slice::from_ref(&event), DEADLINE).await;
    let seen = up.down.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].json(), json!({"n": 5}), "the body is read back from the stream");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let job = admin(a, reqwest::Method::GET, &format!("/-/deliveries/{job_id}")).await.json();
        if job["status"] == "succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "A never saw the replayed job succeed: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Test 6: NATS stopped → 503 with Retry-After and readyz 503; NATS back →
/// 2xx again without a restart, and what was accepted is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_down_means_503_and_unready_then_recovers_without_restart() {
    let Some(bin) = nats::nats_server("nats_down_means_503_and_unready") else { return };
    let mut nats = Nats::single(&bin);
    let up = Target::start(true, 503).await;
    let yaml = config(&store_block(&[nats.url()], "t6", 1), &up.url(), "", "");
    let (server, _dir) = start(&yaml).await;
    let target = url(&server, "/hooks/r");
    let first = post_json(&target, &json!({"n": 1})).await;
    assert_eq!(first.status, 202);
    up.wait_all(&[first.json()["id"].as_str().unwrap().to_string()], DEADLINE).await;

    nats.kill();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = post_json(&target, &json!({"n": 2})).await;
        if answer.status == 503 {
            assert!(answer.header("retry-after").is_some(), "503 without Retry-After");
            break;
        }
        assert_ne!(answer.status, 202, "an event was acknowledged while NATS was down");
        assert!(Instant::now() < deadline, "no 503 while NATS is down: {}", answer.status);
    }
    let ready = send(client().get(admin_url(&server, "/-/readyz"))).await;
    assert_eq!(ready.status, 503, "ready while the store is unreachable");

    nats.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let answer = post_json(&target, &json!({"n": 3})).await;
        if answer.status == 202 {
            break answer.json()["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "still {} after NATS came back", answer.status);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(send(client().get(admin_url(&server, "/-/readyz"))).await.status, 200);
    up.wait_all(&[id], DEADLINE).await;
    assert!(up.down.seen().iter().all(|r| r.json()["n"] != 2), "an event answered 503 was delivered");
}

/// `check` validates `store: jetstream:` without connecting, takes secrets
/// from `${file:…}`, and the schema documents the block; a running replica
/// says a changed `store:` needs a restart, and exposes the queue's metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_block_is_checked_documented_and_restart_only() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "store:\n  jetstream:\n    servers: [http://nats:4222]\n    stream: a.b\n    replicas: 9\n    user: hr\nroutes: []\n";
    let path = write_config(dir.path(), bad);
    let (code, out, err) = run_binary(&["check", "-c", path.to_str().unwrap()], dir.path());
    assert_ne!(code, 0, "{out}{err}");
    for key in
        ["store.jetstream.servers[0]", "store.jetstream.stream", "store.jetstream.replicas", "store.jetstream.password"]
    {
        assert!(err.contains(key) || out.contains(key), "check does not name {key}:\n{out}{err}");
    }
    let token = dir.path().join("nats-token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let good = format!(
        "store:\n  jetstream:\n    servers: [nats://nats-0:4222, nats://nats-1:4222]\n    replicas: 3\n    token: ${{file:{}}}\nroutes: []\n",
        token.display()
    );
    let path = write_config(dir.path(), &good);
    let (code, out, err) = run_binary(&["check", "-c", path.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("s3cret") && !err.contains("s3cret"), "the secret was printed");
    std::fs::remove_file(&token).unwrap();
    let (code, _, err) = run_binary(&["check", "-c", path.to_str().unwrap()], dir.path());
    assert_ne!(code, 0, "a missing token file is an error");
    assert!(err.contains("nats-token"), "{err}");
    let (code, schema, _) = run_binary(&["schema"], dir.path());
    assert_eq!(code, 0);
    let schema: Value = serde_json::from_str(&schema).unwrap();
    let text = schema.to_string();
    for key in ["\"servers\"", "\"replicas\"", "\"creds\"", "\"nkey\"", "JetStream"] {
        assert!(text.contains(key), "the schema lacks {key}");
    }

    let Some(bin) = nats::nats_server("the_store_block_is_checked_documented_and_restart_only") else { return };
    let nats = Nats::single(&bin);
    let run_dir = tempfile::tempdir().unwrap();
    let yaml = |stream: &str| config(&store_block(&[nats.url()], stream, 1), "http://127.0.0.1:9/", "", "");
    let path = write_config(run_dir.path(), &yaml("t7"));
    let server = start_with(hookroute::app::ServeOptions { config_path: path, ..Default::default() }).await.unwrap();
    write_config(run_dir.path(), &yaml("t7b"));
    let answer = send(client().post(admin_url(&server, "/-/reload"))).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let warnings = answer.json()["restart_required"].to_string();
    assert!(
        warnings.contains("store changed to jetstream")
            && warnings.contains("stream t7b")
            && warnings.contains("still using jetstream"),
        "{warnings}"
    );
    let metrics = send(client().get(admin_url(&server, "/-/metrics"))).await.text();
    for name in ["hookroute_jetstream_pending_jobs", "hookroute_jetstream_redelivered_jobs"] {
        assert!(metrics.contains(name), "/-/metrics lacks {name}");
    }
}

/// Retention runs on the shared queue: a delivered job is gone from every
/// replica's listing once `retention.succeeded` passed, pending ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_prunes_finished_jobs_for_every_replica() {
    let Some(bin) = nats::nats_server("retention_prunes_finished_jobs_for_every_replica") else { return };
    let nats = Nats::single(&bin);
    let up = Target::start(true, 503).await;
    let store = store_block(&[nats.url()], "t8", 1) + "retention: { succeeded: 1s }\n";
    let yaml = config(&store, &up.url(), "", "");
    let servers = replicas(2, &yaml).await;
    let (a, b) = (&servers[0].0, &servers[1].0);
    let answer = post_json(&url(a, "/hooks/r"), &json!({"n": 8})).await;
    assert_eq!(answer.status, 202);
    let event = answer.json()["id"].as_str().unwrap().to_string();
    up.wait_all(std::slice::from_ref(&event), DEADLINE).await;
    let listed = |server: &RunningServer| {
        let url = admin_url(server, "/-/deliveries");
        async move { send(client().get(url)).await.json()["deliveries"].as_array().map_or(0, Vec::len) }
    };
    assert_eq!(listed(b).await, 1, "B lists the job A accepted");
    let deadline = Instant::now() + DEADLINE;
    while listed(a).await + listed(b).await > 0 {
        assert!(Instant::now() < deadline, "the delivered job was never pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(up.attempts(), 1);
}

/// A destination that keeps failing does not hold up another on the shared
/// queue: while its breaker is open its jobs go back to the queue, instead
/// of holding every lease a replica may take (512) with the healthy
/// destination's job queued behind them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_circuit_destination_does_not_starve_a_healthy_one() {
    let Some(bin) = nats::nats_server("an_open_circuit_destination_does_not_starve_a_healthy_one") else { return };
    let nats = Nats::single(&bin);
    let (down, healthy) = (Target::start(false, 503).await, Target::start(true, 503).await);
    let forward = |url: String| {
        format!("      - forward:\n          url: {url}\n          retry: {{ initial_backoff: 20ms, max_backoff: 200ms, max_attempts: 100000, max_age: 1h }}\n")
    };
    let yaml = format!(
        "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ndestinations: {{ circuit_breaker: {{ failures: 3, open_for: 60s, max_open_for: 60s }} }}\n{}routes:\n  - name: down\n    path: /hooks/down\n    actions:\n{}  - name: up\n    path: /hooks/up\n    actions:\n{}",
        store_block(&[nats.url()], "t9", 1),
        forward(down.url()),
        forward(healthy.url())
    );
    let (server, _dir) = start(&yaml).await;
    let ids = send_round_robin(&[url(&server, "/hooks/down")], 700, 16).await;
    assert_eq!(ids.len(), 700);
    down.wait_attempts(3).await; // the breaker opened
    let answer = post_json(&url(&server, "/hooks/up"), &json!({"n": 9})).await;
    assert_eq!(answer.status, 202);
    healthy.wait_all(&[answer.json()["id"].as_str().unwrap().to_string()], DEADLINE).await;
    assert!(down.attempts() < 50, "the open breaker let {} attempts through", down.attempts());
}

/// A body larger than a NATS message (1 MiB) is stored in chunks and
/// reaches the upstream byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_past_the_nats_message_limit_arrive_intact() {
    let Some(bin) = nats::nats_server("bodies_past_the_nats_message_limit_arrive_intact") else { return };
    let nats = Nats::single(&bin);
    let up = Target::start(true, 503).await;
    let store = store_block(&[nats.url()], "t10", 1) + "max_body_bytes: 4 MiB\n";
    let (server, _dir) = start(&config(&store, &up.url(), "", "")).await;
    let filler: String = (0..1_600_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let body = json!({"filler": filler}).to_string();
    let answer = post(&url(&server, "/hooks/r"), "application/json", body.clone()).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    up.wait_all(&[answer.json()["id"].as_str().unwrap().to_string()], DEADLINE).await;
    let got = up.down.seen();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body.len(), body.len());
    assert!(got[0].body == body.as_bytes(), "the body changed on the way through the stream");
}
