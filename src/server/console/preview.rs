//! `GET`/`POST /preview`: a changed routes.yaml, pasted or uploaded, run
//! against recorded traffic by the same work as `POST /-/preview` — compiled
//! as a reload would (every problem shown with its line), then the last
//! recorded events decided by the live and the new routes, side by side.
//! Nothing is sent.

use http::StatusCode;
use serde_json::{json, Value};

use super::form::Fields;
use super::view::{self, Nav};
use crate::eventlog::{PreviewError, DEFAULT_PREVIEW_EVENTS, MAX_PREVIEW_EVENTS};
use crate::server::state::App;
use crate::server::Reply;

/// The empty form. Not filled with the live file: a file may hold secrets
/// written out literally, which the console shows nowhere else.
pub(super) fn form(nav: &Nav) -> Reply {
    page(StatusCode::OK, nav, "", DEFAULT_PREVIEW_EVENTS, json!({}))
}

fn page(status: StatusCode, nav: &Nav, config: &str, events: usize, outcome: Value) -> Reply {
    let mut context = json!({
        "nav": nav,
        "title": "Preview",
        "config": config,
        "events": events,
    });
    if let (Some(map), Value::Object(extra)) = (context.as_object_mut(), outcome) {
        map.extend(extra);
    }
    view::page(status, "preview.html", context)
}

/// The form sent: `config` (pasted) or `file` (uploaded, preferred when
/// not empty), and `events`, how many recent events to run.
pub(super) async fn run(app: &App, nav: &Nav, fields: &Fields) -> Reply {
    let uploaded = fields.get("file").filter(|f| !f.trim().is_empty());
    let config = uploaded.or(fields.get("config")).cloned().unwrap_or_default();
    let events = match fields.get("events").map(|n| n.trim()).filter(|n| !n.is_empty()) {
        None => DEFAULT_PREVIEW_EVENTS,
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_PREVIEW_EVENTS).contains(&n) => n,
            _ => {
                let problem = format!("Events: give a number from 1 to {MAX_PREVIEW_EVENTS}.");
                return page(
                    StatusCode::BAD_REQUEST,
                    nav,
                    &config,
                    DEFAULT_PREVIEW_EVENTS,
                    json!({ "problem": problem }),
                );
            }
        },
    };
    if config.trim().is_empty() {
        let problem = "Paste a routes.yaml or choose a file.";
        return page(StatusCode::BAD_REQUEST, nav, &config, events, json!({ "problem": problem }));
    }
    match app.preview(config.clone(), events).await {
        Ok(report) => {
            let mut report = json!(report);
            // Each changed event's rendered actions, indented for reading.
            for event in report["events"].as_array_mut().into_iter().flatten() {
                for side in ["live", "new"] {
                    let text = serde_json::to_string_pretty(&event[side]["actions"]).unwrap_or_default();
                    event[format!("{side}_actions")] = json!(text);
                }
            }
            page(StatusCode::OK, nav, &config, events, json!({ "report": report }))
        }
        Err(PreviewError::Config(errors)) => {
            let errors: Vec<String> = errors.iter().map(|e| crate::redact::text(e)).collect();
            page(StatusCode::UNPROCESSABLE_ENTITY, nav, &config, events, json!({ "errors": errors }))
        }
        Err(PreviewError::Log(e)) => {
            page(StatusCode::SERVICE_UNAVAILABLE, nav, &config, events, json!({ "problem": e.to_string() }))
        }
    }
}
