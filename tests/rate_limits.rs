//! Rate limits per destination (issue #17 part 2), end to end: the real
//! server and a real loopback upstream that notes when each request
//! arrived. Jobs over a limit wait their turn: none is lost, refused or
//! failed. The spans asserted are lower bounds — what a limit means — and
//! never upper bounds on speed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A downstream answering 200 that notes each request's arrival time.
async fn timed_downstream() -> (Downstream, Arc<Mutex<Vec<Instant>>>) {
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let noted = times.clone();
    let downstream = Downstream::start(move |_, _| {
        noted.lock().unwrap().push(Instant::now());
        UpstreamReply::status(200)
    })
    .await;
    (downstream, times)
}

fn span(times: &Mutex<Vec<Instant>>) -> Duration {
    let times = times.lock().unwrap();
    match (times.first(), times.last()) {
        (Some(first), Some(last)) => last.duration_since(*first),
        _ => Duration::ZERO,
    }
}

async fn send_events(server: &hookroute::app::RunningServer, path: &str, from: u64, n: u64) {
    for i in from..from + n {
        let answer = post_json(&url(server, path), &json!({"n": i, "key": "one"})).await;
        assert_eq!(answer.status, 202, "{}", answer.text());
    }
}

fn numbers(seen: &[Recorded]) -> Vec<u64> {
    seen.iter().map(|r| r.json()["n"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn ten_per_second_spreads_fifty_jobs_over_five_seconds_in_order_and_loses_none() {
    let (downstream, times) = timed_downstream().await;
    let config = format!(
        "destinations:\n  \"{addr}\": {{ rate_limit: 10/s }}\nroutes:\n  - name: paced\n    path: /hooks/paced\n    actions:\n      - forward: {{ url: \"{url}\", ordering_key: $.key }}\n",
        addr = downstream.addr,
        url = downstream.url("/in"),
    );
    let (server, _dir) = start(&config).await;
    send_events(&server, "/hooks/paced", 0, 50).await;
    let seen = downstream.wait_until("50 deliveries", |s| s.len() >= 50).await;
    assert_eq!(numbers(&seen), (0..50).collect::<Vec<_>>(), "in order, each once");
    // 49 gaps of at least 100 ms: 4.9 s; allow for timer rounding.
    assert!(span(&times) >= Duration::from_millis(4_500), "50 jobs at 10/s arrived within {:?}", span(&times));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(downstream.seen().len(), 50, "a job was delivered twice");
}

#[tokio::test]
async fn routes_to_one_destination_share_its_limit() {
    let (downstream, times) = timed_downstream().await;
    // Only the first route's forward names a limit; it is the destination's,
    // so the second route's jobs are paced by it too.
    let config = format!(
        "routes:\n  - name: limited\n    path: /hooks/limited\n    actions:\n      - forward: {{ url: \"{url}\", rate_limit: 600/min }}\n  - name: other\n    path: /hooks/other\n    actions:\n      - forward: {{ url: \"{url}\" }}\n",
        url = downstream.url("/in"),
    );
    let (server, _dir) = start(&config).await;
    send_events(&server, "/hooks/other", 0, 20).await;
    send_events(&server, "/hooks/limited", 20, 10).await;
    let seen = downstream.wait_until("30 deliveries", |s| s.len() >= 30).await;
    let mut got = numbers(&seen);
    got.sort_unstable();
    assert_eq!(got, (0..30).collect::<Vec<_>>(), "each job once");
    assert!(span(&times) >= Duration::from_millis(2_600), "30 jobs at 10/s arrived within {:?}", span(&times));
}

#[tokio::test]
async fn a_reload_changes_the_limit_of_jobs_already_waiting() {
    let (downstream, _times) = timed_downstream().await;
    let config = |rate: &str| {
        format!(
            "destinations:\n  \"{addr}\": {{ rate_limit: {rate} }}\nroutes:\n  - name: paced\n    path: /hooks/paced\n    actions:\n      - forward: {{ url: \"{url}\" }}\n",
            addr = downstream.addr,
            url = downstream.url("/in"),
        )
    };
    let (server, dir) = start(&config("1/h")).await;
    send_events(&server, "/hooks/paced", 0, 10).await;
    downstream.wait_until("the first delivery", |s| !s.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(downstream.seen().len(), 1, "1/h let a second job through");
    let jobs = send(client().get(admin_url(&server, "/-/deliveries?status=pending&limit=100"))).await.json();
    assert_eq!(jobs["deliveries"].as_array().map(Vec::len), Some(9), "the waiting jobs are pending: {jobs}");

    write_config(dir.path(), &config("50/s"));
    let answer = send(client().post(admin_url(&server, "/-/reload"))).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seen = downstream.wait_until("the 9 waiting jobs", |s| s.len() >= 10).await;
    let mut got = numbers(&seen);
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}
