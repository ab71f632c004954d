//! Accepting connections and serving a warp filter on them.
//!
//! warp's own server hides the accept loop; owning it gives the client
//! address to the filters, limits on header size and read time (a slow
//! client cannot hold a connection open forever), and a graceful shutdown
//! that stops accepting, then lets requests in progress finish.
//!
//! The limits come through a [`watch`] channel, so a reload applies new ones
//! without a restart: the request cap at once, the header limits and the
//! first-request deadline to every connection accepted after the change
//! (hyper fixes them per connection; one already open keeps its own).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower_service::Service;
use warp::Filter;

/// The peer address of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub SocketAddr);

/// Limits applied to every connection of a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time allowed to send the request head.
    pub header_read_timeout: Duration,
    /// Most header fields in a request, over every protocol the listener
    /// speaks; more is answered 431.
    pub max_headers: usize,
    /// How long in-progress requests may take once shutdown starts.
    pub shutdown_grace: Duration,
    /// Largest request head in bytes; a larger one is answered 431.
    pub max_header_bytes: usize,
    /// Requests in progress at once; past it, 503 at once (see [`super::shed`]).
    /// None: no cap (the admin listener).
    pub max_concurrent_requests: Option<usize>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            shutdown_grace: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_concurrent_requests: Some(super::shed::DEFAULT_MAX_CONCURRENT_REQUESTS),
        }
    }
}

/// 431 for a request with more header fields than `max_headers`, as hyper
/// answers it over HTTP/1.1 (RFC 6585 §5).
fn header_fields_too_large() -> http::Response<bytes::Bytes> {
    let mut response = http::Response::new(bytes::Bytes::from_static(br#"{"error":"too many request headers"}"#));
    *response.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// A connection builder that applies `limits`.
fn builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        // hyper refuses less than 8 KiB; the config enforces it too.
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder.http2().max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Serves `filter` on `listener` until `shutdown` is cancelled, then waits
/// (up to the grace period) for open requests to finish. `limits` holds the
/// limits in force; the caller sends new ones on reload.
pub(crate) async fn serve<F>(
    listener: TcpListener,
    filter: F,
    mut limits: watch::Receiver<ConnectionLimits>,
    shutdown: CancellationToken,
) where
    F: Filter<Extract = (http::Response<bytes::Bytes>,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
{
    let mut current = limits.borrow_and_update().clone();
    let mut builder = builder(&current);
    // A listener without a cap (the admin one) never gets one: it must
    // answer health checks under a flood.
    let shedder = current.max_concurrent_requests.map(super::shed::Shedder::new);
    let graceful = GracefulShutdown::new();
    // False once the sender is gone (no more reloads): `changed` would then
    // answer at once, forever.
    let mut limits_open = true;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            // New limits from a reload, applied when they arrive rather than
            // at the next accept: the request cap holds from the next
            // request on every connection, long-lived keep-alive ones too;
            // the rest shape connections accepted from now on.
            changed = limits.changed(), if limits_open => {
                match changed {
                    Ok(()) => {
                        current = limits.borrow_and_update().clone();
                        builder = self::builder(&current);
                        if let (Some(shedder), Some(max)) = (&shedder, current.max_concurrent_requests) {
                            shedder.set_max(max);
                        }
                    }
                    Err(_) => limits_open = false,
                }
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead
                    // of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let svc = warp::service(filter.clone());
        let shedder = shedder.clone();
        let max_headers = current.max_headers;
        let first_request = Arc::new(AtomicBool::new(false));
        let seen = first_request.clone();
        let service = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            seen.store(true, Ordering::Relaxed);
            req.extensions_mut().insert(ClientAddr(peer));
            // hyper counts header lines only for HTTP/1 (where it answers 431
            // itself); a cleartext HTTP/2 client (h2c, prior knowledge) would
            // pass any number. Counting here holds every protocol to the same
            // limit.
            let too_many_headers = req.headers().len() > max_headers;
            let mut svc = svc.clone();
            // Taken before the request is handled and held until its answer
            // is ready, so the cap counts every body being read.
            let permit = shedder.as_ref().map(super::shed::Shedder::try_enter);
            async move {
                if too_many_headers {
                    let refused: warp::reply::Response = header_fields_too_large().map(Into::into);
                    return Ok::<_, Infallible>(refused);
                }
                if let Some(None) = permit {
                    let busy: warp::reply::Response = super::shed::overloaded().map(Into::into);
                    return Ok(busy);
                }
                let response = svc.call(req).await.unwrap_or_else(|never| match never {});
                drop(permit);
                Ok(response)
            }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        let head_deadline = current.header_read_timeout;
        tokio::spawn(async move {
            tokio::pin!(conn);
            // hyper times out a slow request head, but not a connection that
            // never shows which protocol it speaks (nothing sent, or only
            // "P"): one without a first request in time is dropped.
            let result = tokio::select! {
                r = &mut conn => r,
                _ = tokio::time::sleep(head_deadline) => {
                    if !first_request.load(Ordering::Relaxed) {
                        tracing::debug!(peer = %peer, "no request within {head_deadline:?} of connecting; closing");
                        return;
                    }
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(peer = %peer, "connection ended with error: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(current.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}
