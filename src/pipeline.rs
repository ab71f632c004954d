//! The pipeline: executes the router's decision for an event (a
//! [`Dispatch`], built without side effects) and builds the reply. This is
//! the one place a decision has effects: dedup screening against the store,
//! the log and file actions, handing the jobs to delivery, relaying the
//! forward a route answers with.
//!
//! `log` and `file` actions run before the sender is answered, so a 2xx means
//! they happened; a file that cannot be written at its path fails the request
//! with 500, and the provider will retry. They run before the forwards are
//! queued (and before dedup keys are claimed), so that retry queues each
//! forward once: a failed write leaves nothing accepted behind to lose or to
//! duplicate. Forwards are handed to delivery, except the one a
//! `respond: {from: forward}` route waits for.

use std::sync::Arc;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use crate::actions::file::FileError;
use crate::actions::{Forward, ForwardError, Outgoing, Planned, QueuedJob, Work};
use crate::delivery::{intake, AcceptError, Delivery, DeliverySettings, StoreError};
use crate::event::Event;
use crate::eventlog::{ActionRecord, ActionResult, Draft};
use crate::observe::trace;
use crate::observe::{self, ActionKind, ActionOutcome};
use crate::router::dispatch::{accepted_body, not_rendered};
use crate::router::{Dispatch, Matched, ReplyPlan, Route, Snapshot, Taken};
use crate::template::RenderError;
use crate::upstream::destination_of;
use crate::upstream::SendError;

use crate::server::Reply;

mod exec_now;

/// What serving shares, created once per process and kept across reloads:
/// what the actions share, and the per-route counts the pipeline records
/// (actions do not record metrics; whoever runs them does).
#[derive(Debug)]
pub(crate) struct Resources {
    pub(crate) actions: crate::actions::Resources,
    /// Per-route match and action counts for `GET /-/routes`, kept by route
    /// name across reloads.
    pub(crate) stats: observe::RouteStats,
}

impl Resources {
    pub(crate) fn new() -> Result<Self, crate::upstream::SetupError> {
        Ok(Resources { actions: crate::actions::Resources::new()?, stats: Default::default() })
    }
}

/// A snapshot compiles with the actions' part (`&resources` where an
/// `&actions::Resources` is wanted), and `resources.http`/`.files` read
/// through.
impl std::ops::Deref for Resources {
    type Target = crate::actions::Resources;

    fn deref(&self) -> &Self::Target {
        &self.actions
    }
}

/// Decides what `event` becomes among the `matched` routes and does it.
/// `settings` are the delivery settings of the same config as `snapshot`.
pub(crate) async fn run(
    snapshot: &Snapshot,
    settings: &DeliverySettings,
    resources: &Resources,
    delivery: &Delivery,
    event: Arc<Event>,
    matched: &[Matched],
    trail: Option<&mut Draft>,
) -> Reply {
    let decide = trace::step("decide");
    let dispatch = snapshot.dispatch(&event, matched);
    drop(decide);
    let _actions = trace::step("actions");
    if let Some(draft) = trail {
        note_actions(draft, &event, &dispatch);
    }
    execute(settings, resources, delivery, &event, dispatch).await
}

/// Adds each planned action of `dispatch`, rendered, to the event log's
/// draft. Recorded as planned (`queued` for a forward handed to delivery,
/// `ok` for the rest): a request whose local action fails is answered 5xx
/// and recorded `failed` with the reason, and a queued forward's attempts
/// are its job's.
fn note_actions(draft: &mut Draft, event: &Event, dispatch: &Dispatch<'_>) {
    for taken in &dispatch.taken {
        for action in &taken.actions {
            let mut rendered = crate::explain::preview(action, event);
            if let crate::explain::ActionPreview::Forward { body, original_body, url, headers, .. } = &mut rendered {
                // The request's own body is in the record already.
                if *original_body {
                    *body = None;
                }
                // Whoever reads the log need not see what the forward
                // authenticates with.
                if let Some(u) = url {
                    *u = crate::redact::url(u);
                }
                for (name, value) in headers.iter_mut() {
                    if crate::eventlog::is_secret_header(name) {
                        *value = "***".to_string();
                    }
                }
            }
            let (result, error) = match action {
                Planned::Queued(job) => match &job.error {
                    None => (ActionResult::Queued, None),
                    Some(e) => (ActionResult::Failed, Some(e.to_string())),
                },
                _ => (ActionResult::Ok, None),
            };
            draft.actions.push(ActionRecord {
                route: taken.route.name.to_string(),
                rendered,
                result,
                job_id: None,
                error,
            });
        }
    }
}

