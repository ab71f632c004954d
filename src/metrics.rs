//! Metric names, in one place so every module records under the same names.
//!
//! Modules record through the `metrics` facade (`metrics::counter!(NAME,
//! "label" => value).increment(1)`); the Prometheus exporter behind it is
//! installed once at startup and rendered by the admin API. Labels are
//! always low-cardinality: route names, action kinds, destination host:port,
//! status classes and fixed reason words — never raw paths or event ids.

/// Requests received, by `route` (first route taken, or `none`) and `status` class (`2xx`…).
pub const REQUESTS: &str = "hookroute_requests_total";
/// Events by `outcome`: `matched`, `ignored` (path known, no condition held), `rejected`.
pub const EVENTS: &str = "hookroute_events_total";
/// Rejected requests by `reason`: `not_found`, `method`, `size`, `body`, `signature`, `ip`, `rate`, `overload`,
/// `timeout` (body not received in time), `admin_token` (admin API without the token).
pub const REJECTED: &str = "hookroute_rejected_total";
/// Route matches, by `route`.
pub const ROUTE_MATCHES: &str = "hookroute_route_matches_total";
/// Action executions by `action` (`forward`, `log`, `file`, `exec`) and `outcome` (`ok`, `error`; `queued` for a
/// forward handed to delivery, whose attempts are [`FORWARD_ATTEMPTS`]).
pub const ACTIONS: &str = "hookroute_actions_total";
/// Delivery attempt latency in seconds, by `destination` (`host:port` of a forward, `broker:NAME` of a publish).
pub const FORWARD_DURATION: &str = "hookroute_forward_duration_seconds";
/// Delivery attempts (forwards and publishes) by `destination` and `outcome` (`success`, `retry`, `failed`).
pub const FORWARD_ATTEMPTS: &str = "hookroute_forward_attempts_total";
/// Retries scheduled, by `destination`.
pub const RETRIES: &str = "hookroute_delivery_retries_total";
/// Jobs waiting for delivery (gauge).
pub const QUEUE_DEPTH: &str = "hookroute_queue_depth";
/// `delivery: memory` jobs held in memory, not yet delivered or dead (gauge); at `memory_queue_limit`
/// events for such routes are answered 503.
pub const QUEUE_MEMORY_DEPTH: &str = "hookroute_queue_memory_depth";
/// Bytes of queued event bodies held in memory (gauge), bounded by `queued_body_memory`.
pub const QUEUE_BODY_BYTES: &str = "hookroute_queue_body_bytes";
/// Age in seconds of the oldest pending job (gauge).
pub const QUEUE_OLDEST_AGE: &str = "hookroute_queue_oldest_pending_age_seconds";
/// Pending jobs by `destination` (gauge): waiting for an attempt or a retry, in memory or in the store.
pub const DESTINATION_PENDING: &str = "hookroute_destination_pending_jobs";
/// Age in seconds of the oldest pending job, by `destination` (gauge); 0 when none is pending.
pub const DESTINATION_OLDEST_AGE: &str = "hookroute_destination_oldest_pending_age_seconds";
/// Each destination's circuit breaker, by `destination` (gauge): 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "hookroute_breaker_state";
/// `store: jetstream`: jobs in the shared work stream not yet acknowledged — waiting, in retry or in
/// flight on any replica (gauge, as this replica last read it).
pub const JETSTREAM_PENDING: &str = "hookroute_jetstream_pending_jobs";
/// `store: jetstream`: of those, the ones delivered to a replica more than once (NATS's
/// `num_redelivered`: retries after a nak, and leases that ran out) (gauge).
pub const JETSTREAM_REDELIVERED: &str = "hookroute_jetstream_redelivered_jobs";
/// Jobs moved to dead letters, by `route`.
pub const DEAD_LETTERS: &str = "hookroute_dead_letters_total";
/// Event-log records dropped before they were written (the log's queue was full; the oldest go first).
pub const EVENT_LOG_DROPPED: &str = "hookroute_event_log_dropped_total";
/// Event-log records written to its store.
pub const EVENT_LOG_WRITTEN: &str = "hookroute_event_log_written_total";
/// Config reloads by `outcome` (`success`, `failure`).
pub const CONFIG_RELOADS: &str = "hookroute_config_reloads_total";
/// Unix time of the last successful config load (gauge).
pub const CONFIG_LAST_SUCCESS: &str = "hookroute_config_last_reload_success_timestamp_seconds";
/// Always 1, with `version` label.
pub const BUILD_INFO: &str = "hookroute_build_info";
