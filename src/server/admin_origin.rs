//! The admin API's defences against the browser: a page open on the
//! operator's machine can send requests to `127.0.0.1:9090` too.
//!
//! - **DNS rebinding.** A page at `evil.example` whose name is re-pointed to
//!   127.0.0.1 reads admin answers as if same-origin, but its requests still
//!   say `Host: evil.example`. So every admin request (probes included) must
//!   name the admin listener's address, a loopback name or IP, or an entry
//!   of `admin_allowed_hosts` (a proxy's name). IP literals are safe to
//!   accept for the listener's own address: a page cannot be served from
//!   them by anyone but the server itself.
//! - **Cross-site requests.** A form or `fetch(…, {mode: "no-cors"})` can
//!   POST without reading the answer — enough for a replay or a reload. So a
//!   state-changing request (anything but GET, HEAD, OPTIONS) with a foreign
//!   `Origin` is refused, and it must carry [`crate::ADMIN_REQUEST_HEADER`],
//!   which a browser sends cross-site only after a CORS preflight the admin
//!   API never grants.
//!
//! Refusals answer 403 with what to change; they are counted in
//! `hookroute_rejected_total` as `admin_host` and `admin_origin`.

use std::net::{IpAddr, SocketAddr};

use http::header::ORIGIN;
use http::{HeaderMap, Method, StatusCode};
use warp::host::Authority;

use crate::server::Reply;

/// Why a request is refused at the admin door, if it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The `Host` names neither this listener nor loopback nor an allowed host.
    Host(String),
    /// The `Host` header could not be read (or disagrees with the URI).
    MalformedHost,
    /// A state-changing request from another origin.
    Origin(String),
    /// A state-changing request without [`crate::ADMIN_REQUEST_HEADER`].
    MissingHeader,
}

impl Refusal {
    /// The 403 answer, written for the person running curl.
    pub(crate) fn reply(&self) -> Reply {
        let (reason, message) = match self {
            Refusal::Host(host) => (
                "admin_host",
                format!(
                    "the admin API does not answer to Host {host:?}: use the listener's address or a loopback name, \
                     or add the name to admin_allowed_hosts (for a proxy in front of the admin API)"
                ),
            ),
            Refusal::MalformedHost => ("admin_host", "the Host header is malformed".to_string()),
            Refusal::Origin(origin) => (
                "admin_origin",
                format!("the admin API refuses state-changing requests from another origin ({origin})"),
            ),
            Refusal::MissingHeader => (
                "admin_origin",
                format!(
                    "state-changing admin requests need the header `{}: 1` (it shows a web page did not send \
                     them), e.g. curl -X POST -H '{}: 1' …",
                    HEADER_DISPLAY, HEADER_DISPLAY
                ),
            ),
        };
        metrics::counter!(crate::metrics::REJECTED, "reason" => reason).increment(1);
        Reply::error(StatusCode::FORBIDDEN, message)
    }
}

/// [`crate::ADMIN_REQUEST_HEADER`] as people write it.
const HEADER_DISPLAY: &str = "X-Hookroute-Request";

/// Checks one admin request. `host` is warp's reading of `Host` (or the
/// HTTP/2 `:authority`): `Ok(None)` when the request has none, which no
/// browser sends, so it is let through; `Err(())` when it is unreadable.
pub(crate) fn check(
    method: &Method,
    host: Result<Option<&Authority>, ()>,
    headers: &HeaderMap,
    listener: SocketAddr,
    allowed: &[String],
) -> Result<(), Refusal> {
    check_site(method, host, headers, listener, allowed)?;
    if is_safe(method) {
        return Ok(());
    }
    match headers.get(crate::ADMIN_REQUEST_HEADER) {
        Some(value) if !value.is_empty() => Ok(()),
        _ => Err(Refusal::MissingHeader),
    }
}

