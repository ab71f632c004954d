//! The `brokers:` block of routes.yaml: named connections to the message
//! brokers ops teams already run, defined once and referred to by name from
//! `publish:` actions (`publish: { to: bus, … }`).
//!
//! Plain serde types, like the rest of `config/`: each connector in
//! `crate::actions::publish` checks their meaning and builds its
//! connection from them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::secret::Secret;
use super::store_spec::JetStreamTlsSpec;

/// `brokers:`: connection name → exactly one broker kind.
pub type BrokersSpec = BTreeMap<String, BrokerSpec>;

/// One named broker connection: exactly one of the keys.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct BrokerSpec {
    /// NATS (core or JetStream).
    pub nats: Option<NatsBrokerSpec>,
    /// Apache Kafka (or a Kafka-compatible broker).
    pub kafka: Option<KafkaBrokerSpec>,
    /// RabbitMQ or another AMQP 0-9-1 broker.
    pub amqp: Option<AmqpBrokerSpec>,
    /// Redis Streams.
    pub redis: Option<RedisBrokerSpec>,
    /// An MQTT broker (Mosquitto, EMQX, HiveMQ, …).
    pub mqtt: Option<MqttBrokerSpec>,
}

/// `brokers: NAME: nats:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatsBrokerSpec {
    /// NATS server URLs, e.g. `nats://127.0.0.1:4222` (`tls://` for TLS). The client connects to one and fails over to the others.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Token authentication.
    pub token: Option<Secret>,
    /// User name, with `password`.
    pub user: Option<String>,
    /// Password of `user`.
    pub password: Option<Secret>,
    /// Path to a `.creds` file (JWT and NKey seed).
    pub creds: Option<String>,
    /// NKey seed (`SU…`); write `${file:/run/secrets/nkey}`.
    pub nkey: Option<Secret>,
    /// TLS towards the servers.
    pub tls: Option<JetStreamTlsSpec>,
}

/// `brokers: NAME: kafka:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaBrokerSpec {
    /// Bootstrap brokers as `host:port`.
    #[serde(default)]
    pub brokers: Vec<String>,
    /// Acknowledgement the producer waits for: `all` (default: every in-sync replica stored it) or `leader`.
    pub acks: Option<KafkaAcks>,
    /// Client id the broker logs. Default `hookroute`.
    pub client_id: Option<String>,
}

/// `acks:` of a Kafka connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KafkaAcks {
    /// Every in-sync replica stored the record (`acks=all`).
    #[default]
    All,
    /// The partition leader stored it (`acks=1`).
    Leader,
}

/// `brokers: NAME: amqp:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpBrokerSpec {
    /// `amqp://user:password@host:5672/vhost` (`amqps://` for TLS); the vhost `/` is written `%2f`. Put the password in `${ENV}`.
    pub url: Option<Secret>,
}

/// `brokers: NAME: redis:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisBrokerSpec {
    /// `redis://[user:password@]host:6379/db` (`rediss://` for TLS).
    pub url: Option<Secret>,
}

/// `brokers: NAME: mqtt:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttBrokerSpec {
    /// `mqtt://host:1883` (`mqtts://` for TLS).
    pub url: Option<String>,
    /// Client identifier; unique per connection on the broker. Default `hookroute`.
    pub client_id: Option<String>,
    /// User name, with `password`.
    pub username: Option<String>,
    /// Password of `username`.
    pub password: Option<Secret>,
}