/// Executes `dispatch` for `event` and builds the reply; `settings` are
/// the delivery settings of the config that decided it.
pub(crate) async fn execute(
    settings: &DeliverySettings,
    resources: &Resources,
    delivery: &Delivery,
    event: &Event,
    dispatch: Dispatch<'_>,
) -> Reply {
    let names = dispatch.route_names();
    let Dispatch { taken, reply: planned_reply, .. } = dispatch;
    let Some(primary) = taken.first().map(|t| t.route) else {
        tracing::debug!(event_id = %event.id, path = %event.path, "no route's conditions hold; event ignored");
        return Reply::json(StatusCode::ACCEPTED, &accepted_body(&event.id, &names));
    };

    // A provider's redelivery of an accepted event is answered as the first
    // time, and not processed again.
    let mut fresh: Vec<Taken> = Vec::with_capacity(taken.len());
    for (i, t) in taken.into_iter().enumerate() {
        if let Some(claim) = &t.dedup {
            match delivery.claimed(&t.route.name, &claim.key).await {
                Err(e) => return store_unavailable(event, e),
                Ok(None) => {}
                Ok(Some(original)) => {
                    tracing::info!(
                        route = &*t.route.name,
                        event_id = %event.id,
                        original = %original,
                        key = %claim.key,
                        "redelivery of an accepted event; not processed again"
                    );
                    if i == 0 {
                        return answer(&planned_reply, &primary.name, &event.id, &original, &names);
                    }
                    continue;
                }
            }
        }
        fresh.push(t);
    }

    // A templated reply is rendered before anything runs: if it cannot be
    // given, nothing has been done and the sender may send the event again.
    if let ReplyPlan::Static(Err(e)) = &planned_reply {
        return reply_not_rendered(&primary.name, &event.id, e);
    }

    // Local actions first, in listing order; any failure fails the request
    // before anything is forwarded.
    let mut jobs: Vec<QueuedJob> = Vec::new();
    let mut relayed: Option<(&Forward, Result<Outgoing, RenderError>)> = None;
    let mut run_now = None;
    let mut claims = Vec::new();
    for t in fresh {
        let route = &t.route.name;
        if let Some(claim) = t.dedup {
            claims.push((route, claim));
        }
        for action in t.actions {
            match action {
                Planned::Log { action, message } => {
                    let outcome = match action.write(event, route, &message) {
                        true => ActionOutcome::Ok,
                        false => ActionOutcome::Error,
                    };
                    t.route.metrics.action(&resources.stats, ActionKind::Log, outcome);
                }
                Planned::File { action, line } => {
                    let result = action.write(line).await;
                    let outcome = if result.is_ok() { ActionOutcome::Ok } else { ActionOutcome::Error };
                    t.route.metrics.action(&resources.stats, ActionKind::File, outcome);
                    // A path this event cannot render (or that would leave
                    // its directory) fails this action only; retrying the
                    // same event would fail the same way.
                    if let Err(FileError::Render(e)) = &result {
                        tracing::error!(route = &**route, event_id = %event.id, "file action failed: path: {e}");
                        continue;
                    }
                    if let Err(e) = result {
                        tracing::error!(route = &**route, event_id = %event.id, "file action failed: {e}");
                        return Reply::error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("route {route}: could not record the event: {e}"),
                        );
                    }
                }
                Planned::Queued(job) => jobs.push(job),
                Planned::Relayed { forward, request } => relayed = Some((forward, request)),
                Planned::ExecNow { exec, run } => run_now = Some((exec, run)),
            }
        }
    }

    // The 202 below promises delivery: durable jobs are on disk first.
    let mut plan = intake::Plan::default();
    let now = std::time::SystemTime::now();
    for (route, claim) in claims {
        plan.add_claim(route, claim.key, claim.window);
    }
    for job in jobs {
        plan.add_job(&event.id, job, &settings.retry, now);
    }
    // Each job's attempts join this request's trace, however late.
    if let Some(parent) = trace::request_traceparent() {
        for job in plan.durable.iter_mut().chain(plan.memory.iter_mut()) {
            job.trace = Some(parent.clone());
        }
    }
    let queued: Vec<(Arc<str>, ActionKind)> = plan
        .jobs()
        .map(|job| {
            let kind = match &job.request {
                Work::Http(_) => ActionKind::Forward,
                Work::Publish(_) => ActionKind::Publish,
                Work::Exec(_) => ActionKind::Exec,
            };
            (Arc::from(job.route.as_str()), kind)
        })
        .collect();
    match delivery.accept(&event.id, &event.body, plan, settings).await {
        Ok(accepted) => {
            observe::jobs_queued(&resources.stats, &queued, &accepted.duplicates);
            if let Some((_, original)) = accepted.duplicates.iter().find(|(route, _)| **route == *primary.name) {
                return answer(&planned_reply, &primary.name, &event.id, original, &names);
            }
        }
        Err(AcceptError::Store(e)) => return store_unavailable(event, e),
        Err(e @ AcceptError::MemoryFull { .. }) => return retry_later(e.to_string()),
    }

    let mut reply = match (planned_reply, relayed, run_now) {
        (ReplyPlan::Relayed, Some((forward, request)), _) => {
            match relay(resources, forward, event, request, primary).await {
                Ok(answer) => {
                    // The sender gets the upstream's status, body and
                    // content type; its other headers are the upstream's own.
                    let mut headers = HeaderMap::new();
                    if let Some(ct) = answer.headers.get(CONTENT_TYPE) {
                        headers.insert(CONTENT_TYPE, ct.clone());
                    }
                    Reply { status: answer.status, headers, body: answer.body }
                }
                Err(e) => relay_failed(forward, &primary.name, &event.id, e),
            }
        }
        (ReplyPlan::Relayed, None, Some((exec, run))) => exec_now::answer(resources, exec, run, event, primary).await,
        (ReplyPlan::Static(Ok((status, headers, body))), _, _) => Reply { status, headers, body },
        _ => Reply::json(StatusCode::ACCEPTED, &accepted_body(&event.id, &names)),
    };
    with_event_id(&mut reply, &event.id);
    reply
}

