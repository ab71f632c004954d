//! What an operator sees of a running server: Prometheus metrics, the
//! access log with request ids, and per-route counts for `GET /-/routes`.
//!
//! Metric *names* live in [`crate::metrics`]; this module holds the
//! exporter ([`exporter`]), their descriptions ([`catalog`]), the request
//! wrapper the ingress calls ([`access`]) and the small recording helpers
//! the pipeline calls ([`action`], [`jobs_queued`], and per route
//! [`RouteMetrics`], whose handles are resolved once: [`handles`]), so that
//! every count of an action goes to Prometheus and to [`RouteStats`]
//! together and the two cannot disagree.

pub(crate) mod access;
pub mod catalog;
pub mod exporter;
pub(crate) mod handles;
pub mod json_lines;
pub mod log_writer;
pub(crate) mod route_stats;

use std::sync::Arc;

pub(crate) use access::{Access, Note};
pub(crate) use handles::RouteMetrics;
pub(crate) use route_stats::{ActionKind, ActionOutcome, RouteStats};

/// One execution of a `log` or `file` action (or a forward's hand-off), by
/// route name; the pipeline counts through the route's [`RouteMetrics`].
pub(crate) fn action(stats: &RouteStats, route: &Arc<str>, kind: ActionKind, outcome: ActionOutcome) {
    handles::count_action(kind, outcome);
    stats.action(route, kind, outcome);
}

/// Counts the accepted hand-offs (route and kind of each job), skipping
/// routes for which the event was a redelivery (their jobs were not queued
/// again).
pub(crate) fn jobs_queued(stats: &RouteStats, jobs: &[(Arc<str>, ActionKind)], duplicates: &[(String, String)]) {
    for (route, kind) in jobs {
        if !duplicates.iter().any(|(r, _)| **r == **route) {
            action(stats, route, *kind, ActionOutcome::Queued);
        }
    }
}
