//! Metric handles resolved once, not looked up per request.
//!
//! `metrics::counter!(NAME, "route" => name)` builds a key (a label vector,
//! an owned copy of the route name), hashes it and looks it up in the
//! recorder's registry on every call; `RouteStats` takes a lock and hashes
//! the name. A forwarded request did that seven times (request, event,
//! match, action, forward attempt and latency, the per-route counts), and
//! the forward's destination was formatted into a new `String` each time.
//! Each compiled route holds a [`RouteMetrics`] whose handles are resolved
//! on first use and then shared by every request of that snapshot.
//!
//! On first use, not at load: registering a series makes it appear in
//! `/-/metrics` with a zero, and a route that was never requested (or a
//! status class it never answered) must not show up. The process-wide
//! labels (outcomes, action kinds) are resolved the same way, once per
//! process. A handle is only kept once our recorder is installed
//! ([`super::exporter::installed`]); before that (or when the program
//! embedding hookroute installed its own) every use goes through the
//! macro as before, so none is stuck on the no-op recorder.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::StatusCode;
use metrics::{Counter, Histogram};

use super::access::{status_class, Outcome};
use super::route_stats::{ActionKind, ActionOutcome, RouteCounter, RouteStats, ACTION_KINDS};
use crate::metrics as m;

/// Status classes `1xx`..`5xx`, the `status` label's values.
const CLASSES: usize = 5;

/// Runs `use_it` on the handle in `cell`, resolved by `make` on first use
/// (see the module doc for when it is not kept).
fn with<T>(cell: &OnceLock<T>, make: impl FnOnce() -> T, use_it: impl FnOnce(&T)) {
    match super::exporter::installed() {
        true => use_it(cell.get_or_init(make)),
        false => use_it(&make()),
    }
}

fn class_index(status: StatusCode) -> usize {
    usize::from((status.as_u16() / 100).clamp(1, 5) - 1)
}

/// One route's handles: see the module doc.
#[derive(Debug)]
pub(crate) struct RouteMetrics {
    name: Arc<str>,
    matches: OnceLock<Counter>,
    requests: [OnceLock<Counter>; CLASSES],
    /// The route's entry in the per-route counts; one `RouteStats` serves a
    /// snapshot for its whole life (the app's), so it is resolved once.
    counts: OnceLock<RouteCounter>,
    /// The relayed forward's (`respond: {from: forward}`): a route relays
    /// at most one forward, whose destination (host and port) no template
    /// may change.
    relay: OnceLock<Relay>,
}

#[derive(Debug)]
struct Relay {
    duration: Histogram,
    success: Counter,
    failed: Counter,
}

impl RouteMetrics {
    pub(crate) fn new(name: Arc<str>) -> RouteMetrics {
        RouteMetrics {
            name,
            matches: OnceLock::new(),
            requests: Default::default(),
            counts: OnceLock::new(),
            relay: OnceLock::new(),
        }
    }

    fn counts(&self, stats: &RouteStats) -> &RouteCounter {
        self.counts.get_or_init(|| stats.handle(&self.name))
    }

    /// The route took an event.
    pub(crate) fn matched(&self, stats: &RouteStats) {
        let name = &self.name;
        with(&self.matches, || metrics::counter!(m::ROUTE_MATCHES, "route" => name.to_string()), |c| c.increment(1));
        self.counts(stats).matched();
    }

    /// A request whose first route this was was answered with `status`.
    pub(crate) fn answered(&self, status: StatusCode) {
        let name = &self.name;
        with(
            &self.requests[class_index(status)],
            || metrics::counter!(m::REQUESTS, "route" => name.to_string(), "status" => status_class(status)),
            |c| c.increment(1),
        );
    }

    /// One execution of a `log` or `file` action (or a forward's hand-off).
    pub(crate) fn action(&self, stats: &RouteStats, kind: ActionKind, outcome: ActionOutcome) {
        count_action(kind, outcome);
        self.counts(stats).action(kind, outcome);
    }

    /// The forward this route relays, recorded under the names the queue's
    /// attempts use; `destination` is asked for once.
    pub(crate) fn relayed(&self, stats: &RouteStats, destination: impl FnOnce() -> String, took: Duration, ok: bool) {
        let make = || {
            let destination = destination();
            Relay {
                duration: metrics::histogram!(m::FORWARD_DURATION, "destination" => destination.clone()),
                success: metrics::counter!(m::FORWARD_ATTEMPTS, "destination" => destination.clone(), "outcome" => "success"),
                failed: metrics::counter!(m::FORWARD_ATTEMPTS, "destination" => destination, "outcome" => "failed"),
            }
        };
        with(&self.relay, make, |relay| {
            relay.duration.record(took.as_secs_f64());
            if ok { &relay.success } else { &relay.failed }.increment(1);
        });
        self.action(stats, ActionKind::Forward, if ok { ActionOutcome::Ok } else { ActionOutcome::Error });
    }
}

/// Counts one `hookroute_actions_total` for `kind` and `outcome`.
pub(crate) fn count_action(kind: ActionKind, outcome: ActionOutcome) {
    static HANDLES: [[OnceLock<Counter>; 3]; ACTION_KINDS] = [const { [const { OnceLock::new() }; 3] }; ACTION_KINDS];
    let make = || metrics::counter!(m::ACTIONS, "action" => kind.as_str(), "outcome" => outcome.as_str());
    with(&HANDLES[kind as usize][outcome as usize], make, |c| c.increment(1));
}

/// Counts one `hookroute_events_total` for `outcome`.
pub(crate) fn count_event(outcome: Outcome) {
    static HANDLES: [OnceLock<Counter>; 3] = [const { OnceLock::new() }; 3];
    let i = match outcome {
        Outcome::Matched => 0,
        Outcome::Ignored => 1,
        Outcome::Rejected(_) => 2,
    };
    with(&HANDLES[i], || metrics::counter!(m::EVENTS, "outcome" => outcome.as_str()), |c| c.increment(1));
}

/// Counts one `hookroute_requests_total` of a request no route took.
pub(crate) fn count_unrouted(status: StatusCode) {
    static HANDLES: [OnceLock<Counter>; CLASSES] = [const { OnceLock::new() }; CLASSES];
    let make = || metrics::counter!(m::REQUESTS, "route" => "none", "status" => status_class(status));
    with(&HANDLES[class_index(status)], make, |c| c.increment(1));
}
