//! Load shedding: a cap on requests in progress.
//!
//! Past the cap a request is answered `503` with `Retry-After` at once,
//! before its body is read, rather than queued: a queue grows without bound
//! under a flood, and every queued request holds a connection and, soon, a
//! body in memory. With the cap, memory for bodies is bounded by roughly
//! `max_concurrent_requests × max_body_bytes`, and webhook senders, which
//! all retry on 503, come back later. The admin listener is not capped, so
//! health checks still answer under a flood.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Seconds a shed sender is asked to wait.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Default cap on requests in progress.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;

/// Permits for requests in progress, shared by all connections of a listener.
#[derive(Debug, Clone)]
pub struct Shedder {
    permits: Arc<Semaphore>,
}

impl Shedder {
    pub fn new(max: usize) -> Self {
        Shedder { permits: Arc::new(Semaphore::new(max.max(1))) }
    }

    /// A permit for one request, or None when the cap is reached.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.permits.clone().try_acquire_owned().ok();
        if permit.is_none() {
            metrics::counter!(crate::metrics::REJECTED, "reason" => "overload").increment(1);
            // Answered here, before the ingress and its access wrapper
            // (crate::observe::access) see it: count it as they would.
            metrics::counter!(crate::metrics::REQUESTS, "route" => "none", "status" => "5xx").increment(1);
            metrics::counter!(crate::metrics::EVENTS, "outcome" => "rejected").increment(1);
            tracing::debug!("request cap reached; answering 503");
        }
        permit
    }
}

/// `503` with `Retry-After`, for a request over the cap.
pub fn overloaded() -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from_static(br#"{"error":"server busy; retry later"}"#));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}
