//! Helpers shared by the integration tests: the real server, real upstreams
//! and a client, so each test reads as what a user does and sees.
//!
//! Nothing here is a mock. [`start`] runs `hookroute::app::start` on
//! ephemeral loopback ports with a config written to a temporary directory;
//! [`Upstream`] is a real HTTP server on `127.0.0.1:0` that records every
//! request byte for byte and answers as the test tells it; [`BinaryServer`]
//! runs the compiled `hookroute` binary for what only a process can show
//! (exit codes, log lines, signals). Every wait has a generous deadline that
//! fails the test with a message instead of hanging it; no test asserts a
//! duration.
//!
//! Each test binary uses a different subset of these helpers, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookroute::app::{RunningServer, ServeOptions, StartError};
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

pub mod three_way;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How long any wait in a test may take before the test fails. Generous:
/// the machine running the suite may be slow and busy.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Replaced by the temporary directory's path in configs given to [`start`],
/// so `file:` actions write inside it: `file: { path: "@DIR@/events.jsonl" }`.
pub const DIR_TOKEN: &str = "@DIR@";

/// Writes `yaml` (with [`DIR_TOKEN`] replaced) to `routes.yaml` in a new
/// temporary directory and starts the real server on ephemeral loopback
/// ports. Keep the directory alive as long as the server.
pub async fn start(yaml: &str) -> (RunningServer, TempDir) {
    match try_start(yaml).await {
        Ok(started) => started,
        Err((e, _)) => panic!("the server did not start:\n{e}"),
    }
}

/// Like [`start`], but returns the start error (a config problem, say).
pub async fn try_start(yaml: &str) -> Result<(RunningServer, TempDir), (StartError, TempDir)> {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = write_config(dir.path(), yaml);
    // Each server its own delivery queue, gone with the directory.
    let data_dir = Some(dir.path().join("data"));
    match start_with(ServeOptions { config_path: path, data_dir, ..serve_options() }).await {
        Ok(server) => Ok((server, dir)),
        Err(e) => Err((e, dir)),
    }
}

/// Options that bind both listeners to ephemeral loopback ports, whatever the
/// config says. Tests that need more (watching, limits) adjust the result.
pub fn serve_options() -> ServeOptions {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    ServeOptions { listen: Some(any_port), admin_listen: Some(any_port), ..Default::default() }
}

/// Starts the server with explicit options.
pub async fn start_with(options: ServeOptions) -> Result<RunningServer, StartError> {
    hookroute::app::start(options).await
}

/// Writes `yaml` to `dir/routes.yaml` (with [`DIR_TOKEN`] replaced by `dir`)
/// and returns the file's path. Reload tests call it again to change the file.
pub fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let path = config_path(dir);
    std::fs::write(&path, with_dir(yaml, dir)).expect("write routes.yaml");
    path
}

/// Where [`start`] put the config.
pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("routes.yaml")
}

/// `yaml` with [`DIR_TOKEN`] replaced by `dir`.
pub fn with_dir(yaml: &str, dir: &Path) -> String {
    yaml.replace(DIR_TOKEN, &dir.display().to_string())
}

/// `http://ADDR/path` on the server's public listener.
pub fn url(server: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", server.addr)
}

/// `http://ADDR/path` on the server's admin listener.
pub fn admin_url(server: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", server.admin_addr)
}

// ---------------------------------------------------------------------------
// Client side.

/// A client for talking to the server: no proxy (tests talk to loopback
/// only), no redirects, a per-request deadline.
///
/// It sends `X-Hookroute-Request: 1`, as the CLI does, so admin POSTs pass
/// the anti-CSRF check; tests of that check build their own client.
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(hookroute::ADMIN_REQUEST_HEADER, reqwest::header::HeaderValue::from_static("1"));
    reqwest::Client::builder()
        .no_proxy()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DEADLINE)
        .build()
        .expect("build the test client")
}

/// A whole HTTP answer, read to the end.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON; fails the test, showing the body, if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("answer body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `routes` list of hookroute's default `202` answer.
    pub fn routes(&self) -> Vec<String> {
        let json = self.json();
        let routes = json["routes"].as_array().unwrap_or_else(|| panic!("no `routes` list in {json}"));
        routes.iter().map(|r| r.as_str().unwrap_or_default().to_string()).collect()
    }

    /// The `error` message of a JSON error answer.
    pub fn error(&self) -> String {
        let json = self.json();
        json["error"].as_str().unwrap_or_else(|| panic!("no `error` in {json}")).to_string()
    }
}

