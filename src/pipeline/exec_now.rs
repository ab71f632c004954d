//! The exec a `respond: {from: exec}` route runs at once, and the answer
//! the sender gets from it (as adnanh/webhook's
//! `include-command-output-in-response`): exit status 0 → 200 with the
//! command's standard output (at most [`OUTPUT_LIMIT`] bytes, marked
//! `X-Hookroute-Output-Truncated: true` when cut); another status or a
//! signal → 502, its timeout → 504, a command that cannot start → 502, one
//! that cannot be built for this event → 500, each with a JSON `error`.
//! Standard error is logged, never sent: it is for the operator.

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use crate::actions::exec::{run, Ended, Exec, ExecTarget, OUTPUT_LIMIT};
use crate::event::Event;
use crate::observe::{ActionKind, ActionOutcome};
use crate::router::Route;
use crate::server::Reply;
use crate::template::RenderError;

use super::Resources;

static TRUNCATED: HeaderName = HeaderName::from_static("x-hookroute-output-truncated");

/// Runs the planned exec (waiting for its `max_concurrent` turn) and
/// builds the sender's answer.
pub(super) async fn answer(
    resources: &Resources,
    exec: &Exec,
    planned: Result<ExecTarget, RenderError>,
    event: &Event,
    route: &Route,
) -> Reply {
    let name = &*route.name;
    let target = match planned {
        Ok(target) => target,
        Err(e) => {
            tracing::error!(route = name, event_id = %event.id, "exec not run: {e}");
            route.metrics.action(&resources.stats, ActionKind::Exec, ActionOutcome::Error);
            return Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("route {name}: the command could not be built: {e}"),
            );
        }
    };
    let result = run::run(&target, event.body.clone()).await;
    let ok = result.as_ref().is_ok_and(|out| out.succeeded());
    let outcome = if ok { ActionOutcome::Ok } else { ActionOutcome::Error };
    route.metrics.action(&resources.stats, ActionKind::Exec, outcome);
    let output = match result {
        Ok(output) => output,
        Err(e) => {
            tracing::warn!(route = name, event_id = %event.id, "exec failed: {e}");
            return Reply::error(StatusCode::BAD_GATEWAY, format!("route {name}: {e}"));
        }
    };
    let ended = output.describe(exec.timeout);
    if !ok {
        tracing::warn!(
            route = name,
            event_id = %event.id,
            program = %exec.program,
            stderr = %output.stderr.excerpt(),
            "exec failed: {ended}"
        );
        let status = match output.ended {
            Ended::TimedOut => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        return Reply::error(status, format!("route {name}: command {}: {ended}", exec.program));
    }
    tracing::debug!(route = name, event_id = %event.id, program = %exec.program, "exec ran: {ended}");
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    if output.stdout.truncated {
        headers.insert(TRUNCATED.clone(), HeaderValue::from_static("true"));
    }
    debug_assert!(output.stdout.bytes.len() <= OUTPUT_LIMIT);
    Reply { status: StatusCode::OK, headers, body: output.stdout.bytes.into() }
}
