//! The NATS connector: core NATS or JetStream, one client per named
//! connection.
//!
//! Guarantees, as the README states them:
//! - `jetstream: true`: the job is done when the stream's publish ack
//!   arrives (the message is stored; on a replicated stream, by a quorum).
//!   A subject no stream takes is refused (the attempt fails and is retried:
//!   a stream created later takes it). Each message carries `Nats-Msg-Id`
//!   (event id, route, subject), so a publish repeated after a lost ack is
//!   stored once within the stream's `duplicate_window`.
//! - `jetstream: false` (core NATS): the job is done when the server has
//!   taken the message (a flush round trip). Core NATS itself is
//!   at-most-once: a subscriber that is not connected at that moment never
//!   sees it.
//!
//! The client is created on the first publish, never at load (a server
//! that is down must not fail a load or a reload); a failed connect is a
//! failed attempt, retried with the job's backoff. Once connected, the
//! client reconnects on its own with a growing delay; while it is
//! disconnected, attempts fail at once instead of queueing in the client
//! (a core message buffered there would be sent after its job was retried).

use std::time::Duration;

use async_nats::connection::State;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;

use super::connector::{Address, Connector, Message, PublishError, SpecProblem};
use crate::config::broker_spec::NatsBrokerSpec;
use crate::config::secret::Secret;

/// A named NATS connection.
#[derive(Debug)]
pub(crate) struct NatsConnector {
    name: String,
    servers: Vec<async_nats::ServerAddr>,
    auth: Auth,
    tls: Option<Tls>,
    client: OnceCell<async_nats::Client>,
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Token(Secret),
    UserPassword(String, Secret),
    Creds(String),
    Nkey(Secret),
}

#[derive(Debug, Clone)]
struct Tls {
    ca: Option<String>,
    client: Option<(String, String)>,
}

impl NatsConnector {
    /// Checks `spec` and prepares the connection, without connecting.
    pub(crate) fn new(name: &str, spec: &NatsBrokerSpec) -> Result<NatsConnector, SpecProblem> {
        let problem = |field: &'static str, message: String| SpecProblem { field, message };
        if spec.servers.is_empty() {
            return Err(problem("servers", "list at least one server, e.g. [nats://127.0.0.1:4222]".into()));
        }
        let mut servers = Vec::with_capacity(spec.servers.len());
        for server in &spec.servers {
            let scheme = server.split_once("://").map(|(s, _)| s);
            if !matches!(scheme, Some("nats" | "tls")) {
                return Err(problem(
                    "servers",
                    format!("{server:?} is not a NATS URL; write nats://HOST:PORT (or tls://HOST:PORT)"),
                ));
            }
            servers.push(server.parse().map_err(|e| problem("servers", format!("{server:?}: {e}")))?);
        }
        let mut methods = Vec::new();
        if let Some(token) = &spec.token {
            methods.push(("token", Auth::Token(token.clone())));
        }
        match (&spec.user, &spec.password) {
            (Some(user), Some(password)) => methods.push(("user", Auth::UserPassword(user.clone(), password.clone()))),
            (Some(_), None) => return Err(problem("password", "`user` needs its `password`".into())),
            (None, Some(_)) => return Err(problem("user", "`password` needs the `user` it belongs to".into())),
            (None, None) => {}
        }
        if let Some(creds) = &spec.creds {
            methods.push(("creds", Auth::Creds(creds.clone())));
        }
        if let Some(nkey) = &spec.nkey {
            if !nkey.expose().starts_with("SU") {
                return Err(problem("nkey", "must be a user NKey seed (it starts with `SU`)".into()));
            }
            methods.push(("nkey", Auth::Nkey(nkey.clone())));
        }
        if methods.len() > 1 {
            let names: Vec<&str> = methods.iter().map(|(n, _)| *n).collect();
            return Err(problem(methods[1].0, format!("use one way to authenticate, not {}", names.join(" and "))));
        }
        let auth = methods.pop().map(|(_, a)| a).unwrap_or(Auth::None);
        let tls = match &spec.tls {
            None => None,
            Some(tls) => Some(Tls {
                ca: tls.ca.clone(),
                client: match (&tls.cert, &tls.key) {
                    (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
                    (Some(_), None) => {
                        return Err(problem("tls", "`cert` needs the `key` file of its private key".into()))
                    }
                    (None, Some(_)) => return Err(problem("tls", "`key` needs the `cert` file it belongs to".into())),
                    (None, None) => None,
                },
            }),
        };
        Ok(NatsConnector { name: name.to_string(), servers, auth, tls, client: OnceCell::new() })
    }

    fn unavailable(&self, detail: impl std::fmt::Display) -> PublishError {
        PublishError::Unavailable { broker: self.name.clone(), detail: detail.to_string() }
    }

    fn refused(&self, detail: impl std::fmt::Display) -> PublishError {
        PublishError::Refused { broker: self.name.clone(), detail: detail.to_string() }
    }

    /// The client, connecting on first use (within `timeout`).
    async fn client(&self, timeout: Duration) -> Result<&async_nats::Client, PublishError> {
        let client = self.client.get_or_try_init(|| self.connect(timeout)).await?;
        match client.connection_state() {
            State::Connected => Ok(client),
            state => Err(self.unavailable(format!("disconnected ({state}); the client is reconnecting"))),
        }
    }

    async fn connect(&self, timeout: Duration) -> Result<async_nats::Client, PublishError> {
        let mut options = async_nats::ConnectOptions::new()
            .name("hookroute")
            .connection_timeout(timeout)
            .request_timeout(Some(timeout))
            .reconnect_delay_callback(|attempts| Duration::from_millis((100 * attempts as u64).min(5_000)))
            .max_reconnects(None);
        options = match &self.auth {
            Auth::None => options,
            Auth::Token(token) => options.token(token.expose().to_string()),
            Auth::UserPassword(user, password) => {
                options.user_and_password(user.clone(), password.expose().to_string())
            }
            Auth::Creds(path) => options
                .credentials_file(path)
                .await
                .map_err(|e| self.unavailable(format!("cannot read the creds file {path}: {e}")))?,
            Auth::Nkey(seed) => options.nkey(seed.expose().to_string()),
        };
        if let Some(tls) = &self.tls {
            options = options.require_tls(true);
            if let Some(ca) = &tls.ca {
                options = options.add_root_certificates(ca.into());
            }
            if let Some((cert, key)) = &tls.client {
                options = options.add_client_certificate(cert.into(), key.into());
            }
        }
        match tokio::time::timeout(timeout, options.connect(self.servers.clone())).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(self.unavailable(e)),
            Err(_) => Err(PublishError::Timeout { broker: self.name.clone(), after: timeout }),
        }
    }