/// Sends the forward a `respond: {from: forward}` route relays, sent by
/// the pipeline itself rather than the queue: its latency and attempt are
/// recorded under the names the queue's attempts use
/// ([`observe::RouteMetrics::relayed`]); `ok` when the upstream answered
/// 2xx, as for a queued forward.
async fn relay(
    resources: &Resources,
    forward: &Forward,
    event: &Event,
    request: Result<Outgoing, RenderError>,
    route: &Route,
) -> Result<crate::upstream::Answer, ForwardError> {
    let started = std::time::Instant::now();
    let result = forward.relay(&resources.http, event, request).await;
    let ok = result.as_ref().is_ok_and(|r| r.status.is_success());
    route.metrics.relayed(&resources.stats, || destination_of(&forward.url), started.elapsed(), ok);
    result
}

/// The answer when the relayed forward got no usable answer.
fn relay_failed(forward: &Forward, route: &str, event_id: &str, e: ForwardError) -> Reply {
    let url = crate::redact::display(forward.url.as_str());
    tracing::warn!(route, event_id = %event_id, url = %url, "forward failed: {e}");
    let status = match e {
        // The upstream's answer did not arrive whole in time; a
        // cut body cannot be relayed as if it were the answer.
        ForwardError::Send(SendError::Timeout(_) | SendError::BodyTimeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
        ForwardError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    };
    // The sender is outside: no credentials in what it reads.
    Reply::error(status, format!("upstream {url}: {e}"))
}

/// The answer for event `id` from a route that does not relay a forward:
/// its static reply, or 202 with the id (what a redelivery gets again).
fn answer(planned: &ReplyPlan, route: &str, event_id: &str, id: &str, names: &[&str]) -> Reply {
    let mut reply = match planned {
        ReplyPlan::Static(Ok((status, headers, body))) => {
            Reply { status: *status, headers: headers.clone(), body: body.clone() }
        }
        ReplyPlan::Static(Err(e)) => return reply_not_rendered(route, event_id, e),
        _ => Reply::json(StatusCode::ACCEPTED, &accepted_body(id, names)),
    };
    with_event_id(&mut reply, id);
    reply
}

/// Names the event the sender's request became (for a redelivery, the
/// first delivery's): the `X-Hookroute-Event-Id` of every reply that
/// accepted it.
fn with_event_id(reply: &mut Reply, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        reply.headers.insert(crate::event::ID_HEADER_NAME.clone(), v);
    }
}

/// A templated reply that cannot be rendered for this event: 500 with the
/// reason, so the sender (and the operator) see it was not handled as
/// configured.
fn reply_not_rendered(route: &str, event_id: &str, e: &RenderError) -> Reply {
    tracing::error!(route, event_id = %event_id, "reply not rendered: {e}");
    Reply::error(StatusCode::INTERNAL_SERVER_ERROR, not_rendered(route, e))
}

/// The event could not be stored: never a 2xx for it. 503 with Retry-After
/// makes the provider send it again.
fn store_unavailable(event: &Event, e: StoreError) -> Reply {
    tracing::error!(event_id = %event.id, "cannot store the event for delivery; answering 503: {e}");
    retry_later(format!("the event could not be stored for delivery: {e}"))
}

/// An event not accepted for delivery, nothing of it queued: 503 with
/// Retry-After, so the provider sends it again. (Each refusal is in the
/// access log; delivery logs when refusing starts and stops.)
fn retry_later(reason: String) -> Reply {
    let mut reply = Reply::error(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}; retry later"));
    reply.headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    reply
}
