//! Trust at the door: what a request must pass before its body is parsed
//! or any action runs.
//!
//! The ingress calls these checks in order of cost, cheapest first, so
//! abusive traffic is turned away before it costs much (the steps, which
//! walk the router's candidates, are in [`crate::server::door`]; the checks
//! here know only bytes, headers and addresses):
//!
//! 1. [`admit`](crate::server::door::admit): the client address against each candidate route's
//!    `allow_ips` (403) — before the body is read;
//! 2. the body, read under the largest limit any candidate accepts, then
//!    [`fits_body`](crate::server::door::fits_body) drops candidates with a smaller `max_body_bytes`;
//! 3. [`verify`](crate::server::door::verify): each candidate's `verify:` scheme on the raw bytes (401)
//!    — before the body is decoded;
//! 4. [`rate`](crate::server::door::rate): the rate limits of the routes actually taken (429) — after
//!    conditions, so a flood of forged requests, which fail step 3, cannot
//!    spend a route's budget and lock out the real sender.
//!
//! When several routes share a path, each check removes only the routes
//! that fail it; the request is refused only when no candidate is left.
//! (A route that verifies GitHub signatures and a catch-all without
//! `verify:` on the same path: a forged request skips the first and lands
//! in the catch-all, exactly as if the first had a condition that failed.)
//!
//! Refusals say nothing about why beyond the status: a prober learns no
//! more than "no". The operator gets a warn log line with the route and the
//! client address (never the body or a secret), and a
//! [`crate::metrics::REJECTED`] count by reason.

pub mod ip;
pub(crate) mod rate;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::HeaderMap;
use ipnet::IpNet;

use crate::config::error::Location;
use crate::config::secret::Secret;
use crate::config::spec::{ConfigSpec, RouteSpec};
use crate::config::ConfigError;
use crate::verify::Verifier;
pub use ip::client_ip;
pub(crate) use ip::IpAllowlist;
pub(crate) use rate::RouteRateLimit;

/// The only thing a sender that failed verification is told.
pub(crate) const SIGNATURE_FAILED: &str = "signature verification failed";

/// Default time a client has to send the body once its head is in.
pub(crate) const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Smallest `max_header_bytes`: hyper cannot buffer less.
pub(crate) const MIN_HEADER_BYTES: usize = 8 * 1024;

/// A route's checks, compiled from its `verify`, `allow_ips`,
/// `max_body_bytes` and `rate_limit` keys.
#[derive(Debug, Default)]
pub struct RouteGuard {
    /// The route's `verify:` scheme, checked before the body is routed.
    pub verify: Option<Verifier>,
    /// The route's `allow_ips`, checked against the client address.
    pub allow_ips: Option<IpAllowlist>,
    /// Overrides the file's `max_body_bytes` for this route.
    pub max_body_bytes: Option<usize>,
    /// The route's `rate_limit`.
    pub rate_limit: Option<RouteRateLimit>,
}

impl RouteGuard {
    /// Compiles a route's guard keys, pushing errors with route-relative
    /// key paths. None when any of them is wrong.
    pub fn compile(spec: &RouteSpec, errors: &mut Vec<ConfigError>) -> Option<RouteGuard> {
        let before = errors.len();
        let verify = spec.verify.as_ref().and_then(|v| Verifier::compile(v, "verify", errors));
        let allow_ips = spec.allow_ips.as_ref().and_then(|list| {
            if list.is_empty() {
                errors.push(ConfigError::new(
                    "allow_ips",
                    "an empty list would refuse everyone; list addresses or leave `allow_ips` out",
                ));
                return None;
            }
            ip::parse_nets(list, "allow_ips", errors).map(IpAllowlist::new)
        });
        let max_body_bytes = spec.max_body_bytes.map(|b| usize::try_from(b.as_u64()).unwrap_or(usize::MAX));
        if max_body_bytes == Some(0) {
            errors.push(ConfigError::new("max_body_bytes", "must be greater than 0"));
        }
        let rate_limit = spec.rate_limit.as_ref().and_then(|r| RouteRateLimit::compile(r, "rate_limit", errors));
        (errors.len() == before).then_some(RouteGuard { verify, allow_ips, max_body_bytes, rate_limit })
    }
}

