//! Real `nats-server` processes for the JetStream tests: a single node, or
//! a three-node cluster, on loopback ports with their stores in temporary
//! directories.
//!
//! Without `nats-server` on PATH (or at /usr/sbin, where Debian puts it) a
//! test is skipped with one line saying what to install — unless
//! `HOOKROUTE_REQUIRE_SERVERS=1` (set by `.ci/run`), which makes the skip a
//! failure, so CI cannot pass by running nothing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

#[path = "servers.rs"]
mod servers;
pub use servers::free_port;

/// The binary, or None (after printing the skip line) when it is missing.
pub fn nats_server(test: &str) -> Option<PathBuf> {
    servers::find_server(test, "nats-server", "nats-server")
}

/// One `nats-server -js` process; killed when dropped.
pub struct Nats {
    bin: PathBuf,
    args: Vec<String>,
    pub port: u16,
    pub monitor: u16,
    child: Option<Child>,
    _dir: Option<TempDir>,
}

/// The arguments every node takes: JetStream stored in `dir`, clients on
/// loopback `port`, monitoring on `monitor`.
fn node_args(dir: &Path, port: u16, monitor: u16) -> Vec<String> {
    ["-js", "-sd", &dir.display().to_string(), "-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitor.to_string()]
        .map(String::from)
        .to_vec()
}

impl Nats {
    /// A single JetStream node on fresh loopback ports.
    pub fn single(bin: &Path) -> Nats {
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, monitor) = (free_port(), free_port());
        let args = node_args(dir.path(), port, monitor);
        let mut nats = Nats { bin: bin.to_path_buf(), args, port, monitor, child: None, _dir: Some(dir) };
        nats.start();
        nats
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the process with the same ports and store, and waits
    /// until it accepts connections.
    pub fn start(&mut self) {
        let child = Command::new(&self.bin)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        self.child = Some(child);
        wait_for_port(self.port);
    }

    /// Kills the process (SIGKILL), keeping its store for [`Nats::start`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A three-node JetStream cluster on loopback.
pub struct Cluster {
    pub nodes: Vec<Nats>,
    _dirs: Vec<TempDir>,
}

impl Cluster {
    pub fn start(bin: &Path) -> Cluster {
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_list = routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let dir = tempfile::tempdir().expect("temp dir");
            let (port, monitor) = (free_port(), free_port());
            let mut args = node_args(dir.path(), port, monitor);
            args.extend([
                "-n".into(),
                format!("n{i}"),
                "--cluster_name".into(),
                "hr".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{route}"),
                "--routes".into(),
                route_list.clone(),
            ]);
            dirs.push(dir);
            let child = Command::new(bin)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nats-server");
            nodes.push(Nats { bin: bin.to_path_buf(), args, port, monitor, child: Some(child), _dir: None });
        }
        for node in &nodes {
            wait_for_port(node.port);
        }
        let cluster = Cluster { nodes, _dirs: dirs };
        cluster.wait_for_leader();
        cluster
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Nats::url).collect()
    }

    /// Waits until JetStream has a meta leader and three peers.
    fn wait_for_leader(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.nodes.iter().any(|n| {
                http_get(n.monitor, "/jsz").is_some_and(|body| {
                    body.contains("\"leader\"")
                        && (body.contains("\"cluster_size\": 3") || body.contains("\"cluster_size\":3"))
                })
            });
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "the NATS cluster formed no JetStream leader within 30s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn wait_for_port(port: u16) {
    servers::wait_for_port("nats-server", port, Duration::from_secs(20));
}

/// A plain HTTP GET of the monitor port (no client dependency needed).
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
