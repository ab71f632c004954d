//! The AMQP connector against a real RabbitMQ node, read back with `lapin`.
//!
//! One node per test run costs seconds to start, so one test walks
//! through the cases in order: delivered with its properties, unroutable,
//! unknown exchange, broker down, broker back.

use std::time::Duration;

use lapin::options::{BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::ExchangeKind;

use super::*;
use crate::actions::publish::test_support::brokers::rabbitmq::{rabbitmq_server, RabbitMq};
use crate::actions::publish::test_support::{headers, message, BODY};
use crate::config::secret::Secret;

const TIMEOUT: Duration = Duration::from_secs(15);

fn connector(url: &str) -> AmqpConnector {
    AmqpConnector::new("rabbit", &AmqpBrokerSpec { url: Some(Secret::new(url)) }).expect("a valid spec")
}

fn to(exchange: &str, routing_key: &str) -> Message {
    message(Address::Amqp { exchange: exchange.into(), routing_key: routing_key.into() })
}

/// A reader's channel with the durable topic exchange `webhooks` and the
/// durable queue `github` bound to it for `github.#`.
async fn reader(url: &str) -> (Connection, Channel) {
    let connector = connector(url);
    let open = dial(connector.uri.clone()).await.expect("reader connects");
    let channel = open.connection.create_channel().await.expect("reader channel");
    let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel.exchange_declare("webhooks", ExchangeKind::Topic, durable, FieldTable::default()).await.expect("exchange");
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare("github", durable, FieldTable::default()).await.expect("queue");
    channel
        .queue_bind("github", "webhooks", "github.#", QueueBindOptions::default(), FieldTable::default())
        .await
        .expect("bind");
    let connection = Arc::try_unwrap(open.connection).unwrap_or_else(|_| panic!("one owner"));
    (connection, channel)
}

async fn get(channel: &Channel) -> lapin::message::BasicGetMessage {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let options = BasicGetOptions { no_ack: true };
        if let Some(got) = channel.basic_get("github", options).await.expect("basic.get") {
            return got;
        }
        assert!(Instant::now() < deadline, "no message in queue `github`");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn confirmed_unroutable_refused_and_reconnected_against_a_real_rabbitmq() {
    let Some(bin) = rabbitmq_server("confirmed_unroutable_refused_and_reconnected_against_a_real_rabbitmq") else {
        return;
    };
    let mut rabbit = RabbitMq::start(&bin);
    let (reader_connection, channel) = reader(&rabbit.url()).await;
    let connector = connector(&rabbit.url());

    // Confirmed, and in the queue with the exact body and every property.
    connector.publish(&to("webhooks", "github.opened"), TIMEOUT).await.expect("confirmed");
    let got = get(&channel).await;
    assert_eq!(got.delivery.data, BODY, "the body bytes arrive unchanged");
    assert_eq!(got.delivery.routing_key.as_str(), "github.opened");
    let properties = &got.delivery.properties;
    assert_eq!(*properties.delivery_mode(), Some(PERSISTENT));
    assert_eq!(properties.content_type().as_ref().map(ShortString::as_str), Some("application/json"));
    assert_eq!(properties.message_id().as_ref().map(ShortString::as_str), Some("01JDX0000000000000000000EV"));
    let table = properties.headers().as_ref().expect("a headers table");
    for (name, value) in headers() {
        assert_eq!(
            table.inner().get(name.as_str()),
            Some(&AMQPValue::LongString(LongString::from(value.as_str()))),
            "header {name}"
        );
    }

    // No queue bound for the key: returned, so refused, never Ok.
    let err = connector.publish(&to("webhooks", "nobody.listens"), TIMEOUT).await.expect_err("unroutable");
    assert!(matches!(&err, PublishError::Refused { detail, .. } if detail.contains("unroutable")), "{err:?}");

    // An exchange that does not exist: the broker closes the channel (404).
    let err = connector.publish(&to("no-such-exchange", "github.x"), TIMEOUT).await.expect_err("unknown exchange");
    assert!(matches!(err, PublishError::Refused { .. }), "{err:?}");
    connector.publish(&to("webhooks", "github.after-404"), TIMEOUT).await.expect("a fresh channel after the 404");
    assert_eq!(get(&channel).await.delivery.routing_key.as_str(), "github.after-404");
    drop(channel);
    drop(reader_connection);

    // The node stops: not acknowledged.
    rabbit.kill();
    for _ in 0..2 {
        let err = connector.publish(&to("webhooks", "github.down"), Duration::from_secs(3)).await.expect_err("down");
        assert!(
            matches!(err, PublishError::Unavailable { .. } | PublishError::Timeout { .. }),
            "down is Unavailable or Timeout, got {err:?}"
        );
    }

    // Back again: the connector reconnects and the message is routed.
    rabbit.restart();
    let (_reader_connection, channel) = reader(&rabbit.url()).await;
    connector.publish(&to("webhooks", "github.back"), TIMEOUT).await.expect("confirmed after the restart");
    // A message taken just before the kill may come back (the broker had
    // not yet written its removal): look past it.
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("github.back") {
        seen.push(get(&channel).await.delivery.routing_key.to_string());
        assert!(seen.len() <= 3, "unexpected messages after the restart: {seen:?}");
    }
    connector.close().await;
}

#[test]
fn the_url_is_checked_without_a_network_and_never_quoted() {
    let missing = AmqpConnector::new("rabbit", &AmqpBrokerSpec { url: None }).expect_err("no url");
    assert_eq!(missing.field, "url");
    let bad = AmqpConnector::new("rabbit", &AmqpBrokerSpec { url: Some(Secret::new("http://u:hunter2@h/%2f")) })
        .expect_err("not amqp");
    assert!(!bad.to_string().contains("hunter2"), "{bad}");
    let ok = connector("amqp://u:hunter2@127.0.0.1:5673/%2f");
    assert_eq!(ok.uri.authority.host, "127.0.0.1", "an IP address stays an IP address");
    assert_eq!(ok.uri.authority.port, 5673);
    assert!(!format!("{ok:?}").contains("hunter2"));
}