    async fn send(&self, message: &Message, timeout: Duration) -> Result<(), PublishError> {
        let Address::Nats { subject, jetstream } = &message.address else {
            return Err(self.refused(format!("a NATS connection cannot take {:?}", message.address)));
        };
        let client = self.client(timeout).await?;
        let mut headers = async_nats::HeaderMap::new();
        for (name, value) in &message.headers {
            headers.append(name.as_str(), value.as_str());
        }
        let body: Bytes = message.body.clone();
        if !*jetstream {
            client.publish_with_headers(subject.clone(), headers, body).await.map_err(|e| self.unavailable(e))?;
            return client.flush().await.map_err(|e| self.unavailable(e));
        }
        let id = message_id(&message.headers, subject);
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        let context = async_nats::jetstream::new(client.clone());
        let ack = context
            .publish_with_headers(subject.clone(), headers, body)
            .await
            .map_err(|e| self.jetstream(e, subject))?;
        ack.await.map_err(|e| self.jetstream(e, subject))?;
        Ok(())
    }

    fn jetstream(&self, e: async_nats::jetstream::context::PublishError, subject: &str) -> PublishError {
        use async_nats::jetstream::context::PublishErrorKind as Kind;
        match e.kind() {
            Kind::StreamNotFound => self.refused(format!("no JetStream stream takes subject {subject:?}")),
            Kind::TimedOut | Kind::BrokenPipe => self.unavailable(e),
            _ => self.refused(e),
        }
    }
}

/// `Nats-Msg-Id` of a message: its event, route and subject, so the same
/// action's message is one message to the stream however often it is sent.
fn message_id(headers: &[(String, String)], subject: &str) -> String {
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("");
    format!("{}:{}:{subject}", header(super::EVENT_ID_HEADER), header(super::ROUTE_HEADER))
}

impl Connector for NatsConnector {
    fn publish<'a>(&'a self, message: &'a Message, timeout: Duration) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            match tokio::time::timeout(timeout, self.send(message, timeout)).await {
                Ok(result) => result,
                Err(_) => Err(PublishError::Timeout { broker: self.name.clone(), after: timeout }),
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(client) = self.client.get() {
                // Drain: publishes in flight are flushed before the connection closes.
                if let Err(e) = client.drain().await {
                    tracing::debug!(broker = %self.name, "closing the NATS connection: {e}");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> NatsBrokerSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn settings_are_checked_without_connecting() {
        assert!(NatsConnector::new("bus", &spec("servers: [nats://127.0.0.1:1]")).is_ok());
        let err = NatsConnector::new("bus", &spec("servers: []")).unwrap_err();
        assert_eq!(err.field, "servers");
        let err = NatsConnector::new("bus", &spec("servers: [http://x:1]")).unwrap_err();
        assert!(err.message.contains("not a NATS URL"), "{err}");
        let err = NatsConnector::new("bus", &spec("{servers: [nats://x:1], token: t, nkey: SUabc}")).unwrap_err();
        assert!(err.message.contains("one way"), "{err}");
        let err = NatsConnector::new("bus", &spec("{servers: [nats://x:1], user: u}")).unwrap_err();
        assert_eq!(err.field, "password");
    }

    #[test]
    fn message_ids_name_event_route_and_subject() {
        let headers = vec![
            (super::super::EVENT_ID_HEADER.to_string(), "01E".to_string()),
            (super::super::ROUTE_HEADER.to_string(), "gh".to_string()),
        ];
        assert_eq!(message_id(&headers, "a.b"), "01E:gh:a.b");
    }
}
