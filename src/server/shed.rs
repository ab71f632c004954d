//! Load shedding: a cap on requests in progress.
//!
//! Past the cap a request is answered `503` with `Retry-After` at once,
//! before its body is read, rather than queued: a queue grows without bound
//! under a flood, and every queued request holds a connection and, soon, a
//! body in memory. With the cap, memory for bodies is bounded by roughly
//! `max_concurrent_requests × max_body_bytes`, and webhook senders, which
//! all retry on 503, come back later. The admin listener is not capped, so
//! health checks still answer under a flood.
//!
//! The cap is a counter rather than a semaphore so that a reload can change
//! it in place: a lowered cap refuses new requests until enough of those in
//! progress have finished, and requests already admitted are never cut off.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;

/// Seconds a shed sender is asked to wait.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

/// Default cap on requests in progress.
pub(crate) const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 256;

/// The cap and the count of requests in progress, shared by all
/// connections of a listener.
#[derive(Debug, Clone)]
pub(crate) struct Shedder {
    state: Arc<Counts>,
}

#[derive(Debug)]
struct Counts {
    max: AtomicUsize,
    in_progress: AtomicUsize,
}

/// One admitted request; dropping it makes room for the next.
#[derive(Debug)]
pub(crate) struct Permit(Arc<Counts>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shedder {
    pub(crate) fn new(max: usize) -> Self {
        Shedder { state: Arc::new(Counts { max: AtomicUsize::new(max.max(1)), in_progress: AtomicUsize::new(0) }) }
    }

    /// Changes the cap (a reload); requests in progress keep their permits.
    pub(crate) fn set_max(&self, max: usize) {
        self.state.max.store(max.max(1), Ordering::Release);
    }

    /// A permit for one request, or None when the cap is reached.
    pub(crate) fn try_enter(&self) -> Option<Permit> {
        let max = self.state.max.load(Ordering::Acquire);
        let permit = self
            .state
            .in_progress
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Permit(self.state.clone()));
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
pub(crate) fn overloaded() -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from_static(br#"{"error":"server busy; retry later"}"#));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}