/// File-wide security settings: trusted proxies, the admin token and the
/// connection limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecuritySettings {
    /// Proxies whose `X-Forwarded-For` is believed (`trusted_proxies`);
    /// empty: the peer address is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Bearer token for the admin API; None leaves it open (loopback only).
    pub admin_token: Option<Secret>,
    /// Host names, lower case without a port, that the admin API answers
    /// to besides its own address and loopback names (`admin_allowed_hosts`).
    pub admin_allowed_hosts: Vec<String>,
    /// Requests served at once on the public listener; None: no cap.
    pub max_concurrent_requests: Option<usize>,
    /// Most header lines a request may carry; None: the server default.
    pub max_headers: Option<usize>,
    /// Most bytes of a request head; None: the server default.
    pub max_header_bytes: Option<usize>,
    /// Time a connection has to send its first request head.
    pub header_read_timeout: Option<Duration>,
    /// Time a request has to send its whole body.
    pub body_read_timeout: Duration,
}

impl SecuritySettings {
    /// Reads the top-level keys; `locate` gives a key's position in the file.
    pub fn compile(
        top: &ConfigSpec,
        errors: &mut Vec<ConfigError>,
        locate: &dyn Fn(&str) -> Option<Location>,
    ) -> SecuritySettings {
        let mut found = Vec::new();
        let trusted_proxies = ip::parse_nets(&top.trusted_proxies, "trusted_proxies", &mut found).unwrap_or_default();
        let admin_token = top.admin_token.clone();
        if admin_token.as_ref().is_some_and(Secret::is_empty) {
            found.push(ConfigError::new("admin_token", "is empty (is its variable set?)"));
        }
        let admin_allowed_hosts = allowed_hosts(&top.admin_allowed_hosts, &mut found);
        let admin_listen = top.admin_listen.as_deref().unwrap_or(crate::config::DEFAULT_ADMIN_LISTEN);
        if let Ok(addr) = admin_listen.parse::<SocketAddr>() {
            if let Some(message) = admin_exposure(addr, admin_token.as_ref()) {
                found.push(ConfigError::new("admin_listen", message));
            }
        }
        let positive = |key: &str, v: Option<usize>, found: &mut Vec<ConfigError>| {
            if v == Some(0) {
                found.push(ConfigError::new(key, "must be greater than 0"));
            }
            v
        };
        let max_concurrent_requests = positive("max_concurrent_requests", top.max_concurrent_requests, &mut found);
        let max_headers = positive("max_headers", top.max_headers, &mut found);
        let max_header_bytes = top.max_header_bytes.map(|b| usize::try_from(b.as_u64()).unwrap_or(usize::MAX));
        if max_header_bytes.is_some_and(|n| n < MIN_HEADER_BYTES) {
            found.push(ConfigError::new("max_header_bytes", "must be at least 8 KiB"));
        }
        let nonzero = |key: &str, d: Option<Duration>, found: &mut Vec<ConfigError>| {
            if d.is_some_and(|d| d.is_zero()) {
                found.push(ConfigError::new(key, "must be longer than 0s"));
            }
            d
        };
        let header_read_timeout = nonzero("header_read_timeout", top.header_read_timeout.map(|d| d.0), &mut found);
        let body_read_timeout = nonzero("body_read_timeout", top.body_read_timeout.map(|d| d.0), &mut found)
            .unwrap_or(DEFAULT_BODY_READ_TIMEOUT);
        for mut err in found {
            err.location = locate(&err.key_path);
            errors.push(err);
        }
        SecuritySettings {
            trusted_proxies,
            admin_token,
            admin_allowed_hosts,
            max_concurrent_requests,
            max_headers,
            max_header_bytes,
            header_read_timeout,
            body_read_timeout,
        }
    }
}

