//! The Redis Streams connector: each message is one stream entry, added
//! with `XADD stream [MAXLEN ~ N] * body <bytes> event_id … route …
//! content_type … [traceparent …]`.
//!
//! Acknowledged means the `XADD` reply (the new entry's id): Redis has the
//! entry in memory. Whether it survives a Redis restart depends on the
//! server's own AOF/RDB settings, which hookroute cannot see. `MAXLEN ~ N`
//! trims approximately (whole macro nodes), so a stream may briefly hold a
//! little more than N entries; that is the cheap form Redis recommends.
//!
//! One multiplexed connection per named broker is shared by every publish
//! (Redis pipelines the commands on it); a connection error drops it and
//! the next publish dials again, with the backoff of [`super::link`].

use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client, RedisError};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::time::Instant;

use super::connector::{Address, Connector, Message, PublishError, SpecProblem};
use super::link::{bounded, Handle, Link};
use crate::config::broker_spec::RedisBrokerSpec;

/// A named Redis connection (`brokers: NAME: redis:`).
pub(crate) struct RedisConnector {
    name: String,
    client: Client,
    link: Link<MultiplexedConnection>,
}

impl std::fmt::Debug for RedisConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, password included: never print it.
        f.debug_struct("RedisConnector").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Handle for MultiplexedConnection {}

impl RedisConnector {
    /// Checks the URL (no network). Errors: `url` missing or not a Redis URL.
    pub(crate) fn new(name: &str, spec: &RedisBrokerSpec) -> Result<RedisConnector, SpecProblem> {
        let url = spec.url.as_ref().filter(|u| !u.is_empty()).ok_or_else(|| SpecProblem {
            field: "url",
            message: "a Redis connection needs `url: redis://host:6379/0`".to_string(),
        })?;
        // redis-rs sets up TLS with rustls' process-wide default provider,
        // which panics in this build (two providers are compiled in): say
        // so at load rather than crash at the first publish.
        if url.expose().starts_with("rediss:") {
            return Err(SpecProblem {
                field: "url",
                message: "TLS to Redis (rediss://) is not supported yet: use redis:// on a trusted network \
                          or a TLS tunnel (stunnel, a service mesh)"
                    .to_string(),
            });
        }
        // The parser's own message may quote the URL, password and all: say
        // what is expected instead.
        let client = Client::open(url.expose()).map_err(|_| SpecProblem {
            field: "url",
            message: "not a Redis URL: expected redis://[user:password@]host[:port][/db] \
                      (redis+unix:///path for a socket)"
                .to_string(),
        })?;
        Ok(RedisConnector { name: name.to_string(), client, link: Link::new() })
    }

    async fn publish_now(&self, message: &Message, deadline: Instant) -> Result<(), PublishError> {
        let Address::Redis { stream, maxlen } = &message.address else {
            return Err(self.refused(format!("not a Redis address: {:?}", message.address)));
        };
        let client = &self.client;
        let (mut conn, generation) = self
            .link
            .get(&self.name, deadline, || async move {
                client
                    .get_multiplexed_async_connection_with_config(&AsyncConnectionConfig::new())
                    .await
                    .map_err(|e| describe(&e))
            })
            .await?;
        let command = xadd(stream, *maxlen, message);
        match command.query_async::<String>(&mut conn).await {
            Ok(_entry_id) => Ok(()),
            // An error reply (wrong key type, out of memory, no permission):
            // Redis is there and said no; the connection is fine.
            Err(e) if e.code().is_some() => Err(self.refused(describe(&e))),
            Err(e) => {
                self.link.broken(generation).await;
                Err(PublishError::Unavailable { broker: self.name.clone(), detail: describe(&e) })
            }
        }
    }

    fn refused(&self, detail: String) -> PublishError {
        PublishError::Refused { broker: self.name.clone(), detail }
    }
}

/// `XADD stream [MAXLEN ~ N] * body <bytes> <field> <value> …`, the
/// message's headers as fields named without the `hookroute-` prefix and
/// with `_` for `-` (`event_id`, `route`, `content_type`, `traceparent`).
fn xadd(stream: &str, maxlen: Option<u64>, message: &Message) -> ::redis::Cmd {
    let mut cmd = ::redis::cmd("XADD");
    cmd.arg(stream);
    if let Some(n) = maxlen {
        cmd.arg("MAXLEN").arg("~").arg(n);
    }
    cmd.arg("*").arg("body").arg(message.body.as_ref());
    for (name, value) in &message.headers {
        cmd.arg(field_name(name)).arg(value.as_str());
    }
    cmd
}

/// `hookroute-event-id` → `event_id`, `content-type` → `content_type`.
pub(crate) fn field_name(header: &str) -> String {
    let lower = header.to_ascii_lowercase();
    lower.strip_prefix("hookroute-").unwrap_or(&lower).replace('-', "_")
}

/// The error without anything the URL could have put in it: the category
/// and the server's or OS's own words.
fn describe(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        (None, Some(detail)) => format!("{}: {detail}", e.category()),
        (None, None) => e.to_string(),
    }
}

impl Connector for RedisConnector {
    fn publish<'a>(&'a self, message: &'a Message, timeout: Duration) -> BoxFuture<'a, Result<(), PublishError>> {
        let deadline = Instant::now() + timeout;
        bounded(&self.name, timeout, self.publish_now(message, deadline)).boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        // Dropping the last handle closes the socket; in-flight publishes
        // hold their own clones and finish first.
        async move {
            self.link.take().await;
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
