//! `publish`: send the event to a named broker connection (`brokers:`) as a
//! message, through the same durable delivery as `forward`.
//!
//! At load, [`Publish::compile`] checks the action against its connection
//! (the name exists, the address keys fit its kind, literal names are safe;
//! see [`address`]). For each event, [`Publish::job`] renders the message
//! at once (address, headers, body) into a [`PublishTarget`], a
//! [`Work::Publish`] job that delivery queues, retries, dead-letters and
//! replays like a forward, under the destination `broker:NAME` (one
//! breaker and one concurrency limit per connection). Delivery finds the
//! connector by name at each attempt in the [`Brokers`] registry.
//!
//! Each broker kind is a [`connector::Connector`] in its own module.

pub(crate) mod address;
pub(crate) mod connector;
pub(crate) mod nats;
pub(crate) mod registry;
pub(crate) mod target;

use std::sync::Arc;
use std::time::Duration;

use crate::actions::forward::job::ordering_key_for;
use crate::actions::forward::RetryOverrides;
use crate::actions::job::{DeliveryKeys, QueuedJob, Work};
use crate::actions::DeliveryMode;
use crate::config::spec::PublishSpec;
use crate::config::ConfigError;
use crate::template::{Body, RenderError, Scope};
use address::{AddressTemplate, NameTemplate, Rule};
pub(crate) use connector::PublishError;
pub(crate) use registry::{BrokerKind, BrokerTable, Brokers};
pub(crate) use target::PublishTarget;

/// Header carrying the event's id.
pub(crate) const EVENT_ID_HEADER: &str = "hookroute-event-id";
/// Header carrying the route's name.
pub(crate) const ROUTE_HEADER: &str = "hookroute-route";
/// The default time one publish attempt may take.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A compiled `publish:` action.
#[derive(Debug)]
pub(crate) struct Publish {
    /// The connection's name in `brokers:`.
    pub(crate) broker: String,
    pub(crate) address: AddressTemplate,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryOverrides,
    pub(crate) ordering_key: Option<crate::matcher::JsonPathExpr>,
    /// `body:`, replacing the event's body.
    pub(crate) body: Option<Body>,
}

