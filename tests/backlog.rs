//! A backlog longer than the scheduler's window (issue #17 part 1), end to
//! end: the real server, a real loopback upstream that is down and then
//! comes back, and a restart in between. The jobs beyond the window wait in
//! the store only; what a user sees is that every job is delivered once, in
//! order per ordering key, and that the gauges count them all.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hookroute::app::{RunningServer, ServeOptions};
use serde_json::json;

/// More than one window (1,024 jobs of a destination).
const JOBS: u64 = 1_300;
const KEYS: u64 = 10;

async fn serve(dir: &Path) -> RunningServer {
    let options = ServeOptions {
        config_path: config_path(dir),
        data_dir: Some(dir.join("data")),
        watch: false,
        ..serve_options()
    };
    start_with(options).await.expect("the server starts")
}

/// The value of one gauge series in `/-/metrics`, once it is `want`;
/// fails after [`DEADLINE`].
async fn wait_gauge(server: &RunningServer, series: &str, want: f64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let text = send(client().get(admin_url(server, "/-/metrics"))).await.text();
        let value = text
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok());
        if value == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{series} is {value:?}, expected {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_backlog_longer_than_the_window_is_delivered_whole_and_in_order_after_a_restart() {
    let up = Arc::new(AtomicBool::new(false));
    let delivered: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let (up_seen, noted) = (up.clone(), delivered.clone());
    let downstream = Downstream::start(move |req, _| {
        if !up_seen.load(Ordering::SeqCst) {
            return UpstreamReply::status(503);
        }
        let body = req.json();
        noted.lock().unwrap().push((body["key"].as_u64().unwrap(), body["n"].as_u64().unwrap()));
        UpstreamReply::status(200)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &format!(
            "destinations:\n  circuit_breaker: {{ failures: 1, open_for: 100ms, max_open_for: 200ms }}\nroutes:\n  - name: backlog\n    path: /hooks/backlog\n    actions:\n      - forward:\n          url: \"{}\"\n          ordering_key: $.key\n          retry: {{ max_attempts: 1000, initial_backoff: 20ms, max_backoff: 100ms }}\n",
            downstream.url("/in")
        ),
    );
    let server = serve(dir.path()).await;
    let hook = url(&server, "/hooks/backlog");
    // One sender per key, so each key's events are accepted in order.
    let senders: Vec<_> = (0..KEYS)
        .map(|key| {
            let hook = hook.clone();
            tokio::spawn(async move {
                for n in (key..JOBS).step_by(KEYS as usize) {
                    let answer = post_json(&hook, &json!({"n": n, "key": key})).await;
                    assert_eq!(answer.status, 202, "{}", answer.text());
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("a sender failed");
    }
    let series = format!("hookroute_destination_pending_jobs{{destination=\"{}\"}}", downstream.addr);
    wait_gauge(&server, &series, JOBS as f64).await;
    server.shutdown().await;

    // The restart reads counts, not jobs; the windows refill as they empty.
    let server = serve(dir.path()).await;
    wait_gauge(&server, &series, JOBS as f64).await;
    up.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + DEADLINE * 3;
    while delivered.lock().unwrap().len() < JOBS as usize {
        assert!(Instant::now() < deadline, "delivered {} of {JOBS}", delivered.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivered = delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), JOBS as usize, "a job was delivered twice");
    let mut by_key: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (key, n) in delivered {
        by_key.entry(key).or_default().push(n);
    }
    for (key, ns) in by_key {
        let expected: Vec<u64> = (0..JOBS).filter(|n| n % KEYS == key).collect();
        assert_eq!(ns, expected, "key {key}: every job once, in acceptance order");
    }
    wait_gauge(&server, &series, 0.0).await;
    server.shutdown().await;
}
