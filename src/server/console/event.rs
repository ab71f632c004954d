//! `GET /events/{id}`: one recorded request and everything that followed —
//! the request line, headers and body (JSON indented, anything else as
//! text), the decision (every candidate route, each condition with the
//! values it saw, as `hookroute explain` prints), each action as rendered,
//! and the attempts of its deliveries. Its two buttons: replay the event
//! through the current config, and retry its dead deliveries.

use http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

use super::form::Fields;
use super::view::{self, Nav};
use crate::delivery::{Filter as JobFilter, ReplayOutcome, ReplaySelector, Status};
use crate::eventlog::{ActionRecord, BodyEncoding, EventRecord, ReplayError};
use crate::server::state::App;
use crate::server::Reply;

pub(super) async fn show(app: &App, nav: &Nav, id: &str, query: &Fields) -> Reply {
    let detail = match app.event(id).await {
        Ok(Some(detail)) => detail,
        Ok(None) => {
            return view::message(
                StatusCode::NOT_FOUND,
                nav,
                "No such event",
                &format!(
                    "The event log has no event {id} (it may have been pruned by event_log.max_events or max_age)."
                ),
            )
        }
        Err(e) => return view::message(StatusCode::SERVICE_UNAVAILABLE, nav, "Event log unavailable", &e.to_string()),
    };
    let record = &detail.event;
    let dead = detail.jobs.iter().filter(|j| j["status"] == "dead").count();
    let notice = query.get("retried").and_then(|n| n.parse::<usize>().ok()).map(|n| {
        format!("{n} dead deliver{} given a new round of attempts.", if n == 1 { "y was" } else { "ies were" })
    });
    view::page(
        StatusCode::OK,
        "event.html",
        json!({
            "nav": nav,
            "title": format!("Event {}", record.id),
            "notice": notice,
            "event": {
                "id": record.id,
                "time": record.time,
                "method": record.method,
                "path": record.path,
                "query": record.query,
                "client": record.client,
                "request_id": record.request_id,
                "status": record.status,
                "outcome": record.outcome.kind().as_str(),
                "reason": super::events::reason(&record.outcome),
                "routes": record.routes,
                "replay_of": record.replay_of,
            },
            "headers": record.headers,
            "body": body(record),
            "candidates": record.decision.iter().map(|c| candidate(&json!(c))).collect::<Vec<_>>(),
            "actions": record.actions.iter().map(action).collect::<Vec<_>>(),
            "jobs": detail.jobs.iter().map(job).collect::<Vec<_>>(),
            "dead": dead,
        }),
    )
}

/// The body as it is shown: indented when it is JSON, base64 when it was
/// not UTF-8, always as text.
fn body(record: &EventRecord) -> Option<Value> {
    let b = record.body.as_ref()?;
    let base64 = b.encoding == BodyEncoding::Base64;
    let pretty = (!base64 && !b.truncated)
        .then(|| serde_json::from_str::<Value>(&b.data).ok())
        .flatten()
        .filter(|v| v.is_object() || v.is_array())
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    Some(json!({
        "text": pretty.clone().unwrap_or_else(|| b.data.clone()),
        "pretty": pretty.is_some(),
        "base64": base64,
        "size": b.size,
        "truncated": b.truncated,
        "content_type": record.content_type,
    }))
}

/// One row of a candidate's condition table.
#[derive(Debug, Serialize)]
struct ConditionRow {
    depth: usize,
    label: String,
    result: bool,
    seen: String,
}

/// A candidate route as the page shows it, its condition tree flattened
/// into indented rows.
fn candidate(c: &Value) -> Value {
    let mut rows = Vec::new();
    for condition in c["conditions"].as_array().into_iter().flatten() {
        flatten(condition, 0, &mut rows);
    }
    json!({
        "route": c["route"],
        "path": c["path"],
        "taken": c["taken"],
        "not_tried": c["not_tried"],
        "conditions": rows,
    })
}

