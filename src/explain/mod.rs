//! `hookroute explain`: what the router would do with one request, and why.
//!
//! Built from the real parts, never a second implementation: the compiled
//! [`Snapshot`], its `lookup`, and the decision `serve` executes
//! ([`Snapshot::decide`], a [`crate::router::Dispatch`]) with each
//! candidate's conditions traced by the same evaluator routing uses. The
//! routes taken, the actions as planned and the reply are printed from that
//! decision; explain has no rules of its own. Nothing is executed: no forward is sent, no file is written, no
//! line is logged. Door checks (signatures, `allow_ips`, size and rate
//! limits) are not applied; `explain` is about routing and actions.
//!
//! `hookroute test` ([`crate::routetest`]) asserts on the same
//! [`Explanation`], so a test passes exactly when `explain` shows the
//! expected outcome.

pub mod command;
mod text;

use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};

use crate::actions::exec::Stdin;
use crate::actions::{ExecTarget, Planned, Work};
use crate::event::{Decode, Event, Reading};
use crate::matcher::explain::Trace;
use crate::router::dispatch::Considered;
use crate::router::dispatch::{accepted_body, not_rendered};
use crate::router::{Lookup, ReplyPlan, Snapshot, Taken};

pub use text::render_text;

/// A request to explain: the request as ingress receives it.
pub use crate::event::Request;

/// Everything `explain` found.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub(crate) method: String,
    pub(crate) path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) query: Option<String>,
    /// `routed`, `not_found`, `method_not_allowed` or `bad_body`.
    pub(crate) outcome: &'static str,
    /// Why the request did not reach the routes, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<String>,
    /// How the body was read (`read_as`: `json`, `json_in_form`,
    /// `json_in_text`, `json_undeclared`, `form`, `empty`, `other`) and
    /// what was undone to read it; absent when it was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<Reading>,
    /// The routes on this path and method, in file order.
    pub(crate) candidates: Vec<CandidateTrace>,
    /// The routes taken, in order.
    pub(crate) taken: Vec<String>,
    /// The status the sender would get; None when it is the forward's own
    /// answer (`respond: {from: forward}`).
    pub(crate) status: Option<u16>,
    /// The reply body, when hookroute itself writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reply_body: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CandidateTrace {
    pub(crate) route: String,
    pub(crate) path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) path_params: Vec<(String, String)>,
    /// Each `when:` condition, in the order they are evaluated (cheap ones
    /// first); empty when the route has none.
    pub(crate) conditions: Vec<Trace>,
    /// Whether its conditions hold.
    pub(crate) holds: bool,
    pub(crate) taken: bool,
    /// `continue: true`: later routes are tried after this one is taken.
    pub(crate) continues: bool,
    /// Set when routing never got to this route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) not_tried: Option<String>,
    /// For a taken route: each action as it would execute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) actions: Vec<ActionPreview>,
}