/// The checks the console's pages share with the API: the `Host`, and no
/// foreign `Origin` on a state-changing request. The console's forms cannot
/// send [`crate::ADMIN_REQUEST_HEADER`]; they carry a CSRF token instead
/// (`console::session`). Returns the host, for the caller's own checks.
pub(crate) fn check_site<'a>(
    method: &Method,
    host: Result<Option<&'a Authority>, ()>,
    headers: &HeaderMap,
    listener: SocketAddr,
    allowed: &[String],
) -> Result<Option<&'a Authority>, Refusal> {
    let host = host.map_err(|()| Refusal::MalformedHost)?;
    if let Some(authority) = host {
        if !host_allowed(authority.host(), listener, allowed) {
            return Err(Refusal::Host(authority.as_str().to_string()));
        }
    }
    if is_safe(method) {
        return Ok(host);
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let text = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        let same = match (origin_authority(&text), host) {
            (Some(from), Some(to)) => from.eq_ignore_ascii_case(to.as_str()),
            _ => false,
        };
        if !same {
            return Err(Refusal::Origin(text));
        }
    }
    Ok(host)
}

/// Methods that change nothing, so a cross-site request of one is harmless.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The `host[:port]` of an `Origin` value (RFC 6454 §7: `scheme://host[:port]`
/// or `null`).
fn origin_authority(origin: &str) -> Option<&str> {
    let (_, authority) = origin.split_once("://")?;
    (!authority.is_empty() && !authority.contains('/')).then_some(authority)
}

/// True for a name the admin API answers to: `localhost` (and names under
/// it, RFC 6761 §6.3), a loopback IP, the listener's own IP (any IP when it
/// listens on all addresses), or an `admin_allowed_hosts` entry.
fn host_allowed(host: &str, listener: SocketAddr, allowed: &[String]) -> bool {
    let name = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        let ip = ip.to_canonical();
        let own = listener.ip().to_canonical();
        return ip.is_loopback() || ip == own || own.is_unspecified();
    }
    allowed.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(s: &str) -> Authority {
        s.parse().unwrap()
    }

    const LOOPBACK: &str = "127.0.0.1:9090";

    #[test]
    fn hosts_the_listener_answers_to() {
        let listener: SocketAddr = LOOPBACK.parse().unwrap();
        let allowed = vec!["admin.internal".to_string()];
        for ok in ["127.0.0.1:9090", "localhost:9090", "LOCALHOST", "[::1]:9090", "a.localhost", "admin.internal:443"] {
            assert!(host_allowed(auth(ok).host(), listener, &allowed), "{ok}");
        }
        for bad in ["evil.example:9090", "10.0.0.5:9090", "localhost.evil.example", "admin.internal.evil"] {
            assert!(!host_allowed(auth(bad).host(), listener, &allowed), "{bad}");
        }
        let everywhere: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        assert!(host_allowed("10.0.0.5", everywhere, &[]));
        assert!(!host_allowed("evil.example", everywhere, &[]));
    }

    #[test]
    fn state_changing_requests_need_the_header_and_no_foreign_origin() {
        let listener: SocketAddr = LOOPBACK.parse().unwrap();
        let host = auth(LOOPBACK);
        let mut headers = HeaderMap::new();
        let post = |h: &HeaderMap| check(&Method::POST, Ok(Some(&host)), h, listener, &[]);
        assert_eq!(post(&headers), Err(Refusal::MissingHeader));
        assert_eq!(check(&Method::GET, Ok(Some(&host)), &headers, listener, &[]), Ok(()));
        headers.insert(crate::ADMIN_REQUEST_HEADER, "1".parse().unwrap());
        assert_eq!(post(&headers), Ok(()));
        headers.insert(ORIGIN, "http://127.0.0.1:9090".parse().unwrap());
        assert_eq!(post(&headers), Ok(()));
        for foreign in ["https://evil.example", "null", "http://127.0.0.1:8000"] {
            headers.insert(ORIGIN, foreign.parse().unwrap());
            assert_eq!(post(&headers), Err(Refusal::Origin(foreign.into())));
        }
        assert_eq!(check(&Method::GET, Err(()), &headers, listener, &[]), Err(Refusal::MalformedHost));
    }
}
