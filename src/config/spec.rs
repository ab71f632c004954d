//! The routes.yaml format (version 1), as plain serde types.
//!
//! These types say what an operator may write and nothing more: they parse,
//! but they do not validate meaning (a regex that does not compile, a route
//! with two subjects). Meaning is checked when the router compiles them, so
//! that one pass can collect every problem with its location.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

pub(crate) use super::secret::Secret;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// Format version; only 1 exists.
    pub version: Option<u32>,
    /// Public listener for webhooks. Default `0.0.0.0:8080`; `--listen` overrides.
    pub listen: Option<String>,
    /// Admin listener (health, readiness). Default `127.0.0.1:9090`.
    pub admin_listen: Option<String>,
    /// Largest accepted body; an integer (bytes) or a size such as `1 MiB`.
    #[serde(default, deserialize_with = "byte_size")]
    #[schemars(schema_with = "size_schema")]
    pub max_body_bytes: Option<bytesize::ByteSize>,
    /// The routes, tried in file order for each request.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Bearer token for the admin API (all but /-/healthz and /-/readyz).
    pub admin_token: Option<Secret>,
    /// Host names (no port) the admin API answers to besides its own address and loopback names, e.g. the name a proxy in front of it uses. Other `Host`s get 403 (DNS rebinding).
    #[serde(default)]
    pub admin_allowed_hosts: Vec<String>,
    /// Requests in progress at once; past it, 503 with Retry-After. Default 256.
    pub max_concurrent_requests: Option<usize>,
    /// Most request headers; more is answered 431. Default 100.
    pub max_headers: Option<usize>,
    /// Largest request head; larger is answered 431. Default 64 KiB, at least 8 KiB.
    #[serde(default, deserialize_with = "byte_size")]
    #[schemars(schema_with = "size_schema")]
    pub max_header_bytes: Option<bytesize::ByteSize>,
    /// Time a client has to send the request head. Default 10s.
    pub header_read_timeout: Option<HumanDuration>,
    /// Time a client has to send the body after the head. Default 30s.
    pub body_read_timeout: Option<HumanDuration>,
    /// Where the delivery queue lives. Default `./data`.
    pub data_dir: Option<String>,
    /// The delivery queue on a shared store instead of `data_dir`: `jetstream:` (NATS JetStream), for several replicas. Requires a restart to change.
    pub store: Option<super::store_spec::StoreSpec>,
    /// What is remembered of each request for `GET /-/events`, replay and preview: `enabled`, `max_events`, `max_age`, `bodies`, `max_body_bytes`.
    pub event_log: Option<super::event_log_spec::EventLogSpec>,
    /// Named broker connections that `publish:` actions send to by name: each is exactly one of `nats`, `kafka`, `amqp`, `redis`, `mqtt`.
    #[serde(default)]
    pub brokers: super::broker_spec::BrokersSpec,
    /// Time in-flight deliveries get to finish at shutdown. Default 10s.
    pub shutdown_grace: Option<HumanDuration>,
    /// Defaults for every route (`retry:`).
    pub defaults: Option<super::delivery_spec::DefaultsSpec>,
    /// How long finished deliveries are kept.
    pub retention: Option<super::delivery_spec::RetentionSpec>,
    /// Per-destination concurrency and circuit breaker.
    pub destinations: Option<super::delivery_spec::DestinationsSpec>,
    /// Most `delivery: memory` jobs held in memory, not yet delivered; past it such events get 503 with Retry-After. Default 10000.
    #[schemars(range(min = 1))]
    pub memory_queue_limit: Option<usize>,
    /// Bodies of durable jobs kept in memory for their first attempt, in all; past it, an attempt reads the body from the store. `0` keeps none. Default `64 MiB`.
    #[serde(default, deserialize_with = "byte_size")]
    #[schemars(schema_with = "size_schema")]
    pub queued_body_memory: Option<bytesize::ByteSize>,
    /// Route tests, run by `hookroute test` (the server ignores them).
    #[serde(default)]
    pub tests: Vec<super::test_spec::TestSpec>,
    /// Thresholds of the Prometheus rules `hookroute alerts` prints (the server ignores them).
    pub alerts: Option<super::alerts::AlertsSpec>,
    /// OpenTelemetry traces (`otlp:`). Without it nothing is traced. Requires a restart to change.
    pub telemetry: Option<super::telemetry_spec::TelemetrySpec>,
}

