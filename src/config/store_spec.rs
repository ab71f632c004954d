//! The `store:` block of routes.yaml: where the delivery queue lives.
//!
//! Without it the queue is the embedded redb file in `data_dir`, as it has
//! always been. `store: jetstream:` puts it on a NATS JetStream cluster
//! instead, so several hookroute replicas share one queue (see
//! `src/delivery/jetstream/`). These are plain serde types, like the rest
//! of `config/`: the delivery module checks their meaning.

use schemars::JsonSchema;
use serde::Deserialize;

use super::secret::Secret;

/// `store:`: exactly one backend.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// Keep the queue on NATS JetStream, shared by every replica that names the same servers and stream. Changing `store:` requires a restart.
    pub jetstream: Option<JetStreamSpec>,
}

/// `store: jetstream:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JetStreamSpec {
    /// NATS server URLs, e.g. `nats://nats-0:4222` (`tls://` for TLS). The client connects to one and fails over to the others.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Name of the work stream; the body stream and the key-value buckets are named after it. Letters, digits, `-` and `_`. Default `hookroute`.
    pub stream: Option<String>,
    /// Replicas (R) of every stream and bucket hookroute creates: 1, 3 or 5 in practice. Default 1.
    #[schemars(range(min = 1, max = 5))]
    pub replicas: Option<u32>,
    /// Token authentication.
    pub token: Option<Secret>,
    /// User name, with `password`.
    pub user: Option<String>,
    /// Password of `user`.
    pub password: Option<Secret>,
    /// Path to a `.creds` file (JWT and NKey seed), e.g. from `nsc`.
    pub creds: Option<String>,
    /// NKey seed (`SU…`); write `${file:/run/secrets/nkey}`.
    pub nkey: Option<Secret>,
    /// TLS towards the servers: the CA that signed them, and a client certificate when they require one.
    pub tls: Option<JetStreamTlsSpec>,
}

/// `store: jetstream: tls:`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JetStreamTlsSpec {
    /// PEM file of the CA certificates to trust (default: the system's).
    pub ca: Option<String>,
    /// PEM file of the client certificate (with `key`).
    pub cert: Option<String>,
    /// PEM file of the client certificate's private key (with `cert`).
    pub key: Option<String>,
}
