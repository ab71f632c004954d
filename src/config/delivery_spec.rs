//! The delivery part of routes.yaml, as plain serde types.
//!
//! Spec types live in `config` (config is data and imports no runtime
//! module); `crate::delivery::spec` re-exports them under their old path
//! for the code that gives them meaning. Like every spec type these parse
//! and nothing more: the values are checked by
//! [`crate::delivery::settings`] (top level) and by the route and forward
//! compilers, which report located errors.

use schemars::JsonSchema;
use serde::Deserialize;

use super::spec::HumanDuration;

/// `retry:` under `defaults:` or on a forward. Unset keys fall back to
/// `defaults.retry`, then to the built-in defaults.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in total, the first one included.
    pub max_attempts: Option<u32>,
    /// Wait before the first retry, e.g. `1s`; doubled each time (with jitter).
    pub initial_backoff: Option<HumanDuration>,
    /// Longest wait between two attempts.
    pub max_backoff: Option<HumanDuration>,
    /// No attempt starts later than this after the event was accepted.
    pub max_age: Option<HumanDuration>,
    /// Extra statuses to retry (e.g. `409`), beyond 408, 429 and 5xx.
    pub retry_on: Option<Vec<u16>>,
}

/// `defaults:` at the top level.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    /// Retry policy for every forward that does not set its own.
    pub retry: Option<RetrySpec>,
}

/// `retention:` at the top level: how long finished jobs are kept.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionSpec {
    /// How long delivered jobs are kept, e.g. `24h`.
    pub succeeded: Option<HumanDuration>,
    /// How long dead letters are kept for inspection and replay, e.g. `7d`.
    pub dead: Option<HumanDuration>,
}

/// `destinations:` at the top level: protection for every downstream,
/// applied per host:port (`concurrency`, `circuit_breaker`), and settings
/// of one downstream under its `host:port` key.
// No `deny_unknown_fields`: serde refuses it beside `flatten`. A key that
// is neither a setting nor a host:port is reported when compiled.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct DestinationsSpec {
    /// Deliveries in flight at once to one host:port.
    pub concurrency: Option<u32>,
    /// Stop sending to a host:port that keeps failing, and probe it later.
    pub circuit_breaker: Option<BreakerSpec>,
    /// One destination's own settings ([`DestinationSpec`]), under its `host:port` (e.g. `billing.internal:443`).
    // Kept as YAML and decoded per key when compiled: decoded here, the
    // first bad entry would hide every other problem of `destinations:`
    // (serde loses the path inside a flattened map).
    #[serde(flatten)]
    #[schemars(schema_with = "each_destination_schema")]
    pub each: std::collections::BTreeMap<String, serde_yaml::Value>,
}

/// Every other key of `destinations:` is a `host:port` with its settings.
fn each_destination_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let one = generator.subschema_for::<DestinationSpec>();
    schemars::json_schema!({ "type": "object", "additionalProperties": one })
}

/// One destination's settings, under its `host:port` in `destinations:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DestinationSpec {
    /// Most deliveries started to this host:port, e.g. `50/s`, `300/min`, `1000/h`, shared by every route; jobs beyond it wait their turn. Applies at reload.
    pub rate_limit: Option<super::rate_spec::RateSpec>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Consecutive failures that open the breaker.
    pub failures: Option<u32>,
    /// How long it stays open the first time; doubled each time a probe fails.
    pub open_for: Option<HumanDuration>,
    /// Longest time the breaker stays open.
    pub max_open_for: Option<HumanDuration>,
}

/// `delivery:` on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryModeSpec {
    /// Answer 202 only once the jobs are on disk.
    #[default]
    Durable,
    /// Queue in memory only: faster, lost on crash or restart.
    Memory,
}

/// `dedup:` on a route: exactly one of `header` or `json`, and a window.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DedupSpec {
    /// The header holding the provider's event id (e.g. `X-GitHub-Delivery`).
    pub header: Option<String>,
    /// A JSONPath to the provider's event id in the body (e.g. `$.id`).
    pub json: Option<String>,
    /// How long an event id is remembered, e.g. `24h`.
    pub window: Option<HumanDuration>,
}
