//! `publish:` to Redis Streams, MQTT and RabbitMQ (issue #14) through the
//! real server in process, with a real broker per test on loopback ports
//! (see `common/brokers/`): what a consumer reads back is what is asserted.
//! Each test skips with one line naming the Debian package when its broker
//! is missing, unless `HOOKROUTE_REQUIRE_SERVERS=1`.

#[path = "common/brokers/mod.rs"]
mod brokers;
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use brokers::mosquitto::{mosquitto, Mosquitto};
use brokers::rabbitmq::{rabbitmq_server, RabbitMq};
use brokers::redis::{redis_server, Redis};
use common::*;
use hookroute::app::RunningServer;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A config with the connection `brokers` (one `NAME: { KIND: … }` line)
/// and one route `/hooks/gh` publishing with `publish`, fast retries.
fn config(broker: &str, publish: &str, retry: &str) -> String {
    format!(
        "destinations: {{ circuit_breaker: {{ open_for: 100ms, max_open_for: 500ms }} }}\nbrokers:\n  {broker}\nroutes:\n  - name: gh\n    path: /hooks/gh\n    actions:\n      - publish: {{ {publish}, timeout: 2s, retry: {{ initial_backoff: 20ms, max_backoff: 200ms{retry} }} }}\n"
    )
}

async fn post_event(server: &RunningServer, body: &str) -> String {
    let answer = send(
        client()
            .post(url(server, "/hooks/gh"))
            .header("content-type", "application/json")
            .header("traceparent", TRACEPARENT)
            .body(body.to_string()),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.text());
    answer.json()["id"].as_str().expect("an event id").to_string()
}

/// Waits until the job of `event` has failed at least twice and is still
/// pending (being retried), with the broker's name in its last error.
async fn wait_retried(server: &RunningServer, event: &str, broker: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = jobs_of(server, event).await;
        if jobs.first().is_some_and(|j| j["attempts"].as_u64().unwrap_or(0) >= 2) {
            assert_eq!(jobs[0]["status"], "pending", "{jobs:?}");
            assert!(jobs[0]["last_error"].as_str().unwrap_or("").contains(broker), "{jobs:?}");
            return;
        }
        assert!(Instant::now() < deadline, "no failed attempts recorded: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn replay_one(server: &RunningServer, event: &str) {
    let job = jobs_of(server, event).await[0]["id"].as_str().expect("a job id").to_string();
    let answer = send(client().post(admin_url(server, &format!("/-/deliveries/{job}/retry")))).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
}

async fn replay_dead(server: &RunningServer) {
    let answer = send(client().post(admin_url(server, "/-/deliveries/retry?status=dead&route=gh"))).await;
    assert_eq!(answer.status, 202, "{}", answer.text());
}

// ---------------------------------------------------------------- Redis

mod redis_streams {
    use redis::AsyncCommands;

    /// Entries of `stream`: (event_id, fields by name).
    pub async fn entries(url: &str, stream: &str) -> Vec<std::collections::BTreeMap<String, Vec<u8>>> {
        let client = redis::Client::open(url).expect("client");
        let mut conn = client.get_multiplexed_async_connection().await.expect("connect to read back");
        let raw: Vec<(String, Vec<Vec<u8>>)> =
            redis::cmd("XRANGE").arg(stream).arg("-").arg("+").query_async(&mut conn).await.expect("XRANGE");
        raw.into_iter()
            .map(|(_, flat)| {
                flat.chunks(2)
                    .map(|p| (String::from_utf8_lossy(&p[0]).into_owned(), p.get(1).cloned().unwrap_or_default()))
                    .collect()
            })
            .collect()
    }

    pub async fn xlen(url: &str, stream: &str) -> usize {
        let client = redis::Client::open(url).expect("client");
        let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
        conn.xlen(stream).await.expect("XLEN")
    }
}

/// The entry holds the exact body and the event's fields, in a stream
/// named from the payload; the job succeeds on the XADD reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_webhook_becomes_a_stream_entry_with_its_bytes_and_fields() {
    let Some(bin) = redis_server("redis_a_webhook_becomes_a_stream_entry_with_its_bytes_and_fields") else { return };
    let redis = Redis::start(&bin);
    let broker = format!("cache: {{ redis: {{ url: \"{}\" }} }}", redis.url());
    let (server, _dir) = start(&config(&broker, "to: cache, stream: \"gh.{{ json.repo }}\", maxlen: 1000", "")).await;

    let body = "{\"repo\":\"hookroute\",  \"n\": 1.50}";
    let id = post_event(&server, body).await;
    let jobs = wait_status(&server, &id, "succeeded").await;
    assert_eq!(jobs[0]["destination"], "broker:cache");
    let entries = redis_streams::entries(&redis.url(), "gh.hookroute").await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["body"], body.as_bytes(), "the exact bytes received");
    assert_eq!(e["event_id"], id.as_bytes());
    assert_eq!(e["route"], b"gh");
    assert_eq!(e["content_type"], b"application/json");
    assert_eq!(e["traceparent"], TRACEPARENT.as_bytes());
    server.shutdown().await;
}

