//! The global settings of routes.yaml, compiled as one value, and the one
//! path that loads a config file: at start, at every reload, and for
//! `check` and the tools alike.
//!
//! A config file means two things: the routes (the router's [`Snapshot`])
//! and the settings around them ([`Settings`]: listeners and their limits,
//! body limit, security, delivery, and the digests of its secrets). Each is
//! compiled by the module that owns its parts, from the file's spec types
//! in `config`; [`load_file`] puts both together as a [`Loaded`] config,
//! which the runtime holds in one cell so a request sees routes and
//! settings of the same file.
//!
//! The settings live here, above delivery and trust, and not in the
//! router: they hold delivery's settings, and the router must not import
//! delivery. Starting is reloading from nothing: startup compiles through
//! [`load_file`] off the async runtime as every reload does, and applies
//! the settings through the same function ([`crate::app::App::swap`]).
//! What a reload cannot change is marked in one table, [`KEYS`], checked
//! against what the process applied at start ([`Started`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::actions::Resources;
use crate::config::interpolate::Environment;
use crate::config::secret::SecretDigests;
use crate::config::{self, Config, ConfigErrors};
use crate::delivery::settings::StartOnly;
use crate::delivery::DeliverySettings;
use crate::guard::SecuritySettings;
use crate::observe::trace::TraceSettings;
use crate::router::Snapshot;

pub mod event_log;
pub use event_log::EventLogSettings;

/// Everything global a config file sets, compiled. Two are equal exactly
/// when serving either makes no difference outside the routes: a reload
/// compares them to tell "unchanged" (a rotated `${file:}` secret included,
/// through [`Settings::secrets`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The public listener's address; a change applies at restart.
    pub listen: SocketAddr,
    /// The admin listener's address; a change applies at restart.
    pub admin_listen: SocketAddr,
    /// The body limit of every route that sets none (the router holds it
    /// too, as each route's default).
    pub max_body_bytes: usize,
    /// Trusted proxies, admin token, listener limits.
    pub security: SecuritySettings,
    /// data_dir, retry defaults, retention, destination protection.
    pub delivery: Arc<DeliverySettings>,
    /// `telemetry: otlp:`, None without it; applied at start only.
    pub telemetry: Option<Arc<TraceSettings>>,
    /// `event_log:`: what is recorded of each request, and for how long.
    pub event_log: EventLogSettings,
    /// Where each secret is used, with a digest of its value: a reload
    /// names the secrets it rotates without holding or printing them.
    pub(crate) secrets: SecretDigests,
}

impl Settings {
    /// Compiles the file's top-level keys, adding each problem, located,
    /// to the config's.
    pub fn compile(config: &mut Config) -> Settings {
        let mut errors = Vec::new();
        let delivery = DeliverySettings::compile(&config.spec, &mut errors);
        let security = SecuritySettings::compile(&config.spec, &mut errors, &|key| config.value_location(key));
        let telemetry = TraceSettings::compile(&config.spec, &mut errors).map(Arc::new);
        let event_log = EventLogSettings::compile(&config.spec, &mut errors);
        for err in errors {
            config.add_top_level_problem(err);
        }
        Settings {
            listen: config.listen,
            admin_listen: config.admin_listen,
            max_body_bytes: config.max_body_bytes,
            security,
            delivery: Arc::new(delivery),
            telemetry,
            event_log,
            secrets: config.secrets.clone(),
        }
    }

    /// The top-level keys whose compiled value differs from `other`'s
    /// (secrets excepted: see [`Settings::secrets_changed`]), in the order
    /// of [`KEYS`].
    pub fn changed_keys(&self, other: &Settings) -> Vec<String> {
        let mut out: Vec<String> =
            KEYS.iter().filter(|key| (key.differs)(self, other)).map(|key| key.name.to_string()).collect();
        // A field added to a settings type without a line in KEYS is still
        // a change, reported under its group rather than missed.
        let (a, b) = (&self.security, &other.security);
        let rest = SecuritySettings { admin_token: b.admin_token.clone(), ..a.clone() };
        if out.is_empty() && rest != *b {
            out.push("security settings".to_string());
        }
        if out.is_empty() && self.delivery != other.delivery {
            out.push("delivery settings".to_string());
        }
        out
    }

