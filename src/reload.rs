//! Hot reload: load, validate, swap — or keep serving the old config.
//!
//! Every trigger (the file watcher, SIGHUP, `POST /-/reload`) ends in
//! [`Reloader::reload`], which runs the very function startup uses
//! ([`crate::settings::load_file`]), so a file that `check` accepts is a
//! file reload accepts. Each reload reads the file and every `${VAR}` and
//! `${file:…}` it names afresh, and decides "unchanged" by comparing the
//! compiled result with what serves ([`diff`]): a rotated secret behind an
//! unchanged file is a change. A new snapshot is swapped in only when it
//! compiled without a single problem; otherwise the old one keeps serving
//! and the errors are kept for `GET /-/config`.
//!
//! Settings the process reads only at start (the listen addresses, the
//! delivery store's: see [`crate::settings::KEYS`]) are reported under
//! `restart_required`; the listener limits are handed to the listeners
//! with the settings, by the very swap that applied them at start.
//!
//! The reloader knows nothing of the application but what it needs, a
//! [`Target`]: the resources to compile with, the active config cell and
//! what was applied at start. The application implements it; so reload
//! does not import the application.

mod diff;
mod watch;

pub(crate) use watch::spawn_watcher;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::interpolate::ProcessEnv;
use crate::config::ConfigErrors;
use crate::pipeline::Resources;
use crate::settings::{load_str, Loaded, Started};

/// What a reload works on: implemented by the application.
pub(crate) trait Target: Send + Sync + 'static {
    /// The reloader of this target.
    fn reloader(&self) -> &Reloader;
    /// The resources a config compiles against (and whose files a reload
    /// reopens).
    fn resources_handle(&self) -> Arc<Resources>;
    /// The active config.
    fn active(&self) -> Arc<Loaded>;
    /// Makes `next` the active config, settings applied.
    fn swap(&self, next: Loaded) -> Arc<Loaded>;
    /// What the process applied at start of the restart-only settings.
    fn started(&self) -> &Started;
}

/// What started a reload, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
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
pub(crate) struct ReloadSummary {
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
pub(crate) struct ReloadFailure {
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    pub errors: Vec<String>,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*t).to_string())
}

/// Reloads the config of one running application (a [`Target`]).
pub(crate) struct Reloader {
    config_path: PathBuf,
    /// One reload at a time; triggers that arrive meanwhile wait their turn.
    running: tokio::sync::Mutex<()>,
    last_failure: Mutex<Option<ReloadFailure>>,
}

impl Reloader {
    pub(crate) fn new(config_path: PathBuf) -> Self {
        Reloader { config_path, running: Default::default(), last_failure: Mutex::new(None) }
    }

    pub(crate) fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub(crate) fn last_failure(&self) -> Option<ReloadFailure> {
        self.last_failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loads the file (re-reading every variable and secret file it names)
    /// and, if it is valid and compiles to something different, swaps it in.
    pub(crate) async fn reload(&self, app: &dyn Target, trigger: Trigger) -> Result<ReloadSummary, ConfigErrors> {
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
        app.resources_handle().files.reopen_all();
        let resources = app.resources_handle();
        let name = path.display().to_string();
        // Compiling (10,000 routes of regexes and JSONPaths) is CPU-bound;
        // keep it off the runtime's workers.
        let loaded = tokio::task::spawn_blocking(move || load_str(&name, &text, &ProcessEnv, &resources))
            .await
            .unwrap_or_else(|e| Err(join_failure(&self.config_path, e)));
        let next = match loaded {
            Ok(next) => next,
            Err(errors) => return Err(self.failed(trigger, errors)),
        };
        let current = app.active();
        let changes = diff::changes(&current, &next);
        let mut summary = ReloadSummary {
            changed: !changes.is_empty(),
            routes: next.snapshot.routes.len(),
            restart_required: app.started().restart_required(&current.settings, &next.settings),
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
            if next.source.hash != current.source.hash {
                app.swap(next);
            }
            tracing::info!(trigger = trigger.as_str(), "{summary}; nothing to apply");
            return Ok(summary);
        }
        let no_routes = next.snapshot.routes.is_empty();
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

pub(crate) fn unix_now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Reloads on every SIGHUP until `stop` is cancelled.
pub(crate) fn spawn_sighup(app: Arc<dyn Target>, stop: CancellationToken) {
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
            let _ = app.reloader().reload(&*app, Trigger::Signal).await;
        }
    });
}
