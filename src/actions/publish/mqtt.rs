//! The MQTT connector (MQTT 5, through `rumqttc::v5`): each message is one
//! PUBLISH to the rendered topic, its headers as MQTT 5 user properties and
//! its content type also as the content-type property.
//!
//! Acknowledged means, at QoS 1, the broker's PUBACK for that very packet
//! (matched by packet id) with a success reason code; a PUBACK with an
//! error reason (not authorized, quota exceeded, …) is a refusal. QoS 0 is
//! fire-and-forget: done once the packet is handed to the connection, with
//! no word from the broker, so a broker that dies then loses it silently.
//!
//! `rumqttc` splits a connection into a client (requests in) and an event
//! loop that must be polled for anything to happen; a task per connection
//! polls it and resolves each publish from the events. The event loop says
//! which packet id a publish got only as an `Outgoing::Publish(pkid)`
//! event, in the order the requests were queued, so publishes are queued
//! and remembered under one lock, in that order. `rumqttc`'s own reconnect
//! (which may replay or drop unacknowledged packets) is not used: a broken
//! connection fails every publish waiting on it (delivery retries them) and
//! the next publish dials a new one, with the backoff of [`super::link`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAck, PubAckReason, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{Outgoing, Transport};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::connector::{Address, Connector, Message, PublishError, SpecProblem};
use super::link::{bounded, header, Handle, Link};
use crate::config::broker_spec::MqttBrokerSpec;

/// Publishes that may wait in the client's queue before the connection
/// takes them (the broker's receive maximum bounds those in flight).
const QUEUE: usize = 1024;

/// A named MQTT connection (`brokers: NAME: mqtt:`).
pub(crate) struct MqttConnector {
    name: String,
    options: MqttOptions,
    link: Link<Arc<Session>>,
}

impl std::fmt::Debug for MqttConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The options hold the password: never print them.
        let (host, port) = self.options.broker_address();
        f.debug_struct("MqttConnector").field("name", &self.name).field("broker", &format!("{host}:{port}")).finish()
    }
}

impl MqttConnector {
    /// Checks the URL and credentials (no network). Errors: `url` missing,
    /// not `mqtt://host[:port]` / `mqtts://…`, or carrying credentials;
    /// `client_id` empty; `password` without `username`.
    pub(crate) fn new(name: &str, spec: &MqttBrokerSpec) -> Result<MqttConnector, SpecProblem> {
        let problem = |field, message: &str| SpecProblem { field, message: message.to_string() };
        let url =
            spec.url.as_deref().ok_or_else(|| problem("url", "an MQTT connection needs `url: mqtt://host:1883`"))?;
        let (tls, host, port) = parse_url(url).map_err(|m| problem("url", &m))?;
        let client_id = spec.client_id.clone().unwrap_or_else(|| "hookroute".to_string());
        if client_id.is_empty() {
            return Err(problem("client_id", "must not be empty (leave it out for `hookroute`)"));
        }
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(Duration::from_secs(30)).set_clean_start(true);
        match (&spec.username, &spec.password) {
            (Some(user), password) => {
                let password = password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
                options.set_credentials(user.clone(), password);
            }
            (None, Some(_)) => return Err(problem("password", "a password needs a `username`")),
            (None, None) => {}
        }
        if tls {
            // Not rumqttc's default TLS setup: it panics when the system's
            // roots cannot be read. The platform verifier of forwards instead.
            let config = crate::upstream::platform_tls().map_err(|e| problem("url", &e.to_string()))?;
            options.set_transport(Transport::tls_with_config(config.into()));
        }
        Ok(MqttConnector { name: name.to_string(), options, link: Link::new() })
    }

