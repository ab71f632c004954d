//! `forward`: send the event to an internal HTTP service.
//!
//! The body goes out as the exact bytes received, so a downstream service
//! can verify the provider's signature itself. Headers pass through except
//! hop-by-hop ones, Host and Content-Length (the client sets its own), and
//! hookroute adds its own identification and the usual `X-Forwarded-*`
//! trio. Configured headers win over everything.
//!
//! Templates (see [`crate::template`]) may reshape the request: the URL's
//! path and query (never its scheme, host or port), header values, and a
//! `body:` that replaces the event's. A replaced body is sent with its own
//! content type, and without the provider's signature headers, which signed
//! a body that is no longer the one sent. Rendering happens once per event,
//! when the delivery job is built, so the queue holds the finished request.

pub(crate) mod job;
pub(crate) mod retry;

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;

use crate::config::spec::ForwardSpec;
use crate::config::ConfigError;
use crate::event::Event;
use crate::template::{self, Body, Headers, RenderError, Scope, Text, UrlTemplate};
use crate::upstream::{Answer, ReadBody, SendError, Upstream, UpstreamUrl};
pub(crate) use job::Target;
pub(crate) use retry::RetryOverrides;

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Forward {
    pub(crate) url: reqwest::Url,
    /// `url` parsed for the client, once; used when `url:` has no templates.
    pub(crate) upstream: UpstreamUrl,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) timeout: Duration,
    /// This forward's `retry:`; the rest comes from `defaults.retry`.
    pub(crate) retry: RetryOverrides,
    /// `ordering_key:` — deliveries with the same value go one at a time.
    pub(crate) ordering_key: Option<crate::matcher::JsonPathExpr>,
    /// Set when `url:` has templates; `url` is then its literal origin and
    /// path, where every rendered URL must stay.
    pub(crate) url_template: Option<UrlTemplate>,
    /// Configured headers whose values are templates (the plain ones are in
    /// `headers`).
    pub(crate) header_templates: Vec<(HeaderName, Text)>,
    /// `body:`, replacing the event's body.
    pub(crate) body: Option<Body>,
}

/// The request a forward sends for one event.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) url: reqwest::Url,
    pub(crate) headers: HeaderMap,
    /// None: the event's body, byte for byte.
    pub(crate) body: Option<bytes::Bytes>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    /// Sent, or tried to be, without an answer.
    #[error(transparent)]
    Send(#[from] SendError),
    /// A template could not be rendered for this event; nothing was sent.
    #[error("the request could not be built: {0}")]
    Render(String),
}

impl Forward {
    pub(crate) fn compile(spec: &ForwardSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<Forward> {
        let before = errors.len();
        let url_template = match template::is_template(&spec.url) {
            true => UrlTemplate::compile(&spec.url, &format!("{path}.url"), errors),
            false => None,
        };
        let url = match &url_template {
            Some(t) => Some(t.base().clone()),
            None if template::is_template(&spec.url) => None,
            None => match reqwest::Url::parse(&spec.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
                // `host:8000/x` parses as scheme `host`; what was meant is plain.
                Ok(_) if !spec.url.contains("://") => {
                    errors.push(ConfigError::new(
                        format!("{path}.url"),
                        format!("URL {:?} has no scheme (write http://{} or https://...)", spec.url, spec.url),
                    ));
                    None
                }
                Ok(u) => {
                    errors.push(ConfigError::new(
                        format!("{path}.url"),
                        format!(
                            "URL {:?} must be http:// or https:// with a host (scheme was {:?})",
                            spec.url,
                            u.scheme()
                        ),
                    ));
                    None
                }
                Err(e) => {
                    let hint = if !spec.url.contains("://") { " (add http:// or https://)" } else { "" };
                    errors.push(ConfigError::new(
                        format!("{path}.url"),
                        format!("invalid URL {:?}: {e}{hint}", spec.url),
                    ));
                    None
                }
            },
        };
        let method = match &spec.method {
            None => Method::POST,
            Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes()).unwrap_or_else(|_| {
                errors.push(ConfigError::new(format!("{path}.method"), format!("invalid HTTP method {m:?}")));
                Method::POST
            }),
        };
        let Headers { fixed: headers, templated: header_templates } =
            Headers::compile(&spec.headers, &format!("{path}.headers"), errors);
        let crate::actions::job::DeliveryKeys { timeout, retry, ordering_key } =
            crate::actions::job::DeliveryKeys::compile(
                spec.timeout.as_ref(),
                spec.retry.as_ref(),
                spec.ordering_key.as_ref(),
                DEFAULT_TIMEOUT,
                path,
                errors,
            );
        let declared = template::body::declared_content_type(&spec.headers);
        let body = spec.body.as_ref().and_then(|b| Body::compile(b, declared, &format!("{path}.body"), errors));
        let url = url?;
        let upstream = match UpstreamUrl::from_url(&url) {
            Ok(upstream) => upstream,
            Err(e) => {
                errors.push(ConfigError::new(format!("{path}.url"), e.to_string()));
                return None;
            }
        };
        if errors.len() > before {
            return None;
        }
        Some(Forward {
            url,
            upstream,
            method,
            headers,
            timeout,
            retry,
            ordering_key,
            url_template,
            header_templates,
            body,
        })
    }

