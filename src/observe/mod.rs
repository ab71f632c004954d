//! What an operator sees of a running server: Prometheus metrics, the
//! access log with request ids, and per-route counts for `GET /-/routes`.
//!
//! Metric *names* live in [`crate::metrics`]; this module holds the
//! exporter ([`exporter`]), their descriptions ([`catalog`]), the request
//! wrapper the ingress calls ([`access`]) and the small recording helpers
//! the pipeline calls ([`action`], [`sync_forward`], [`forwards_queued`]),
//! so that every count of an action goes to Prometheus and to
//! [`RouteStats`] together and the two cannot disagree.

pub(crate) mod access;
pub mod catalog;
pub mod exporter;
pub mod json_lines;
pub mod log_writer;
pub(crate) mod route_stats;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use access::{Access, Note};
pub(crate) use route_stats::{ActionKind, ActionOutcome, RouteStats};

use crate::metrics as m;

/// One execution of a `log` or `file` action (or a forward's hand-off).
pub(crate) fn action(stats: &RouteStats, route: &Arc<str>, kind: ActionKind, outcome: ActionOutcome) {
    metrics::counter!(m::ACTIONS, "action" => kind.as_str(), "outcome" => outcome.as_str()).increment(1);
    stats.action(route, kind, outcome);
}

/// The forward a `respond: {from: forward}` route relays, sent by the
/// pipeline itself rather than the queue: its latency and attempt are
/// recorded under the same names the queue uses. `ok` when the upstream
/// answered 2xx, as for a queued forward.
pub(crate) fn sync_forward(stats: &RouteStats, route: &Arc<str>, destination: String, took: Duration, ok: bool) {
    metrics::histogram!(m::FORWARD_DURATION, "destination" => destination.clone()).record(took.as_secs_f64());
    let attempt = if ok { "success" } else { "failed" };
    metrics::counter!(m::FORWARD_ATTEMPTS, "destination" => destination, "outcome" => attempt).increment(1);
    action(stats, route, ActionKind::Forward, if ok { ActionOutcome::Ok } else { ActionOutcome::Error });
}

/// Counts the accepted hand-offs, skipping routes for which the event was a
/// redelivery (their jobs were not queued again).
pub(crate) fn forwards_queued(stats: &RouteStats, routes: &[Arc<str>], duplicates: &[(String, String)]) {
    for route in routes {
        if !duplicates.iter().any(|(r, _)| **r == **route) {
            action(stats, route, ActionKind::Forward, ActionOutcome::Queued);
        }
    }
}
