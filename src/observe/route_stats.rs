//! Per-route counts for `GET /-/routes`: matches and action outcomes since
//! the process started.
//!
//! Prometheus has the same numbers summed over routes (actions carry no
//! route label, to keep series few); this is the per-route view an operator
//! asks for when one route misbehaves. Counts are keyed by route *name* and
//! live in [`crate::actions::Resources`], which outlives config snapshots,
//! so a reload that edits a route keeps its history, and a route removed
//! and added back picks up where it was. Counting is a read lock and an
//! atomic add; the write lock is taken once per new route name.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use serde::Serialize;

/// An action kind, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionKind {
    Log,
    File,
    Forward,
    Publish,
    Exec,
}

/// How many [`ActionKind`]s there are (the counters' first dimension).
pub(crate) const ACTION_KINDS: usize = 5;

impl ActionKind {
    pub(crate) const ALL: [ActionKind; ACTION_KINDS] =
        [ActionKind::Log, ActionKind::File, ActionKind::Forward, ActionKind::Publish, ActionKind::Exec];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ActionKind::Log => "log",
            ActionKind::File => "file",
            ActionKind::Forward => "forward",
            ActionKind::Publish => "publish",
            ActionKind::Exec => "exec",
        }
    }
}

/// How an action execution ended, as far as the request can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionOutcome {
    Ok,
    Error,
    /// A forward or publish handed to the delivery queue; its attempts are
    /// counted by `hookroute_forward_attempts_total` (by destination).
    Queued,
}

impl ActionOutcome {
    pub(crate) const ALL: [ActionOutcome; 3] = [ActionOutcome::Ok, ActionOutcome::Error, ActionOutcome::Queued];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Ok => "ok",
            ActionOutcome::Error => "error",
            ActionOutcome::Queued => "queued",
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    matches: AtomicU64,
    /// Indexed by `ActionKind as usize`, then `ActionOutcome as usize`.
    actions: [[AtomicU64; 3]; ACTION_KINDS],
}

/// One route's counts, as `/-/routes` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct RouteCounts {
    pub(crate) matches: u64,
    /// Per action kind, per outcome; only the pairs that happened.
    pub(crate) actions: std::collections::BTreeMap<&'static str, std::collections::BTreeMap<&'static str, u64>>,
}

/// One route's entry in [`RouteStats`], held to count without a lookup.
#[derive(Debug, Clone)]
pub(crate) struct RouteCounter(Arc<Counters>);

impl RouteCounter {
    pub(crate) fn matched(&self) {
        self.0.matches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn action(&self, kind: ActionKind, outcome: ActionOutcome) {
        self.0.actions[kind as usize][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts by route name, kept for the life of the process.
#[derive(Debug)]
pub(crate) struct RouteStats {
    started_at: SystemTime,
    routes: RwLock<HashMap<Arc<str>, Arc<Counters>>>,
}

impl Default for RouteStats {
    fn default() -> Self {
        RouteStats { started_at: SystemTime::now(), routes: RwLock::default() }
    }
}

impl RouteStats {
    /// When counting started.
    pub(crate) fn started_at(&self) -> SystemTime {
        self.started_at
    }

    fn counters(&self, route: &Arc<str>) -> Arc<Counters> {
        if let Some(c) = self.routes.read().unwrap_or_else(PoisonError::into_inner).get(route) {
            return c.clone();
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        routes.entry(route.clone()).or_default().clone()
    }

    /// The counters of `route`, to count into without a lookup (see
    /// [`super::handles`]). Entries are never removed, so a handle keeps
    /// counting into the counts `/-/routes` shows.
    pub(crate) fn handle(&self, route: &Arc<str>) -> RouteCounter {
        RouteCounter(self.counters(route))
    }

    #[cfg(test)]
    pub(crate) fn matched(&self, route: &Arc<str>) {
        self.counters(route).matches.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn action(&self, route: &Arc<str>, kind: ActionKind, outcome: ActionOutcome) {
        self.counters(route).actions[kind as usize][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts of `route` (zero for a route that never matched).
    pub(crate) fn counts(&self, route: &str) -> RouteCounts {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        let Some(c) = routes.get(route) else { return RouteCounts::default() };
        let mut out = RouteCounts { matches: c.matches.load(Ordering::Relaxed), ..Default::default() };
        for kind in ActionKind::ALL {
            for outcome in ActionOutcome::ALL {
                let n = c.actions[kind as usize][outcome as usize].load(Ordering::Relaxed);
                if n > 0 {
                    out.actions.entry(kind.as_str()).or_default().insert(outcome.as_str(), n);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_name() {
        let stats = RouteStats::default();
        let a: Arc<str> = Arc::from("a");
        stats.matched(&a);
        stats.matched(&Arc::from("a"));
        stats.action(&a, ActionKind::File, ActionOutcome::Error);
        stats.action(&a, ActionKind::Forward, ActionOutcome::Queued);
        let counts = stats.counts("a");
        assert_eq!(counts.matches, 2);
        assert_eq!(counts.actions["file"]["error"], 1);
        assert_eq!(counts.actions["forward"]["queued"], 1);
        assert!(!counts.actions.contains_key("log"));
        assert_eq!(stats.counts("b"), RouteCounts::default());
    }
}