    async fn publish_now(&self, message: &Message, deadline: Instant) -> Result<(), PublishError> {
        let Address::Mqtt { topic, qos } = &message.address else {
            return Err(self.refused(format!("not an MQTT address: {:?}", message.address)));
        };
        let qos = match qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            other => return Err(self.refused(format!("QoS {other} is not supported (0 or 1)"))),
        };
        let options = &self.options;
        let (session, generation) = self.link.get(&self.name, deadline, || dial(options.clone())).await?;
        let properties = PublishProperties {
            user_properties: message.headers.clone(),
            content_type: header(&message.headers, "content-type").map(str::to_string),
            ..PublishProperties::default()
        };
        let acked = session.send(topic, qos, message.body.clone(), properties).map_err(|failure| self.fail(failure))?;
        match acked.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => {
                if matches!(failure, Failure::Lost(_)) {
                    self.link.broken(generation).await;
                }
                Err(self.fail(failure))
            }
            Err(_) => {
                self.link.broken(generation).await;
                Err(self.fail(Failure::Lost("the connection task ended".into())))
            }
        }
    }

    fn refused(&self, detail: String) -> PublishError {
        PublishError::Refused { broker: self.name.clone(), detail }
    }

    fn fail(&self, failure: Failure) -> PublishError {
        match failure {
            Failure::Refused(detail) => self.refused(detail),
            Failure::Lost(detail) => PublishError::Unavailable { broker: self.name.clone(), detail },
        }
    }
}

/// `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (8883) → (tls, host, port).
fn parse_url(url: &str) -> Result<(bool, String, u16), String> {
    let expected = "expected mqtt://host[:port] or mqtts://host[:port]";
    let uri: http::Uri = url.parse().map_err(|_| format!("not a URL: {expected}"))?;
    let tls = match uri.scheme_str() {
        Some("mqtt") => false,
        Some("mqtts") => true,
        _ => return Err(format!("unknown scheme: {expected}")),
    };
    let authority = uri.authority().ok_or_else(|| format!("no host: {expected}"))?;
    if authority.as_str().contains('@') {
        return Err("put the credentials in `username` and `password`, not in the URL".to_string());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!("a path or query means nothing here: {expected}"));
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("no host: {expected}"));
    }
    Ok((tls, host.to_string(), authority.port_u16().unwrap_or(if tls { 8883 } else { 1883 })))
}

/// Why a publish on a session failed.
#[derive(Debug, Clone)]
enum Failure {
    /// The broker answered with an error reason code.
    Refused(String),
    /// The connection failed before the answer.
    Lost(String),
}

type Ack = oneshot::Sender<Result<(), Failure>>;

/// One live MQTT connection: the client, and the publishes waiting on the
/// task that polls its event loop.
struct Session {
    client: AsyncClient,
    waiters: Arc<Mutex<Waiters>>,
    driver: tokio::task::JoinHandle<()>,
}

/// Publishes queued but not yet given a packet id (in queue order), and
/// those sent at QoS 1 awaiting their PUBACK (by packet id).
#[derive(Default)]
struct Waiters {
    unsent: VecDeque<(QoS, Ack)>,
    unacked: HashMap<u16, Ack>,
    /// Set once the connection failed; every later publish fails at once.
    closed: Option<String>,
}

