//! What every real-server helper needs: find the program (or skip the
//! test, naming the Debian package), pick a free loopback port, start the
//! process and wait until it listens, kill it and wait until it is gone.
//!
//! Included by path from `nats.rs` and `brokers/mod.rs`, which the test
//! files themselves include by path, so it depends on nothing else here.
#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The program `bin`, or None (after printing the skip line naming
/// `package`) when it is not installed — unless `HOOKROUTE_REQUIRE_SERVERS=1`
/// (set by `.ci/run`), which makes the skip a failure, so CI cannot pass by
/// running nothing.
pub fn find_server(test: &str, bin: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join(bin))
        .find(|p| p.is_file());
    if found.is_none() {
        let line = format!("skipped {test}: {bin} is not installed (apt-get install {package})");
        if std::env::var("HOOKROUTE_REQUIRE_SERVERS").is_ok_and(|v| v == "1") {
            panic!("{line}, and HOOKROUTE_REQUIRE_SERVERS=1 requires it");
        }
        eprintln!("{line}");
    }
    found
}

/// A free loopback port (bound, read, released: the server takes it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Spawns `command` (output discarded) and waits until something accepts
/// connections on `port`, for at most `limit`.
pub fn spawn_listening(what: &str, command: &mut Command, port: u16, limit: Duration) -> Child {
    let child =
        command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    wait_for_port(what, port, limit);
    child
}

/// Waits until something accepts connections on `port`, for at most `limit`.
pub fn wait_for_port(what: &str, port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` (`KILL`, `TERM`) to `child`, reaps it and waits until
/// nothing accepts connections on `port` any more.
pub fn stop(what: &str, child: Option<Child>, signal: &str, port: u16) {
    let Some(mut child) = child else { return };
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(Instant::now() < deadline, "{what} still listens on {port} 20s after SIG{signal}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
