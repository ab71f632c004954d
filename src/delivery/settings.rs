//! The top-level delivery settings of routes.yaml, checked.
//!
//! `data_dir`, `retention`, `destinations` and `shutdown_grace` are read
//! when the server starts (changing them needs a restart); `defaults.retry`
//! is read per snapshot, because each job stores the policy it was accepted
//! under, and so is `memory_queue_limit`, checked by each event against the
//! shared count (raising it is what an operator does under pressure, and a
//! restart would lose every job it counts). Every problem is a
//! [`ConfigError`] with its key path; the config loader locates it in the
//! file. [`StartOnly`] is what a reload compares a new file against, to warn
//! that a changed start-only setting is not in effect.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::destination::BreakerSettings;
use super::retry::{RetryOverrides, RetryPolicy};
use crate::config::decode::decode_all;
use crate::config::delivery_spec::DestinationSpec;
use crate::config::spec::ConfigSpec;
use crate::config::ConfigError;

pub(crate) const DEFAULT_DATA_DIR: &str = "./data";
pub(crate) const DEFAULT_CONCURRENCY: usize = 32;
pub(crate) const DEFAULT_RETAIN_SUCCEEDED: Duration = Duration::from_secs(24 * 3600);
pub(crate) const DEFAULT_RETAIN_DEAD: Duration = Duration::from_secs(7 * 24 * 3600);
/// Room for a burst of this many `delivery: memory` jobs while a
/// destination is slow: at a few KiB per job (record and body) tens of MiB,
/// far from what gets a process killed.
pub(crate) const DEFAULT_MEMORY_QUEUE_LIMIT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub succeeded: Duration,
    pub dead: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { succeeded: DEFAULT_RETAIN_SUCCEEDED, dead: DEFAULT_RETAIN_DEAD }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Where the queue lives. Relative paths are relative to the working
    /// directory, like every path in the config.
    pub data_dir: PathBuf,
    /// True when the config names `data_dir` (the store then opens at start
    /// even if no route needs it yet).
    pub data_dir_set: bool,
    /// How long in-flight deliveries may finish at shutdown; None: the
    /// server's default.
    pub shutdown_grace: Option<Duration>,
    /// `defaults.retry` over the built-in defaults.
    pub retry: RetryPolicy,
    pub retention: Retention,
    /// In-flight deliveries per destination (host:port).
    pub concurrency: usize,
    pub breaker: BreakerSettings,
    /// Most `delivery: memory` jobs held at once; past it, 503.
    pub memory_queue_limit: usize,
    /// Bytes of durable jobs' bodies kept in memory (see
    /// [`super::body_budget`]).
    pub queued_body_memory: usize,
    /// `store: jetstream:`: the shared queue instead of `data_dir`.
    pub jetstream: Option<super::jetstream::JetStreamSettings>,
    /// `destinations: { host:port: { rate_limit } }`; forwards' own
    /// `rate_limit:` are added to these where the routes are compiled.
    pub rate_limits: super::rate::RateLimits,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            data_dir_set: false,
            shutdown_grace: None,
            retry: RetryPolicy::default(),
            retention: Retention::default(),
            concurrency: DEFAULT_CONCURRENCY,
            breaker: BreakerSettings::default(),
            memory_queue_limit: DEFAULT_MEMORY_QUEUE_LIMIT,
            queued_body_memory: super::body_budget::DEFAULT_QUEUED_BODY_MEMORY,
            jetstream: None,
            rate_limits: super::rate::RateLimits::new(),
        }
    }
}