    /// Places whose secret differs from `other`'s (`admin_token`, `route
    /// "x": verify`), sorted. A secret of a route added or removed is part
    /// of that news already; the admin token appearing or going is a
    /// rotation.
    pub fn secrets_changed(&self, other: &Settings) -> Vec<String> {
        let (a, b) = (&self.secrets, &other.secrets);
        a.keys()
            .chain(b.keys())
            .filter(|place| a.get(*place) != b.get(*place))
            .filter(|place| *place == "admin_token" || (a.contains_key(*place) && b.contains_key(*place)))
            .cloned()
            .collect::<std::collections::BTreeSet<String>>()
            .into_iter()
            .collect()
    }
}

/// When a change to a top-level key takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applies {
    /// At the reload that reads it.
    Reload,
    /// Only after a restart: a reload reports it under `restart_required`.
    Restart,
}

/// One top-level key: its name, when a change to it takes effect, and how
/// to tell two compiled values of it apart.
pub(crate) struct Key {
    pub name: &'static str,
    // Read only by the tests that hold this table and the restart warnings
    // of `Started::restart_required` together; the column is the table's
    // point, so it stays.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the table's tests"))]
    pub applies: Applies,
    differs: fn(&Settings, &Settings) -> bool,
}

/// Every top-level setting, in the order the README lists them. The
/// listener limits apply at reload: the request cap at once, the header
/// limits and the first-request deadline to each connection accepted after
/// it (see [`crate::server::listener`]).
pub(crate) const KEYS: &[Key] = &[
    Key { name: "listen", applies: Applies::Restart, differs: |a, b| a.listen != b.listen },
    Key { name: "admin_listen", applies: Applies::Restart, differs: |a, b| a.admin_listen != b.admin_listen },
    Key { name: "max_body_bytes", applies: Applies::Reload, differs: |a, b| a.max_body_bytes != b.max_body_bytes },
    Key {
        name: "trusted_proxies",
        applies: Applies::Reload,
        differs: |a, b| a.security.trusted_proxies != b.security.trusted_proxies,
    },
    Key {
        name: "max_concurrent_requests",
        applies: Applies::Reload,
        differs: |a, b| a.security.max_concurrent_requests != b.security.max_concurrent_requests,
    },
    Key {
        name: "max_headers",
        applies: Applies::Reload,
        differs: |a, b| a.security.max_headers != b.security.max_headers,
    },
    Key {
        name: "max_header_bytes",
        applies: Applies::Reload,
        differs: |a, b| a.security.max_header_bytes != b.security.max_header_bytes,
    },
    Key {
        name: "header_read_timeout",
        applies: Applies::Reload,
        differs: |a, b| a.security.header_read_timeout != b.security.header_read_timeout,
    },
    Key {
        name: "body_read_timeout",
        applies: Applies::Reload,
        differs: |a, b| a.security.body_read_timeout != b.security.body_read_timeout,
    },
    Key {
        name: "admin_allowed_hosts",
        applies: Applies::Reload,
        differs: |a, b| a.security.admin_allowed_hosts != b.security.admin_allowed_hosts,
    },
    Key {
        name: "data_dir",
        applies: Applies::Restart,
        differs: |a, b| {
            a.delivery.data_dir != b.delivery.data_dir || a.delivery.data_dir_set != b.delivery.data_dir_set
        },
    },
    Key {
        name: "shutdown_grace",
        applies: Applies::Restart,
        differs: |a, b| a.delivery.shutdown_grace != b.delivery.shutdown_grace,
    },
    Key { name: "defaults.retry", applies: Applies::Reload, differs: |a, b| a.delivery.retry != b.delivery.retry },
    Key { name: "retention", applies: Applies::Restart, differs: |a, b| a.delivery.retention != b.delivery.retention },
    Key {
        name: "destinations",
        applies: Applies::Restart,
        differs: |a, b| a.delivery.concurrency != b.delivery.concurrency || a.delivery.breaker != b.delivery.breaker,
    },
    Key {
        name: "memory_queue_limit",
        applies: Applies::Reload,
        differs: |a, b| a.delivery.memory_queue_limit != b.delivery.memory_queue_limit,
    },
    Key {
        name: "queued_body_memory",
        applies: Applies::Reload,
        differs: |a, b| a.delivery.queued_body_memory != b.delivery.queued_body_memory,
    },
    // The tracer is process-wide, installed once (crate::observe::trace).
    Key { name: "telemetry", applies: Applies::Restart, differs: |a, b| a.telemetry != b.telemetry },
    // Recording reads the active settings per request, and the log's
    // writer prunes with the active limits: all of it applies at reload.
    Key { name: "event_log", applies: Applies::Reload, differs: |a, b| a.event_log != b.event_log },
];

