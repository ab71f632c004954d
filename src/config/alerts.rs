//! `alerts:` in routes.yaml: the thresholds `hookroute alerts` writes into
//! the Prometheus rules it generates.
//!
//! They live in the config, beside the routes they watch, so a route's
//! tolerance (a billing hook that must never dead-letter, a flaky partner
//! that fails a third of its first attempts) is reviewed with the route.
//! The top level sets the defaults; a route's `alerts:` overrides them for
//! that route. The server itself never reads them: only the rules
//! generator does. Checked here, when the file loads, so `check` reports a
//! bad threshold with its line like any other mistake.

use std::collections::HashMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::spec::HumanDuration;
use super::ConfigError;

/// Default rate window of the generated rules.
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(600);
/// Default dead letters within the window that fire the alert.
pub(crate) const DEFAULT_DEAD_LETTERS: u32 = 1;
/// Default share of failed attempts to a destination that fires the alert.
pub(crate) const DEFAULT_FAILURE_RATIO: f64 = 0.2;
/// Default share of the retry budget the oldest pending job may use up.
pub(crate) const DEFAULT_PENDING_BUDGET_SHARE: f64 = 0.5;
/// Default signature failures within the window that fire the alert.
pub(crate) const DEFAULT_SIGNATURE_FAILURES: u32 = 10;

/// `alerts:` at the top level: the defaults, and the settings only the
/// whole file can have.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsSpec {
    /// Range of the generated rules' `increase()` and `rate()`, e.g. `10m`; whole seconds, at least `1m`. Default `10m`.
    pub window: Option<HumanDuration>,
    /// Dead letters of one route within `window` that fire `HookrouteDeadLetters`. Default 1.
    #[schemars(range(min = 1))]
    pub dead_letters: Option<u32>,
    /// Share of failed attempts (retried or given up) to one destination over `window`, held for 10 minutes, that fires `HookrouteDeliveryFailing`; above 0, at most 1. Default 0.2.
    pub failure_ratio: Option<f64>,
    /// Share of the longest retry budget the oldest pending job may use before `HookroutePendingJobAtRisk` fires; above 0, at most 1. Default 0.5.
    pub pending_budget_share: Option<f64>,
    /// Requests refused for a bad signature within `window` (all routes together) that fire `HookrouteSignatureFailures`. Default 10.
    #[schemars(range(min = 1))]
    pub signature_failures: Option<u32>,
}

/// `alerts:` on a route: overrides of the top-level thresholds for the
/// route's own alerts.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteAlertsSpec {
    /// Dead letters of this route within the window that fire `HookrouteDeadLetters`.
    #[schemars(range(min = 1))]
    pub dead_letters: Option<u32>,
    /// Share of failed attempts that fires `HookrouteDeliveryFailing` for this route's destinations (the strictest route wins for a shared destination).
    pub failure_ratio: Option<f64>,
    /// Share of this route's retry budget its forwards' jobs may wait (see the top-level key).
    pub pending_budget_share: Option<f64>,
}

/// One route's thresholds: the top level's with the route's overrides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Dead letters within the window that fire.
    pub dead_letters: u32,
    /// Failed attempts over all attempts, above which it fires.
    pub failure_ratio: f64,
    /// Share of the retry budget a pending job may use.
    pub pending_budget_share: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            dead_letters: DEFAULT_DEAD_LETTERS,
            failure_ratio: DEFAULT_FAILURE_RATIO,
            pending_budget_share: DEFAULT_PENDING_BUDGET_SHARE,
        }
    }
}

/// The checked `alerts:` settings of a whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// Range of the rules' `increase()` and `rate()`.
    pub window: Duration,
    /// Bad signatures within the window that fire.
    pub signature_failures: u32,
    /// The top-level thresholds, for routes without overrides.
    pub defaults: Thresholds,
    /// Routes (by name) with an `alerts:` of their own, already merged
    /// over `defaults`.
    pub routes: HashMap<String, Thresholds>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            window: DEFAULT_WINDOW,
            signature_failures: DEFAULT_SIGNATURE_FAILURES,
            defaults: Thresholds::default(),
            routes: HashMap::new(),
        }
    }
}

