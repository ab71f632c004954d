//! `hookroute explain`: what the router would do with one request, and why.
//!
//! Built from the real parts, never a second implementation: the compiled
//! [`Snapshot`], its `lookup` and `select`, each candidate's condition traced
//! by [`Condition::explain`](crate::matcher::Condition::explain) (the same
//! evaluator routing uses), and each action rendered by the action's own
//! `render`. Nothing is executed: no forward is sent, no file is written, no
//! line is logged. Door checks (signatures, `allow_ips`, size and rate
//! limits) are not applied; `explain` is about routing and actions.
//!
//! `hookroute test` ([`crate::routetest`]) asserts on the same
//! [`Explanation`], so a test passes exactly when `explain` shows the
//! expected outcome.

pub mod command;
mod text;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Serialize;

use crate::actions::{Action, Respond};
use crate::event::{Decode, Event, Reading};
use crate::matcher::explain::Trace;
use crate::matcher::EvalContext;
use crate::router::{Lookup, Snapshot};
use crate::template::Scope;

pub use text::render_text;

/// A request to explain.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    /// Without `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Everything `explain` found.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `routed`, `not_found`, `method_not_allowed` or `bad_body`.
    pub outcome: &'static str,
    /// Why the request did not reach the routes, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// How the body was read (`read_as`: `json`, `json_in_form`,
    /// `json_in_text`, `json_undeclared`, `form`, `empty`, `other`) and
    /// what was undone to read it; absent when it was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Reading>,
    /// The routes on this path and method, in file order.
    pub candidates: Vec<CandidateTrace>,
    /// The routes taken, in order.
    pub taken: Vec<String>,
    /// The status the sender would get; None when it is the forward's own
    /// answer (`respond: {from: forward}`).
    pub status: Option<u16>,
    /// The reply body, when hookroute itself writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_body: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateTrace {
    pub route: String,
    pub path: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path_params: Vec<(String, String)>,
    /// Each `when:` condition, in the order they are evaluated (cheap ones
    /// first); empty when the route has none.
    pub conditions: Vec<Trace>,
    /// Whether its conditions hold.
    pub holds: bool,
    pub taken: bool,
    /// `continue: true`: later routes are tried after this one is taken.
    pub continues: bool,
    /// Set when routing never got to this route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_tried: Option<String>,
    /// For a taken route: each action as it would execute.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionPreview>,
}

/// An action rendered for the event, not executed.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionPreview {
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
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// Explains `request` against `snapshot`.
pub fn explain(snapshot: &Snapshot, request: Request) -> Explanation {
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
    let event =
        match Event::projected(request.method, request.path, request.query, request.headers, request.body, None, how) {
            Ok(e) => e,
            Err(e) => {
                out.outcome = "bad_body";
                out.problem = Some(e.to_string());
                out.status = Some(e.status().as_u16());
                return out;
            }
        };
    out.body = Some(event.reading.clone());
    // The real selection decides what is taken; the traces say why.
    let matched = snapshot.select(candidates.clone(), &event);
    let mut stopped_by: Option<String> = None;
    for c in &candidates {
        let route = &snapshot.routes[c.route];
        let ctx = EvalContext { event: &event, params: &c.params };
        let conditions = match &route.condition {
            Some(crate::matcher::Condition::All(items)) => items.iter().map(|i| i.explain(&ctx)).collect(),
            Some(other) => vec![other.explain(&ctx)],
            None => Vec::new(),
        };
        let holds = conditions.iter().all(Trace::result);
        let taken = matched.iter().any(|m| m.route == c.route);
        let mut trace = CandidateTrace {
            route: route.name.to_string(),
            path: route.path.clone(),
            path_params: c.params.clone(),
            conditions,
            holds,
            taken,
            continues: route.continue_matching,
            not_tried: stopped_by.as_ref().map(|by| format!("{by} was taken and does not `continue`")),
            actions: Vec::new(),
        };
        if taken {
            let first = matched.first().is_some_and(|m| m.route == c.route);
            trace.actions = preview_actions(route, &event, &c.params, first);
            if !route.continue_matching {
                stopped_by = Some(route.name.to_string());
            }
        }
        out.candidates.push(trace);
    }
    out.taken = matched.iter().map(|m| snapshot.routes[m.route].name.to_string()).collect();
    match matched.first() {
        None => {
            out.status = Some(202);
            out.reply_body = Some(serde_json::json!({ "id": event.id, "routes": out.taken }).to_string());
        }
        Some(m) => match &snapshot.routes[m.route].respond {
            Respond::FromForward => out.status = None,
            Respond::Accepted => {
                out.status = Some(202);
                out.reply_body = Some(serde_json::json!({ "id": event.id, "routes": out.taken }).to_string());
            }
            Respond::Static(s) => {
                let route = &snapshot.routes[m.route];
                match s.render(&Scope::new(&event, &route.name, &m.params)) {
                    Ok((status, _, body)) => {
                        out.status = Some(status.as_u16());
                        out.reply_body = Some(String::from_utf8_lossy(&body).into_owned());
                    }
                    Err(e) => {
                        out.status = Some(500);
                        out.reply_body = Some(format!("route {}: the reply could not be rendered: {e}", route.name));
                    }
                }
            }
        },
    }
    out
}

fn preview_actions(
    route: &crate::router::Route,
    event: &Event,
    params: &[(String, String)],
    first: bool,
) -> Vec<ActionPreview> {
    let scope = Scope::new(event, &route.name, params);
    let relays = first && matches!(route.respond, Respond::FromForward);
    let mut relayed_done = false;
    let mut previews = Vec::new();
    for action in &route.actions {
        previews.push(match action {
            Action::Forward(f) => {
                let relayed = relays && !relayed_done;
                relayed_done = true;
                match f.render(&scope) {
                    Ok(o) => ActionPreview::Forward {
                        method: f.method.to_string(),
                        url: Some(o.url.to_string()),
                        headers: header_list(&o.headers),
                        original_body: o.body.is_none(),
                        // The request's body as read (decoded): the forward
                        // sends the received bytes, with their Content-Encoding.
                        body: Some(String::from_utf8_lossy(o.body.as_ref().unwrap_or(event.content())).into_owned()),
                        relayed,
                        error: None,
                    },
                    Err(e) => ActionPreview::Forward {
                        method: f.method.to_string(),
                        url: None,
                        headers: Vec::new(),
                        body: None,
                        original_body: false,
                        relayed,
                        error: Some(format!("{e} (the delivery would be dead-lettered with this message)")),
                    },
                }
            }
            Action::Log(l) => {
                let level = format!("{:?}", l.level).to_ascii_lowercase();
                match l.message.render(&scope) {
                    Ok(m) => ActionPreview::Log { level, message: Some(m.into_owned()), error: None },
                    Err(e) => ActionPreview::Log { level, message: None, error: Some(format!("message: {e}")) },
                }
            }
            Action::File(file) => {
                let line =
                    serde_json::to_string(&crate::actions::file::event_record(event, &route.name)).unwrap_or_default();
                match file.path_for(&scope) {
                    Ok(p) => ActionPreview::File { path: Some(p.display().to_string()), line, error: None },
                    Err(e) => ActionPreview::File { path: None, line, error: Some(format!("path: {e}")) },
                }
            }
        });
    }
    if let (true, Respond::Static(s)) = (first, &route.respond) {
        previews.push(match s.render(&scope) {
            Ok((status, headers, body)) => ActionPreview::Respond {
                status: status.as_u16(),
                headers: header_list(&headers),
                body: String::from_utf8_lossy(&body).into_owned(),
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

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}