/// One route: where it listens, when it applies and what it does.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Unique name (a-z, 0-9, `-`, `_`): in logs, metrics, `explain` and tests.
    pub name: String,
    /// Request path; `{name}` captures one segment as a path parameter, `{*rest}` the remainder.
    pub path: String,
    /// HTTP methods accepted. Default `[POST]`.
    pub methods: Option<Vec<String>>,
    /// Conditions that must all hold: one condition or a list of them. None: always.
    #[serde(default, deserialize_with = "one_or_many")]
    #[schemars(schema_with = "conditions_schema")]
    pub when: Vec<ConditionSpec>,
    /// What to do with a matched event, in order: `forward`, `log`, `file`, `exec`.
    pub actions: Vec<ActionSpec>,
    /// Keep trying later routes after this one is taken. Default false: the first match wins.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// The answer the sender gets. Default: 202 with the event id and the routes taken.
    pub respond: Option<RespondSpec>,
    /// Signature or credential check on the raw request, before anything else.
    pub verify: Option<VerifySpec>,
    /// Client addresses (CIDRs) allowed on this route; others get 403.
    pub allow_ips: Option<Vec<String>>,
    /// Overrides the file's `max_body_bytes` for this route.
    #[serde(default, deserialize_with = "byte_size")]
    #[schemars(schema_with = "size_schema")]
    pub max_body_bytes: Option<bytesize::ByteSize>,
    /// Requests per second this route accepts; more get 429.
    pub rate_limit: Option<RateLimitSpec>,
    /// `durable` (default: 202 once on disk) or `memory` (lost on crash).
    pub delivery: Option<super::delivery_spec::DeliveryModeSpec>,
    /// Answer a provider's redelivery with the original event id.
    pub dedup: Option<super::delivery_spec::DedupSpec>,
    /// Match a trailing slash exactly as written in `path`. Default false: `/hooks/x/` and `/hooks/x` both reach the route.
    #[serde(default)]
    pub strict_slash: bool,
    /// This route's thresholds in the rules `hookroute alerts` prints, over the top-level `alerts:`.
    pub alerts: Option<super::alerts::RouteAlertsSpec>,
}

/// A condition: either a leaf (one subject, one operator) or a combinator.
/// All keys are optional here; the compiler checks that they form exactly one
/// of those shapes.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    // Subjects.
    /// Subject: a JSONPath into the body (JSON, or form fields), e.g. `$.repository.full_name`.
    pub json: Option<String>,
    /// Subject: a request header, by name (case-insensitive).
    pub header: Option<String>,
    /// Subject: a query parameter, by name.
    pub query: Option<String>,
    /// Subject: a `{name}` parameter of the route path.
    pub path_param: Option<String>,
    /// `method: true` (any value) makes the request method the subject.
    #[serde(default, deserialize_with = "present")]
    #[schemars(schema_with = "present_schema")]
    pub method: Option<()>,
    // Operators.
    /// Operator: `true` holds when the subject has a value, `false` when it has none.
    pub exists: Option<bool>,
    /// Operator: equal to this value (typed for JSON; `null` is a value).
    #[serde(default, deserialize_with = "null_is_a_value")]
    pub equals: Option<serde_json::Value>,
    /// Operator: not equal to this value.
    #[serde(default, deserialize_with = "null_is_a_value")]
    pub not_equals: Option<serde_json::Value>,
    /// Operator: equal to one of these values.
    #[serde(rename = "in")]
    pub in_list: Option<Vec<serde_json::Value>>,
    /// Operator: a regular expression (Rust regex syntax) the string must match.
    pub matches: Option<String>,
    /// Operator: a list containing this value, or a string containing this text.
    #[serde(default, deserialize_with = "null_is_a_value")]
    pub contains: Option<serde_json::Value>,
    /// Operator: a number greater than this. Integers compare exactly at any size; one past 64 bits is written in quotes.
    #[serde(default, deserialize_with = "bound")]
    #[schemars(schema_with = "bound_schema")]
    pub gt: Option<serde_json::Number>,
    /// Operator: a number greater than or equal to this. Integers compare exactly at any size; one past 64 bits is written in quotes.
    #[serde(default, deserialize_with = "bound")]
    #[schemars(schema_with = "bound_schema")]
    pub gte: Option<serde_json::Number>,
    /// Operator: a number less than this. Integers compare exactly at any size; one past 64 bits is written in quotes.
    #[serde(default, deserialize_with = "bound")]
    #[schemars(schema_with = "bound_schema")]
    pub lt: Option<serde_json::Number>,
    /// Operator: a number less than or equal to this. Integers compare exactly at any size; one past 64 bits is written in quotes.
    #[serde(default, deserialize_with = "bound")]
    #[schemars(schema_with = "bound_schema")]
    pub lte: Option<serde_json::Number>,
    // Combinators.
    /// Combinator: every condition in the list holds.
    pub all: Option<Vec<ConditionSpec>>,
    /// Combinator: at least one condition in the list holds.
    pub any: Option<Vec<ConditionSpec>>,
    /// Combinator: the condition does not hold.
    pub not: Option<Box<ConditionSpec>>,
}