    /// The request for one event: URL, headers and (when replaced) body,
    /// with every template rendered. An error fails this forward only.
    pub(crate) fn render(&self, scope: &Scope) -> Result<Outgoing, RenderError> {
        let url = match &self.url_template {
            Some(t) => t.render(scope).map_err(|e| RenderError(format!("url: {e}")))?,
            None => self.url.clone(),
        };
        let mut headers = self.outgoing_headers(scope.event, scope.route);
        let body = match &self.body {
            None => None,
            Some(body) => {
                // The request's, not the configured ones: a `Content-Type` in
                // `headers:` is the author's declaration for this body.
                for name in BODY_HEADERS {
                    if let Some(configured) = self.headers.get(*name) {
                        headers.insert(*name, configured.clone());
                    } else {
                        headers.remove(*name);
                    }
                }
                let signatures: Vec<HeaderName> =
                    headers.keys().filter(|n| is_signature(n) && !self.headers.contains_key(*n)).cloned().collect();
                for name in signatures {
                    headers.remove(name);
                }
                if !self.headers.contains_key(http::header::CONTENT_TYPE) {
                    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(body.content_type()));
                }
                Some(body.render(scope).map_err(|e| RenderError(format!("body: {e}")))?)
            }
        };
        Headers::render_into(&self.header_templates, scope, "headers", &mut headers)?;
        Ok(Outgoing { url, headers, body })
    }

    /// The headers sent downstream for `event`.
    pub(crate) fn outgoing_headers(&self, event: &Event, route: &str) -> HeaderMap {
        let incoming = &event.headers;
        let mut out = HeaderMap::with_capacity(incoming.len() + 6);
        // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
        let connection_listed: Vec<String> = incoming
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        for (name, value) in incoming {
            if is_hop_by_hop(name) || connection_listed.iter().any(|c| c == name.as_str()) {
                continue;
            }
            out.append(name.clone(), value.clone());
        }
        if let Ok(v) = HeaderValue::from_str(&event.id) {
            out.insert(crate::event::ID_HEADER_NAME.clone(), v);
        }
        if let Ok(v) = HeaderValue::from_str(route) {
            out.insert(ROUTE_HEADER.clone(), v);
        }
        if let Some(addr) = event.client_addr {
            let ip = crate::event::addr_text::AddrText::ip(addr.ip());
            let value = match incoming.get(&FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
                Some(prior) if !prior.trim().is_empty() => HeaderValue::from_str(&format!("{prior}, {ip}")),
                _ => HeaderValue::from_str(ip.as_str()),
            };
            if let Ok(v) = value {
                out.insert(FORWARDED_FOR.clone(), v);
            }
        }
        out.insert(FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
        if let Some(host) = incoming.get(http::header::HOST) {
            out.insert(FORWARDED_HOST.clone(), host.clone());
        }
        for (name, value) in &self.headers {
            out.insert(name.clone(), value.clone());
        }
        out
    }

    /// Sends the request rendered for `event` once (the forward a
    /// `respond: {from: forward}` route relays) and reads the whole answer:
    /// the upstream's, which the pipeline turns into the sender's.
    pub(crate) async fn relay(
        &self,
        client: &Upstream,
        event: &Event,
        rendered: Result<Outgoing, RenderError>,
    ) -> Result<Answer, ForwardError> {
        let outgoing = rendered.map_err(|e| ForwardError::Render(e.to_string()))?;
        let from_template;
        let upstream = match &self.url_template {
            None => &self.upstream,
            Some(_) => {
                from_template =
                    UpstreamUrl::from_url(&outgoing.url).map_err(|e| ForwardError::Render(e.to_string()))?;
                &from_template
            }
        };
        let body = outgoing.body.unwrap_or_else(|| event.body.clone());
        Ok(client
            .exchange(self.method.clone(), upstream, outgoing.headers, body, self.timeout, ReadBody::Whole)
            .await?)
    }
}

// The names every forward sets, parsed once. A `HeaderMap` filled or read
// by `&str` parses and checks the name on each call (`HdrName::from_static`):
// five names per forward cost ~2,800 instructions of an 80-byte forward's
// ~104,000 (bench/PROFILE.md, issue 18).
static ROUTE_HEADER: HeaderName = HeaderName::from_static("x-hookroute-route");
static FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that describe the received body, dropped when `body:` replaces it.
const BODY_HEADERS: &[&str] = &["content-type", "content-encoding", "content-md5", "digest", "content-digest"];

/// A provider's signature over the received body (`X-Hub-Signature-256`,
/// `Stripe-Signature`, `X-Shopify-Hmac-Sha256`, ...): wrong for a replaced
/// body, so not sent with it.
fn is_signature(name: &HeaderName) -> bool {
    let n = name.as_str();
    n.contains("signature") || n.ends_with("-hmac-sha256") || n == "x-slack-request-timestamp"
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
            | "expect"
    )
}
