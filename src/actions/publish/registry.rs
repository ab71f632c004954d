//! The broker connections by name: built at load from `brokers:`, shared by
//! the pipeline (which checks `publish: {to: NAME}`) and delivery (which
//! looks the connector up by name at every attempt, because jobs outlive
//! reloads and restarts).
//!
//! A config compiles into a [`BrokerTable`]: each entry's connector is
//! *reused* from the live registry when its settings did not change (so an
//! unrelated reload keeps every connection), and built anew otherwise
//! (connectors touch no network when built: a broker that is down never
//! fails a load). The table goes live with the config ([`Brokers::install`]);
//! the connectors it no longer holds are closed then, each once its
//! in-flight publishes finished (the [`Connector::close`] contract). Jobs
//! are records, not connections, so a replaced connector loses none: their
//! next attempt finds the new one by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::connector::{Connector, SpecProblem};
use crate::config::broker_spec::{BrokerSpec, BrokersSpec};
use crate::config::secret::Secret;
use crate::config::ConfigError;

/// The broker kinds, as written under a `brokers:` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokerKind {
    Nats,
    Kafka,
    Amqp,
    Redis,
    Mqtt,
}

impl BrokerKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BrokerKind::Nats => "nats",
            BrokerKind::Kafka => "kafka",
            BrokerKind::Amqp => "amqp",
            BrokerKind::Redis => "redis",
            BrokerKind::Mqtt => "mqtt",
        }
    }
}

/// One named connection of a compiled config.
#[derive(Debug, Clone)]
pub(crate) struct BrokerEntry {
    pub(crate) kind: BrokerKind,
    /// Digest of the entry's settings, secrets included: equal means the
    /// connection can be kept across a reload.
    fingerprint: [u8; 32],
    pub(crate) connector: Arc<dyn Connector>,
}

/// The connections of one compiled config, by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct BrokerTable {
    pub(crate) entries: BTreeMap<String, BrokerEntry>,
}

impl BrokerTable {
    /// The kind of the connection `name`, if configured.
    pub(crate) fn kind(&self, name: &str) -> Option<BrokerKind> {
        self.entries.get(name).map(|e| e.kind)
    }

    /// The configured names, for "did you mean" hints.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }
}

/// The live registry, created once per process (in `crate::actions::Resources`)
/// and kept across reloads. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Brokers {
    live: Arc<ArcSwap<BrokerTable>>,
}

impl Brokers {
    /// The live connector named `name`: what an attempt publishes through.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.live.load().entries.get(name).map(|e| e.connector.clone())
    }

    /// Compiles `brokers:`, pushing every problem located at
    /// `brokers.NAME…`, and reusing the live connector of every entry whose
    /// settings are unchanged. Nothing goes live until [`Brokers::install`].
    pub(crate) fn compile(&self, spec: &BrokersSpec, errors: &mut Vec<ConfigError>) -> BrokerTable {
        let live = self.live.load();
        let mut table = BrokerTable::default();
        for (name, broker) in spec {
            let path = format!("brokers.{name}");
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                errors.push(ConfigError::new(
                    path.clone(),
                    format!("connection name {name:?} may use only letters, digits, - and _"),
                ));
                continue;
            }
            let Some(kind) = kind_of(broker, &path, errors) else { continue };
            let fingerprint = fingerprint(broker);
            let connector = match live.entries.get(name) {
                Some(kept) if kept.kind == kind && kept.fingerprint == fingerprint => kept.connector.clone(),
                _ => match connect(name, broker) {
                    Ok(connector) => connector,
                    Err(problem) => {
                        let at = match problem.field {
                            "" => format!("{path}.{}", kind.name()),
                            field => format!("{path}.{}.{field}", kind.name()),
                        };
                        errors.push(ConfigError::new(at, problem.message));
                        continue;
                    }
                },
            };
            table.entries.insert(name.clone(), BrokerEntry { kind, fingerprint, connector });
        }
        table
    }

    /// Makes `table` the live registry (a config went live), then closes
    /// every connector it no longer holds, in the background, once its
    /// in-flight publishes finished.
    pub(crate) fn install(&self, table: &BrokerTable) {
        let previous = self.live.swap(Arc::new(table.clone()));
        let kept = |c: &Arc<dyn Connector>| table.entries.values().any(|e| Arc::ptr_eq(&e.connector, c));
        let retired: Vec<Arc<dyn Connector>> =
            previous.entries.values().map(|e| e.connector.clone()).filter(|c| !kept(c)).collect();
        if retired.is_empty() {
            return;
        }
        // Outside a runtime (tools, tests) there is nothing in flight: dropping closes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for connector in retired {
                    connector.close().await;
                }
            });
        }
    }
}