/// What a route does with a matched event: a mapping with exactly one of
/// `forward`, `publish`, `log`, `file` or `exec`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(try_from = "ActionKeys")]
pub enum ActionSpec {
    /// Boxed: a forward's spec is several times the size of the others.
    Forward(Box<ForwardSpec>),
    /// `log`: a log line per event.
    Log(LogSpec),
    /// `file`: the event appended to a file as a JSON line.
    File(FileSpec),
    /// `publish`: the event sent to a named broker connection as a message.
    Publish(Box<PublishSpec>),
    /// `exec`: a command run for the event (boxed, as forward's).
    Exec(Box<super::exec_spec::ExecSpec>),
}

/// The written form of an action. (serde_yaml reads externally tagged enums
/// only from YAML tags, so the one-key mapping is decoded by hand.)
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionKeys {
    /// Send the event to an HTTP service (durably queued, retried).
    forward: Option<ForwardSpec>,
    /// Write one structured log line.
    log: Option<LogSpec>,
    /// Append one JSON line per event to a file.
    file: Option<FileSpec>,
    /// Send the event as a message to a broker named in `brokers:` (durably queued, retried).
    publish: Option<PublishSpec>,
    /// Run a command (never through a shell; durably queued, retried).
    exec: Option<super::exec_spec::ExecSpec>,
}

/// An action item that does not name exactly one kind.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActionKindError {
    #[error("an action needs one of `forward`, `publish`, `log`, `file` or `exec`")]
    None,
    #[error(
        "an action has exactly one of `forward`, `publish`, `log`, `file` or `exec`; list each as its own `- ` item"
    )]
    Several,
}

impl TryFrom<ActionKeys> for ActionSpec {
    type Error = ActionKindError;
    fn try_from(keys: ActionKeys) -> Result<Self, ActionKindError> {
        match (keys.forward, keys.log, keys.file, keys.publish, keys.exec) {
            (Some(f), None, None, None, None) => Ok(ActionSpec::Forward(Box::new(f))),
            (None, Some(l), None, None, None) => Ok(ActionSpec::Log(l)),
            (None, None, Some(f), None, None) => Ok(ActionSpec::File(f)),
            (None, None, None, Some(p), None) => Ok(ActionSpec::Publish(Box::new(p))),
            (None, None, None, None, Some(e)) => Ok(ActionSpec::Exec(Box::new(e))),
            (None, None, None, None, None) => Err(ActionKindError::None),
            _ => Err(ActionKindError::Several),
        }
    }
}

/// A `forward` action: where and how the event is sent on.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardSpec {
    /// Destination, http:// or https://. Templates may appear in the path and query only; the scheme, host and port are literal.
    pub url: String,
    /// HTTP method of the forward. Default POST.
    pub method: Option<String>,
    /// Headers to set on the forward (values may be templates); they win over passed-through ones.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Time one attempt may take, e.g. `5s`. Default 10s.
    pub timeout: Option<HumanDuration>,
    /// Overrides `defaults.retry` for this forward.
    pub retry: Option<super::delivery_spec::RetrySpec>,
    /// JSONPath whose value orders deliveries: one at a time per value.
    pub ordering_key: Option<String>,
    /// Most deliveries started to this forward's host:port, e.g. `50/s`, `300/min`, `1000/h`: shared with every forward to it (the lowest limit set wins); jobs beyond it wait their turn.
    pub rate_limit: Option<super::rate_spec::RateSpec>,
    /// Replaces the event's body. A mapping or list is sent as JSON (its
    /// strings may be templates); a string is text (`text/plain; charset=utf-8`)
    /// unless `headers` declare a JSON `Content-Type`, which makes it JSON text.
    pub body: Option<serde_json::Value>,
}