/// Redis killed: events are accepted and their jobs retried; restarted:
/// every one is in the stream, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_retried_and_every_accepted_event_arrives_after_a_restart() {
    let Some(bin) = redis_server("redis_down_is_retried_and_every_accepted_event_arrives_after_a_restart") else {
        return;
    };
    let mut redis = Redis::start(&bin);
    let broker = format!("cache: {{ redis: {{ url: \"{}\" }} }}", redis.url());
    let (server, _dir) = start(&config(&broker, "to: cache, stream: down", ", max_attempts: 100000")).await;
    let first = post_event(&server, "{\"i\":0}").await;
    wait_status(&server, &first, "succeeded").await;

    redis.kill();
    let mut ids = vec![first];
    for i in 1..=20 {
        ids.push(post_event(&server, &format!("{{\"i\":{i}}}")).await);
    }
    wait_retried(&server, &ids[1], "cache").await;

    redis.restart();
    for id in &ids {
        wait_status(&server, id, "succeeded").await;
    }
    let entries = redis_streams::entries(&redis.url(), "down").await;
    let got: BTreeSet<String> = entries.iter().map(|e| String::from_utf8_lossy(&e["event_id"]).into_owned()).collect();
    assert_eq!(got, ids.iter().cloned().collect::<BTreeSet<_>>(), "every accepted event");
    assert_eq!(entries.len(), ids.len(), "none twice");
    server.shutdown().await;
}

/// Redis down for good: the job is a dead letter after `max_attempts`;
/// Redis back: a single replay delivers it, and `maxlen` keeps the
/// stream bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_exhausted_jobs_are_dead_letters_and_a_replay_delivers_them() {
    let Some(bin) = redis_server("redis_exhausted_jobs_are_dead_letters_and_a_replay_delivers_them") else { return };
    let mut redis = Redis::start(&bin);
    let broker = format!("cache: {{ redis: {{ url: \"{}\" }} }}", redis.url());
    let (server, _dir) = start(&config(&broker, "to: cache, stream: late, maxlen: 5", ", max_attempts: 2")).await;
    redis.kill();
    let id = post_event(&server, "{\"late\":true}").await;
    let jobs = wait_status(&server, &id, "dead").await;
    assert!(jobs[0]["dead_reason"].as_str().unwrap_or("").contains("gave up after 2"), "{jobs:?}");

    redis.restart();
    replay_one(&server, &id).await;
    wait_status(&server, &id, "succeeded").await;
    assert_eq!(redis_streams::entries(&redis.url(), "late").await[0]["body"], b"{\"late\":true}");

    let mut more = Vec::new();
    for i in 0..300 {
        more.push(post_event(&server, &format!("{{\"i\":{i}}}")).await);
    }
    for id in &more {
        wait_status(&server, id, "succeeded").await;
    }
    let len = redis_streams::xlen(&redis.url(), "late").await;
    assert!(len <= 105, "MAXLEN ~ 5 keeps the stream near 5 entries (not 301), XLEN {len}");
    server.shutdown().await;
}

