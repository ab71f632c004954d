//! What each metric in [`crate::metrics`] is: its type, labels and a
//! one-line meaning.
//!
//! The exporter writes these as `# HELP` lines, and `docs/operating.md`'s
//! metrics table is checked against them by a test (which also checks that
//! every name in `src/metrics.rs` has an entry here), so the scrape, the
//! docs and the code cannot drift apart.

use crate::metrics as m;

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into buckets.
    Histogram,
}

impl Kind {
    /// The name in a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric's description.
#[derive(Debug, Clone, Copy)]
pub struct Described {
    /// The metric's name, `hookroute_…`.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its label names, in the order they are written.
    pub labels: &'static [&'static str],
    /// The `# HELP` text.
    pub help: &'static str,
}

const fn d(name: &'static str, kind: Kind, labels: &'static [&'static str], help: &'static str) -> Described {
    Described { name, kind, labels, help }
}

/// Every metric hookroute records.
pub const CATALOG: &[Described] = &[
    d(
        m::REQUESTS,
        Kind::Counter,
        &["route", "status"],
        "Requests answered by the public listener, by first route taken (or none) and status class (2xx..5xx).",
    ),
    d(m::EVENTS, Kind::Counter, &["outcome"], "Requests by outcome: matched, ignored (no condition held), rejected."),
    d(
        m::REJECTED,
        Kind::Counter,
        &["reason"],
        "Refused requests by reason: not_found, method, size, body, signature, ip, rate, overload, timeout, admin_token, admin_host, admin_origin.",
    ),
    d(m::ROUTE_MATCHES, Kind::Counter, &["route"], "Events a route took (its conditions held and the door let it in)."),
    d(
        m::ACTIONS,
        Kind::Counter,
        &["action", "outcome"],
        "Action executions: log/file (ok, error), forward (sync relay: ok, error; handed to the queue: queued).",
    ),
    d(
        m::FORWARD_DURATION,
        Kind::Histogram,
        &["destination"],
        "Forward attempt latency in seconds, by destination host:port.",
    ),
    d(
        m::FORWARD_ATTEMPTS,
        Kind::Counter,
        &["destination", "outcome"],
        "Forward attempts by destination and outcome: success, retry, failed.",
    ),
    d(m::RETRIES, Kind::Counter, &["destination"], "Forward retries scheduled, by destination."),
    d(m::QUEUE_DEPTH, Kind::Gauge, &[], "Delivery jobs waiting to be sent."),
    d(
        m::QUEUE_MEMORY_DEPTH,
        Kind::Gauge,
        &[],
        "delivery: memory jobs held in memory; at memory_queue_limit such events are answered 503.",
    ),
    d(
        m::QUEUE_BODY_BYTES,
        Kind::Gauge,
        &[],
        "Bytes of durable jobs' bodies kept in memory for their first attempt (at most queued_body_memory).",
    ),
    d(m::QUEUE_OLDEST_AGE, Kind::Gauge, &[], "Age in seconds of the oldest pending delivery job."),
    d(
        m::DESTINATION_PENDING,
        Kind::Gauge,
        &["destination"],
        "Pending delivery jobs of each destination, in memory or in the store only.",
    ),
    d(
        m::DESTINATION_OLDEST_AGE,
        Kind::Gauge,
        &["destination"],
        "Age in seconds of each destination's oldest pending job (0 when none is pending).",
    ),
    d(
        m::BREAKER_STATE,
        Kind::Gauge,
        &["destination"],
        "Circuit breaker of each destination: 0 closed, 1 half-open (next attempt probes), 2 open (nothing sent).",
    ),
    d(m::DEAD_LETTERS, Kind::Counter, &["route"], "Delivery jobs moved to dead letters, by route."),
    d(
        m::EVENT_LOG_DROPPED,
        Kind::Counter,
        &[],
        "Event-log records dropped unwritten because the log's queue was full (oldest first).",
    ),
    d(m::EVENT_LOG_WRITTEN, Kind::Counter, &[], "Event-log records written to the log's store."),
    d(
        m::JETSTREAM_PENDING,
        Kind::Gauge,
        &[],
        "store: jetstream: jobs in the shared work stream not yet acknowledged (waiting, in retry or in flight on any replica).",
    ),
    d(
        m::JETSTREAM_REDELIVERED,
        Kind::Gauge,
        &[],
        "store: jetstream: pending jobs delivered more than once (retries after a nak, leases that ran out).",
    ),
    d(m::CONFIG_RELOADS, Kind::Counter, &["outcome"], "Config reloads by outcome: success, failure."),
    d(m::CONFIG_LAST_SUCCESS, Kind::Gauge, &[], "Unix time of the last successful config load."),
    d(m::BUILD_INFO, Kind::Gauge, &["version"], "Always 1; the version label says which build is running."),
];

/// Registers every description with the installed recorder.
pub(crate) fn describe_all() {
    for metric in CATALOG {
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, metric.help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            Kind::Histogram => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<&str> = CATALOG.iter().map(|d| d.name).collect();
        assert!(names.iter().all(|n| n.starts_with("hookroute_")));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
    }
}
