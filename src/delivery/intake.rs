//! From a matched event to delivery jobs: what the pipeline asks of delivery
//! before it answers the sender.
//!
//! [`screen`] drops routes whose dedup key was already accepted (before any
//! action runs). [`plan`] builds one job per forward, each carrying the
//! request it will send — outgoing headers are computed now, from the
//! snapshot the request was routed by, so a reload cannot change what an
//! accepted event becomes. Templates (URL, headers, body) are rendered here
//! too, so the durable job holds the finished request; a forward whose
//! templates fail for this event becomes a dead job carrying the message
//! (a `delivery: memory` one is logged), and the event's other work goes on.

use std::sync::Arc;
use std::time::SystemTime;

use super::job::{JobRecord, Status, Target, Timestamp};
use super::ordering;
use super::store::{DedupClaim, StoreError};
use super::Delivery;
use crate::actions::{Action, Forward};
use crate::event::{new_event_id, Event};
use crate::router::{Matched, Snapshot};
use crate::template::Scope;

/// The jobs and dedup claims of one event.
#[derive(Debug, Default)]
pub struct Plan {
    pub durable: Vec<JobRecord>,
    pub memory: Vec<JobRecord>,
    pub dedup: Vec<DedupClaim>,
}

/// What dedup screening left.
#[derive(Debug)]
pub struct Screened {
    /// The routes to run.
    pub fresh: Vec<Matched>,
    /// Set when the first route taken (the one that answers) is a
    /// redelivery: the id of the event that claimed its key. Nothing runs
    /// then; the sender gets the original answer.
    pub duplicate_of: Option<String>,
}

/// Drops the routes for which `event` is a redelivery.
pub async fn screen(
    delivery: &Delivery,
    snapshot: &Snapshot,
    event: &Event,
    matched: &[Matched],
) -> Result<Screened, StoreError> {
    let mut fresh = Vec::with_capacity(matched.len());
    for (i, m) in matched.iter().enumerate() {
        let route = &snapshot.routes[m.route];
        let key = route.dedup.as_ref().and_then(|d| d.key(event));
        if let Some(key) = key {
            if let Some(original) = delivery.claimed(&route.name, &key).await? {
                tracing::info!(
                    route = &*route.name,
                    event_id = %event.id,
                    original = %original,
                    key = %key,
                    "redelivery of an accepted event; not processed again"
                );
                if i == 0 {
                    return Ok(Screened { fresh: Vec::new(), duplicate_of: Some(original) });
                }
                continue;
            }
        }
        fresh.push(m.clone());
    }
    Ok(Screened { fresh, duplicate_of: None })
}

/// One job per forward of the matched routes, except `skip`: the forward of
/// the first route that a `respond: {from: forward}` route sends itself.
pub fn plan(snapshot: &Snapshot, event: &Event, matched: &[Matched], skip: Option<&Arc<Forward>>) -> Plan {
    let now = SystemTime::now();
    let mut plan = Plan::default();
    for (i, m) in matched.iter().enumerate() {
        let route = &snapshot.routes[m.route];
        if let Some(dedup) = &route.dedup {
            if let Some(key) = dedup.key(event) {
                plan.dedup.push(DedupClaim { route: route.name.to_string(), key, window: dedup.window });
            }
        }
        let memory = route.delivery == crate::actions::DeliveryMode::Memory;
        for action in &route.actions {
            let Action::Forward(forward) = action else { continue };
            if i == 0 && skip.is_some_and(|s| Arc::ptr_eq(s, forward)) {
                continue;
            }
            let job = new_job(snapshot, event, &route.name, &m.params, forward, memory, now);
            if let Some(reason) = &job.request.unsendable {
                tracing::error!(route = &*route.name, event_id = %event.id, "forward not sent: {reason}");
                metrics::counter!(crate::metrics::DEAD_LETTERS, "route" => route.name.to_string()).increment(1);
                if memory {
                    continue;
                }
            }
            if memory {
                plan.memory.push(job);
            } else {
                plan.durable.push(job);
            }
        }
    }
    plan
}

fn new_job(
    snapshot: &Snapshot,
    event: &Event,
    route: &str,
    params: &[(String, String)],
    forward: &Forward,
    memory: bool,
    now: SystemTime,
) -> JobRecord {
    let (url, headers, body, unsendable) = match forward.render(&Scope::new(event, route, params)) {
        Ok(out) => {
            let headers = out
                .headers
                .iter()
                .map(|(name, value)| {
                    (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                })
                .collect();
            let body = out.body.map(|b| String::from_utf8_lossy(&b).into_owned());
            (out.url.as_str().to_string(), headers, body, None)
        }
        Err(e) => (forward.url.as_str().to_string(), Vec::new(), None, Some(format!("template: {e}"))),
    };
    let ordering_key =
        forward.ordering_key.as_ref().and_then(|path| ordering::key_for(path, event.document(), route, &url));
    let now = Timestamp(now);
    let dead = unsendable.is_some();
    JobRecord {
        id: new_event_id(),
        event_id: event.id.clone(),
        route: route.to_string(),
        status: if dead { Status::Dead } else { Status::Pending },
        created_at: now,
        updated_at: now,
        next_attempt_at: if dead { None } else { Some(now) },
        destination: destination_of(&forward.url),
        request: Target {
            method: forward.method.as_str().to_string(),
            url,
            headers,
            timeout_ms: forward.timeout.as_millis() as u64,
            body,
            unsendable: unsendable.clone(),
        },
        retry: forward.retry.over(&snapshot.delivery.retry),
        ordering_key,
        round_started_at: now,
        round_first_attempt: 0,
        attempts: Vec::new(),
        dead_reason: unsendable,
        memory,
    }
}

/// True when some route of `snapshot` writes to the store: a durable
/// forward or a dedup claim.
pub fn needs_store(snapshot: &Snapshot) -> bool {
    snapshot.routes.iter().any(|route| {
        route.dedup.is_some()
            || (route.delivery == crate::actions::DeliveryMode::Durable
                && route.actions.iter().any(|a| matches!(a, Action::Forward(_))))
    })
}

/// `host:port` of a URL, the unit of per-destination limits.
pub fn destination_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}