// ---------------------------------------------------------------- MQTT

mod mqtt {
    use super::*;
    use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    use tokio::sync::mpsc;

    /// A QoS 1 subscriber to `filter` with a persistent session: the broker
    /// keeps its subscription and queues messages for it while it is away
    /// (across a graceful broker restart too). Subscribed before this returns.
    pub async fn subscribe(port: u16, filter: &str) -> (AsyncClient, mpsc::UnboundedReceiver<Publish>) {
        let mut options = MqttOptions::new(format!("reader-{}", fastrand::u32(..)), "127.0.0.1", port);
        options.set_clean_start(false).set_session_expiry_interval(Some(3600));
        let (client, mut eventloop) = AsyncClient::new(options, 16);
        client.subscribe(filter, QoS::AtLeastOnce).await.expect("queue SUBSCRIBE");
        let (tx, rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut subscribed = Some(subscribed_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subscribed.take().map(|s| s.send(()));
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send(p).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // The broker is down: poll again (rumqttc reconnects).
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(20), subscribed_rx).await.expect("SUBACK in time").expect("running");
        (client, rx)
    }

    pub async fn next(rx: &mut mpsc::UnboundedReceiver<Publish>) -> Publish {
        tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.expect("a message in time").expect("running")
    }
}

/// The message carries the exact body, the event's headers as MQTT 5 user
/// properties and the content type, on a topic rendered from the payload;
/// the job succeeds on the PUBACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_a_webhook_arrives_with_its_bytes_and_user_properties() {
    let Some(bin) = mosquitto("mqtt_a_webhook_arrives_with_its_bytes_and_user_properties") else { return };
    let broker = Mosquitto::start(&bin);
    let (_reader, mut rx) = mqtt::subscribe(broker.port, "hooks/#").await;
    let conn = format!("iot: {{ mqtt: {{ url: \"{}\", client_id: hookroute-test }} }}", broker.url());
    let (server, _dir) = start(&config(&conn, "to: iot, topic: \"hooks/github/{{ json.repo }}\", qos: 1", "")).await;

    let body = "{\"repo\":\"hookroute\",  \"n\": 1.50}";
    let id = post_event(&server, body).await;
    let m = mqtt::next(&mut rx).await;
    assert_eq!(&m.topic[..], b"hooks/github/hookroute");
    assert_eq!(&m.payload[..], body.as_bytes(), "the exact bytes received");
    let properties = m.properties.expect("MQTT 5 properties");
    let user: Vec<(&str, &str)> = properties.user_properties.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        user,
        [
            ("hookroute-event-id", id.as_str()),
            ("hookroute-route", "gh"),
            ("content-type", "application/json"),
            ("traceparent", TRACEPARENT)
        ]
    );
    assert_eq!(properties.content_type.as_deref(), Some("application/json"));
    let jobs = wait_status(&server, &id, "succeeded").await;
    assert_eq!(jobs[0]["destination"], "broker:iot");
    server.shutdown().await;
}

/// Mosquitto stopped: events are accepted and retried; restarted: every
/// one reaches the (persistent-session) subscriber, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_down_is_retried_and_every_accepted_event_arrives_after_a_restart() {
    let Some(bin) = mosquitto("mqtt_down_is_retried_and_every_accepted_event_arrives_after_a_restart") else { return };
    let mut broker = Mosquitto::start(&bin);
    let (_reader, mut rx) = mqtt::subscribe(broker.port, "down/#").await;
    let conn = format!("iot: {{ mqtt: {{ url: \"{}\" }} }}", broker.url());
    let (server, _dir) = start(&config(&conn, "to: iot, topic: \"down/{{ json.i }}\"", ", max_attempts: 100000")).await;
    let first = post_event(&server, "{\"i\":0}").await;
    wait_status(&server, &first, "succeeded").await;

    broker.stop();
    let mut ids = vec![first];
    for i in 1..=20 {
        ids.push(post_event(&server, &format!("{{\"i\":{i}}}")).await);
    }
    wait_retried(&server, &ids[1], "iot").await;

    broker.restart();
    for id in &ids {
        wait_status(&server, id, "succeeded").await;
    }
    let mut got = BTreeSet::new();
    while got.len() < ids.len() {
        let m = mqtt::next(&mut rx).await;
        let properties = m.properties.expect("properties");
        let id = properties.user_properties.iter().find(|(k, _)| k == "hookroute-event-id").map(|(_, v)| v.clone());
        got.insert(id.expect("an event id"));
    }
    assert_eq!(got, ids.iter().cloned().collect::<BTreeSet<_>>(), "every accepted event");
    server.shutdown().await;
}

