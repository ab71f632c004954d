//! The access log, request ids and the per-request metrics, as one thin
//! wrapper around the ingress handler.
//!
//! [`Access::begin`] runs before the handler: it keeps the sender's
//! `X-Request-Id` (or makes one) and writes it into the request headers, so
//! the event carries it and every forward — relayed now or queued — sends
//! it on, with no code in the forwarders. The handler fills a [`Note`] as it
//! goes (client, event id, routes taken, why it refused); [`Access::finish`]
//! turns the note and the reply into one `hookroute::access` log line, the
//! request and event counters, and the `X-Request-Id` response header.
//! Logging and counting live here, not spread through the handler.
//!
//! Only the path is logged, never the query string (senders put tokens
//! there) nor any header. Requests the listener sheds with 503 under
//! overload never reach the handler: [`crate::server::shed`] counts them
//! the same way, but they are not logged, so a flood does not also flood
//! the log.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};

use super::handles::{self, RouteMetrics};
use super::route_stats::RouteStats;
use crate::event::addr_text::AddrText;
use crate::metrics as m;

/// The `tracing` target of access lines: filter them with
/// `--log-level info,hookroute::access=off`, or route them elsewhere.
pub(crate) const TARGET: &str = "hookroute::access";

pub(crate) static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id kept; a longer one is replaced.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 128;

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// At least one route took the event.
    Matched,
    /// The path is served, but no route's conditions held.
    Ignored,
    /// Refused, with the reason word also used by `hookroute_rejected_total`.
    Rejected(&'static str),
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::Ignored => "ignored",
            Outcome::Rejected(_) => "rejected",
        }
    }
}

/// What the handler learned about a request, for the access line.
#[derive(Debug, Default)]
pub(crate) struct Note {
    /// The client as far as it can be trusted (after `trusted_proxies`).
    pub client_ip: Option<IpAddr>,
    pub event_id: Option<String>,
    /// The routes taken, first one first.
    pub routes: Vec<Arc<str>>,
    /// The first route's metric handles: `hookroute_requests_total` counts
    /// the request under that route.
    first: Option<Arc<RouteMetrics>>,
    outcome: Option<Outcome>,
}

impl Note {
    /// The ingress refused the request itself (404, 405, 413, 400): counted
    /// here under `reason`.
    pub(crate) fn refuse(&mut self, reason: &'static str) {
        metrics::counter!(m::REJECTED, "reason" => reason).increment(1);
        self.outcome = Some(Outcome::Rejected(reason));
    }

    /// The door ([`crate::guard`]) refused it for `reason` (its word in
    /// `hookroute_rejected_total`); the door has counted it. A word rather
    /// than the door's type, so the log sits below what reports into it.
    pub(crate) fn refused_by_door(&mut self, reason: &'static str) {
        self.outcome = Some(Outcome::Rejected(reason));
    }

    /// The body did not arrive in time; the door has counted it.
    pub(crate) fn timed_out(&mut self) {
        self.outcome = Some(Outcome::Rejected("timeout"));
    }

    /// The event passed the door and goes to the pipeline with `routes`,
    /// each a name and its handles (none: ignored). Counts each route's
    /// match.
    pub(crate) fn routed<'a>(
        &mut self,
        stats: &RouteStats,
        routes: impl Iterator<Item = (&'a Arc<str>, &'a Arc<RouteMetrics>)>,
    ) {
        for (name, metrics) in routes {
            metrics.matched(stats);
            if self.first.is_none() {
                self.first = Some(metrics.clone());
            }
            self.routes.push(name.clone());
        }
        self.outcome = Some(if self.routes.is_empty() { Outcome::Ignored } else { Outcome::Matched });
    }
}

/// One request being served; see the module doc.
#[derive(Debug)]
pub(crate) struct Access {
    started: Instant,
    request_id: HeaderValue,
    method: Method,
    path: String,
    peer: Option<SocketAddr>,
}

impl Access {
    /// Starts timing and settles the request id: the sender's, when it is a
    /// sane token, else a new one — written into `headers` either way.
    pub(crate) fn begin(method: &Method, path: &str, peer: Option<SocketAddr>, headers: &mut HeaderMap) -> Access {
        let request_id = match headers.get(&REQUEST_ID) {
            Some(v) if is_sane_request_id(v) => v.clone(),
            _ => generate_request_id(),
        };
        headers.insert(REQUEST_ID.clone(), request_id.clone());
        Access { started: Instant::now(), request_id, method: method.clone(), path: path.to_string(), peer }
    }

    /// Counts and logs the request answered with `status` and a body of
    /// `bytes`, and adds `X-Request-Id` to the answer's `headers`. Takes
    /// the parts, not the server's answer type, so the log sits below the
    /// server that reports into it.
    pub(crate) fn finish(self, note: Note, status: StatusCode, headers: &mut HeaderMap, bytes: usize) {
        match &note.first {
            Some(route) => route.answered(status),
            None => handles::count_unrouted(status),
        }
        let outcome = note.outcome.unwrap_or(Outcome::Rejected("other"));
        handles::count_event(outcome);
        headers.insert(REQUEST_ID.clone(), self.request_id.clone());

        let latency_ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        // Addresses written without `fmt`'s integer formatting, the same
        // text (see `AddrText`); route names joined as they are written.
        let client = note.client_ip.or(self.peer.map(|p| p.ip())).map(AddrText::ip);
        let peer = self.peer.map(AddrText::socket);
        let routes = Joined(&note.routes);
        let reason = match outcome {
            Outcome::Rejected(reason) => Some(reason),
            _ => None,
        };
        tracing::info!(
            target: TARGET,
            request_id = self.request_id.to_str().unwrap_or_default(),
            event_id = note.event_id.as_deref(),
            client = client.map(tracing::field::display),
            peer = peer.map(tracing::field::display),
            method = %self.method,
            path = %self.path,
            routes = %routes,
            status = status.as_u16(),
            bytes,
            latency_ms,
            outcome = outcome.as_str(),
            reason,
            "{} {} {}",
            self.method,
            self.path,
            status.as_u16()
        );
    }
}

/// Names joined with `,` as they are written, without a joined copy.
struct Joined<'a>(&'a [Arc<str>]);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// `2xx`, `4xx`…: the status label, never the exact code.
pub(crate) fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Printable ASCII without spaces, at most [`MAX_REQUEST_ID_LEN`]: safe to
/// log, to echo back and to send on.
fn is_sane_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(|b| b.is_ascii_graphic())
}

fn generate_request_id() -> HeaderValue {
    // Written on the stack, then copied once into the value (not through a
    // `String` first). A ULID is always a valid header value; the fallback
    // is unreachable.
    let mut text = [0u8; ulid::ULID_LEN];
    HeaderValue::from_str(ulid::Ulid::new().array_to_str(&mut text)).unwrap_or(HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_sane_request_id_and_replaces_others() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("abc-123"));
        let access = Access::begin(&Method::POST, "/x", None, &mut headers);
        assert_eq!(access.request_id, "abc-123");

        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("has space"));
        let access = Access::begin(&Method::POST, "/x", None, &mut headers);
        assert_eq!(access.request_id.len(), 26);
        assert_eq!(headers["x-request-id"], access.request_id);

        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_str(&long).unwrap());
        assert_ne!(Access::begin(&Method::GET, "/", None, &mut headers).request_id, long.as_str());
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(StatusCode::ACCEPTED), "2xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::BAD_GATEWAY), "5xx");
    }
}
