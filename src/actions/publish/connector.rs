//! What every broker connector offers the `publish` action: one message out,
//! acknowledged by the broker, or an error that says why not.
//!
//! A connector is built at load from its `brokers:` entry without touching
//! the network (a broker that is down must not fail a reload, and load never
//! blocks); it connects on first use and reconnects with backoff after a
//! failure. `publish` returns `Ok` only once the broker has acknowledged the
//! message in the strongest way the connection is configured for (JetStream
//! publish ack, Kafka `acks=all`, AMQP publisher confirm with `mandatory`,
//! Redis `XADD` reply, MQTT QoS 1 PUBACK). Delivery treats every error as a
//! failed attempt and retries it by the job's policy.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;

/// One message for one broker, fully rendered at acceptance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// Where it goes, in the broker's own terms.
    pub(crate) address: Address,
    /// Carried as NATS headers, Kafka record headers, AMQP properties'
    /// headers table, MQTT 5 user properties, or extra Redis stream fields:
    /// `hookroute-event-id`, `hookroute-route`, `content-type` and an
    /// incoming `traceparent`, in that order.
    pub(crate) headers: Vec<(String, String)>,
    /// The payload: the event's body as received, or the rendered `body:`.
    pub(crate) body: Bytes,
}

/// The broker-specific address of a message; each connector takes its own
/// variant and refuses the others (a programming error, reported as
/// [`PublishError::Refused`]). Stored in the job's record (serde, one key
/// per kind: `{"nats": {"subject": …, "jetstream": true}}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Address {
    /// `subject`; `jetstream` waits for the stream's publish ack.
    Nats { subject: String, jetstream: bool },
    /// `topic` and the record `key` (which picks the partition).
    Kafka { topic: String, key: Option<String> },
    /// `exchange` (empty for the default exchange) and `routing_key`.
    Amqp { exchange: String, routing_key: String },
    /// Stream key; `maxlen` trims approximately (`MAXLEN ~ N`).
    Redis { stream: String, maxlen: Option<u64> },
    /// Topic and QoS (0 or 1; 1 waits for PUBACK).
    Mqtt { topic: String, qos: u8 },
}

/// Why a message was not acknowledged. Every variant is a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PublishError {
    /// No connection to the broker (down, refused, DNS, TLS, auth).
    #[error("cannot reach broker `{broker}`: {detail}")]
    Unavailable { broker: String, detail: String },
    /// The broker answered and said no (no stream for the subject, an
    /// unroutable AMQP message returned, a NACK, a Redis error reply).
    #[error("broker `{broker}` refused the message: {detail}")]
    Refused { broker: String, detail: String },
    /// No acknowledgement within the attempt's timeout.
    #[error("broker `{broker}` did not acknowledge within {}", humantime::format_duration(*after))]
    Timeout { broker: String, after: Duration },
}

/// A named broker connection, shared by every job that publishes to it.
pub(crate) trait Connector: Send + Sync + std::fmt::Debug {
    /// Sends `message` and waits for its acknowledgement, for at most
    /// `timeout` in all (connecting included).
    fn publish<'a>(&'a self, message: &'a Message, timeout: Duration) -> BoxFuture<'a, Result<(), PublishError>>;

    /// Closes the connection (after a reload replaced or removed it), once
    /// in-flight publishes have finished.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// A problem with a `brokers:` entry found while building its connector
/// (no network involved): the registry reports it as a located config error
/// at `brokers.NAME.KIND.FIELD`.
///
/// Each connector module offers
/// `XConnector::new(name: &str, spec: &XBrokerSpec) -> Result<XConnector, SpecProblem>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct SpecProblem {
    /// The key under the broker kind (`url`, `servers`, `client_id`, …).
    pub(crate) field: &'static str,
    /// What is wrong and how to fix it, for the person at the terminal.
    pub(crate) message: String,
}