/// The one kind an entry names, or a located problem.
fn kind_of(spec: &BrokerSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<BrokerKind> {
    let kinds: Vec<BrokerKind> = [
        spec.nats.as_ref().map(|_| BrokerKind::Nats),
        spec.kafka.as_ref().map(|_| BrokerKind::Kafka),
        spec.amqp.as_ref().map(|_| BrokerKind::Amqp),
        spec.redis.as_ref().map(|_| BrokerKind::Redis),
        spec.mqtt.as_ref().map(|_| BrokerKind::Mqtt),
    ]
    .into_iter()
    .flatten()
    .collect();
    match kinds.as_slice() {
        [one] => Some(*one),
        [] => {
            errors.push(ConfigError::new(
                path,
                "a broker connection needs one of `nats`, `kafka`, `amqp`, `redis` or `mqtt`",
            ));
            None
        }
        _ => {
            errors.push(ConfigError::new(
                path,
                "a broker connection has exactly one of `nats`, `kafka`, `amqp`, `redis` or `mqtt`; give each its own name",
            ));
            None
        }
    }
}

/// Builds the connector of an entry: one arm per kind. (`brokers`, `kafka`
/// helpers: replace your kind's arm with `XConnector::new(name, spec)`.)
fn connect(name: &str, spec: &BrokerSpec) -> Result<Arc<dyn Connector>, SpecProblem> {
    let not_built = |kind: &str| SpecProblem {
        field: "",
        message: format!("the `{kind}` connector is not built into this version"),
    };
    if let Some(nats) = &spec.nats {
        return Ok(Arc::new(super::nats::NatsConnector::new(name, nats)?));
    }
    if spec.kafka.is_some() {
        return Err(not_built("kafka"));
    }
    if spec.amqp.is_some() {
        return Err(not_built("amqp"));
    }
    if spec.redis.is_some() {
        return Err(not_built("redis"));
    }
    Err(not_built("mqtt"))
}

/// Digest of an entry's settings: its debug text (which hides secrets) and
/// its secrets' values, so a rotated password reconnects too.
fn fingerprint(spec: &BrokerSpec) -> [u8; 32] {
    use sha2::Digest;
    let mut secrets: Vec<&Secret> = Vec::new();
    if let Some(n) = &spec.nats {
        secrets.extend(n.token.iter().chain(&n.password).chain(&n.nkey));
    }
    if let Some(a) = &spec.amqp {
        secrets.extend(&a.url);
    }
    if let Some(r) = &spec.redis {
        secrets.extend(&r.url);
    }
    if let Some(m) = &spec.mqtt {
        secrets.extend(&m.password);
    }
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("{spec:?}").as_bytes());
    hasher.update(crate::config::secret::digest(secrets));
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> BrokersSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_reload_keeps_unchanged_connections_and_replaces_changed_ones() {
        let brokers = Brokers::default();
        let mut errors = Vec::new();
        let first = brokers
            .compile(&spec("{a: {nats: {servers: [nats://x:1]}}, b: {nats: {servers: [nats://y:1]}}}"), &mut errors);
        brokers.install(&first);
        let a = brokers.get("a").unwrap();
        let b = brokers.get("b").unwrap();
        // b's password changed: only the debug text hides it, the fingerprint does not.
        let next = brokers.compile(
            &spec("{a: {nats: {servers: [nats://x:1]}}, b: {nats: {servers: [nats://y:1], user: u, password: p}}}"),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        brokers.install(&next);
        assert!(Arc::ptr_eq(&a, &brokers.get("a").unwrap()), "unchanged: the same connection");
        assert!(!Arc::ptr_eq(&b, &brokers.get("b").unwrap()), "changed: a new connection");
        let again = brokers.compile(
            &spec("{a: {nats: {servers: [nats://x:1]}}, b: {nats: {servers: [nats://y:1], user: u, password: q}}}"),
            &mut errors,
        );
        assert!(
            !Arc::ptr_eq(&brokers.get("b").unwrap(), &again.entries["b"].connector),
            "a rotated password reconnects"
        );
        brokers.install(&BrokerTable::default());
        assert!(brokers.get("a").is_none());
    }

    #[test]
    fn problems_are_located_under_the_entry() {
        let brokers = Brokers::default();
        let mut errors = Vec::new();
        let table = brokers.compile(
            &spec("{none: {}, r: {redis: {url: redis://x}}, n: {nats: {servers: [http://x]}}, ok: {nats: {servers: [nats://x:1]}}}"),
            &mut errors,
        );
        let paths: Vec<&str> = errors.iter().map(|e| e.key_path.as_str()).collect();
        assert_eq!(paths, ["brokers.n.nats.servers", "brokers.none", "brokers.r.redis"], "{errors:?}");
        assert!(errors[2].message.contains("not built into this version"));
        assert_eq!(table.names().collect::<Vec<_>>(), ["ok"]);
    }
}