/// `admin_allowed_hosts`, normalized for comparison with a request's `Host`:
/// lower case, no trailing dot. An entry with a scheme, a path or a port is
/// an error: only the name is compared, so a port would suggest a check
/// that does not happen.
fn allowed_hosts(entries: &[String], found: &mut Vec<ConfigError>) -> Vec<String> {
    let mut hosts = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let name = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        let parsed = name.parse::<http::uri::Authority>();
        let problem = match &parsed {
            _ if name.is_empty() => Some("is empty".to_string()),
            Err(_) => Some(format!("{entry:?} is not a host name")),
            Ok(a) if a.port().is_some() => {
                Some(format!("{entry:?}: write the host name without a port (`{}`); ports are not compared", a.host()))
            }
            Ok(a) if a.as_str().contains('@') => Some(format!("{entry:?} is not a host name")),
            Ok(_) => None,
        };
        match problem {
            Some(message) => found.push(ConfigError::new(format!("admin_allowed_hosts[{i}]"), message)),
            None => hosts.push(name),
        }
    }
    hosts
}

/// Why an admin listener on `addr` would be unsafe without a token, if it
/// would: anyone who can reach it could reload the config or read it.
pub(crate) fn admin_exposure(addr: SocketAddr, token: Option<&Secret>) -> Option<String> {
    if addr.ip().to_canonical().is_loopback() || token.is_some() {
        return None;
    }
    Some(format!(
        "the admin listener {addr} is reachable from other machines and no admin_token is set; \
         set admin_token (e.g. admin_token: ${{HOOKROUTE_ADMIN_TOKEN}}) or listen on 127.0.0.1"
    ))
}

/// Request headers that carry a credential as is: for the `bearer`, `basic`
/// and `gitlab` schemes the header *is* the route's secret. Records of an
/// event (file lines, log lines) show them as `***`; forwards still pass
/// them on, so a downstream service can check them itself.
pub(crate) fn is_credential_header(name: &http::HeaderName) -> bool {
    matches!(name.as_str(), "authorization" | "proxy-authorization" | "x-gitlab-token" | "cookie")
}

/// Who sent a request, for the checks and the log lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    /// The connection's peer.
    pub peer: Option<SocketAddr>,
    /// The client as far as it can be trusted (see [`ip::client_ip`]).
    pub ip: Option<IpAddr>,
}

impl Client {
    /// The client of a request from `peer` with `headers`, believing
    /// forwarding headers only from `trusted_proxies`.
    pub(crate) fn resolve(trusted_proxies: &[IpNet], peer: Option<SocketAddr>, headers: &HeaderMap) -> Client {
        Client { peer, ip: client_ip(peer, headers, trusted_proxies) }
    }

    /// The client address for a log line.
    pub(crate) fn ip_text(&self) -> String {
        self.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
    }

    /// The connection's peer for a log line.
    pub(crate) fn peer_text(&self) -> String {
        self.peer.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into())
    }
}

/// Why the door refused a request; the server's answer for it is all the
/// sender learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 403: the client address is in no candidate's `allow_ips`.
    Forbidden,
    /// 401: every candidate has `verify:` and none passed.
    Unauthorized,
    /// 429: a route's rate limit is spent; retry after this many seconds.
    RateLimited { retry_after: u64 },
}

impl Refusal {
    /// The reason word of `hookroute_rejected_total` and the access log.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::Forbidden => "ip",
            Refusal::Unauthorized => "signature",
            Refusal::RateLimited { .. } => "rate",
        }
    }
}

/// Counts a refusal under `reason`.
pub(crate) fn reject(reason: &'static str) {
    metrics::counter!(crate::metrics::REJECTED, "reason" => reason).increment(1);
}