/// Sends a request and reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e:?}"));
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap_or_else(|e| panic!("reading the answer failed: {e:?}"));
    Answer { status, headers, body }
}

/// POSTs `body` as `application/json`.
/// The delivery jobs of event `event`, as the admin API lists them.
pub async fn jobs_of(server: &RunningServer, event: &str) -> Vec<Value> {
    let list = send(client().get(admin_url(server, &format!("/-/deliveries?event={event}")))).await.json();
    list["deliveries"].as_array().cloned().unwrap_or_default()
}

/// Waits until every job of `event` has `status` (`succeeded`, `dead`, …);
/// returns them. Fails the test after a minute.
pub async fn wait_status(server: &RunningServer, event: &str, status: &str) -> Vec<Value> {
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

pub async fn post_json(url: &str, body: &Value) -> Answer {
    send(client().post(url).header("content-type", "application/json").body(body.to_string())).await
}

/// POSTs raw bytes with the given content type.
pub async fn post(url: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Answer {
    send(client().post(url).header("content-type", content_type).body(body)).await
}

/// Writes `request` (a complete or deliberately incomplete HTTP/1.1 request)
/// on a fresh connection, leaves the connection open, and reads one answer.
/// For what a well-behaved client cannot send: oversized declared lengths,
/// bodies that never end, odd headers. Fails the test if no answer comes.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write the request");
    tokio::time::timeout(DEADLINE, read_response(&mut stream))
        .await
        .unwrap_or_else(|_| panic!("no answer within {DEADLINE:?} to {:?}", String::from_utf8_lossy(request)))
}

async fn read_response(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read the answer");
        assert!(n > 0, "connection closed before a complete answer: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code: u16 = status_line.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status code");
    let mut headers = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').expect("a header line");
        headers.append(
            http::HeaderName::from_bytes(name.trim().as_bytes()).expect("header name"),
            value.trim().parse().expect("header value"),
        );
    }
    let mut body = buf.split_off(head_end);
    let length: Option<usize> = headers.get("content-length").and_then(|v| v.to_str().ok()?.parse().ok());
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    loop {
        let complete = match (length, chunked) {
            (Some(n), _) => body.len() >= n,
            (None, true) => find(&body, b"0\r\n\r\n").is_some(),
            (None, false) => false,
        };
        if complete {
            break;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    if chunked {
        body = dechunk(&body);
    }
    Answer { status: StatusCode::from_u16(code).expect("valid status"), headers, body: Bytes::from(body) }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = find(data, b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..i]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

// ---------------------------------------------------------------------------
// Upstreams.

/// One request as an upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// The exact body bytes.
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("upstream got non-JSON ({e}): {:?}", self.body))
    }
}

/// How an upstream answers.
#[derive(Debug, Clone)]
pub struct UpstreamReply {
    pub status: u16,
    /// Waited after the request is recorded and before answering.
    pub delay: Duration,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Send the status line, the headers and `body`, then neither finish
    /// the body nor close the connection: an upstream that hangs mid-answer.
    pub stall: bool,
}

impl UpstreamReply {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Self {
        UpstreamReply { status, delay: Duration::ZERO, headers: Vec::new(), body: Bytes::new(), stall: false }
    }

    /// Answers the status line, the headers and the body so far, then stalls
    /// (see [`UpstreamReply::stall`]).
    pub fn then_stall(mut self) -> Self {
        self.stall = true;
        self
    }

    /// Sets the body and its content type.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers.push(("content-type".into(), content_type.into()));
        self.body = body.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

impl Default for UpstreamReply {
    /// `200 ok`.
    fn default() -> Self {
        UpstreamReply::status(200).body("text/plain", "ok")
    }
}

#[derive(Default)]
struct UpstreamState {
    requests: Mutex<Vec<Recorded>>,
    /// Answers used once each, in order, before `default_reply`.
    script: Mutex<std::collections::VecDeque<UpstreamReply>>,
    default_reply: Mutex<UpstreamReply>,
    arrived: Notify,
}

/// A real HTTP/1.1 server on `127.0.0.1:0` standing in for an internal
/// service: it records every request (method, path, query, headers, exact
/// body bytes) and answers with a chosen status, headers, body and delay.
/// Stops accepting when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<UpstreamState>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// An upstream answering `200 ok`.
    pub async fn start() -> Self {
        Self::start_with(UpstreamReply::default()).await
    }

