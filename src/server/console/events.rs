//! `GET /events`: the event log, newest first, with the filters of
//! `GET /-/events` as a form (so a filtered list is a URL to share), each
//! row coloured by outcome and linking to its detail page. The first page
//! refreshes itself (`console.js`); older pages stay still.

use http::StatusCode;
use serde::Serialize;
use serde_json::json;

use super::form::Fields;
use super::view::{self, Nav};
use crate::eventlog::{EventQuery, EventSummary, Outcome, OutcomeKind};
use crate::server::state::App;
use crate::server::Reply;

/// The filter fields, in the form's order; other parameters are ignored.
const FILTERS: [&str; 7] = ["route", "outcome", "status", "path", "since", "until", "text"];

/// One row of the list.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    time: String,
    method: String,
    path: String,
    outcome: &'static str,
    /// A refusal's or failure's reason; a duplicate's original event.
    reason: Option<String>,
    status: u16,
    routes: Vec<String>,
    replay_of: Option<String>,
}

impl From<EventSummary> for Row {
    fn from(e: EventSummary) -> Self {
        Row {
            outcome: e.outcome.kind().as_str(),
            reason: reason(&e.outcome),
            id: e.id,
            time: e.time,
            method: e.method,
            path: e.path,
            status: e.status,
            routes: e.routes,
            replay_of: e.replay_of,
        }
    }
}

/// What an outcome says beyond its kind.
pub(super) fn reason(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Taken | Outcome::Ignored => None,
        Outcome::Rejected { reason, .. } | Outcome::Failed { reason, .. } => Some(reason.clone()),
        Outcome::Deduplicated { original } => Some(format!("duplicate of {original}")),
    }
}

pub(super) async fn list(app: &App, nav: &Nav, query: &Fields) -> Reply {
    let mut params: Fields =
        FILTERS.iter().filter_map(|name| Some((name.to_string(), query.get(*name)?.trim().to_string()))).collect();
    params.retain(|_, v| !v.is_empty());
    let filtered = !params.is_empty();
    let cursor = query.get("cursor").filter(|c| !c.is_empty()).cloned();
    let mut api_params = params.clone();
    if let Some(cursor) = &cursor {
        api_params.insert("cursor".into(), cursor.clone());
    }
    let routes: Vec<String> = app.snapshot().routes.iter().map(|r| r.name.to_string()).collect();
    let outcomes = [
        OutcomeKind::Taken,
        OutcomeKind::Ignored,
        OutcomeKind::Rejected,
        OutcomeKind::Deduplicated,
        OutcomeKind::Failed,
    ]
    .map(OutcomeKind::as_str);
    let (status, rows, next, problem) = match EventQuery::from_params(&api_params) {
        Err(e) => (StatusCode::BAD_REQUEST, Vec::new(), None, Some(e.to_string())),
        Ok(q) => match app.events(q).await {
            Ok(page) => {
                let next = page.next_cursor.map(|c| {
                    let mut next = params.clone();
                    next.insert("cursor".into(), c);
                    format!("/events?{}", form_urlencoded::Serializer::new(String::new()).extend_pairs(&next).finish())
                });
                (StatusCode::OK, page.events.into_iter().map(Row::from).collect(), next, None)
            }
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Vec::new(), None, Some(e.to_string())),
        },
    };
    view::page(
        status,
        "events.html",
        json!({
            "nav": nav,
            "title": "Events",
            "filters": params,
            "routes": routes,
            "outcomes": outcomes,
            "events": rows,
            "filtered": filtered,
            "next": next,
            "problem": problem,
            "refresh": if cursor.is_none() { "on" } else { "off" },
        }),
    )
}
