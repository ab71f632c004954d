//! The door, step by step: the checks of [`crate::guard`] applied to the
//! candidate routes of one request, cheapest first (see the guard's module
//! doc for the order and why).
//!
//! They live with the server, not with the checks: they walk the router's
//! candidates and answer with the server's [`Reply`], while the checks
//! themselves (signatures, address lists, rate budgets) know only bytes,
//! headers and addresses, and so import neither the router nor the server.

use std::time::{Duration, SystemTime};

use http::header::{HeaderValue, RETRY_AFTER};
use http::{HeaderMap, StatusCode};

use super::Reply;
use crate::guard::{self, rate as rate_limit, Client, Refusal, SIGNATURE_FAILED};
use crate::matcher::path::Candidate;
use crate::router::{Matched, Snapshot};
use crate::verify::Verify;

/// What the sender is told for a refusal, and nothing more.
pub(crate) fn refusal_reply(refusal: Refusal) -> Reply {
    match refusal {
        Refusal::Forbidden => Reply::error(StatusCode::FORBIDDEN, "forbidden"),
        Refusal::Unauthorized => Reply::error(StatusCode::UNAUTHORIZED, SIGNATURE_FAILED),
        Refusal::RateLimited { retry_after } => {
            let mut reply = Reply::error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded; retry later");
            reply.headers.insert(RETRY_AFTER, HeaderValue::from(retry_after));
            reply
        }
    }
}

fn names(snapshot: &Snapshot, candidates: &[Candidate]) -> String {
    candidates.iter().map(|c| &*snapshot.routes[c.route].name).collect::<Vec<_>>().join(",")
}

/// Step 1: drops the candidates whose `allow_ips` excludes the client; 403
/// when none is left.
pub(crate) fn admit(
    snapshot: &Snapshot,
    candidates: Vec<Candidate>,
    client: &Client,
) -> Result<Vec<Candidate>, Refusal> {
    let allowed = |c: &Candidate| snapshot.routes[c.route].guard.allow_ips.as_ref().is_none_or(|l| l.allows(client.ip));
    if candidates.iter().all(allowed) {
        return Ok(candidates);
    }
    let all = names(snapshot, &candidates);
    let kept: Vec<Candidate> = candidates.into_iter().filter(allowed).collect();
    if kept.is_empty() {
        tracing::warn!(routes = %all, client = %client.ip_text(), peer = %client.peer_text(), "client address not allowed; request refused");
        guard::reject("ip");
        return Err(Refusal::Forbidden);
    }
    tracing::debug!(routes = %all, client = %client.ip_text(), "client address not allowed on some routes of this path");
    Ok(kept)
}

/// Step 2: drops the candidates whose own `max_body_bytes` the body exceeds
/// (it was read under the largest limit of any candidate).
pub(crate) fn fits_body(snapshot: &Snapshot, candidates: Vec<Candidate>, body_len: usize) -> Vec<Candidate> {
    candidates
        .into_iter()
        .filter(|c| body_len <= snapshot.routes[c.route].guard.max_body_bytes.unwrap_or(snapshot.max_body_bytes))
        .collect()
}

/// Step 3: checks each candidate's `verify:` on the raw body; drops those
/// that fail; 401 when none is left.
pub(crate) fn verify(
    snapshot: &Snapshot,
    candidates: Vec<Candidate>,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
    client: &Client,
) -> Result<Vec<Candidate>, Refusal> {
    if candidates.iter().all(|c| snapshot.routes[c.route].guard.verify.is_none()) {
        return Ok(candidates);
    }
    let mut kept = Vec::with_capacity(candidates.len());
    // One line per request, not per route: a path with three routes would
    // otherwise log every forged request three times.
    let mut failed = Vec::new();
    let mut failed_routes = Vec::new();
    for c in candidates {
        let route = &snapshot.routes[c.route];
        let Some(verifier) = &route.guard.verify else {
            kept.push(c);
            continue;
        };
        match verifier.verify(headers, body, now) {
            Ok(()) => kept.push(c),
            Err(e) => {
                failed.push(format!("{} ({}): {e}", route.name, verifier.scheme()));
                failed_routes.push(&*route.name);
            }
        }
    }
    let failed = failed.join("; ");
    if kept.is_empty() {
        tracing::warn!(
            routes = %failed_routes.join(","),
            client = %client.ip_text(),
            peer = %client.peer_text(),
            reason = %failed,
            "signature verification failed; request refused"
        );
        guard::reject("signature");
        return Err(Refusal::Unauthorized);
    }
    if !failed.is_empty() {
        // Another route of the path verified it: routes told apart by their
        // secrets, as expected.
        tracing::debug!(
            routes = %failed_routes.join(","),
            client = %client.ip_text(),
            reason = %failed,
            "signature not valid for some routes of this path"
        );
    }
    Ok(kept)
}

/// Step 4: takes one request from the budget of each route taken; 429 with
/// `Retry-After` when any is spent.
pub(crate) fn rate(snapshot: &Snapshot, matched: &[Matched], client: &Client) -> Result<(), Refusal> {
    let mut wait: Option<Duration> = None;
    let mut limited = Vec::new();
    for m in matched {
        let route = &snapshot.routes[m.route];
        if let Some(limit) = &route.guard.rate_limit {
            if let Err(w) = limit.check(client.ip) {
                wait = Some(wait.map_or(w, |x| x.max(w)));
                limited.push(&*route.name);
            }
        }
    }
    let Some(wait) = wait else { return Ok(()) };
    let secs = rate_limit::retry_after_secs(wait);
    tracing::warn!(routes = %limited.join(","), client = %client.ip_text(), retry_after = secs, "rate limit exceeded; request refused");
    guard::reject("rate");
    Err(Refusal::RateLimited { retry_after: secs })
}

/// The answer to a body that did not arrive within `body_read_timeout`.
pub(crate) fn body_timeout(limit: Duration, client: &Client) -> Reply {
    tracing::warn!(client = %client.ip_text(), peer = %client.peer_text(), "request body not received within {limit:?}; request refused");
    guard::reject("timeout");
    Reply::error(StatusCode::REQUEST_TIMEOUT, "request body not received in time")
}
