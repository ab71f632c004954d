//! A real `redis-server` (Debian package `redis-server`) in a temporary
//! directory, with an append-only file synced at every write: what Redis
//! acknowledged survives a kill, so a test can count every message across
//! a restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use tempfile::TempDir;

use super::servers::{find_server, free_port, spawn_listening, stop};

/// The binary, or None after the skip line.
pub fn redis_server(test: &str) -> Option<PathBuf> {
    find_server(test, "redis-server", "redis-server")
}

/// One `redis-server`; killed when dropped.
pub struct Redis {
    bin: PathBuf,
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Redis {
    pub fn start(bin: &Path) -> Redis {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut redis = Redis { bin: bin.to_path_buf(), port: free_port(), dir, child: None };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// (Re)starts the server on the same port and files.
    pub fn restart(&mut self) {
        let mut command = Command::new(&self.bin);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path());
        self.child = Some(spawn_listening("redis-server", &mut command, self.port, Duration::from_secs(20)));
    }

    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        stop("redis-server", self.child.take(), "KILL", self.port);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