impl DeliverySettings {
    /// Reads the top-level delivery keys, pushing every problem to `errors`.
    pub fn compile(spec: &ConfigSpec, errors: &mut Vec<ConfigError>) -> DeliverySettings {
        let mut out = DeliverySettings::default();
        if let Some(dir) = &spec.data_dir {
            if dir.trim().is_empty() {
                errors.push(ConfigError::new("data_dir", "must be a directory path (default ./data)"));
            } else {
                out.data_dir = PathBuf::from(dir);
                out.data_dir_set = true;
            }
        }
        if let Some(grace) = spec.shutdown_grace {
            out.shutdown_grace = Some(grace.0);
        }
        if let Some(retry) = spec.defaults.as_ref().and_then(|d| d.retry.as_ref()) {
            out.retry = RetryOverrides::compile(retry, "defaults.retry", errors).over(&RetryPolicy::default());
        }
        if let Some(retention) = &spec.retention {
            for (key, value, slot) in [
                ("succeeded", retention.succeeded, &mut out.retention.succeeded),
                ("dead", retention.dead, &mut out.retention.dead),
            ] {
                if let Some(v) = value {
                    *slot = v.0;
                }
                if value.is_some_and(|v| v.0.is_zero()) {
                    errors.push(ConfigError::new(format!("retention.{key}"), "must be greater than 0"));
                }
            }
        }
        if let Some(dest) = &spec.destinations {
            match dest.concurrency {
                Some(0) => errors.push(ConfigError::new("destinations.concurrency", "must be at least 1")),
                Some(n) => out.concurrency = n as usize,
                None => {}
            }
            if let Some(breaker) = &dest.circuit_breaker {
                let path = "destinations.circuit_breaker";
                match breaker.failures {
                    Some(0) => errors.push(ConfigError::new(format!("{path}.failures"), "must be at least 1")),
                    Some(n) => out.breaker.failures = n,
                    None => {}
                }
                for (key, value, slot) in [
                    ("open_for", breaker.open_for, &mut out.breaker.open_for),
                    ("max_open_for", breaker.max_open_for, &mut out.breaker.max_open_for),
                ] {
                    match value {
                        Some(v) if v.0.is_zero() => {
                            errors.push(ConfigError::new(format!("{path}.{key}"), "must be greater than 0"))
                        }
                        Some(v) => *slot = v.0,
                        None => {}
                    }
                }
                // A longer first pause than the cap would be capped anyway.
                out.breaker.max_open_for = out.breaker.max_open_for.max(out.breaker.open_for);
            }
            for (key, value) in &dest.each {
                match destination_key(key) {
                    Some(name) => {
                        let (each, problems) = decode_all::<DestinationSpec>(value.clone());
                        for problem in problems {
                            let at = match problem.key_path.is_empty() {
                                true => format!("destinations.{key}"),
                                false => format!("destinations.{key}.{}", problem.key_path),
                            };
                            errors.push(ConfigError::new(at, problem.message));
                        }
                        if let Some(rate) = each.and_then(|each| each.rate_limit) {
                            super::rate::add_limit(&mut out.rate_limits, &name, rate);
                        }
                    }
                    None => errors.push(ConfigError::new(
                        format!("destinations.{key}"),
                        format!(
                            "unknown key `{key}`: destinations: takes `concurrency`, `circuit_breaker`, or a destination written host:port (e.g. `billing.internal:443`)"
                        ),
                    )),
                }
            }
        }
        match spec.memory_queue_limit {
            // 0 would refuse every `delivery: memory` event: a mistake, not a setting.
            Some(0) => errors.push(ConfigError::new(
                "memory_queue_limit",
                format!("must be at least 1 (default {DEFAULT_MEMORY_QUEUE_LIMIT})"),
            )),
            Some(n) => out.memory_queue_limit = n,
            None => {}
        }
        if let Some(size) = spec.queued_body_memory {
            out.queued_body_memory = usize::try_from(size.as_u64()).unwrap_or(usize::MAX);
        }
        out.jetstream = super::jetstream::JetStreamSettings::compile(spec.store.as_ref(), errors);
        out
    }
}

/// A `destinations:` key as the scheduler names destinations
/// (`crate::upstream::destination_of`: lower-case host, a port), or None
/// when it is not one.
fn destination_key(key: &str) -> Option<String> {
    let (host, port) = key.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
        return None;
    }
    Some(key.to_ascii_lowercase())
}