/// The keys a reload cannot apply, from [`KEYS`].
#[cfg(test)]
pub(crate) fn restart_only() -> impl Iterator<Item = &'static str> {
    KEYS.iter().filter(|k| k.applies == Applies::Restart).map(|k| k.name)
}

/// Where a loaded config came from, for `GET /-/config`.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file name as given.
    pub name: String,
    /// Hex SHA-256 of the file's bytes.
    pub hash: String,
    pub(crate) loaded_at: SystemTime,
}

/// One config file, compiled: its routes and its settings, held together
/// by the runtime's active-config cell.
pub struct Loaded {
    pub(crate) source: Source,
    /// The file's compiled settings.
    pub settings: Arc<Settings>,
    /// The file's compiled routes.
    pub snapshot: Arc<Snapshot>,
}

impl Loaded {
    /// Compiles a loaded config: settings, then routes. Only a config
    /// without a single problem compiles; every problem is reported.
    pub fn compile(mut config: Config, resources: &Resources) -> Result<Loaded, ConfigErrors> {
        let settings = Settings::compile(&mut config);
        let source =
            Source { name: config.source_name.clone(), hash: config.hash.clone(), loaded_at: SystemTime::now() };
        let snapshot = Snapshot::compile(config, resources)?;
        Ok(Loaded { source, settings: Arc::new(settings), snapshot: Arc::new(snapshot) })
    }

    /// Each destination's rate limit: `destinations:`'s, and every
    /// forward's `rate_limit:` for its host:port, the lowest winning. A
    /// forward's URL templates never change its host or port, so its
    /// destination is known here.
    pub(crate) fn rate_limits(&self) -> crate::delivery::rate::RateLimits {
        let mut limits = self.settings.delivery.rate_limits.clone();
        for route in &self.snapshot.routes {
            for action in &route.actions {
                if let crate::actions::Action::Forward(forward) = action {
                    if let Some(rate) = forward.rate_limit {
                        let destination = crate::upstream::destination_of(&forward.url);
                        crate::delivery::rate::add_limit(&mut limits, &destination, rate);
                    }
                }
            }
        }
        limits
    }
}

/// Loads and compiles a config file: what `serve`, `check`, the tools and
/// every reload do.
pub fn load_file(path: &Path, env: &dyn Environment, resources: &Resources) -> Result<Loaded, ConfigErrors> {
    Loaded::compile(config::load_file(path, env)?, resources)
}

/// Same as [`load_file`] from text (tests, benchmarks).
pub fn load_str(name: &str, text: &str, env: &dyn Environment, resources: &Resources) -> Result<Loaded, ConfigErrors> {
    Loaded::compile(config::load(name, text, env)?, resources)
}

/// What this process applied at start of the settings only a restart
/// changes, and what fixed them (the command line), so a reloaded file is
/// read the same way and compared: the warning stays while the file and
/// the process disagree, and a file changed back to what runs gets none.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    /// The addresses bound.
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// `--listen`, `--admin-listen`: then a changed `listen:` is no warning.
    pub listen_override: Option<SocketAddr>,
    pub admin_listen_override: Option<SocketAddr>,
    /// The delivery settings read only at start, as applied.
    pub delivery: StartOnly,
    pub data_dir_override: Option<PathBuf>,
    pub default_grace: Duration,
    /// The `telemetry:` this process exports by (set once at start).
    pub telemetry: Option<Arc<TraceSettings>>,
}