/// An action rendered for the event, not executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum ActionPreview {
    Forward {
        method: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        headers: Vec<(String, String)>,
        /// The body to send; None with `original_body` when it is the
        /// request's body unchanged.
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        original_body: bool,
        /// `respond: {from: forward}`: sent at once and its answer relayed.
        relayed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A message a `publish:` would queue for its broker connection.
    Publish {
        /// The connection's name in `brokers:`.
        broker: String,
        /// Where in the broker, in its words (`JetStream subject github.push`).
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        headers: Vec<(String, String)>,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        original_body: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Log {
        level: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    File {
        #[serde(skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// The JSON line that would be appended.
        line: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An `exec`: the command as it would run, nothing run.
    Exec {
        /// One entry per argument, exactly as the process would get them.
        #[serde(skip_serializing_if = "Option::is_none")]
        argv: Option<Vec<String>>,
        env: Vec<(String, String)>,
        /// `body` or `none`.
        stdin: String,
        /// `respond: {from: exec}`: run at once, its output is the reply.
        relayed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// Explains `request` against `snapshot`.
pub(crate) fn explain(snapshot: &Snapshot, request: Request) -> Explanation {
    explain_as(snapshot, request, None)
}

/// [`explain`], with the event given the id `id` (a recorded event's, so
/// that two configs' replies compare equal when only the fresh id would
/// differ).
pub(crate) fn explain_as(snapshot: &Snapshot, request: Request, id: Option<&str>) -> Explanation {
    let mut out = Explanation {
        method: request.method.to_string(),
        path: request.path.clone(),
        query: request.query.clone(),
        outcome: "routed",
        problem: None,
        body: None,
        candidates: Vec::new(),
        taken: Vec::new(),
        status: None,
        reply_body: None,
    };
    let candidates = match snapshot.lookup(&request.path, &request.method) {
        Lookup::NotFound => {
            out.outcome = "not_found";
            out.problem = Some(format!("no route has the path {}", request.path));
            out.status = Some(404);
            return out;
        }
        Lookup::MethodNotAllowed { allow } => {
            out.outcome = "method_not_allowed";
            let list = allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            out.problem = Some(format!("routes on {} take {list}, not {}", request.path, request.method));
            out.status = Some(405);
            return out;
        }
        Lookup::Candidates(c) => c,
    };
    // The body is decoded under the same limit as `serve` decodes it (the
    // largest of the candidates'), so a gzip bomb is a 413 here too.
    let how = Decode { projection: &crate::event::Projection::full(), max_bytes: snapshot.body_limit(&candidates) };
    let mut event = match Event::decode(request, None, how) {
        Ok(e) => e,
        Err(e) => {
            out.outcome = "bad_body";
            out.problem = Some(e.to_string());
            out.status = Some(e.status().as_u16());
            return out;
        }
    };
    if let Some(id) = id {
        event.id = id.to_string();
    }
    out.body = Some(event.reading.clone());
    // The decision serve would make, with every candidate's reasons.
    let dispatch = snapshot.decide(candidates, &event);
    out.taken = dispatch.route_names().into_iter().map(str::to_string).collect();
    for c in &dispatch.considered {
        let taken = dispatch.taken.iter().enumerate().find(|(_, t)| std::ptr::eq(t.route, c.route));
        let mut trace = candidate_trace(c);
        if let Some((i, t)) = taken {
            trace.actions = preview_actions(t, &event, (i == 0).then_some(&dispatch.reply));
        }
        out.candidates.push(trace);
    }
    let (status, reply_body) = match (&dispatch.reply, dispatch.taken.first()) {
        (ReplyPlan::Relayed, Some(_)) => (None, None),
        (ReplyPlan::Static(Ok((status, _, body))), Some(_)) => {
            (Some(status.as_u16()), Some(String::from_utf8_lossy(body).into_owned()))
        }
        (ReplyPlan::Static(Err(e)), Some(first)) => (Some(500), Some(not_rendered(&first.route.name, e))),
        _ => (Some(202), Some(accepted_body(&event.id, &dispatch.route_names()).to_string())),
    };
    out.status = status;
    out.reply_body = reply_body;
    out
}

/// Why one candidate was or was not taken, without its actions.
pub(crate) fn candidate_trace(c: &Considered) -> CandidateTrace {
    CandidateTrace {
        route: c.route.name.to_string(),
        path: c.route.path.clone(),
        path_params: c.params.clone(),
        conditions: c.conditions.clone(),
        holds: c.holds,
        taken: c.taken,
        continues: c.route.continue_matching,
        not_tried: c.not_tried_after.as_ref().map(|by| format!("{by} was taken and does not `continue`")),
        actions: Vec::new(),
    }
}

/// Each planned action of a taken route as it would execute; `reply` is
/// the reply plan when this route is the one answering.
fn preview_actions(taken: &Taken, event: &Event, reply: Option<&ReplyPlan>) -> Vec<ActionPreview> {
    let mut previews: Vec<ActionPreview> = taken.actions.iter().map(|a| preview(a, event)).collect();
    if let Some(ReplyPlan::Static(rendered)) = reply {
        previews.push(match rendered {
            Ok((status, headers, body)) => ActionPreview::Respond {
                status: status.as_u16(),
                headers: header_list(headers),
                body: String::from_utf8_lossy(body).into_owned(),
                error: None,
            },
            Err(e) => ActionPreview::Respond {
                status: 500,
                headers: Vec::new(),
                body: String::new(),
                error: Some(e.to_string()),
            },
        });
    }
    previews
}

pub(crate) fn preview(action: &Planned, event: &Event) -> ActionPreview {
    // The request's body as read (decoded): the forward sends the received
    // bytes, with their Content-Encoding.
    let content = || String::from_utf8_lossy(event.content()).into_owned();
    let not_sent = |e: &dyn std::fmt::Display| format!("{e} (the delivery would be dead-lettered with this message)");
    match action {
        Planned::Queued(job) => match (&job.work, &job.error) {
            (Work::Http(request), None) => ActionPreview::Forward {
                method: request.method.clone(),
                url: Some(request.url.clone()),
                headers: request.headers.clone(),
                original_body: request.body.is_none(),
                body: Some(request.body.clone().unwrap_or_else(content)),
                relayed: false,
                error: None,
            },
            (Work::Http(request), Some(e)) => ActionPreview::Forward {
                method: request.method.clone(),
                url: None,
                headers: Vec::new(),
                body: None,
                original_body: false,
                relayed: false,
                error: Some(not_sent(e)),
            },
            (Work::Publish(message), None) => ActionPreview::Publish {
                broker: message.broker.clone(),
                address: Some(crate::actions::publish::target::describe_address(&message.address)),
                headers: message.headers.clone(),
                original_body: message.body.is_none(),
                body: Some(message.body.clone().unwrap_or_else(content)),
                error: None,
            },
            (Work::Exec(target), error) => {
                exec_preview(error.as_ref().map_or(Ok(target), |e| Err(e.to_string())), false)
            }
            (Work::Publish(message), Some(e)) => ActionPreview::Publish {
                broker: message.broker.clone(),
                address: None,
                headers: Vec::new(),
                original_body: false,
                body: None,
                error: Some(not_sent(e)),
            },
        },
        Planned::Relayed { forward, request } => match request {
            Ok(o) => ActionPreview::Forward {
                method: forward.method.to_string(),
                url: Some(o.url.to_string()),
                headers: header_list(&o.headers),
                original_body: o.body.is_none(),
                body: Some(o.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_else(content)),
                relayed: true,
                error: None,
            },
            Err(e) => ActionPreview::Forward {
                method: forward.method.to_string(),
                url: None,
                headers: Vec::new(),
                body: None,
                original_body: false,
                relayed: true,
                error: Some(not_sent(e)),
            },
        },
        Planned::ExecNow { run, .. } => exec_preview(run.as_ref().map_err(|e| e.to_string()), true),
        Planned::Log { action, message } => {
            let level = format!("{:?}", action.level).to_ascii_lowercase();
            match message {
                Ok(m) => ActionPreview::Log { level, message: Some(m.to_string()), error: None },
                Err(e) => ActionPreview::Log { level, message: None, error: Some(format!("message: {e}")) },
            }
        }
        Planned::File { line: planned, .. } => {
            let line = planned.line.as_ref().map(|l| String::from_utf8_lossy(l).into_owned()).unwrap_or_default();
            match &planned.path {
                Ok(p) => ActionPreview::File { path: Some(p.display().to_string()), line, error: None },
                Err(e) => ActionPreview::File { path: None, line, error: Some(format!("path: {e}")) },
            }
        }
    }
}

/// An exec as it would run: its argv, env and stdin, or why it cannot be
/// built for this event.
fn exec_preview(run: Result<&ExecTarget, String>, relayed: bool) -> ActionPreview {
    match run {
        Ok(target) => ActionPreview::Exec {
            argv: Some(target.argv.clone()),
            env: target.env.clone(),
            stdin: match target.stdin {
                Stdin::Body => "body",
                Stdin::None => "none",
            }
            .to_string(),
            relayed,
            error: None,
        },
        Err(e) => ActionPreview::Exec {
            argv: None,
            env: Vec::new(),
            stdin: "none".to_string(),
            relayed,
            error: Some(format!("{e} (the run would be dead-lettered with this message)")),
        },
    }
}

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}
