//! The AMQP 0-9-1 connector (RabbitMQ and kin, through `lapin`): each
//! message is one `basic.publish` to the rendered exchange and routing key.
//!
//! Acknowledged means a publisher confirm (`basic.ack`) on a channel in
//! confirm mode, for a message published `mandatory` with delivery mode 2
//! (persistent): the broker routed it to at least one queue and, for
//! durable queues, wrote it to disk. A message no queue is bound for comes
//! back (`basic.return`) and is a refusal, never a success; so is a
//! `basic.nack`, and so is a channel error such as an unknown exchange.
//! The headers travel in the properties' headers table, the content type
//! in the content-type property and the event id also as the message id.
//!
//! One connection and one confirm-mode channel per named broker, shared by
//! every publish (lapin matches each confirm to its publish); any error
//! closes them and the next publish dials anew, with the backoff of
//! [`super::link`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ErrorKind};
use tokio::time::Instant;

use super::connector::{Address, Connector, Message, PublishError, SpecProblem};
use super::link::{bounded, header, Handle, Link};
use crate::config::broker_spec::AmqpBrokerSpec;

/// AMQP's persistent delivery mode.
const PERSISTENT: u8 = 2;

/// A named AMQP connection (`brokers: NAME: amqp:`).
pub(crate) struct AmqpConnector {
    name: String,
    uri: AMQPUri,
    link: Link<Open>,
}

impl std::fmt::Debug for AmqpConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URI holds the password: print only where it points.
        let target = format!("{}:{}", self.uri.authority.host, self.uri.authority.port);
        f.debug_struct("AmqpConnector").field("name", &self.name).field("broker", &target).finish()
    }
}

/// The connection and its confirm-mode channel.
#[derive(Clone)]
struct Open {
    connection: Arc<Connection>,
    channel: Channel,
}

impl Handle for Open {
    fn is_open(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }
}

impl AmqpConnector {
    /// Checks the URL (no network). Errors: `url` missing or not an
    /// `amqp://` / `amqps://` URL; the message never quotes it.
    pub(crate) fn new(name: &str, spec: &AmqpBrokerSpec) -> Result<AmqpConnector, SpecProblem> {
        let problem = |message: &str| SpecProblem { field: "url", message: message.to_string() };
        let url = spec
            .url
            .as_ref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| problem("an AMQP connection needs `url: amqp://user:password@host:5672/%2f`"))?;
        let mut uri: AMQPUri = url.expose().parse().map_err(|_| {
            problem(
                "not an AMQP URL: expected amqp://user:password@host[:port]/vhost (amqps:// for TLS; vhost `/` is %2f)",
            )
        })?;
        // The parser keeps only DNS names and falls back to `localhost` for
        // an IP address (which may then resolve to ::1): keep the IP.
        if let Some(host) = url.expose().parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)) {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if bare.parse::<std::net::IpAddr>().is_ok() {
                uri.authority.host = bare.to_string();
            }
        }
        Ok(AmqpConnector { name: name.to_string(), uri, link: Link::new() })
    }

    async fn publish_now(&self, message: &Message, deadline: Instant) -> Result<(), PublishError> {
        let Address::Amqp { exchange, routing_key } = &message.address else {
            return Err(self.refused(format!("not an AMQP address: {:?}", message.address)));
        };
        let uri = &self.uri;
        let (open, generation) = self.link.get(&self.name, deadline, || dial(uri.clone())).await?;
        let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
        let sent = open.channel.basic_publish(exchange, routing_key, options, &message.body, properties(message)).await;
        let outcome = match sent {
            Ok(confirm) => confirm.await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Confirmation::Ack(None)) => Ok(()),
            Ok(Confirmation::Ack(Some(returned))) => Err(self.refused(format!(
                "unroutable: no queue is bound for routing key `{routing_key}` on exchange `{exchange}` ({} {})",
                returned.reply_code, returned.reply_text
            ))),
            Ok(Confirmation::Nack(_)) => Err(self.refused("the broker NACKed the message".to_string())),
            Ok(Confirmation::NotRequested) => Err(self.refused("the channel is not in confirm mode".to_string())),
            Err(e) => {
                // The channel (or connection) is closed after any error.
                if let Some(old) = self.link.broken(generation).await {
                    tokio::spawn(async move {
                        let _ = old.connection.close(200, "reconnecting").await;
                    });
                }
                Err(match e.kind() {
                    // The broker closed the channel with a reason (unknown
                    // exchange, access refused, …): it is there and said no.
                    ErrorKind::ProtocolError(reason) => self.refused(reason.to_string()),
                    _ => PublishError::Unavailable { broker: self.name.clone(), detail: e.to_string() },
                })
            }
        }
    }

    fn refused(&self, detail: String) -> PublishError {
        PublishError::Refused { broker: self.name.clone(), detail }
    }
}

/// Persistent, with the headers table, the content type and the event id
/// as message id.
fn properties(message: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in &message.headers {
        headers.insert(ShortString::from(name.as_str()), AMQPValue::LongString(LongString::from(value.as_str())));
    }
    let mut properties = BasicProperties::default().with_delivery_mode(PERSISTENT).with_headers(headers);
    if let Some(content_type) = header(&message.headers, "content-type") {
        properties = properties.with_content_type(content_type.into());
    }
    if let Some(event_id) = header(&message.headers, "hookroute-event-id") {
        properties = properties.with_message_id(event_id.into());
    }
    properties
}

/// Connects on tokio's executor and reactor and opens a confirm-mode channel.
async fn dial(uri: AMQPUri) -> Result<Open, String> {
    let properties = ConnectionProperties::default()
        .with_connection_name("hookroute".into())
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    let connection = Connection::connect_uri(uri, properties).await.map_err(|e| e.to_string())?;
    let channel = match connection.create_channel().await {
        Ok(channel) => channel,
        Err(e) => {
            let _ = connection.close(200, "no channel").await;
            return Err(e.to_string());
        }
    };
    if let Err(e) = channel.confirm_select(ConfirmSelectOptions::default()).await {
        let _ = connection.close(200, "no confirms").await;
        return Err(format!("cannot enable publisher confirms: {e}"));
    }
    Ok(Open { connection: Arc::new(connection), channel })
}

impl Connector for AmqpConnector {
    fn publish<'a>(&'a self, message: &'a Message, timeout: Duration) -> BoxFuture<'a, Result<(), PublishError>> {
        let deadline = Instant::now() + timeout;
        bounded(&self.name, timeout, self.publish_now(message, deadline)).boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        async move {
            if let Some(open) = self.link.take().await {
                // Waits for confirms still outstanding, then closes.
                let _ = tokio::time::timeout(Duration::from_secs(5), open.channel.wait_for_confirms()).await;
                let _ = open.connection.close(200, "hookroute closed the connection").await;
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