impl Started {
    /// One warning per restart-only setting ([`restart_only`]) that `next`
    /// sets differently from `current` (addresses) or from what this
    /// process runs with (delivery).
    pub(crate) fn restart_required(&self, current: &Settings, next: &Settings) -> Vec<String> {
        let mut out = Vec::new();
        if next.listen != current.listen && self.listen_override.is_none() {
            out.push(format!(
                "listen changed to {} but requires a restart; still listening on {}",
                next.listen, self.addr
            ));
        }
        if next.admin_listen != current.admin_listen && self.admin_listen_override.is_none() {
            out.push(format!(
                "admin_listen changed to {} but requires a restart; still listening on {}",
                next.admin_listen, self.admin_addr
            ));
        }
        let wanted = StartOnly::applied(&next.delivery, self.data_dir_override.as_deref(), self.default_grace);
        out.extend(self.delivery.restart_required(&wanted));
        if next.telemetry != self.telemetry {
            out.push(match &self.telemetry {
                Some(now) => format!(
                    "telemetry changed but requires a restart; still exporting traces to {}",
                    crate::redact::display(&now.endpoint)
                ),
                None => "telemetry changed but requires a restart; traces are not exported".to_string(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::interpolate::ProcessEnv;

    fn settings(yaml: &str) -> Settings {
        let resources = Resources::new().unwrap();
        let loaded = load_str("t.yaml", &format!("{yaml}routes: []\n"), &ProcessEnv, &resources).unwrap();
        (*loaded.settings).clone()
    }

    #[test]
    fn equal_files_compile_to_equal_settings_and_each_key_is_named() {
        assert_eq!(settings("max_headers: 10\n"), settings("max_headers: 10\n"));
        let before = settings("");
        let after = settings("max_headers: 20\nheader_read_timeout: 2s\nretention: {dead: 1h}\n");
        assert_eq!(before.changed_keys(&after), vec!["max_headers", "header_read_timeout", "retention"]);
    }

    #[test]
    fn every_restart_warning_is_for_a_key_the_table_calls_restart_only() {
        let (old, new) = (
            settings(""),
            settings("data_dir: /srv/q\nshutdown_grace: 3s\nretention: {succeeded: 1h, dead: 1h}\ndestinations: {concurrency: 4, circuit_breaker: {failures: 2, open_for: 1s, max_open_for: 9s}}\ntelemetry: {otlp: {endpoint: 'http://127.0.0.1:4318'}}\n"),
        );
        let started = Started {
            addr: old.listen,
            admin_addr: old.admin_listen,
            listen_override: None,
            admin_listen_override: None,
            delivery: StartOnly::applied(&old.delivery, None, Duration::from_secs(10)),
            data_dir_override: None,
            default_grace: Duration::from_secs(10),
            telemetry: None,
        };
        let warnings = started.restart_required(&old, &new);
        assert_eq!(warnings.len(), 9, "{warnings:?}");
        let restart: Vec<&str> = restart_only().collect();
        for warning in &warnings {
            let key = warning.split(' ').next().unwrap_or_default();
            let top = key.split('.').next().unwrap_or_default();
            assert!(restart.contains(&top), "{key} warns but the table applies it at reload");
        }
        // Only restart-only keys differ here, and the summary names them so.
        for key in old.changed_keys(&new) {
            assert!(restart.contains(&key.as_str()), "{key} is not a restart-only key");
        }
    }

    #[test]
    fn the_restart_only_table_names_the_listen_addresses_and_the_delivery_store() {
        let keys: Vec<&str> = restart_only().collect();
        assert_eq!(
            keys,
            vec!["listen", "admin_listen", "data_dir", "shutdown_grace", "retention", "destinations", "telemetry"]
        );
        // The listener limits are applied by reload.
        for key in ["max_concurrent_requests", "max_headers", "max_header_bytes", "header_read_timeout"] {
            assert!(KEYS.iter().any(|k| k.name == key && k.applies == Applies::Reload), "{key}");
        }
    }
}
