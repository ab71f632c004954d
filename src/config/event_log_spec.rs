//! The `event_log:` block of routes.yaml: what the server remembers of
//! each request for the admin API and the console (`GET /-/events`,
//! replay, preview).
//!
//! Plain serde types like the rest of `config/`; `crate::settings`
//! compiles and checks them (`settings::event_log`).

use schemars::JsonSchema;
use serde::Deserialize;

use super::spec::{byte_size, size_schema, HumanDuration};

/// `event_log:`: every request that reached the router, kept for a while.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventLogSpec {
    /// Record requests at all. Default true.
    pub enabled: Option<bool>,
    /// Most events kept; the oldest are pruned past it. Default 100000.
    #[schemars(range(min = 1))]
    pub max_events: Option<u64>,
    /// Events older than this are pruned. Default `7d`.
    pub max_age: Option<HumanDuration>,
    /// Keep request bodies (up to `max_body_bytes` each); false keeps metadata only. Default true.
    pub bodies: Option<bool>,
    /// Largest part of a body kept per event; longer bodies are cut and marked so. Default `64 KiB`.
    #[serde(default, deserialize_with = "byte_size")]
    #[schemars(schema_with = "size_schema")]
    pub max_body_bytes: Option<bytesize::ByteSize>,
}
