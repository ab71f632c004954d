//! A tiny, fast upstream for the benchmarks in `bench/`: it counts the requests
//! it receives and answers each with a chosen status after an optional delay.
//!
//! Why a sink of our own: every forwarder in `bench/run.sh` (hookroute, nginx)
//! must send to the same upstream, and that upstream must cost as little as
//! possible so the figures describe the forwarder, not the receiver. It is a
//! bare hyper 1 HTTP/1.1 server (keep-alive on, no routing framework) that
//! reads each body to the end without copying it, bumps two atomic counters
//! and answers a static body.
//!
//! `GET /count` answers `{"requests": N, "bytes": B, "connections": C}` and
//! is not itself counted, so the harness can measure delivered events
//! (scenario 3) as the difference of two reads, and see whether a forwarder
//! reuses its upstream connections (C stays small) or opens one per request. SIGTERM or Ctrl-C prints the totals to stderr
//! and exits.
//!
//! ```sh
//! cargo run --release --example sink -- --listen 127.0.0.1:18081 --status 200 --delay-ms 0
//! curl -s 127.0.0.1:18081/count
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(about = "Benchmark upstream: counts requests, answers with a chosen status and delay.")]
struct Args {
    /// Address to listen on (loopback only in the benchmarks).
    #[arg(long, env = "SINK_LISTEN", default_value = "127.0.0.1:18081")]
    listen: SocketAddr,
    /// Status code of every answer except `GET /count`.
    #[arg(long, env = "SINK_STATUS", default_value_t = 200)]
    status: u16,
    /// Delay before answering, in milliseconds (simulates a slow service).
    #[arg(long, env = "SINK_DELAY_MS", default_value_t = 0)]
    delay_ms: u64,
    /// Runtime worker threads; 1 runs a single-threaded runtime, which is
    /// the cheapest on a small machine shared with the server under test.
    #[arg(long, env = "SINK_THREADS", default_value_t = 1)]
    threads: usize,
}

/// What every connection shares.
struct State {
    requests: AtomicU64,
    /// Connections accepted (including the harness's own `/count` reads).
    connections: AtomicU64,
    bytes: AtomicU64,
    status: StatusCode,
    delay: Option<Duration>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let status = StatusCode::from_u16(args.status)?;
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?
    };
    let state = Arc::new(State {
        requests: AtomicU64::new(0),
        connections: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        status,
        delay: (args.delay_ms > 0).then(|| Duration::from_millis(args.delay_ms)),
    });
    runtime.block_on(serve(args.listen, state))
}

async fn serve(listen: SocketAddr, state: Arc<State>) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!("sink listening on {}", listener.local_addr()?);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors and the like: back off, do not spin.
                    eprintln!("sink: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let _ = stream.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(state.clone(), req));
            // Keep-alive is hyper's default; the timer is needed for its
            // header-read timeout.
            let conn = http1::Builder::new().timer(TokioTimer::new()).serve_connection(TokioIo::new(stream), service);
            let _ = conn.await;
        });
    }
    eprintln!(
        "sink: {} requests, {} body bytes",
        state.requests.load(Ordering::Relaxed),
        state.bytes.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn handle(state: Arc<State>, req: hyper::Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() == Method::GET && req.uri().path() == "/count" {
        let body = format!(
            "{{\"requests\":{},\"bytes\":{},\"connections\":{}}}\n",
            state.requests.load(Ordering::Relaxed),
            state.bytes.load(Ordering::Relaxed),
            state.connections.load(Ordering::Relaxed)
        );
        return Ok(Response::new(Full::new(Bytes::from(body))));
    }
    // Read the body to the end (a real service would), counting its size
    // frame by frame instead of collecting it.
    let mut body = req.into_body();
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => size += frame.data_ref().map_or(0, |d| d.len() as u64),
            // The client went away mid-body: nothing was delivered.
            Err(_) => return Ok(status_only(StatusCode::BAD_REQUEST)),
        }
    }
    state.requests.fetch_add(1, Ordering::Relaxed);
    state.bytes.fetch_add(size, Ordering::Relaxed);
    if let Some(delay) = state.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"{\"ok\":true}")));
    *response.status_mut() = state.status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(response)
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
