//! The message a `publish` job sends, built once at acceptance and stored
//! with the job (see `crate::actions::job::Work::Publish`).
//!
//! It names its broker connection rather than holding it: a job outlives
//! reloads and restarts, so delivery looks the connector up by name at each
//! attempt (`Brokers::get`), and a name no longer configured is a failed
//! attempt that says so.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::connector::{Address, Message};

/// One message for one named broker connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PublishTarget {
    /// The `brokers:` entry it goes to.
    pub(crate) broker: String,
    /// Subject, topic, exchange and routing key, stream …, rendered.
    pub(crate) address: Address,
    /// `hookroute-event-id`, `hookroute-route`, `content-type` and an
    /// incoming `traceparent`, in that order.
    pub(crate) headers: Vec<(String, String)>,
    /// What one attempt may take, connecting included.
    pub(crate) timeout_ms: u64,
    /// The rendered `body:` (None: the event's body as received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<String>,
    /// Why the message could not be built at acceptance: a template did not
    /// render, or rendered an address that is not safe to send to (a NATS
    /// wildcard, an empty token). Such a job is dead from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unsendable: Option<String>,
}

impl PublishTarget {
    /// The message to send, with `body` (the rendered one or the event's).
    pub(crate) fn message(&self, body: Bytes) -> Message {
        Message { address: self.address.clone(), headers: self.headers.clone(), body }
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// `broker bus, subject github.push` for logs and listings.
    pub(crate) fn describe(&self) -> String {
        format!("broker {}, {}", self.broker, describe_address(&self.address))
    }
}

/// The address in the broker's words.
pub(crate) fn describe_address(address: &Address) -> String {
    match address {
        Address::Nats { subject, jetstream: true } => format!("JetStream subject {subject}"),
        Address::Nats { subject, jetstream: false } => format!("subject {subject}"),
        Address::Kafka { topic, key: Some(key) } => format!("topic {topic}, key {key}"),
        Address::Kafka { topic, key: None } => format!("topic {topic}"),
        Address::Amqp { exchange, routing_key } => format!("exchange {exchange:?}, routing key {routing_key}"),
        Address::Redis { stream, .. } => format!("stream {stream}"),
        Address::Mqtt { topic, qos } => format!("topic {topic}, QoS {qos}"),
    }
}