/// A `publish` action: the event as a message to a named broker connection.
/// Which address keys apply depends on the connection's kind: `subject` and
/// `jetstream` (nats), `topic` and `key` (kafka), `exchange` and
/// `routing_key` (amqp), `stream` and `maxlen` (redis), `topic` and `qos`
/// (mqtt). Subjects, topics, keys, exchanges, routing keys and streams may
/// be templates; a value that renders a wildcard, an empty token or
/// whitespace makes that event's message unsendable (a dead letter).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    /// The connection's name under `brokers:`.
    pub to: String,
    /// NATS subject, e.g. `github.{{ headers['x-github-event'] }}`.
    pub subject: Option<String>,
    /// NATS: wait for the JetStream publish ack (the message is stored). Default true; `false` is core NATS (at-most-once on the NATS side).
    pub jetstream: Option<bool>,
    /// Kafka or MQTT topic.
    pub topic: Option<String>,
    /// Kafka record key (picks the partition).
    pub key: Option<String>,
    /// AMQP exchange. Default the default exchange (`""`).
    pub exchange: Option<String>,
    /// AMQP routing key.
    pub routing_key: Option<String>,
    /// Redis stream key.
    pub stream: Option<String>,
    /// Redis: trim the stream to about this many entries (`MAXLEN ~ N`).
    pub maxlen: Option<u64>,
    /// MQTT QoS: 1 (default: waits for PUBACK) or 0 (fire and forget).
    pub qos: Option<u8>,
    /// Replaces the event's body, as `forward`'s `body:` does (a mapping or list is sent as JSON, a string as text).
    pub body: Option<serde_json::Value>,
    /// Time one attempt may take, connecting included, e.g. `5s`. Default 10s.
    pub timeout: Option<HumanDuration>,
    /// Overrides `defaults.retry` for this action.
    pub retry: Option<super::delivery_spec::RetrySpec>,
    /// JSONPath whose value orders deliveries: one at a time per value.
    pub ordering_key: Option<String>,
}

/// A `log` action: the line written for each event.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    /// Log level. Default `info`.
    pub level: Option<LogLevel>,
    /// The line's message; may be a template. Default "event received".
    pub message: Option<String>,
    /// Request headers to include in the line (names, case-insensitive).
    #[serde(default)]
    pub headers: Vec<String>,
}

/// The level of a `log` action's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Most verbose.
    Trace,
    /// Debugging detail.
    Debug,
    /// The default.
    Info,
    /// Something to look at.
    Warn,
    /// Something went wrong.
    Error,
}

/// A `file` action: the file each event is appended to.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// The file to append to. A template must start with a literal directory (`data/events/{{ route }}.jsonl`); rendered values cannot leave it.
    pub path: String,
    /// Built-in rotation, for hosts without logrotate. With logrotate, leave it out: the file is reopened by itself when logrotate renames or deletes it.
    pub rotate: Option<RotateSpec>,
}

/// When a `file` action starts a new file: `{ max_size: 100MiB, max_age: 24h, keep: 7, compress: true }`. Rotated files are `path.1` (newest) … `path.N`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSpec {
    /// Rotate before a write would take the file past this size: bytes, or e.g. `100MiB`.
    #[serde(default, deserialize_with = "byte_size")]
    #[schemars(schema_with = "size_schema")]
    pub max_size: Option<bytesize::ByteSize>,
    /// Rotate before a write to a file begun longer ago than this, e.g. `24h`.
    pub max_age: Option<HumanDuration>,
    /// Rotated files kept; the oldest beyond this is deleted. Default 7, at least 1.
    pub keep: Option<u32>,
    /// Gzip rotated files (`path.1.gz`), in the background. Default false.
    pub compress: Option<bool>,
}

/// The answer given to the sender.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondSpec {
    /// `forward`: relay the route's first forward's answer (sync proxy);
    /// `exec`: run the route's first `exec` at once and answer with its
    /// standard output (200 on exit 0, 502 otherwise, 504 at its timeout).
    pub from: Option<RespondFrom>,
    /// Status code. Default 202.
    pub status: Option<u16>,
    /// Headers of the answer; values may be templates.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A mapping or list is sent as JSON; a string is text (`text/plain; charset=utf-8`)
    /// unless `headers` declare a JSON `Content-Type`, which makes it JSON text.
    pub body: Option<serde_json::Value>,
}