/// A condition trace (`{"kind": "all"|"any"|"not"|"leaf", …}`) as rows,
/// depth first.
fn flatten(trace: &Value, depth: usize, rows: &mut Vec<ConditionRow>) {
    let result = trace["result"].as_bool().unwrap_or(false);
    let kind = trace["kind"].as_str().unwrap_or("leaf");
    match kind {
        "all" | "any" => {
            rows.push(ConditionRow { depth, label: format!("{kind} of"), result, seen: String::new() });
            for child in trace["conditions"].as_array().into_iter().flatten() {
                flatten(child, depth + 1, rows);
            }
        }
        "not" => {
            rows.push(ConditionRow { depth, label: "not".into(), result, seen: String::new() });
            flatten(&trace["condition"], depth + 1, rows);
        }
        _ => {
            let subject = trace["subject"].as_str().unwrap_or_default();
            let operator = trace["operator"].as_str().unwrap_or_default();
            let seen = if trace["absent"].as_bool().unwrap_or(false) {
                "(absent)".to_string()
            } else {
                let values: Vec<String> =
                    trace["values"].as_array().into_iter().flatten().map(|v| v["value"].to_string()).collect();
                values.join(", ")
            };
            rows.push(ConditionRow { depth, label: format!("{subject} {operator}"), result, seen });
        }
    }
}

/// An action as rendered, with how it ended.
fn action(a: &ActionRecord) -> Value {
    let mut rendered = json!(a.rendered);
    let kind = rendered["action"].as_str().unwrap_or("action").to_string();
    if let Some(map) = rendered.as_object_mut() {
        map.remove("action");
    }
    json!({
        "route": a.route,
        "kind": kind,
        "result": json!(a.result),
        "job_id": a.job_id,
        "error": a.error,
        "rendered": rendered_text(&rendered),
    })
}

/// An action's rendered fields as lines to read: `key: value`, strings
/// as they are, header pairs as `name: value` lines.
fn rendered_text(rendered: &Value) -> String {
    let mut out = String::new();
    for (key, value) in rendered.as_object().into_iter().flatten() {
        match (key.as_str(), value) {
            ("headers", Value::Array(pairs)) => {
                out.push_str("headers:\n");
                for pair in pairs {
                    let text = |i: usize| pair[i].as_str().map(str::to_string).unwrap_or_else(|| pair[i].to_string());
                    out.push_str(&format!("  {}: {}\n", text(0), text(1)));
                }
            }
            (_, Value::String(text)) if text.contains('\n') => out.push_str(&format!("{key}:\n{text}\n")),
            (_, Value::String(text)) => out.push_str(&format!("{key}: {text}\n")),
            _ => out.push_str(&format!("{key}: {value}\n")),
        }
    }
    out
}

/// A delivery job (as `GET /-/deliveries/{id}` shows it) for the timeline.
fn job(j: &Value) -> Value {
    json!({
        "id": j["id"],
        "route": j["route"],
        "destination": j["destination"],
        "status": j["status"],
        "method": j["request"]["method"],
        "url": j["request"]["url"],
        "dead_reason": j["dead_reason"],
        "attempts": j["attempts"],
    })
}

/// `POST /events/{id}/replay`: the recorded request through the current
/// config, then the new event's page.
pub(super) async fn replay(app: &App, nav: &Nav, id: &str) -> Reply {
    match app.replay_event(id).await {
        Ok(replayed) => view::redirect(&event_path(&replayed.id), None),
        Err(e @ ReplayError::NotFound(_)) => view::message(StatusCode::NOT_FOUND, nav, "No such event", &e.to_string()),
        Err(e @ ReplayError::NotReplayable(..)) => {
            view::message(StatusCode::CONFLICT, nav, "Cannot replay", &e.to_string())
        }
        Err(ReplayError::Log(e)) => {
            view::message(StatusCode::SERVICE_UNAVAILABLE, nav, "Event log unavailable", &e.to_string())
        }
    }
}

/// `POST /events/{id}/retry`: every dead delivery of the event gets a new
/// round (its succeeded ones are left alone, as `POST
/// /-/deliveries/{event}/retry` does), then back to the event.
pub(super) async fn retry(app: &App, nav: &Nav, id: &str) -> Reply {
    let filter = JobFilter { status: Some(Status::Dead), route: None, event: Some(id.to_string()) };
    match app.delivery().replay(ReplaySelector::Matching(filter)).await {
        Ok(ReplayOutcome::Replayed(jobs)) => {
            view::redirect(&format!("{}?retried={}", event_path(id), jobs.len()), None)
        }
        Ok(_) => view::redirect(&format!("{}?retried=0", event_path(id)), None),
        Err(e) => view::message(StatusCode::SERVICE_UNAVAILABLE, nav, "Delivery store unavailable", &e.to_string()),
    }
}

/// `/events/{id}` with the id escaped for a URL path.
fn event_path(id: &str) -> String {
    format!("/events/{}", percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC))
}
