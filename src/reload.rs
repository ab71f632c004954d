//! Hot reload: load, validate, swap — or keep serving the old config.
//!
//! Every trigger (the directory watcher, SIGHUP, `POST /-/reload`) ends in
//! [`Reloader::reload`], which runs the very function startup uses
//! ([`crate::router::load_snapshot`]), so a file that `check` accepts is a
//! file reload accepts. A new snapshot is swapped in only when it compiled
//! without a single problem; otherwise the old one keeps serving and the
//! errors are kept for `GET /-/config`.
//!
//! The watcher watches the config's *directory*, not the file: editors save
//! by writing a temporary file and renaming it over the old one, and
//! Kubernetes swaps a `..data` symlink, and in both cases a watch on the
//! file's inode would see nothing. Events are debounced, and a content hash
//! turns a touch without change into a no-op.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::interpolate::ProcessEnv;
use crate::config::ConfigErrors;
use crate::router::{snapshot_from_str, Snapshot};

/// A burst of file events (an editor's save, a `git pull`) settles within
/// this long; reload once after it.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// What started a reload, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Watch,
    Signal,
    Admin,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "file change",
            Trigger::Signal => "SIGHUP",
            Trigger::Admin => "admin API",
        }
    }
}

/// The result of a reload that did not fail.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadSummary {
    /// False when the file's content was unchanged (nothing swapped).
    pub changed: bool,
    pub routes: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
    pub duration_ms: f64,
    /// Settings that changed but only take effect after a restart.
    pub restart_required: Vec<String>,
}

impl std::fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.changed {
            return write!(f, "config unchanged: {} routes", self.routes);
        }
        write!(
            f,
            "config reloaded: {} routes (+{} added, -{} removed, ~{} changed) in {:.0} ms",
            self.routes,
            self.added.len(),
            self.removed.len(),
            self.modified.len(),
            self.duration_ms
        )
    }
}

/// The last failed reload, shown by `GET /-/config` until a reload succeeds.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadFailure {
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    pub errors: Vec<String>,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
}

/// Reloads the config of one running [`App`].
pub struct Reloader {
    config_path: PathBuf,
    /// One reload at a time; triggers that arrive meanwhile wait their turn.
    running: tokio::sync::Mutex<()>,
    last_failure: Mutex<Option<ReloadFailure>>,
    /// Hash of the file text last loaded (successfully or not): the watcher
    /// skips files it has already seen, so a bad file is reported once, not
    /// on every unrelated event in its directory.
    last_seen: Mutex<Option<String>>,
}