/// Where a `respond: {from: ...}` answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RespondFrom {
    /// The route's first forward's answer.
    Forward,
    /// The standard output of the route's first `exec`.
    Exec,
}

/// A duration written the human way: `250ms`, `5s`, `1m 30s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 5s")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(text)
                    .map(HumanDuration)
                    .map_err(|e| E::custom(format!("invalid duration {text:?}: {e} (write e.g. 500ms, 5s, 1m)")))
            }
            // `timeout: 5` is the common mistake: say what to write instead
            // of serde's "invalid type: integer".
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<HumanDuration, E> {
                Err(E::custom(format!("a duration needs a unit: write `{n}s` (or {n}ms, {n}m)")))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "a duration needs a unit, and cannot be negative: write e.g. `{}s`",
                    n.unsigned_abs()
                )))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<HumanDuration, E> {
                Err(E::custom(format!("a duration needs a unit: write e.g. `{}ms`", (n * 1000.0).round())))
            }
        }
        d.deserialize_any(DurationVisitor)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration: `250ms`, `5s`, `1m 30s`, `24h`, `7d`.",
            "examples": ["5s", "1m 30s"]
        })
    }
}

/// A size in bytes, or with a unit.
pub(super) fn size_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "description": "e.g. `512 KiB`, `1 MiB`" }
        ]
    })
}

/// `when:` is one condition or a list of them.
fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let one = generator.subschema_for::<ConditionSpec>();
    schemars::json_schema!({ "anyOf": [ one, { "type": "array", "items": one }, { "type": "null" } ] })
}

/// `method:` takes any value; `true` by convention.
fn present_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "const": true })
}

/// `when:` takes one condition or a list of them (meaning "all of").
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ConditionSpec>, D::Error> {
    struct OneOrMany;
    impl<'de> Visitor<'de> for OneOrMany {
        type Value = Vec<ConditionSpec>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a condition or a list of conditions")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(c) = seq.next_element()? {
                out.push(c);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            ConditionSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(|c| vec![c])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(OneOrMany)
}

/// A size as bytes (`1048576`) or with a unit (`512 KiB`, `1 MiB`); bytesize's
/// own error ("expected parsable string") does not tell the operator what to write.
pub(super) fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bytesize::ByteSize>, D::Error> {
    let value = serde_yaml::Value::deserialize(d)?;
    let parsed = match &value {
        serde_yaml::Value::Number(n) => n.as_u64().map(bytesize::ByteSize),
        serde_yaml::Value::String(s) => s.parse::<bytesize::ByteSize>().ok(),
        _ => None,
    };
    let text = serde_yaml::to_string(&value).unwrap_or_default();
    parsed.map(Some).ok_or_else(|| {
        de::Error::custom(format!("invalid size {:?} (write a number of bytes, or e.g. 512 KiB, 1 MiB)", text.trim()))
    })
}

/// `equals: null` compares with JSON null; a plain `Option` would read the
/// null as "no operator written".
fn null_is_a_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A numeric bound: a number, or a number in quotes. YAML (serde_yaml's
/// `Value`) holds integers of up to 64 bits, so a larger one is written as
/// a string (`gt: "123456789012345678901234567890"`), read here exactly.
fn bound<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Number>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => Ok(Some(n)),
        serde_json::Value::String(s) => match serde_json::from_str::<serde_json::Number>(s.trim()) {
            Ok(n) if n.as_f64().is_some() || !n.as_str().contains(['.', 'e', 'E']) => Ok(Some(n)),
            _ => Err(serde::de::Error::custom(format!("expected a number, found the string {s:?}"))),
        },
        other => Err(serde::de::Error::custom(format!("expected a number, found {other}"))),
    }
}

fn bound_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            { "type": "number" },
            { "type": "string", "pattern": "^\\s*-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?\\s*$" }
        ]
    })
}

/// Marks a key as present whatever its value, including `~`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| Some(()))
}

// Trust at the door: verification, allowlists and limits, in their own file.
pub use super::door_spec::VerifySpec;
pub(crate) use super::door_spec::*;
