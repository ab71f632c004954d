//! The HTTP client that forwards and delivery attempts share: hyper-util's
//! pooled client over rustls, one per process, kept across reloads.
//!
//! Until the third performance round this was reqwest. For a forward that
//! already has its URL parsed and its headers built, reqwest re-parsed the
//! URL twice per request (`Url` → `Uri` and back, once for its redirect
//! layer and once for `Response::url`), cloned the request for a redirect
//! policy that was switched off, and boxed the body: about 30,000 of the
//! 46,000 instructions a synchronous forward spent in the client
//! (bench/PROFILE.md). hyper-util's client is the pool and connection code
//! underneath reqwest; using it directly keeps the pool and drops the rest.
//!
//! What reqwest did for us and this module now does:
//! - `user:password@` in a URL becomes `Authorization: Basic …` (unless
//!   the forward sets its own), and never appears in the request line;
//! - one timeout for the whole exchange, connecting through reading the
//!   answer;
//! - `User-Agent: hookroute/VERSION` and `Accept: */*` when the request
//!   has none;
//! - HTTPS with the platform's certificate verifier and HTTP/2 by ALPN.
//!
//! And what it deliberately does not: redirects are not followed (they were
//! switched off before), and `HTTP_PROXY`/`HTTPS_PROXY` are not read —
//! forwards go to internal services, straight to the address configured.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, USER_AGENT};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The shared client; cloning shares the pool.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    client: Client<Connector, Full<Bytes>>,
    user_agent: HeaderValue,
}

/// The client could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS for forwards: {0}")]
pub struct SetupError(String);

/// A forward's address, parsed once: the URI for the request line and the
/// credentials its `user:password@` part carried.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamUrl {
    uri: Uri,
    authorization: Option<HeaderValue>,
}

/// Why no answer came back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("timed out after {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
    /// The status line and headers arrived, the body did not finish in time
    /// (only when the whole body is asked for: it is relayed, and a cut one
    /// cannot be).
    #[error("answered {status} but its body did not arrive within {}", humantime::format_duration(*.timeout))]
    BodyTimeout { status: StatusCode, timeout: Duration },
}

/// An answer, with as much of its body as was asked for.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// With [`ReadBody::AtMost`]: the status arrived but the body did not
    /// finish within the timeout; `body` holds what did arrive.
    pub body_timed_out: bool,
}

/// How much of an answer's body to read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadBody {
    /// All of it: the body is relayed to the sender.
    Whole,
    /// Up to this many bytes; past it the connection is dropped, not reused.
    AtMost(usize),
}

