//! A real RabbitMQ node (Debian package `rabbitmq-server`) of its own:
//! node name, AMQP and distribution ports, database, logs and plugin list
//! all in a temporary directory, so it never meets the system's node.
//!
//! Debian's wrapper runs the node as the `rabbitmq` user (through `su`,
//! which starts a new session), so the directory must belong to that user,
//! and stopping the node means killing the Erlang VM whose pid the node
//! writes to `RABBITMQ_PID_FILE`: killing the wrapper would not reach it.
//! The AMQP port answers several seconds after the start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use tempfile::TempDir;

use super::servers::{find_server, free_port, spawn_listening, stop};

/// How long a node may take to open its AMQP port on a busy machine.
const START_LIMIT: Duration = Duration::from_secs(90);

/// The wrapper script, or None after the skip line.
pub fn rabbitmq_server(test: &str) -> Option<PathBuf> {
    find_server(test, "rabbitmq-server", "rabbitmq-server")
}

/// One RabbitMQ node; killed when dropped.
pub struct RabbitMq {
    bin: PathBuf,
    pub port: u16,
    dist_port: u16,
    node: String,
    dir: TempDir,
    child: Option<Child>,
}

impl RabbitMq {
    pub fn start(bin: &Path) -> RabbitMq {
        let dir = tempfile::Builder::new().prefix("hookroute-rabbitmq").tempdir().expect("temp dir");
        let base = dir.path();
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(base.join(sub)).expect("create node dirs");
        }
        std::fs::write(base.join("enabled_plugins"), "[].\n").expect("write enabled_plugins");
        let status = Command::new("chown").arg("-R").arg("rabbitmq:").arg(base).status().expect("run chown");
        assert!(status.success(), "chown -R rabbitmq: {} failed (the tests need root)", base.display());
        let port = free_port();
        let node = format!("hookroute{port}@localhost");
        let mut rabbit = RabbitMq { bin: bin.to_path_buf(), port, dist_port: free_port(), node, dir, child: None };
        rabbit.restart();
        rabbit
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f` (guest may log in over loopback).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// (Re)starts the node with the same ports and database and waits until
    /// the AMQP port answers.
    pub fn restart(&mut self) {
        let base = self.dir.path();
        let mut command = Command::new(&self.bin);
        command
            .current_dir(base)
            .env("HOME", base)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", base.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", base.join("log"))
            .env("RABBITMQ_PID_FILE", base.join("pid"))
            .env("RABBITMQ_FEATURE_FLAGS_FILE", base.join("feature_flags"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", base.join("enabled_plugins"));
        self.child = Some(spawn_listening("rabbitmq-server", &mut command, self.port, START_LIMIT));
    }

    /// Kills the node's Erlang VM (SIGKILL) and waits until the port is closed.
    pub fn kill(&mut self) {
        let pid_file = self.dir.path().join("pid");
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            let _ = std::fs::remove_file(&pid_file);
        }
        // The wrapper exits once the VM is gone.
        stop("rabbitmq-server", self.child.take(), "KILL", self.port);
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.kill();
    }
}