impl Publish {
    /// Compiles a `publish:` found at `path` against the config's
    /// connections, pushing every problem.
    pub(crate) fn compile(
        spec: &PublishSpec,
        path: &str,
        brokers: &BrokerTable,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Publish> {
        let before = errors.len();
        let kind = brokers.kind(&spec.to);
        if kind.is_none() {
            let names: Vec<&str> = brokers.names().collect();
            let hint = match crate::config::error::closest(&spec.to, &names) {
                Some(near) => format!(" (did you mean `{near}`?)"),
                None if names.is_empty() => " (define it under `brokers:`)".to_string(),
                None => format!(" (known: {})", names.join(", ")),
            };
            errors.push(ConfigError::new(
                format!("{path}.to"),
                format!("no broker connection named {:?}{hint}", spec.to),
            ));
        }
        let DeliveryKeys { timeout, retry, ordering_key } = DeliveryKeys::compile(
            spec.timeout.as_ref(),
            spec.retry.as_ref(),
            spec.ordering_key.as_ref(),
            DEFAULT_TIMEOUT,
            path,
            errors,
        );
        let body = spec.body.as_ref().and_then(|b| Body::compile(b, None, &format!("{path}.body"), errors));
        let address = kind.and_then(|kind| compile_address(spec, kind, path, errors));
        if errors.len() > before {
            return None;
        }
        Some(Publish { broker: spec.to.clone(), address: address?, timeout, retry, ordering_key, body })
    }

    /// The job for one event: its message rendered now (a template that
    /// fails, or renders an unsafe name, makes it unsendable: dead with the
    /// reason, while the event's other actions go on).
    pub(crate) fn job(&self, scope: &Scope, route: &Arc<str>, mode: DeliveryMode) -> QueuedJob {
        let event = scope.event;
        let mut headers =
            vec![(EVENT_ID_HEADER.to_string(), event.id.to_string()), (ROUTE_HEADER.to_string(), route.to_string())];
        let content_type = match &self.body {
            Some(body) => Some(body.content_type().to_string()),
            None => event
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        };
        headers.extend(content_type.map(|ct| ("content-type".to_string(), ct)));
        if let Some(trace) = event.headers.get("traceparent") {
            headers.push(("traceparent".to_string(), String::from_utf8_lossy(trace.as_bytes()).into_owned()));
        }
        let body = self.body.as_ref().map(|b| b.render(scope).map_err(|e| RenderError(format!("body: {e}"))));
        let address = self.address.render(scope).map_err(RenderError);
        let error = match (&address, &body) {
            (Err(e), _) | (_, Some(Err(e))) => Some(e.clone()),
            _ => None,
        };
        // A placeholder address for an unsendable job, which is never sent:
        // the record still says where it was meant to go.
        let address = address.unwrap_or_else(|_| self.address.placeholder());
        let scope_key = format!("{}\u{1f}{}", self.broker, target::describe_address(&address));
        let ordering_key =
            self.ordering_key.as_ref().and_then(|p| ordering_key_for(p, event.document(), route, &scope_key));
        QueuedJob {
            route: route.clone(),
            work: Work::Publish(PublishTarget {
                broker: self.broker.clone(),
                address,
                headers,
                timeout_ms: self.timeout.as_millis() as u64,
                body: body.and_then(Result::ok).map(|b| String::from_utf8_lossy(&b).into_owned()),
                unsendable: error.as_ref().map(|e| format!("template: {e}")),
            }),
            destination: destination_of(&self.broker),
            retry: self.retry.clone(),
            ordering_key,
            mode,
            error,
        }
    }
}

/// The destination of a connection's jobs: the unit of concurrency limits
/// and breakers (`destinations:` settings name it the same way).
pub(crate) fn destination_of(broker: &str) -> String {
    format!("broker:{broker}")
}

/// The address keys for `kind`: the required ones present, the others
/// absent (each a located error naming the kind and its keys).
fn compile_address(
    spec: &PublishSpec,
    kind: BrokerKind,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<AddressTemplate> {
    let given: [(&str, bool); 9] = [
        ("subject", spec.subject.is_some()),
        ("jetstream", spec.jetstream.is_some()),
        ("topic", spec.topic.is_some()),
        ("key", spec.key.is_some()),
        ("exchange", spec.exchange.is_some()),
        ("routing_key", spec.routing_key.is_some()),
        ("stream", spec.stream.is_some()),
        ("maxlen", spec.maxlen.is_some()),
        ("qos", spec.qos.is_some()),
    ];
    let fits = address::keys_of(kind);
    let mut fine = true;
    for (key, _) in given.iter().filter(|(key, set)| *set && !fits.contains(key)) {
        fine = false;
        errors.push(ConfigError::new(
            format!("{path}.{key}"),
            format!(
                "`{key}` does not apply to `{}`, a {} connection (it takes {})",
                spec.to,
                kind.name(),
                fits.join(", ")
            ),
        ));
    }
    let mut required = |key: &'static str, value: &Option<String>, rule: Rule| match value {
        Some(source) => NameTemplate::compile(key, source, rule, path, errors),
        None => {
            errors.push(ConfigError::new(
                format!("{path}.{key}"),
                format!("a publish to `{}` ({}) needs `{key}`", spec.to, kind.name()),
            ));
            None
        }
    };
    let address = match kind {
        BrokerKind::Nats => AddressTemplate::Nats {
            subject: required("subject", &spec.subject, Rule::NatsSubject)?,
            jetstream: spec.jetstream.unwrap_or(true),
        },
        BrokerKind::Kafka => {
            let topic = required("topic", &spec.topic, Rule::KafkaTopic)?;
            let key = match &spec.key {
                Some(k) => Some(NameTemplate::compile("key", k, Rule::Any, path, errors)?),
                None => None,
            };
            AddressTemplate::Kafka { topic, key }
        }
        BrokerKind::Amqp => {
            let routing_key = required("routing_key", &spec.routing_key, Rule::Name { may_be_empty: true })?;
            let exchange = spec.exchange.as_deref().unwrap_or("");
            let exchange =
                NameTemplate::compile("exchange", exchange, Rule::Name { may_be_empty: true }, path, errors)?;
            AddressTemplate::Amqp { exchange, routing_key }
        }
        BrokerKind::Redis => {
            if spec.maxlen == Some(0) {
                errors.push(ConfigError::new(format!("{path}.maxlen"), "must be at least 1"));
                return None;
            }
            let stream = required("stream", &spec.stream, Rule::Name { may_be_empty: false })?;
            AddressTemplate::Redis { stream, maxlen: spec.maxlen }
        }
        BrokerKind::Mqtt => {
            let qos = spec.qos.unwrap_or(1);
            if qos > 1 {
                errors.push(ConfigError::new(format!("{path}.qos"), "must be 0 or 1 (QoS 2 is not supported)"));
                return None;
            }
            AddressTemplate::Mqtt { topic: required("topic", &spec.topic, Rule::MqttTopic)?, qos }
        }
    };
    fine.then_some(address)
}