impl Reloader {
    pub fn new(config_path: PathBuf) -> Self {
        Reloader {
            config_path,
            running: Default::default(),
            last_failure: Mutex::new(None),
            last_seen: Mutex::new(None),
        }
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn last_failure(&self) -> Option<ReloadFailure> {
        self.last_failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loads the file and, if it is valid and different, swaps it in.
    pub async fn reload(&self, app: &Arc<App>, trigger: Trigger) -> Result<ReloadSummary, ConfigErrors> {
        let _turn = self.running.lock().await;
        let started = Instant::now();
        let path = self.config_path.clone();
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(t) => t,
            Err(e) => {
                let errors = ConfigErrors {
                    file: path.display().to_string(),
                    errors: vec![crate::config::ConfigError::new("", format!("cannot read config file: {e}"))],
                };
                return Err(self.failed(trigger, errors));
            }
        };
        let text_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        let seen_before = self.last_seen.lock().unwrap_or_else(|p| p.into_inner()).replace(text_hash.clone());
        if trigger == Trigger::Watch && seen_before.as_deref() == Some(text_hash.as_str()) {
            let current = app.snapshot();
            return Ok(ReloadSummary { routes: current.routes.len(), ..diff(&current, &current) });
        }
        // A reload (SIGHUP above all: logrotate's `postrotate`) reopens every
        // `file` action's output, whether or not the config changed.
        app.resources().files.reopen_all();
        let resources = app.resources_handle();
        let name = path.display().to_string();
        // Compiling (10,000 routes of regexes and JSONPaths) is CPU-bound;
        // keep it off the runtime's workers.
        let loaded = tokio::task::spawn_blocking(move || snapshot_from_str(&name, &text, &ProcessEnv, &resources))
            .await
            .unwrap_or_else(|e| Err(join_failure(&self.config_path, e)));
        let next = match loaded {
            Ok(next) => next,
            Err(errors) => return Err(self.failed(trigger, errors)),
        };
        let current = app.snapshot();
        let mut summary = diff(&current, &next);
        summary.restart_required = restart_required(app, &current, &next);
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if next.hash == current.hash && next.fingerprints == current.fingerprints {
            return Ok(summary);
        }
        app.swap(next);
        summary.changed = true;
        summary.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        metrics::counter!(crate::metrics::CONFIG_RELOADS, "outcome" => "success").increment(1);
        metrics::gauge!(crate::metrics::CONFIG_LAST_SUCCESS).set(unix_now());
        tracing::info!(trigger = trigger.as_str(), "{summary}");
        for warning in &summary.restart_required {
            tracing::warn!("{warning}");
        }
        Ok(summary)
    }
}

impl Reloader {
    fn failed(&self, trigger: Trigger, errors: ConfigErrors) -> ConfigErrors {
        tracing::error!(
            trigger = trigger.as_str(),
            "config reload failed; still serving the previous config:\n{errors}"
        );
        metrics::counter!(crate::metrics::CONFIG_RELOADS, "outcome" => "failure").increment(1);
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(ReloadFailure {
            at: SystemTime::now(),
            errors: errors.to_string().lines().map(str::to_string).collect(),
        });
        errors
    }
}

fn join_failure(path: &Path, e: tokio::task::JoinError) -> ConfigErrors {
    ConfigErrors {
        file: path.display().to_string(),
        errors: vec![crate::config::ConfigError::new("", format!("config loader failed: {e}"))],
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Which routes were added, removed or changed, by name.
fn diff(current: &Snapshot, next: &Snapshot) -> ReloadSummary {
    let old: HashSet<&str> = current.fingerprints.keys().map(|k| &**k).collect();
    let new: HashSet<&str> = next.fingerprints.keys().map(|k| &**k).collect();
    let mut added: Vec<String> = new.difference(&old).map(|s| s.to_string()).collect();
    let mut removed: Vec<String> = old.difference(&new).map(|s| s.to_string()).collect();
    let mut modified: Vec<String> = new
        .intersection(&old)
        .filter(|n| current.fingerprints.get(**n) != next.fingerprints.get(**n))
        .map(|s| s.to_string())
        .collect();
    added.sort();
    removed.sort();
    modified.sort();
    ReloadSummary {
        changed: false,
        routes: next.routes.len(),
        added,
        removed,
        modified,
        duration_ms: 0.0,
        restart_required: Vec::new(),
    }
}

/// Settings read only at start that `next` changes. The delivery ones are
/// compared with what the process runs with rather than with `current`, so
/// the warning stays while the file and the process disagree, and a file
/// changed back to what runs gets none.
fn restart_required(app: &App, current: &Snapshot, next: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if next.listen != current.listen && app.listen_override().is_none() {
        out.push(format!(
            "listen changed to {} but requires a restart; still listening on {}",
            next.listen,
            app.bound_addr()
        ));
    }
    if next.admin_listen != current.admin_listen && app.admin_listen_override().is_none() {
        out.push(format!(
            "admin_listen changed to {} but requires a restart; still listening on {}",
            next.admin_listen,
            app.bound_admin_addr()
        ));
    }
    out.extend(app.delivery_restart_required(&next.delivery));
    out
}

/// Watches the config's directory and reloads after each burst of changes,
/// until `stop` is cancelled. Returns an error if the watch cannot be set up
/// (the caller logs it; SIGHUP and the admin API still work).
pub fn spawn_watcher(app: Arc<App>, stop: CancellationToken) -> Result<(), notify::Error> {
    let path = app.reloader().config_path().to_path_buf();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Any event in the directory may be the one that matters (a rename
        // of `..data`, a temp file moved over routes.yaml); the content hash
        // decides. A full channel already means "reload pending".
        // Reading the file ourselves produces access events; reacting to
        // those would reload forever.
        if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    tracing::info!("watching {} for config changes", dir.display());
    tokio::spawn(async move {
        // The watcher stops when dropped; keep it alive with the task.
        let _watcher = watcher;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                got = rx.recv() => if got.is_none() { break },
            }
            // Debounce: wait until the directory has been quiet for DEBOUNCE.
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(DEBOUNCE) => break,
                    got = rx.recv() => if got.is_none() { return },
                }
            }
            let _ = app.reloader().reload(&app, Trigger::Watch).await;
        }
    });
    Ok(())
}

/// Reloads on every SIGHUP until `stop` is cancelled.
pub fn spawn_sighup(app: Arc<App>, stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP ({e}); reload with the admin API or the file watcher");
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                got = hup.recv() => if got.is_none() { break },
            }
            let _ = app.reloader().reload(&app, Trigger::Signal).await;
        }
    });
}
