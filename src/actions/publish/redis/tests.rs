//! The Redis connector against a real `redis-server`.

use std::time::Duration;

use ::redis::AsyncCommands;

use super::*;
use crate::actions::publish::test_support::brokers::redis::{redis_server, Redis};
use crate::actions::publish::test_support::{message, BODY};
use crate::config::secret::Secret;

const TIMEOUT: Duration = Duration::from_secs(10);

fn connector(url: &str) -> RedisConnector {
    RedisConnector::new("cache", &RedisBrokerSpec { url: Some(Secret::new(url)) }).expect("a valid spec")
}

fn to_stream(stream: &str, maxlen: Option<u64>) -> Message {
    message(Address::Redis { stream: stream.into(), maxlen })
}

/// Every entry of `stream`: id, then its fields in order as (name, bytes).
async fn entries(url: &str, stream: &str) -> Vec<(String, Vec<(String, Vec<u8>)>)> {
    let client = Client::open(url).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect to read back");
    let raw: Vec<(String, Vec<Vec<u8>>)> =
        ::redis::cmd("XRANGE").arg(stream).arg("-").arg("+").query_async(&mut conn).await.expect("XRANGE");
    raw.into_iter()
        .map(|(id, flat)| {
            let fields = flat
                .chunks(2)
                .map(|pair| (String::from_utf8_lossy(&pair[0]).into_owned(), pair.get(1).cloned().unwrap_or_default()))
                .collect();
            (id, fields)
        })
        .collect()
}

#[tokio::test]
async fn an_entry_carries_the_exact_body_and_the_event_fields() {
    let Some(bin) = redis_server("an_entry_carries_the_exact_body_and_the_event_fields") else { return };
    let redis = Redis::start(&bin);
    let connector = connector(&redis.url());
    connector.publish(&to_stream("github", None), TIMEOUT).await.expect("XADD acknowledged");

    let entries = entries(&redis.url(), "github").await;
    assert_eq!(entries.len(), 1);
    let fields = &entries[0].1;
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["body", "event_id", "route", "content_type", "traceparent"]);
    assert_eq!(fields[0].1, BODY, "the body bytes arrive unchanged");
    assert_eq!(fields[1].1, b"01JDX0000000000000000000EV");
    assert_eq!(fields[2].1, b"github");
    assert_eq!(fields[3].1, b"application/json");
    assert_eq!(fields[4].1, b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    connector.close().await;
}

#[tokio::test]
async fn maxlen_trims_the_stream() {
    let Some(bin) = redis_server("maxlen_trims_the_stream") else { return };
    let redis = Redis::start(&bin);
    let connector = connector(&redis.url());
    for _ in 0..1000 {
        connector.publish(&to_stream("bounded", Some(10)), TIMEOUT).await.expect("XADD acknowledged");
    }
    let client = Client::open(redis.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    let len: usize = conn.xlen("bounded").await.expect("XLEN");
    // `~` trims whole nodes (100 entries by default): bounded, not exact.
    assert!((10..=110).contains(&len), "XLEN {len} after 1000 adds with MAXLEN ~ 10");
}

#[tokio::test]
async fn an_error_reply_is_refused_and_the_connection_stays_usable() {
    let Some(bin) = redis_server("an_error_reply_is_refused_and_the_connection_stays_usable") else { return };
    let redis = Redis::start(&bin);
    let client = Client::open(redis.url()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    let () = conn.set("not-a-stream", "x").await.expect("SET");

    let connector = connector(&redis.url());
    let err = connector.publish(&to_stream("not-a-stream", None), TIMEOUT).await.expect_err("WRONGTYPE");
    assert!(matches!(&err, PublishError::Refused { detail, .. } if detail.contains("WRONGTYPE")), "{err:?}");
    connector.publish(&to_stream("fine", None), TIMEOUT).await.expect("the next publish works");
}

#[tokio::test]
async fn a_stopped_server_is_unavailable_and_a_restarted_one_is_reconnected() {
    let Some(bin) = redis_server("a_stopped_server_is_unavailable_and_a_restarted_one_is_reconnected") else { return };
    let mut redis = Redis::start(&bin);
    let connector = connector(&redis.url());
    connector.publish(&to_stream("s", None), TIMEOUT).await.expect("first publish");

    redis.kill();
    for _ in 0..2 {
        let err = connector.publish(&to_stream("s", None), Duration::from_secs(2)).await.expect_err("server is down");
        assert!(
            matches!(err, PublishError::Unavailable { .. } | PublishError::Timeout { .. }),
            "down is Unavailable or Timeout, got {err:?}"
        );
    }

    redis.restart();
    connector.publish(&to_stream("s", None), TIMEOUT).await.expect("publish after the restart");
    // The append-only file kept the first; none was written twice.
    assert_eq!(entries(&redis.url(), "s").await.len(), 2);
}

#[test]
fn a_bad_url_is_a_spec_problem_that_does_not_quote_the_password() {
    let missing = RedisConnector::new("cache", &RedisBrokerSpec { url: None }).expect_err("no url");
    assert_eq!(missing.field, "url");
    let spec = RedisBrokerSpec { url: Some(Secret::new("http://user:hunter2@127.0.0.1:6379/0")) };
    let bad = RedisConnector::new("cache", &spec).expect_err("not redis://");
    assert_eq!(bad.field, "url");
    assert!(!bad.to_string().contains("hunter2"), "{bad}");
    let tls = RedisBrokerSpec { url: Some(Secret::new("rediss://127.0.0.1:6380/0")) };
    assert!(RedisConnector::new("cache", &tls).expect_err("no TLS yet").message.contains("not supported"));
    let ok = connector("redis://user:hunter2@127.0.0.1:1/0");
    assert!(!format!("{ok:?}").contains("hunter2"));
}

#[test]
fn header_names_become_the_field_names_consumers_read() {
    assert_eq!(field_name("hookroute-event-id"), "event_id");
    assert_eq!(field_name("hookroute-route"), "route");
    assert_eq!(field_name("Content-Type"), "content_type");
    assert_eq!(field_name("traceparent"), "traceparent");
}
