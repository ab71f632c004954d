//! The MQTT connector against a real Mosquitto broker, read back by a
//! subscriber built with the same crate.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::Publish;
use tokio::sync::mpsc;

use super::*;
use crate::actions::publish::test_support::brokers::mosquitto::{mosquitto, Mosquitto};
use crate::actions::publish::test_support::{headers, message, BODY};
use crate::config::secret::Secret;

const TIMEOUT: Duration = Duration::from_secs(10);

fn connector(url: &str) -> MqttConnector {
    let spec = MqttBrokerSpec { url: Some(url.to_string()), ..MqttBrokerSpec::default() };
    MqttConnector::new("iot", &spec).expect("a valid spec")
}

fn to_topic(topic: &str, qos: u8) -> Message {
    message(Address::Mqtt { topic: topic.into(), qos })
}

/// A subscriber to `filter` (QoS 1), subscribed before this returns; every
/// PUBLISH it receives comes out of the channel.
async fn subscribe(port: u16, filter: &str) -> (AsyncClient, mpsc::UnboundedReceiver<Publish>) {
    let options = MqttOptions::new(format!("reader-{}", fastrand::u32(..)), "127.0.0.1", port);
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    client.subscribe(filter, QoS::AtLeastOnce).await.expect("queue SUBSCRIBE");
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, subscribed_rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut subscribed = Some(subscribed_tx);
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::SubAck(_)) => {
                    subscribed.take().map(|s| s.send(()));
                }
                Event::Incoming(Packet::Publish(p)) => {
                    let _ = tx.send(p);
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(TIMEOUT, subscribed_rx).await.expect("SUBACK in time").expect("subscriber running");
    (client, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Publish>) -> Publish {
    tokio::time::timeout(TIMEOUT, rx.recv()).await.expect("a message in time").expect("subscriber running")
}

#[tokio::test]
async fn a_qos1_publish_is_acknowledged_and_arrives_with_body_and_properties() {
    let Some(bin) = mosquitto("a_qos1_publish_is_acknowledged_and_arrives_with_body_and_properties") else { return };
    let broker = Mosquitto::start(&bin);
    let (_reader, mut rx) = subscribe(broker.port, "hooks/#").await;
    let connector = connector(&broker.url());

    connector.publish(&to_topic("hooks/github/hookroute", 1), TIMEOUT).await.expect("PUBACK");
    let got = next(&mut rx).await;
    assert_eq!(&got.topic[..], b"hooks/github/hookroute");
    assert_eq!(&got.payload[..], BODY, "the body bytes arrive unchanged");
    let properties = got.properties.expect("MQTT 5 properties");
    assert_eq!(properties.user_properties, headers(), "every header, in order, as user properties");
    assert_eq!(properties.content_type.as_deref(), Some("application/json"));

    // QoS 0 arrives too (fire-and-forget: Ok says only that it was sent).
    connector.publish(&to_topic("hooks/qos0", 0), TIMEOUT).await.expect("sent");
    assert_eq!(&next(&mut rx).await.payload[..], BODY);
    connector.close().await;
}

#[tokio::test]
async fn many_concurrent_publishes_are_each_acknowledged() {
    let Some(bin) = mosquitto("many_concurrent_publishes_are_each_acknowledged") else { return };
    let broker = Mosquitto::start(&bin);
    let (_reader, mut rx) = subscribe(broker.port, "many/#").await;
    let connector = connector(&broker.url());
    let messages: Vec<Message> = (0..200).map(|i| to_topic(&format!("many/{i}"), 1)).collect();
    let results = futures_util::future::join_all(messages.iter().map(|m| connector.publish(m, TIMEOUT))).await;
    assert!(results.iter().all(Result::is_ok), "{:?}", results.iter().find(|r| r.is_err()));
    let mut topics = std::collections::BTreeSet::new();
    for _ in 0..200 {
        topics.insert(next(&mut rx).await.topic);
    }
    assert_eq!(topics.len(), 200);
}

#[tokio::test]
async fn a_stopped_broker_is_unavailable_and_a_restarted_one_is_reconnected() {
    let Some(bin) = mosquitto("a_stopped_broker_is_unavailable_and_a_restarted_one_is_reconnected") else { return };
    let mut broker = Mosquitto::start(&bin);
    let connector = connector(&broker.url());
    connector.publish(&to_topic("r/1", 1), TIMEOUT).await.expect("first publish");

    broker.kill();
    for _ in 0..2 {
        let err = connector.publish(&to_topic("r/2", 1), Duration::from_secs(2)).await.expect_err("broker is down");
        assert!(
            matches!(err, PublishError::Unavailable { .. } | PublishError::Timeout { .. }),
            "down is Unavailable or Timeout, got {err:?}"
        );
    }

    broker.restart();
    let (_reader, mut rx) = subscribe(broker.port, "r/#").await;
    connector.publish(&to_topic("r/3", 1), TIMEOUT).await.expect("publish after the restart");
    assert_eq!(&next(&mut rx).await.topic[..], b"r/3");
}

#[tokio::test]
async fn a_wildcard_topic_is_refused() {
    let Some(bin) = mosquitto("a_wildcard_topic_is_refused") else { return };
    let broker = Mosquitto::start(&bin);
    let connector = connector(&broker.url());
    let err = connector.publish(&to_topic("hooks/+/x", 1), TIMEOUT).await.expect_err("wildcard");
    assert!(matches!(err, PublishError::Refused { .. }), "{err:?}");
    connector.publish(&to_topic("hooks/ok", 1), TIMEOUT).await.expect("the connection is still fine");
}

#[test]
fn the_spec_is_checked_without_a_network() {
    let check = |url: &str| {
        MqttConnector::new("iot", &MqttBrokerSpec { url: Some(url.into()), ..MqttBrokerSpec::default() }).map(|_| ())
    };
    assert!(check("mqtt://127.0.0.1:1883").is_ok());
    assert!(check("mqtts://broker.example").is_ok());
    for bad in ["http://h:1883", "mqtt://", "mqtt://u:p@h:1883", "mqtt://h:1883/x", "nonsense"] {
        assert_eq!(check(bad).expect_err(bad).field, "url", "{bad}");
    }
    let lonely_password = MqttBrokerSpec {
        url: Some("mqtt://h".into()),
        password: Some(Secret::new("hunter2")),
        ..MqttBrokerSpec::default()
    };
    assert_eq!(MqttConnector::new("iot", &lonely_password).expect_err("no username").field, "password");
    let with_user = MqttBrokerSpec { username: Some("u".into()), ..lonely_password };
    let built = MqttConnector::new("iot", &with_user).expect("valid");
    assert!(!format!("{built:?}").contains("hunter2"));
    assert_eq!(parse_url("mqtt://h").expect("valid"), (false, "h".to_string(), 1883));
    assert_eq!(parse_url("mqtts://h").expect("valid"), (true, "h".to_string(), 8883));
}