/// Mosquitto down for good: dead letters after `max_attempts`; back: a
/// bulk replay delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_exhausted_jobs_are_dead_letters_and_a_replay_delivers_them() {
    let Some(bin) = mosquitto("mqtt_exhausted_jobs_are_dead_letters_and_a_replay_delivers_them") else { return };
    let mut broker = Mosquitto::start(&bin);
    let conn = format!("iot: {{ mqtt: {{ url: \"{}\" }} }}", broker.url());
    let (server, _dir) = start(&config(&conn, "to: iot, topic: \"late/{{ json.n }}\"", ", max_attempts: 2")).await;
    broker.kill();
    let ids = [post_event(&server, "{\"n\":1}").await, post_event(&server, "{\"n\":2}").await];
    for id in &ids {
        let jobs = wait_status(&server, id, "dead").await;
        assert!(jobs[0]["dead_reason"].as_str().unwrap_or("").contains("gave up after 2"), "{jobs:?}");
    }

    broker.restart();
    let (_reader, mut rx) = mqtt::subscribe(broker.port, "late/#").await;
    replay_dead(&server).await;
    for id in &ids {
        wait_status(&server, id, "succeeded").await;
    }
    let topics: BTreeSet<String> = [mqtt::next(&mut rx).await, mqtt::next(&mut rx).await]
        .iter()
        .map(|m| String::from_utf8_lossy(&m.topic).into_owned())
        .collect();
    assert_eq!(topics, ["late/1", "late/2"].map(String::from).into_iter().collect());
    server.shutdown().await;
}

// ---------------------------------------------------------------- RabbitMQ

mod amqp {
    use super::*;
    use lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

    pub async fn connect(url: &str) -> (Connection, Channel) {
        let properties = ConnectionProperties::default()
            .with_executor(tokio_executor_trait::Tokio::current())
            .with_reactor(tokio_reactor_trait::Tokio::current());
        let connection = Connection::connect(url, properties).await.expect("reader connects");
        let channel = connection.create_channel().await.expect("reader channel");
        let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        channel
            .exchange_declare("webhooks", ExchangeKind::Topic, durable, FieldTable::default())
            .await
            .expect("exchange");
        (connection, channel)
    }

    /// Declares the durable queue `queue` bound to `webhooks` for `pattern`.
    pub async fn bind(channel: &Channel, queue: &str, pattern: &str) {
        let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
        channel.queue_declare(queue, durable, FieldTable::default()).await.expect("queue");
        channel
            .queue_bind(queue, "webhooks", pattern, QueueBindOptions::default(), FieldTable::default())
            .await
            .expect("bind");
    }

    /// The next message of `queue` (waits for one).
    pub async fn get(channel: &Channel, queue: &str) -> lapin::message::Delivery {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(got) = channel.basic_get(queue, BasicGetOptions { no_ack: true }).await.expect("basic.get") {
                return got.delivery;
            }
            assert!(Instant::now() < deadline, "no message in queue `{queue}`");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn count(channel: &Channel, queue: &str) -> u32 {
        let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
        channel.queue_declare(queue, passive, FieldTable::default()).await.expect("queue").message_count()
    }
}

/// One node for: the message with its bytes and properties, routed by a
/// key rendered from the payload; then unroutable (no queue bound) is a
/// failure, retried until dead, never a success; with a queue bound, a
/// replay delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_delivered_with_properties_and_unroutable_is_dead_until_a_queue_is_bound() {
    let Some(bin) = rabbitmq_server("amqp_delivered_with_properties_and_unroutable_is_dead_until_a_queue_is_bound")
    else {
        return;
    };
    let rabbit = RabbitMq::start(&bin);
    let (_reader, channel) = amqp::connect(&rabbit.url()).await;
    amqp::bind(&channel, "opened", "github.opened").await;
    let conn = format!("rabbit: {{ amqp: {{ url: \"{}\" }} }}", rabbit.url());
    let (server, _dir) = start(&config(
        &conn,
        "to: rabbit, exchange: webhooks, routing_key: \"github.{{ json.action }}\"",
        ", max_attempts: 2",
    ))
    .await;