impl Handle for Arc<Session> {
    fn is_open(&self) -> bool {
        lock(&self.waiters).closed.is_none()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Session {
    /// Queues one PUBLISH and returns where its outcome will arrive. Queue
    /// and remember happen under one lock and without an await, so the
    /// order of `unsent` is the order the event loop takes the requests.
    fn send(
        &self,
        topic: &str,
        qos: QoS,
        payload: bytes::Bytes,
        properties: PublishProperties,
    ) -> Result<oneshot::Receiver<Result<(), Failure>>, Failure> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = lock(&self.waiters);
        if let Some(why) = &waiters.closed {
            return Err(Failure::Lost(why.clone()));
        }
        waiters.unsent.push_back((qos, tx));
        if let Err(e) = self.client.try_publish_with_properties(topic, qos, false, payload, properties) {
            waiters.unsent.pop_back();
            return Err(match e {
                rumqttc::v5::ClientError::TryRequest(_) if !valid_topic(topic) => {
                    Failure::Refused(format!("`{topic}` is not a valid MQTT topic to publish to"))
                }
                _ => Failure::Lost(format!("the connection's queue is full or closed ({QUEUE} publishes waiting)")),
            });
        }
        Ok(rx)
    }
}

/// A topic a client may publish to: not empty, no wildcards, no NUL.
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

fn lock(waiters: &Mutex<Waiters>) -> MutexGuard<'_, Waiters> {
    // A panic while holding this lock leaves consistent queues behind.
    waiters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Connects: starts the task polling a new event loop and waits for the
/// broker's CONNACK (or the first error).
async fn dial(options: MqttOptions) -> Result<Arc<Session>, String> {
    let (client, eventloop) = AsyncClient::new(options, QUEUE);
    let waiters = Arc::new(Mutex::new(Waiters::default()));
    let (ready_tx, ready_rx) = oneshot::channel();
    let driver = tokio::spawn(drive(eventloop, waiters.clone(), ready_tx));
    // Built before awaiting, so a publish that times out while connecting
    // drops the session and with it the task.
    let session = Arc::new(Session { client, waiters, driver });
    match ready_rx.await {
        Ok(Ok(())) => Ok(session),
        Ok(Err(detail)) => Err(detail),
        Err(_) => Err("the connection task ended before the broker answered".to_string()),
    }
}

/// Polls the event loop until the connection fails, resolving publishes.
async fn drive(mut eventloop: EventLoop, waiters: Arc<Mutex<Waiters>>, ready: oneshot::Sender<Result<(), String>>) {
    let mut ready = Some(ready);
    let why = loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => lock(&waiters).sent(pkid),
            Ok(Event::Incoming(Packet::PubAck(ack))) => lock(&waiters).acked(&ack),
            Ok(Event::Incoming(Packet::Disconnect(d))) => {
                break format!("the broker disconnected: {:?}", d.reason_code)
            }
            Ok(_) => {}
            Err(e) => break e.to_string(),
        }
    };
    if let Some(ready) = ready.take() {
        let _ = ready.send(Err(why.clone()));
    }
    lock(&waiters).fail(why);
}

impl Waiters {
    fn sent(&mut self, pkid: u16) {
        let Some((qos, ack)) = self.unsent.pop_front() else { return };
        match qos {
            // Fire-and-forget: handed to the connection is all there is.
            QoS::AtMostOnce => {
                let _ = ack.send(Ok(()));
            }
            _ => {
                self.unacked.insert(pkid, ack);
            }
        }
    }

    fn acked(&mut self, ack: &PubAck) {
        let Some(waiter) = self.unacked.remove(&ack.pkid) else { return };
        let outcome = match ack.reason {
            // No subscriber yet is still stored/forwarded by the broker's rules: success.
            PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
            reason => Err(Failure::Refused(format!("PUBACK reason {reason:?}"))),
        };
        let _ = waiter.send(outcome);
    }

    fn fail(&mut self, why: String) {
        for (_, ack) in self.unsent.drain(..) {
            let _ = ack.send(Err(Failure::Lost(why.clone())));
        }
        for (_, ack) in self.unacked.drain() {
            let _ = ack.send(Err(Failure::Lost(why.clone())));
        }
        self.closed = Some(why);
    }
}

impl Connector for MqttConnector {
    fn publish<'a>(&'a self, message: &'a Message, timeout: Duration) -> BoxFuture<'a, Result<(), PublishError>> {
        let deadline = Instant::now() + timeout;
        bounded(&self.name, timeout, self.publish_now(message, deadline)).boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        async move {
            let Some(session) = self.link.take().await else { return };
            // DISCONNECT goes after the publishes already queued; the task
            // ends when the broker closes the connection (or with the last
            // publish still holding the session).
            let _ = session.client.try_disconnect();
            let until = Instant::now() + Duration::from_secs(1);
            while session.is_open() && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
