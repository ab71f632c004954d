//! The pipeline: from a decoded event and the routes it matched to the reply.
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
use serde_json::json;

use crate::actions::file::FileError;
use crate::actions::{Action, Forward, ForwardError, ForwardResponse, Resources, Respond};
use crate::delivery::{intake, AcceptError, Delivery, DeliverySettings, StoreError};
use crate::event::Event;
use crate::observe::{self, ActionKind, ActionOutcome};
use crate::router::{Matched, Snapshot};
use crate::template::{RenderError, Scope};
use crate::upstream::SendError;

/// The HTTP answer type lives in the server; this re-export keeps the
/// name `pipeline::Reply` working for code not yet moved to
/// `crate::server::Reply` (temporary, to be removed once every user imports
/// it from the server).
pub use crate::server::Reply;

/// Runs the matched routes' actions for `event` and builds the reply.
/// `settings` are the delivery settings of the same config as `snapshot`.
pub async fn run(
    snapshot: &Snapshot,
    settings: &DeliverySettings,
    resources: &Resources,
    delivery: &Delivery,
    event: Arc<Event>,
    matched: &[Matched],
) -> Reply {
    let names: Vec<&str> = matched.iter().map(|m| &*snapshot.routes[m.route].name).collect();
    if matched.is_empty() {
        tracing::debug!(event_id = %event.id, path = %event.path, "no route's conditions hold; event ignored");
        return Reply::json(StatusCode::ACCEPTED, &json!({ "id": event.id, "routes": names }));
    }

    // A provider's redelivery of an accepted event is answered as the first
    // time, and not processed again.
    let screened = match intake::screen(delivery, snapshot, &event, matched).await {
        Ok(s) => s,
        Err(e) => return store_unavailable(&event, e),
    };
    if let Some(original) = &screened.duplicate_of {
        let first = &snapshot.routes[matched[0].route];
        return answer(&first.respond, &Scope::new(&event, &first.name, &matched[0].params), original, &names);
    }
    let matched: &[Matched] = &screened.fresh;

    // A templated reply is rendered before anything runs: if it cannot be
    // given, nothing has been done and the sender may send the event again.
    let scope = Scope::new(&event, &snapshot.routes[matched[0].route].name, &matched[0].params);
    let static_reply = match &snapshot.routes[matched[0].route].respond {
        Respond::Static(s) => match s.render(&scope) {
            Ok(parts) => Some(parts),
            Err(e) => return reply_not_rendered(&scope, e),
        },
        _ => None,
    };

    // Local actions first, in listing order; any failure fails the request
    // before anything is forwarded.
    for m in matched {
        let route = &snapshot.routes[m.route];
        let scope = Scope::new(&event, &route.name, &m.params);
        for action in &route.actions {
            match action {
                Action::Log(log) => {
                    let outcome = if log.run_in(&scope).is_ok() { ActionOutcome::Ok } else { ActionOutcome::Error };
                    observe::action(&resources.stats, &route.name, ActionKind::Log, outcome);
                }
                Action::File(file) => {
                    let result = file.run_in(&scope).await;
                    let outcome = if result.is_ok() { ActionOutcome::Ok } else { ActionOutcome::Error };
                    observe::action(&resources.stats, &route.name, ActionKind::File, outcome);
                    // A path this event cannot render (or that would leave
                    // its directory) fails this action only; retrying the
                    // same event would fail the same way.
                    if let Err(FileError::Render(e)) = &result {
                        tracing::error!(route = &*route.name, event_id = %event.id, "file action failed: path: {e}");
                        continue;
                    }
                    if let Err(e) = result {
                        tracing::error!(route = &*route.name, event_id = %event.id, "file action failed: {e}");
                        return Reply::error(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("route {}: could not record the event: {e}", route.name),
                        );
                    }
                }
                Action::Forward(_) => {}
            }
        }
    }

    let primary = &snapshot.routes[matched[0].route];
    let sync_forward = match primary.respond {
        Respond::FromForward => primary.actions.iter().find_map(|a| match a {
            Action::Forward(f) => Some(f.clone()),
            _ => None,
        }),
        _ => None,
    };
    // The 202 below promises delivery: durable jobs are on disk first.
    let plan = intake::plan(snapshot, settings, &event, matched, sync_forward.as_ref());
    let queued = plan.queued_routes();
    match delivery.accept(&event.id, &event.body, plan, settings).await {
        Ok(accepted) => {
            observe::forwards_queued(&resources.stats, &queued, &accepted.duplicates);
            if let Some((_, original)) = accepted.duplicates.iter().find(|(route, _)| **route == *primary.name) {
                return answer(&primary.respond, &scope, original, &names);
            }
        }
        Err(AcceptError::Store(e)) => return store_unavailable(&event, e),
        Err(e @ AcceptError::MemoryFull { .. }) => return retry_later(e.to_string()),
    }

    let mut reply = match (&primary.respond, sync_forward) {
        (Respond::FromForward, Some(forward)) => match relay(resources, &forward, &scope, &primary.name).await {
            Ok(resp) => {
                let mut headers = HeaderMap::new();
                if let Some(ct) = resp.content_type {
                    headers.insert(CONTENT_TYPE, ct);
                }
                Reply { status: resp.status, headers, body: resp.body }
            }
            Err(e) => {
                let url = crate::redact::display(forward.url.as_str());
                tracing::warn!(route = &*primary.name, event_id = %event.id, url = %url, "forward failed: {e}");
                let status = match e {
                    // The upstream's answer did not arrive whole in time; a
                    // cut body cannot be relayed as if it were the answer.
                    ForwardError::Send(SendError::Timeout(_) | SendError::BodyTimeout { .. }) => {
                        StatusCode::GATEWAY_TIMEOUT
                    }
                    ForwardError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::BAD_GATEWAY,
                };
                // The sender is outside: no credentials in what it reads.
                Reply::error(status, format!("upstream {url}: {e}"))
            }
        },
        (Respond::Static(_), _) => match static_reply {
            Some((status, headers, body)) => Reply { status, headers, body },
            None => Reply::json(StatusCode::ACCEPTED, &json!({ "id": event.id, "routes": names })),
        },
        _ => Reply::json(StatusCode::ACCEPTED, &json!({ "id": event.id, "routes": names })),
    };
    if let Ok(v) = HeaderValue::from_str(&event.id) {
        reply.headers.insert("x-hookroute-event-id", v);
    }
    reply
}