/// The settings read only at start, as this process applies them: the
/// command line's data directory over the file's, the server's default
/// grace where the file sets none. A reload reads the new file the same way
/// and warns about each that differs, naming the value still in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartOnly {
    /// Which store: `embedded` or the JetStream servers and stream.
    pub(crate) store: String,
    pub data_dir: PathBuf,
    pub shutdown_grace: Duration,
    pub retention: Retention,
    pub concurrency: usize,
    pub breaker: BreakerSettings,
}

impl StartOnly {
    /// `settings` as applied with `data_dir_override` (`--data-dir`) and
    /// `default_grace`.
    pub(crate) fn applied(
        settings: &DeliverySettings,
        data_dir_override: Option<&Path>,
        default_grace: Duration,
    ) -> Self {
        StartOnly {
            store: settings.jetstream.as_ref().map_or_else(|| "embedded".to_string(), |js| js.describe()),
            data_dir: data_dir_override.map_or_else(|| settings.data_dir.clone(), Path::to_path_buf),
            shutdown_grace: settings.shutdown_grace.unwrap_or(default_grace),
            retention: settings.retention.clone(),
            concurrency: settings.concurrency,
            breaker: settings.breaker,
        }
    }

    /// One warning per setting `next` changes, in the words of the
    /// `listen` warning: `KEY changed to NEW but requires a restart; still
    /// using OLD`.
    pub(crate) fn restart_required(&self, next: &StartOnly) -> Vec<String> {
        let time = |d: Duration| humantime::format_duration(d).to_string();
        let path = |p: &Path| p.display().to_string();
        let (old, new) = (&self.breaker, &next.breaker);
        let pairs = [
            ("store", self.store.clone(), next.store.clone()),
            ("data_dir", path(&self.data_dir), path(&next.data_dir)),
            ("shutdown_grace", time(self.shutdown_grace), time(next.shutdown_grace)),
            ("retention.succeeded", time(self.retention.succeeded), time(next.retention.succeeded)),
            ("retention.dead", time(self.retention.dead), time(next.retention.dead)),
            ("destinations.concurrency", self.concurrency.to_string(), next.concurrency.to_string()),
            ("destinations.circuit_breaker.failures", old.failures.to_string(), new.failures.to_string()),
            ("destinations.circuit_breaker.open_for", time(old.open_for), time(new.open_for)),
            ("destinations.circuit_breaker.max_open_for", time(old.max_open_for), time(new.max_open_for)),
        ];
        pairs
            .into_iter()
            .filter(|(_, running, wanted)| running != wanted)
            .map(|(key, running, wanted)| {
                format!("{key} changed to {wanted} but requires a restart; still using {running}")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(yaml: &str) -> (DeliverySettings, Vec<String>) {
        let spec: ConfigSpec = serde_yaml::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        let s = DeliverySettings::compile(&spec, &mut errors);
        (s, errors.into_iter().map(|e| format!("{}: {}", e.key_path, e.message)).collect())
    }

    #[test]
    fn defaults_when_absent() {
        let (s, errors) = compile("routes: []");
        assert!(errors.is_empty());
        assert_eq!(s, DeliverySettings::default());
        assert_eq!(s.retry.max_attempts, 10);
        assert_eq!(s.retry.max_backoff, Duration::from_secs(600));
        assert_eq!(s.memory_queue_limit, 10_000);
    }

    #[test]
    fn reads_every_key() {
        let (s, errors) = compile(
            "data_dir: /var/lib/hookroute\nshutdown_grace: 3s\ndefaults:\n  retry: {max_attempts: 3, initial_backoff: 50ms, retry_on: [409]}\nretention: {succeeded: 1h, dead: 2d}\ndestinations:\n  concurrency: 4\n  circuit_breaker: {failures: 2, open_for: 100ms}\nmemory_queue_limit: 500\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/hookroute"));
        assert_eq!(s.shutdown_grace, Some(Duration::from_secs(3)));
        assert_eq!(s.retry.max_attempts, 3);
        assert_eq!(s.retry.initial_backoff, Duration::from_millis(50));
        assert_eq!(s.retry.retry_on, vec![409]);
        assert_eq!(s.retention, Retention { succeeded: Duration::from_secs(3600), dead: Duration::from_secs(172800) });
        assert_eq!(s.concurrency, 4);
        assert_eq!(s.breaker.failures, 2);
        assert_eq!(s.breaker.open_for, Duration::from_millis(100));
        assert_eq!(s.memory_queue_limit, 500);
    }

    #[test]
    fn restart_warnings_name_each_changed_start_only_setting_and_the_value_in_use() {
        let grace = Duration::from_secs(10);
        let (old, _) = compile("memory_queue_limit: 5\n");
        let running = StartOnly::applied(&old, None, grace);
        let (new, _) = compile(
            "data_dir: /srv/q\nshutdown_grace: 3s\nretention: {succeeded: 1h}\ndestinations: {concurrency: 4, circuit_breaker: {open_for: 1s}}\nmemory_queue_limit: 9\ndefaults: {retry: {max_attempts: 2}}\n",
        );
        assert_eq!(
            running.restart_required(&StartOnly::applied(&new, None, grace)),
            vec![
                "data_dir changed to /srv/q but requires a restart; still using ./data",
                "shutdown_grace changed to 3s but requires a restart; still using 10s",
                "retention.succeeded changed to 1h but requires a restart; still using 1day",
                "destinations.concurrency changed to 4 but requires a restart; still using 32",
                "destinations.circuit_breaker.open_for changed to 1s but requires a restart; still using 5s",
            ],
            "memory_queue_limit and defaults.retry apply at reload: no warning"
        );
        // `--data-dir` fixes the directory whatever the file says.
        let fixed = Some(Path::new("/cli/q"));
        let running = StartOnly::applied(&old, fixed, grace);
        assert!(running
            .restart_required(&StartOnly::applied(&new, fixed, grace))
            .iter()
            .all(|w| !w.contains("data_dir")));
        // Back to what is running: nothing to warn about.
        assert!(running.restart_required(&StartOnly::applied(&old, fixed, grace)).is_empty());
    }

    #[test]
    fn reads_destinations_rate_limits_beside_the_global_keys() {
        let (s, errors) = compile(
            "destinations:\n  concurrency: 4\n  Billing.Internal:443: {rate_limit: 50/s}\n  \"[::1]:8080\": {rate_limit: 300/min}\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.concurrency, 4);
        assert_eq!(s.rate_limits["billing.internal:443"].to_string(), "50/s");
        assert_eq!(s.rate_limits["[::1]:8080"].to_string(), "300/min");
        let (_, errors) = compile(
            "destinations:\n  concurency: 4\n  billing: {rate_limit: 5/s}\n  a:1: {rate_limit: 50}\n  b:2: {rate: 5/s}\n",
        );
        let joined = errors.join("\n");
        for want in [
            "destinations.concurency: unknown key `concurency`",
            "destinations.billing: unknown key `billing`",
            "destinations.a:1.rate_limit: a rate needs a unit",
            "destinations.b:2.rate: unknown key `rate`",
        ] {
            assert!(joined.contains(want), "{want} missing in:\n{joined}");
        }
    }

    #[test]
    fn reports_bad_values_with_their_keys() {
        let (_, errors) = compile(
            "defaults:\n  retry: {max_attempts: 0, initial_backoff: 10s, max_backoff: 1s, retry_on: [200, 700]}\ndestinations: {concurrency: 0}\nmemory_queue_limit: 0\n",
        );
        let joined = errors.join("\n");
        for key in [
            "defaults.retry.max_attempts",
            "defaults.retry.max_backoff",
            "defaults.retry.retry_on[0]",
            "defaults.retry.retry_on[1]",
            "destinations.concurrency",
            "memory_queue_limit",
        ] {
            assert!(joined.contains(&format!("{key}: ")), "{key} missing in:\n{joined}");
        }
    }
}
