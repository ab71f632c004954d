//! What durable acks cost: accepted events per second at 64 concurrent
//! clients, with the 202 sent after the event and its job are synced to disk
//! (`delivery: durable`, the default) versus after they are only queued in
//! memory (`delivery: memory`).
//!
//! The real server runs in process on loopback with its queue in a
//! temporary directory (on the same disk as the system's temp dir — put
//! TMPDIR on the disk you care about), forwarding to a bare hyper sink that
//! answers 204, so deliveries run during the measurement in both variants.
//! Each iteration is one request; 64 client tasks share the iterations, so
//! criterion's throughput is accepted events per second.
//!
//! Run: `cargo bench --bench delivery -- --warm-up-time 2 --measurement-time 10`, or
//! `DELIVERY_BENCH_ROUNDS=5 cargo bench --bench delivery` for alternating rounds.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use hookroute::app::{RunningServer, ServeOptions};

const CLIENTS: usize = 64;

/// A sink that answers 204 to anything, as cheaply as hyper can.
async fn sink() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the sink");
    let addr = listener.local_addr().expect("sink address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    use http_body_util::BodyExt;
                    let _ = req.into_body().collect().await;
                    let mut response = http::Response::new(http_body_util::Empty::<Bytes>::new());
                    *response.status_mut() = http::StatusCode::NO_CONTENT;
                    Ok::<_, hyper::Error>(response)
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    addr
}

async fn server(dir: &std::path::Path, sink: SocketAddr) -> RunningServer {
    let yaml = format!(
        "routes:\n  - name: durable\n    path: /hooks/durable\n    actions:\n      - forward: {{ url: http://{sink}/ }}\n  - name: memory\n    path: /hooks/memory\n    delivery: memory\n    actions:\n      - forward: {{ url: http://{sink}/ }}\n"
    );
    let config_path = dir.join("routes.yaml");
    std::fs::write(&config_path, yaml).expect("write the bench config");
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    hookroute::app::start(ServeOptions {
        config_path,
        listen: Some(any),
        admin_listen: Some(any),
        data_dir: Some(dir.join("data")),
        ..Default::default()
    })
    .await
    .expect("the bench server starts")
}

/// Sends `total` requests from [`CLIENTS`] concurrent clients; returns the
/// elapsed time. Every answer must be 202.
async fn blast(client: &reqwest::Client, url: &str, body: &Bytes, total: u64) -> Duration {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url, body, next) = (client.clone(), url.to_string(), body.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("the server answers");
                    assert_eq!(response.status(), 202, "the server refused an event");
                    let _ = response.bytes().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a client task failed");
    }
    started.elapsed()
}

fn accept_rate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (server, client) = runtime.block_on(async {
        let sink = sink().await;
        let server = server(dir.path(), sink).await;
        let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build().expect("a client");
        (server, client)
    });
    let body =
        Bytes::from(serde_json::json!({"action": "opened", "data": {"id": 42, "pad": "x".repeat(1000)}}).to_string());
    let mut group = c.benchmark_group("accept_64_clients");
    group.throughput(Throughput::Elements(1));
    for mode in ["durable", "memory"] {
        let url = format!("http://{}/hooks/{mode}", server.addr);
        group.bench_with_input(BenchmarkId::from_parameter(mode), &url, |b, url| {
            b.to_async(&runtime).iter_custom(|iters| {
                let (client, body, url) = (client.clone(), body.clone(), url.clone());
                async move { blast(&client, &url, &body, iters).await }
            });
        });
    }
    group.finish();
    runtime.block_on(server.shutdown());
}

/// `DELIVERY_BENCH_ROUNDS=N`: instead of criterion, N rounds that each send
/// 5,000 events durable then 5,000 in memory, printing both rates and their
/// ratio. Alternating keeps a busy machine's drift out of the comparison.
fn alternate(rounds: usize) {
    const PER_ROUND: u64 = 5000;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    runtime.block_on(async {
        let server = server(dir.path(), sink().await).await;
        let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build().expect("a client");
        let body = Bytes::from(
            serde_json::json!({"action": "opened", "data": {"id": 42, "pad": "x".repeat(1000)}}).to_string(),
        );
        let rate = |elapsed: Duration| PER_ROUND as f64 / elapsed.as_secs_f64();
        let mut ratios = Vec::new();
        for round in 1..=rounds {
            let durable =
                rate(blast(&client, &format!("http://{}/hooks/durable", server.addr), &body, PER_ROUND).await);
            let memory = rate(blast(&client, &format!("http://{}/hooks/memory", server.addr), &body, PER_ROUND).await);
            ratios.push(durable / memory);
            println!(
                "round {round}: durable {durable:.0} events/s, memory {memory:.0} events/s, durable/memory {:.0}%",
                100.0 * durable / memory
            );
        }
        ratios.sort_by(f64::total_cmp);
        println!("median durable/memory: {:.0}%", 100.0 * ratios[ratios.len() / 2]);
        server.shutdown().await;
    });
}

criterion_group!(benches, accept_rate);

fn main() {
    match std::env::var("DELIVERY_BENCH_ROUNDS").ok().and_then(|n| n.parse().ok()) {
        Some(rounds) => alternate(rounds),
        None => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