    /// An upstream answering every request with `reply`.
    pub async fn start_with(reply: UpstreamReply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an upstream");
        let addr = listener.local_addr().expect("upstream address");
        let state = Arc::new(UpstreamState { default_reply: Mutex::new(reply), ..Default::default() });
        let accept_state = state.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = accept_state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer_upstream(state.clone(), req));
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Upstream { addr, state, accept_loop }
    }

    /// `http://ADDR/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Changes how every later request is answered.
    pub fn set_reply(&self, reply: UpstreamReply) {
        *self.state.default_reply.lock().unwrap() = reply;
    }

    /// Queues answers used once each, in order, before the default one
    /// (e.g. two 503s, then the default 200, to exercise retries).
    pub fn push_replies(&self, replies: impl IntoIterator<Item = UpstreamReply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Waits until at least `n` requests have arrived and returns them all;
    /// fails the test after [`DEADLINE`].
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let notified = self.state.arrived.notified();
            if self.count() >= n {
                return self.requests();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, notified).await.is_err() {
                panic!("upstream {} got {} request(s) within {DEADLINE:?}, expected {n}", self.addr, self.count());
            }
        }
    }

    /// Waits until `n` requests arrived, then a little longer, and checks
    /// that no more came: for "exactly n" assertions on background forwards.
    pub async fn expect_exactly(&self, n: usize) -> Vec<Recorded> {
        self.wait_for(n).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let all = self.requests();
        assert_eq!(all.len(), n, "upstream {} got more requests than expected: {all:#?}", self.addr);
        all
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// An answer body: whole, or a start followed by nothing, ever.
type ReplyBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

async fn answer_upstream(
    state: Arc<UpstreamState>,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<ReplyBody>, hyper::Error> {
    use http_body_util::BodyExt;
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    });
    state.arrived.notify_waiters();
    let reply = state.script.lock().unwrap().pop_front().unwrap_or_else(|| state.default_reply.lock().unwrap().clone());
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = match reply.stall {
        false => http_body_util::Full::new(reply.body).boxed(),
        true => {
            let start = futures_util::stream::iter([Ok(hyper::body::Frame::data(reply.body))]);
            let frames = futures_util::StreamExt::chain(start, futures_util::stream::pending());
            http_body_util::StreamBody::new(frames).boxed()
        }
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).expect("a valid upstream status");
    for (name, value) in reply.headers {
        response.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    Ok(response)
}

/// A loopback URL where nothing listens: connections are refused.
pub async fn refused_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}{path}")
}

// ---------------------------------------------------------------------------
// Files.

/// The lines of a JSON-lines file, each parsed; fails the test, naming the
/// line, if one is not JSON.
pub fn json_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: not a JSON line ({e}): {line:?}", path.display(), i + 1))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The binary.

/// The compiled `hookroute` binary.
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookroute"));
    // The tests' own environment must not leak a config path or log filter in.
    cmd.env_remove("HOOKROUTE_CONFIG").env_remove("RUST_LOG");
    cmd
}

/// `hookroute serve` running as a child process on ephemeral loopback ports,
/// with its JSON log lines collected. Killed when dropped.
pub struct BinaryServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