impl AlertSettings {
    /// Reads the top-level `alerts:`, pushing each problem (with its key
    /// path) to `errors`.
    pub fn compile(spec: Option<&AlertsSpec>, errors: &mut Vec<ConfigError>) -> AlertSettings {
        let mut out = AlertSettings::default();
        let Some(spec) = spec else { return out };
        if let Some(window) = spec.window {
            if window.0 < Duration::from_secs(60) || window.0.subsec_nanos() != 0 {
                errors.push(ConfigError::new(
                    "alerts.window",
                    "must be whole seconds and at least 1m (rates need several scrapes to compare)",
                ));
            } else {
                out.window = window.0;
            }
        }
        if let Some(n) = spec.signature_failures {
            out.signature_failures = count("alerts.signature_failures", n, errors).unwrap_or(out.signature_failures);
        }
        let overrides = Overrides {
            dead_letters: spec.dead_letters,
            failure_ratio: spec.failure_ratio,
            pending_budget_share: spec.pending_budget_share,
        };
        out.defaults = overrides.over(Thresholds::default(), "alerts", errors);
        out
    }

    /// Checks a route's `alerts:` (`errors` get route-relative key paths)
    /// and records the route's thresholds.
    pub fn add_route(&mut self, name: &str, spec: &RouteAlertsSpec, errors: &mut Vec<ConfigError>) {
        let overrides = Overrides {
            dead_letters: spec.dead_letters,
            failure_ratio: spec.failure_ratio,
            pending_budget_share: spec.pending_budget_share,
        };
        let thresholds = overrides.over(self.defaults, "alerts", errors);
        self.routes.insert(name.to_string(), thresholds);
    }

    /// The thresholds of the route called `name`.
    pub fn for_route(&self, name: &str) -> Thresholds {
        self.routes.get(name).copied().unwrap_or(self.defaults)
    }
}

/// The keys the top level and a route share.
struct Overrides {
    dead_letters: Option<u32>,
    failure_ratio: Option<f64>,
    pending_budget_share: Option<f64>,
}

impl Overrides {
    fn over(&self, base: Thresholds, path: &str, errors: &mut Vec<ConfigError>) -> Thresholds {
        let mut out = base;
        if let Some(n) = self.dead_letters {
            out.dead_letters = count(&format!("{path}.dead_letters"), n, errors).unwrap_or(out.dead_letters);
        }
        if let Some(r) = self.failure_ratio {
            out.failure_ratio = share(&format!("{path}.failure_ratio"), r, errors).unwrap_or(out.failure_ratio);
        }
        if let Some(s) = self.pending_budget_share {
            out.pending_budget_share =
                share(&format!("{path}.pending_budget_share"), s, errors).unwrap_or(out.pending_budget_share);
        }
        out
    }
}

fn count(key: &str, n: u32, errors: &mut Vec<ConfigError>) -> Option<u32> {
    if n == 0 {
        // Zero would make the alert fire forever, with nothing happening.
        errors.push(ConfigError::new(key, "must be at least 1"));
        return None;
    }
    Some(n)
}

fn share(key: &str, value: f64, errors: &mut Vec<ConfigError>) -> Option<f64> {
    if !(value > 0.0 && value <= 1.0) {
        errors.push(ConfigError::new(key, format!("{value} is not a share: write a number above 0 and at most 1")));
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(top: &str, route: &str) -> (AlertSettings, Vec<String>) {
        let spec: AlertsSpec = serde_yaml::from_str(top).unwrap();
        let mut errors = Vec::new();
        let mut settings = AlertSettings::compile(Some(&spec), &mut errors);
        let route: RouteAlertsSpec = serde_yaml::from_str(route).unwrap();
        settings.add_route("billing", &route, &mut errors);
        (settings, errors.into_iter().map(|e| format!("{}: {}", e.key_path, e.message)).collect())
    }

    #[test]
    fn a_route_overrides_only_the_keys_it_sets() {
        let (s, errors) = compile("{window: 5m, failure_ratio: 0.5, dead_letters: 3}", "{dead_letters: 1}");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.window, Duration::from_secs(300));
        assert_eq!(
            s.for_route("billing"),
            Thresholds { dead_letters: 1, failure_ratio: 0.5, pending_budget_share: 0.5 }
        );
        assert_eq!(s.for_route("other"), Thresholds { dead_letters: 3, failure_ratio: 0.5, pending_budget_share: 0.5 });
    }

    #[test]
    fn bad_values_are_reported_with_their_keys() {
        let (_, errors) = compile(
            "{window: 10s, signature_failures: 0, failure_ratio: 1.5}",
            "{dead_letters: 0, pending_budget_share: 0}",
        );
        let joined = errors.join("\n");
        for key in [
            "alerts.window: ",
            "alerts.signature_failures: ",
            "alerts.failure_ratio: 1.5 is not a share",
            "alerts.dead_letters: ",
            "alerts.pending_budget_share: 0 is not a share",
        ] {
            assert!(joined.contains(key), "{key} missing in:\n{joined}");
        }
    }
}