impl UpstreamUrl {
    /// From a URL already checked to be http(s) with a host.
    pub(crate) fn from_url(url: &reqwest::Url) -> Result<UpstreamUrl, SendError> {
        let authorization = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => {
                let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
                let credentials = format!("{}:{}", decode(user), password.map(decode).unwrap_or_default());
                let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
                let mut value =
                    HeaderValue::from_str(&value).map_err(|_| SendError::Other("invalid credentials".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let uri = match authorization {
            None => url.as_str().parse::<Uri>(),
            Some(_) => {
                let mut bare = url.clone();
                // Cannot fail for an http(s) URL with a host.
                let _ = bare.set_username("");
                let _ = bare.set_password(None);
                bare.as_str().parse::<Uri>()
            }
        };
        let uri = uri.map_err(|e| SendError::Other(format!("invalid URL: {e}")))?;
        Ok(UpstreamUrl { uri, authorization })
    }

    /// From a stored URL (a queued job's).
    pub(crate) fn parse(url: &str) -> Result<UpstreamUrl, SendError> {
        let url = reqwest::Url::parse(url).map_err(|e| SendError::Other(format!("invalid URL: {e}")))?;
        UpstreamUrl::from_url(&url)
    }
}

/// A TLS client configuration that verifies servers against the
/// platform's roots, as browsers do: used by forwards and by the broker
/// connectors that speak TLS (`mqtts://`), so every outgoing TLS
/// connection trusts the same certificates.
pub(crate) fn platform_tls() -> Result<rustls::ClientConfig, SetupError> {
    // The crypto provider reqwest used, unless the process installed one.
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| SetupError(e.to_string()))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

impl Upstream {
    pub(crate) fn new() -> Result<Upstream, SetupError> {
        let tls = platform_tls()?;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        // The TLS layer above takes https:// URLs.
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        let user_agent = HeaderValue::from_static(concat!("hookroute/", env!("CARGO_PKG_VERSION")));
        Ok(Upstream { client, user_agent })
    }

    /// Sends one request and reads its answer, all within `timeout`.
    pub(crate) async fn exchange(
        &self,
        method: Method,
        url: &UpstreamUrl,
        mut headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
        read: ReadBody,
    ) -> Result<Answer, SendError> {
        if let Some(auth) = &url.authorization {
            headers.entry(AUTHORIZATION).or_insert_with(|| auth.clone());
        }
        headers.entry(USER_AGENT).or_insert_with(|| self.user_agent.clone());
        headers.entry(ACCEPT).or_insert_with(|| HeaderValue::from_static("*/*"));
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = url.uri.clone();
        *request.headers_mut() = headers;
        // One deadline for the whole exchange. Up to the status line a miss
        // is a timeout with no answer; after it, the status is known and is
        // what the caller gets told about (an upstream that answers 200 and
        // then stalls on the body still said 200).
        let deadline = tokio::time::Instant::now() + timeout;
        let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await {
            Err(_) => return Err(SendError::Timeout(timeout)),
            Ok(Err(e)) => {
                let text = crate::error_text::chain(&e);
                return Err(match e.is_connect() {
                    true => SendError::Connect(text),
                    false => SendError::Other(text),
                });
            }
            Ok(Ok(response)) => response,
        };
        let (parts, mut incoming) = response.into_parts();
        let (body, body_timed_out) = match read {
            ReadBody::Whole => match tokio::time::timeout_at(deadline, incoming.collect()).await {
                Ok(Ok(collected)) => (collected.to_bytes(), false),
                Ok(Err(e)) => {
                    return Err(SendError::Other(format!("reading the answer: {}", crate::error_text::chain(&e))))
                }
                Err(_) => return Err(SendError::BodyTimeout { status: parts.status, timeout }),
            },
            // The status already arrived; a broken or stalled body after it
            // does not change what the status says.
            ReadBody::AtMost(limit) => {
                let mut kept = bytes::BytesMut::new();
                let read = async {
                    while let Some(Ok(frame)) = incoming.frame().await {
                        if let Ok(data) = frame.into_data() {
                            let room = limit - kept.len();
                            kept.extend_from_slice(&data[..data.len().min(room)]);
                            if kept.len() >= limit {
                                break;
                            }
                        }
                    }
                };
                let timed_out = tokio::time::timeout_at(deadline, read).await.is_err();
                (kept.freeze(), timed_out)
            }
        };
        Ok(Answer { status: parts.status, headers: parts.headers, body, body_timed_out })
    }
}

/// `host:port` of a URL, the unit of per-destination limits.
// TODO(#16): `src/delivery/intake.rs` (decide's pass) re-exports this with `pub use`,
// which needs `pub`; make it `pub(crate)` once that re-export is gone.
#[allow(unreachable_pub)]
pub fn destination_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_move_from_the_url_to_a_basic_authorization_header() {
        let url = UpstreamUrl::parse("http://al%40ice:pa%3Ass@127.0.0.1:9/in?x=1").unwrap();
        assert_eq!(url.uri.to_string(), "http://127.0.0.1:9/in?x=1");
        let expected = base64::engine::general_purpose::STANDARD.encode("al@ice:pa:ss");
        assert_eq!(url.authorization.unwrap(), format!("Basic {expected}").as_str());

        let plain = UpstreamUrl::parse("https://example.com/x").unwrap();
        assert_eq!(plain.uri.to_string(), "https://example.com/x");
        assert!(plain.authorization.is_none());
    }
}
