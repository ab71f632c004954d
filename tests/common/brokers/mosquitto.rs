//! A real `mosquitto` MQTT broker (Debian package `mosquitto`). Mosquitto
//! 2.x listens only on localhost without a config and refuses anonymous
//! clients on other listeners, so the test writes a config with a listener
//! on its own port and anonymous access. Persistence is on (in the
//! temporary directory, as root so the broker can write there): after a
//! [`Mosquitto::stop`] a restarted broker still has its subscribers'
//! sessions and the messages queued for them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use tempfile::TempDir;

use super::servers::{find_server, free_port, spawn_listening, stop};

/// The binary, or None after the skip line.
pub fn mosquitto(test: &str) -> Option<PathBuf> {
    find_server(test, "mosquitto", "mosquitto")
}

/// One `mosquitto`; killed when dropped.
pub struct Mosquitto {
    bin: PathBuf,
    pub port: u16,
    config: PathBuf,
    _dir: TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    pub fn start(bin: &Path) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        let data = dir.path().display();
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location {data}/\n"
        );
        std::fs::write(&config, text).expect("write mosquitto.conf");
        let mut mosquitto = Mosquitto { bin: bin.to_path_buf(), port, config, _dir: dir, child: None };
        mosquitto.restart();
        mosquitto
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the broker on the same port and files.
    pub fn restart(&mut self) {
        let mut command = Command::new(&self.bin);
        command.arg("-c").arg(&self.config);
        self.child = Some(spawn_listening("mosquitto", &mut command, self.port, Duration::from_secs(20)));
    }

    /// Stops the broker gracefully (SIGTERM: it saves its sessions and
    /// queued messages first).
    pub fn stop(&mut self) {
        stop("mosquitto", self.child.take(), "TERM", self.port);
    }

    /// Kills the broker (SIGKILL): what it had not saved is gone.
    pub fn kill(&mut self) {
        stop("mosquitto", self.child.take(), "KILL", self.port);
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}
