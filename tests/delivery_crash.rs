//! What only a real process can show about durable delivery: a SIGKILL in
//! the middle of accepting loses no acknowledged event, and a store that
//! cannot write answers 503, never 2xx, and recovers when it can write again.
//!
//! Both run the compiled `hookroute` binary. The disk is made to fail with a
//! file-size limit (RLIMIT_FSIZE via util-linux `prlimit`, SIGXFSZ ignored):
//! the kernel then refuses to grow the store file exactly as a full disk
//! would (EFBIG instead of ENOSPC), without root or a special filesystem.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// `hookroute serve` as a child process in `dir`, its log lines collected.
struct Router {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Router {
    /// Starts the router on `dir/routes.yaml` with `dir` as working
    /// directory (so the queue is `dir/data`); with `max_file_bytes`, under
    /// that file-size limit.
    fn start(dir: &Path, max_file_bytes: Option<u64>) -> Router {
        let bin = env!("CARGO_BIN_EXE_hookroute");
        let serve = ["serve", "-c", "routes.yaml", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
        let mut cmd = match max_file_bytes {
            None => Command::new(bin),
            Some(limit) => {
                // The soft limit only, so the test can lift it later.
                let script = format!("trap '' XFSZ; exec prlimit --fsize={limit}:unlimited \"$0\" \"$@\"");
                let mut sh = Command::new("sh");
                sh.args(["-c", &script, bin]);
                sh
            }
        };
        cmd.args(serve)
            .args(["--log-format", "json", "--no-watch"])
            .current_dir(dir)
            .env_remove("HOOKROUTE_CONFIG")
            .env_remove("HOOKROUTE_DATA_DIR")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn hookroute serve");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let pipes: Vec<Box<dyn std::io::Read + Send>> =
            vec![Box::new(child.stdout.take().expect("stdout")), Box::new(child.stderr.take().expect("stderr"))];
        for pipe in pipes {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = logs.lock().unwrap().iter().find_map(|l| listening(l));
            if let Some((addr, admin)) = found {
                return Router { child, addr, admin, logs };
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("hookroute exited ({status}) before listening:\n{}", logs.lock().unwrap().join("\n"));
            }
            assert!(Instant::now() < deadline, "hookroute did not listen:\n{}", logs.lock().unwrap().join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL hookroute");
        self.child.wait().expect("reap hookroute");
    }

    /// Every pending job's event id, through the admin API.
    async fn pending_events(&self) -> HashSet<String> {
        let mut out = HashSet::new();
        let mut cursor = String::new();
        loop {
            let url = format!("http://{}/-/deliveries?status=pending&limit=500&cursor={cursor}", self.admin);
            let page = send(client().get(url)).await;
            assert_eq!(page.status, 200, "{}", page.text());
            let page = page.json();
            out.extend(
                page["deliveries"].as_array().unwrap().iter().map(|d| d["event_id"].as_str().unwrap().to_string()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => return out,
            }
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let rest = v.get("message")?.as_str()?.strip_prefix("listening on ")?;
    let (addr, admin) = rest.split_once(" (admin on ")?;
    Some((addr.parse().ok()?, admin.trim_end_matches(')').parse().ok()?))
}

/// A loopback port with nothing listening on it (yet).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn config(upstream: SocketAddr) -> String {
    format!(
        "routes:\n  - name: orders\n    path: /hooks/orders\n    actions:\n      - forward:\n          url: http://{upstream}/orders\n          retry: {{ max_attempts: 1000, initial_backoff: 50ms, max_backoff: 500ms, max_age: 1h }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = free_port();
    std::fs::write(dir.path().join("routes.yaml"), config(upstream)).unwrap();
    let mut router = Router::start(dir.path(), None);

    // Clients keep sending while the upstream is down; the kill lands in
    // the middle of their requests.
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let refused = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (url, accepted, refused, stop) =
                (router.url("/hooks/orders"), accepted.clone(), refused.clone(), stop.clone());
            tokio::spawn(async move {
                let http = client();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let body = json!({"client": c, "n": n, "pad": "x".repeat(512)}).to_string();
                    let sent = http.post(&url).header("content-type", "application/json").body(body).send().await;
                    match sent {
                        Ok(r) if r.status() == 202 => {
                            let id = r.headers()["x-hookroute-event-id"].to_str().unwrap().to_string();
                            accepted.lock().unwrap().push(id);
                        }
                        Ok(r) => *refused.lock().unwrap().entry(r.status().to_string()).or_default() += 1,
                        Err(_) => {
                            *refused.lock().unwrap().entry("no answer".into()).or_default() += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before_kill = accepted.lock().unwrap().len();
    tokio::task::block_in_place(|| router.kill());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let accepted: Vec<String> = accepted.lock().unwrap().clone();
    assert!(before_kill > 0 && accepted.len() >= before_kill, "no event was accepted before the kill");

    // Restart on the same data, then bring the upstream up where the jobs point.
    let router = tokio::task::block_in_place(|| Router::start(dir.path(), None));
    let down = Downstream::start_on(upstream, |_, _| UpstreamReply::status(200)).await;
    let want: HashSet<String> = accepted.iter().cloned().collect();
    assert_eq!(want.len(), accepted.len(), "the router gave one event id twice");
    let seen = down
        .wait_until("every acknowledged event delivered", |seen| {
            let got: HashSet<String> =
                seen.iter().filter_map(|r| r.header("x-hookroute-event-id").map(str::to_string)).collect();
            want.is_subset(&got)
        })
        .await;
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    for r in &seen {
        *deliveries.entry(r.header("x-hookroute-event-id").unwrap().to_string()).or_default() += 1;
    }
    let duplicates: usize = deliveries.values().map(|n| n - 1).sum();
    let unacknowledged = deliveries.keys().filter(|id| !want.contains(*id)).count();
    println!(
        "crash test: {} events acknowledged (202) before/around SIGKILL, {} of them delivered after restart, \
         {duplicates} duplicate deliveries, {unacknowledged} stored but unacknowledged events also delivered; \
         refused or unanswered requests: {:?}",
        want.len(),
        want.iter().filter(|id| deliveries.contains_key(*id)).count(),
        refused.lock().unwrap()
    );
    drop(router);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_write_answers_503_never_2xx_and_recovers() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("this test needs `prlimit` (util-linux) to limit the store's file size");
    }
    let dir = tempfile::tempdir().unwrap();
    // Jobs stay pending: nothing listens on the upstream port.
    std::fs::write(dir.path().join("routes.yaml"), config(free_port())).unwrap();
    let router = tokio::task::block_in_place(|| Router::start(dir.path(), Some(3_000_000)));
    let url = router.url("/hooks/orders");
    let body = json!({"pad": "x".repeat(64 * 1024)}).to_string();
    let post = || send(client().post(&url).header("content-type", "application/json").body(body.clone()));

    let mut accepted = Vec::new();
    let mut refusals = 0;
    for _ in 0..200 {
        let a = post().await;
        match a.status.as_u16() {
            202 => {
                assert_eq!(refusals, 0, "a 202 after the store failed, before it could write again");
                accepted.push(a.header("x-hookroute-event-id").unwrap().to_string());
            }
            503 => {
                assert!(a.header("retry-after").is_some(), "503 without Retry-After");
                assert!(a.error().contains("could not be stored"), "{}", a.text());
                refusals += 1;
                if refusals == 5 {
                    break;
                }
            }
            other => panic!("neither 202 nor 503 but {other}: {}", a.text()),
        }
    }
    assert!(refusals == 5 && !accepted.is_empty(), "the file-size limit was never hit ({} accepted)", accepted.len());
    let logs = router.logs.lock().unwrap().join("\n");
    assert!(logs.contains("File too large"), "the 503s did not come from the write failure:\n{logs}");

    // Space again: lift the limit; the store reopens and accepts.
    let pid = router.child.id().to_string();
    let lifted = Command::new("prlimit").args(["--pid", &pid, "--fsize=unlimited:unlimited"]).status().unwrap();
    assert!(lifted.success(), "cannot lift the file-size limit");
    let deadline = Instant::now() + DEADLINE;
    let recovered = loop {
        let a = post().await;
        if a.status == 202 {
            break a.header("x-hookroute-event-id").unwrap().to_string();
        }
        assert_eq!(a.status, 503, "{}", a.text());
        assert!(Instant::now() < deadline, "the store did not recover after the limit was lifted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    accepted.push(recovered);
    // Every acknowledged event is in the store.
    let pending = router.pending_events().await;
    let missing: Vec<&String> = accepted.iter().filter(|id| !pending.contains(*id)).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
    println!("disk test: {} events accepted, then 503 with Retry-After until the limit was lifted", accepted.len());
}
