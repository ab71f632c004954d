//! Hot reload: load, validate, swap — or keep serving the old config.
//!
//! Every trigger (the file watcher, SIGHUP, `POST /-/reload`) ends in
//! [`Reloader::reload`], which runs the very function startup uses
//! ([`crate::router::load_snapshot`]), so a file that `check` accepts is a
//! file reload accepts. Each reload reads the file and every `${VAR}` and
//! `${file:…}` it names afresh, and decides "unchanged" by comparing the
//! compiled result with what serves ([`diff`]): a rotated secret behind an
//! unchanged file is a change. A new snapshot is swapped in only when it
//! compiled without a single problem; otherwise the old one keeps serving
//! and the errors are kept for `GET /-/config`.
//!
//! Settings the process reads only at start (the listen addresses, the
//! delivery store's) are reported under `restart_required`; the listener
//! limits are handed to the listeners with the snapshot ([`App::swap`]).

mod diff;
mod watch;

pub use watch::{spawn_watcher, DEBOUNCE};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::interpolate::ProcessEnv;
use crate::config::ConfigErrors;
use crate::router::{snapshot_from_str, Snapshot};

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
    /// False when the compiled config equals the one serving (nothing swapped).
    pub changed: bool,
    pub routes: usize,
    /// Route names, sorted.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
    /// Top-level keys whose value changed (`max_headers`, `retention`);
    /// applied by this reload unless also named in `restart_required`.
    pub settings_changed: Vec<String>,
    /// Where a changed secret is used (`admin_token`, `route "github":
    /// verify`); never the values.
    pub secrets_changed: Vec<String>,
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
        )?;
        if !self.settings_changed.is_empty() {
            write!(f, "; settings changed: {}", self.settings_changed.join(", "))?;
        }
        if !self.secrets_changed.is_empty() {
            write!(f, "; secrets changed: {}", self.secrets_changed.join(", "))?;
        }
        Ok(())
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
}

impl Reloader {
    pub fn new(config_path: PathBuf) -> Self {
        Reloader { config_path, running: Default::default(), last_failure: Mutex::new(None) }
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn last_failure(&self) -> Option<ReloadFailure> {
        self.last_failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loads the file (re-reading every variable and secret file it names)
    /// and, if it is valid and compiles to something different, swaps it in.
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
        let changes = diff::changes(&current, &next);
        let mut summary = ReloadSummary {
            changed: !changes.is_empty(),
            routes: next.routes.len(),
            restart_required: restart_required(app, &current, &next),
            added: changes.added,
            removed: changes.removed,
            modified: changes.modified,
            settings_changed: changes.settings,
            secrets_changed: changes.secrets,
            duration_ms: 0.0,
        };
        *self.last_failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if !summary.changed {
            // Comments or layout changed, or nothing did: nothing to apply,
            // but `GET /-/config` shows the hash of the file as it now is.
            if next.hash != current.hash {
                app.swap(next);
            }
            tracing::info!(trigger = trigger.as_str(), "{summary}; nothing to apply");
            return Ok(summary);
        }
        let no_routes = next.routes.is_empty();
        app.swap(next);
        summary.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        metrics::counter!(crate::metrics::CONFIG_RELOADS, "outcome" => "success").increment(1);
        metrics::gauge!(crate::metrics::CONFIG_LAST_SUCCESS).set(unix_now());
        tracing::info!(trigger = trigger.as_str(), "{summary}");
        if no_routes {
            tracing::warn!("{}", crate::lint::NO_ROUTES);
        }
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

pub(crate) fn join_failure(path: &Path, e: tokio::task::JoinError) -> ConfigErrors {
    ConfigErrors {
        file: path.display().to_string(),
        errors: vec![crate::config::ConfigError::new("", format!("config loader failed: {e}"))],
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
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