impl BinaryServer {
    /// Starts `hookroute serve -c config` in `cwd` (where relative `file:`
    /// paths land) with `envs` set, and waits for its "listening on" line.
    /// Fails the test, with what the process printed, if it exits or says
    /// nothing within [`DEADLINE`].
    pub fn start(config: &Path, cwd: &Path, envs: &[(&str, &str)]) -> Self {
        let mut cmd = binary();
        cmd.current_dir(cwd);
        cmd.args(["serve", "--log-format", "json", "--log-level", "info", "--listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0", "-c"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn hookroute serve");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = logs.lock().unwrap().iter().find_map(|l| parse_listening(l));
            if let Some((addr, admin_addr)) = found {
                return BinaryServer { child, addr, admin_addr, logs };
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100)); // let the readers drain
                panic!("hookroute serve exited ({status}) before listening:\n{}", logs.lock().unwrap().join("\n"));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("hookroute serve did not listen within {DEADLINE:?}:\n{}", logs.lock().unwrap().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every line printed so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits for a JSON log line for which `pred` holds and returns it.
    pub async fn wait_for_log(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = self.logs().iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| pred(v));
            if let Some(v) = found {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "no such log line within {DEADLINE:?}; got:\n{}",
                self.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the startup line `listening on A (admin on B)`.
fn parse_listening(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let message = v.get("message")?.as_str()?;
    let rest = message.strip_prefix("listening on ")?;
    let (addr, admin) = rest.split_once(" (admin on ")?;
    Some((addr.parse().ok()?, admin.trim_end_matches(')').parse().ok()?))
}

/// The variable `examples/github.yaml` reads its webhook secret from, with
/// GitHub's documented test secret: what a test that loads the example sets.
pub const EXAMPLE_GITHUB_SECRET: (&str, &str) = ("GITHUB_WEBHOOK_SECRET", "It's a Secret to Everybody");

/// Runs the binary to completion with a deadline; returns (exit code, stdout,
/// stderr). A process still running at the deadline is killed and fails the
/// test (e.g. `serve` that started although it should have refused).
pub fn run_binary(args: &[&str], cwd: &Path) -> (i32, String, String) {
    run_binary_with_env(args, cwd, &[])
}

/// [`run_binary`] with `envs` added to the environment.
pub fn run_binary_with_env(args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut child = binary()
        .args(args)
        .current_dir(cwd)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hookroute");
    // Both pipes are read while waiting: an output larger than a pipe holds
    // (64 KiB; `hookroute schema` is larger) would otherwise block the
    // process until the deadline.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for hookroute") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hookroute {args:?} still running after {DEADLINE:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout.join().unwrap_or_default()),
                String::from_utf8_lossy(&stderr.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned(),
        String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    )
}

// ---------------------------------------------------------------------------
// Programmable upstreams.

/// Decides an answer from the request and every request before it.
pub type Responder = dyn Fn(&Recorded, &[Recorded]) -> UpstreamReply + Send + Sync;

/// An upstream whose answer is a function of the request and of what it
/// received before — for what one shared script of answers cannot express
/// (fail one ordering key and not another, answer by body) — optionally
/// bound to a chosen address (to come up where a queued job points).
/// Stops accepting when dropped.
pub struct Downstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Downstream {
    pub async fn start(respond: impl Fn(&Recorded, &[Recorded]) -> UpstreamReply + Send + Sync + 'static) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), respond).await
    }

    pub async fn start_on(
        addr: SocketAddr,
        respond: impl Fn(&Recorded, &[Recorded]) -> UpstreamReply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind the downstream");
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let arrived = Arc::new(Notify::new());
        let respond: Arc<Responder> = Arc::new(respond);
        let (s, a) = (seen.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, arrived, respond) = (s.clone(), a.clone(), respond.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (seen, arrived, respond) = (seen.clone(), arrived.clone(), respond.clone());
                        async move {
                            use http_body_util::BodyExt;
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await?.to_bytes();
                            let rec = Recorded {
                                method: parts.method,
                                path: parts.uri.path().to_string(),
                                query: parts.uri.query().map(str::to_string),
                                headers: parts.headers,
                                body,
                            };
                            let reply = {
                                let mut seen = seen.lock().unwrap();
                                let reply = respond(&rec, &seen);
                                seen.push(rec);
                                reply
                            };
                            arrived.notify_waiters();
                            tokio::time::sleep(reply.delay).await;
                            let mut response = http::Response::new(http_body_util::Full::new(reply.body));
                            *response.status_mut() = http::StatusCode::from_u16(reply.status).unwrap();
                            for (k, v) in reply.headers {
                                response
                                    .headers_mut()
                                    .append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
                            }
                            Ok::<_, hyper::Error>(response)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Downstream { addr, seen, arrived, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for what arrived so far; fails the test after
    /// [`DEADLINE`].
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&[Recorded]) -> bool) -> Vec<Recorded> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let notified = self.arrived.notified();
            let seen = self.seen();
            if pred(&seen) {
                return seen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await.is_err()
                && Instant::now() >= deadline
            {
                panic!("downstream: {what} did not happen within {DEADLINE:?}; got {} request(s)", seen.len());
            }
        }
    }
}

impl Drop for Downstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