/// Sends the forward a `respond: {from: forward}` route relays, recorded
/// like the queue's attempts (see [`observe::sync_forward`]).
async fn relay(
    resources: &Resources,
    forward: &Forward,
    scope: &Scope<'_>,
    route: &Arc<str>,
) -> Result<ForwardResponse, ForwardError> {
    let started = std::time::Instant::now();
    let result = forward.send_in(&resources.http, scope).await;
    let ok = result.as_ref().is_ok_and(|r| r.status.is_success());
    observe::sync_forward(&resources.stats, route, &forward.url, started.elapsed(), ok);
    result
}

/// The answer for event `id` from a route that does not relay a forward:
/// its static reply, or 202 with the id (what a redelivery gets again).
fn answer(respond: &Respond, scope: &Scope, id: &str, names: &[&str]) -> Reply {
    let mut reply = match respond {
        Respond::Static(s) => match s.render(scope) {
            Ok((status, headers, body)) => Reply { status, headers, body },
            Err(e) => return reply_not_rendered(scope, e),
        },
        _ => Reply::json(StatusCode::ACCEPTED, &json!({ "id": id, "routes": names })),
    };
    if let Ok(v) = HeaderValue::from_str(id) {
        reply.headers.insert("x-hookroute-event-id", v);
    }
    reply
}

/// A templated reply that cannot be rendered for this event: 500 with the
/// reason, so the sender (and the operator) see it was not handled as
/// configured.
fn reply_not_rendered(scope: &Scope, e: RenderError) -> Reply {
    tracing::error!(route = scope.route, event_id = %scope.event.id, "reply not rendered: {e}");
    Reply::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("route {}: the reply could not be rendered: {e}", scope.route),
    )
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
