//! The `telemetry:` block of routes.yaml: where OpenTelemetry traces go.
//!
//! Without it nothing is traced and no exporter exists. Plain serde types,
//! like the rest of `config/`: `crate::observe::trace` checks their meaning
//! (a URL that parses, a ratio between 0 and 1) and reports each problem
//! with its key path.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::secret::Secret;
use super::spec::HumanDuration;

/// `telemetry:`: what hookroute exports about itself besides metrics.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySpec {
    /// Export traces over OTLP: one trace per event, with a span for the request and one per delivery attempt. Changing `telemetry:` requires a restart.
    pub otlp: Option<OtlpSpec>,
}

/// `telemetry: otlp:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtlpSpec {
    /// The collector's base URL, e.g. `http://collector:4318` (OTLP/HTTP: spans go to `/v1/traces` beneath it) or `http://collector:4317` (gRPC).
    pub endpoint: String,
    /// `http/protobuf` (default) or `grpc` (plain HTTP/2; `https` endpoints need `http/protobuf`).
    pub protocol: Option<OtlpProtocolSpec>,
    /// Share of new traces recorded, 0.0 to 1.0. Default 1.0. An incoming `traceparent` that is sampled is always continued.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sample_ratio: Option<f64>,
    /// Headers sent with every export, e.g. an API key. Values may use `${VAR}`.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// The `service.name` resource attribute. Default `hookroute`.
    pub service_name: Option<String>,
    /// Longest time a finished span waits before it is exported. Default `5s`.
    pub export_interval: Option<HumanDuration>,
    /// Time an export gets before it is abandoned (the spans are dropped). Default `10s`.
    pub timeout: Option<HumanDuration>,
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum OtlpProtocolSpec {
    /// Protobuf over HTTP POST (port 4318 by convention).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// gRPC (port 4317 by convention).
    #[serde(rename = "grpc")]
    Grpc,
}