    let body = "{\"action\":\"opened\",  \"n\": 1.50}";
    let id = post_event(&server, body).await;
    let jobs = wait_status(&server, &id, "succeeded").await;
    assert_eq!(jobs[0]["destination"], "broker:rabbit");
    let m = amqp::get(&channel, "opened").await;
    assert_eq!(m.data, body.as_bytes(), "the exact bytes received");
    assert_eq!(m.routing_key.as_str(), "github.opened");
    assert_eq!(*m.properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(m.properties.content_type().as_ref().map(|c| c.as_str()), Some("application/json"));
    let headers = m.properties.headers().as_ref().expect("headers").inner();
    let text = |name: &str| match headers.get(name) {
        Some(lapin::types::AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("header {name}: {other:?}"),
    };
    assert_eq!(text("hookroute-event-id"), id);
    assert_eq!(text("hookroute-route"), "gh");
    assert_eq!(text("traceparent"), TRACEPARENT);

    // No queue for `github.closed`: returned by the broker, so a failure.
    let unroutable = post_event(&server, "{\"action\":\"closed\"}").await;
    let jobs = wait_status(&server, &unroutable, "dead").await;
    let reason = jobs[0]["dead_reason"].as_str().unwrap_or("");
    assert!(reason.contains("gave up after 2") && reason.contains("unroutable"), "{reason}");

    amqp::bind(&channel, "closed", "github.closed").await;
    replay_one(&server, &unroutable).await;
    wait_status(&server, &unroutable, "succeeded").await;
    assert_eq!(amqp::get(&channel, "closed").await.data, b"{\"action\":\"closed\"}");
    server.shutdown().await;
}

/// RabbitMQ killed: events are accepted and retried; restarted: every one
/// is in the durable queue, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_down_is_retried_and_every_accepted_event_arrives_after_a_restart() {
    let Some(bin) = rabbitmq_server("amqp_down_is_retried_and_every_accepted_event_arrives_after_a_restart") else {
        return;
    };
    let mut rabbit = RabbitMq::start(&bin);
    {
        let (_reader, channel) = amqp::connect(&rabbit.url()).await;
        amqp::bind(&channel, "all", "github.#").await;
    }
    let conn = format!("rabbit: {{ amqp: {{ url: \"{}\" }} }}", rabbit.url());
    let (server, _dir) =
        start(&config(&conn, "to: rabbit, exchange: webhooks, routing_key: github.push", ", max_attempts: 100000"))
            .await;
    let first = post_event(&server, "{\"i\":0}").await;
    wait_status(&server, &first, "succeeded").await;

    rabbit.kill();
    let mut ids = vec![first];
    for i in 1..=20 {
        ids.push(post_event(&server, &format!("{{\"i\":{i}}}")).await);
    }
    wait_retried(&server, &ids[1], "rabbit").await;

    rabbit.restart();
    for id in &ids {
        wait_status(&server, id, "succeeded").await;
    }
    let (_reader, channel) = amqp::connect(&rabbit.url()).await;
    assert_eq!(amqp::count(&channel, "all").await as usize, ids.len(), "none lost, none twice");
    let mut got = BTreeSet::new();
    for _ in 0..ids.len() {
        let m = amqp::get(&channel, "all").await;
        got.insert(m.properties.message_id().as_ref().map(|s| s.to_string()).unwrap_or_default());
    }
    assert_eq!(got, ids.iter().cloned().collect::<BTreeSet<_>>(), "every accepted event");
    server.shutdown().await;
}
