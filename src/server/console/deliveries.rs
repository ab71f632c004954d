//! `GET /deliveries`: pending and dead jobs, counted by destination and
//! route, with the dead letters and pending jobs listed; and the bulk
//! retry, which first says how many jobs it will touch (`GET
//! /deliveries/retry`, a confirm page) and only then runs (`POST`).
//!
//! Counting pages through the store's listing (what `GET /-/deliveries`
//! reads), up to [`COUNT_CAP`] jobs per status, so a huge backlog cannot
//! make a page load forever; the page says when it stopped counting.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::json;

use super::form::Fields;
use super::view::{self, Nav};
use crate::delivery::{Filter as JobFilter, JobRecord, ReplayOutcome, ReplaySelector, Status, StoreError};
use crate::server::state::App;
use crate::server::Reply;

/// Most jobs of one status read for one page.
const COUNT_CAP: usize = 5_000;
/// Jobs listed per table.
const SHOWN: usize = 100;

/// Every job of `filter`, newest first, up to [`COUNT_CAP`]; and whether
/// the cap was reached.
async fn all(app: &App, filter: JobFilter) -> Result<(Vec<JobRecord>, bool), StoreError> {
    let mut jobs = Vec::new();
    let mut cursor = None;
    loop {
        let page = app.delivery().list(filter.clone(), cursor, super::super::admin_deliveries::MAX_LIMIT).await?;
        jobs.extend(page.jobs);
        if jobs.len() >= COUNT_CAP {
            jobs.truncate(COUNT_CAP);
            return Ok((jobs, true));
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((jobs, false)),
        }
    }
}

fn by(status: Status, route: Option<String>) -> JobFilter {
    JobFilter { status: Some(status), route, event: None }
}

pub(super) async fn list(app: &App, nav: &Nav, query: &Fields) -> Reply {
    let (pending, dead) = match (all(app, by(Status::Pending, None)).await, all(app, by(Status::Dead, None)).await) {
        (Ok(p), Ok(d)) => (p, d),
        (Err(e), _) | (_, Err(e)) => {
            return view::message(StatusCode::SERVICE_UNAVAILABLE, nav, "Delivery store unavailable", &e.to_string())
        }
    };
    let breakers: BTreeMap<String, &'static str> =
        app.delivery().destinations().iter().map(|d| (d.name.clone(), d.breaker.as_str())).collect();
    let mut groups: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for j in &pending.0 {
        groups.entry((j.destination.clone(), j.route.clone())).or_default().0 += 1;
    }
    for j in &dead.0 {
        groups.entry((j.destination.clone(), j.route.clone())).or_default().1 += 1;
    }
    let groups: Vec<_> = groups
        .into_iter()
        .map(|((destination, route), (pending, dead))| {
            json!({
                "breaker": breakers.get(&destination),
                "destination": destination,
                "route": route,
                "pending": pending,
                "dead": dead,
            })
        })
        .collect();
    let notice = query.get("retried").and_then(|n| n.parse::<usize>().ok()).map(|n| {
        format!("{n} dead deliver{} given a new round of attempts.", if n == 1 { "y was" } else { "ies were" })
    });
    let row = |j: &JobRecord| {
        let last = j.attempts.last();
        json!({
            "event_id": j.event_id,
            "route": j.route,
            "destination": j.destination,
            "attempts": j.attempts.len(),
            "created_at": j.created_at,
            "updated_at": j.updated_at,
            "next": j.next_attempt_at,
            "why": j.dead_reason.as_deref().or(last.and_then(|a| a.error.as_deref())).map(crate::redact::text),
        })
    };
    view::page(
        StatusCode::OK,
        "deliveries.html",
        json!({
            "nav": nav,
            "title": "Deliveries",
            "notice": notice,
            "groups": groups,
            "total_dead": dead.0.len(),
            "capped": (pending.1 || dead.1).then_some(COUNT_CAP),
            "dead": dead.0.iter().take(SHOWN).map(row).collect::<Vec<_>>(),
            "pending": pending.0.iter().take(SHOWN).map(row).collect::<Vec<_>>(),
            "refresh": "on",
        }),
    )
}

/// The route a bulk retry is limited to (none: every route).
fn route_of(fields: &Fields) -> Option<String> {
    fields.get("route").map(|r| r.trim()).filter(|r| !r.is_empty()).map(str::to_string)
}

/// `GET /deliveries/retry?route=NAME`: how many dead jobs a retry touches.
pub(super) async fn confirm(app: &App, nav: &Nav, query: &Fields) -> Reply {
    let route = route_of(query);
    match all(app, by(Status::Dead, route.clone())).await {
        Ok((jobs, capped)) => view::page(
            StatusCode::OK,
            "retry_confirm.html",
            json!({
                "nav": nav,
                "title": "Retry dead deliveries",
                "count": jobs.len(),
                "at_least": capped,
                "route": route,
            }),
        ),
        Err(e) => view::message(StatusCode::SERVICE_UNAVAILABLE, nav, "Delivery store unavailable", &e.to_string()),
    }
}

/// `POST /deliveries/retry` (`route`): the retry itself, then the list.
pub(super) async fn retry(app: &App, nav: &Nav, fields: &Fields) -> Reply {
    match app.delivery().replay(ReplaySelector::Matching(by(Status::Dead, route_of(fields)))).await {
        Ok(ReplayOutcome::Replayed(jobs)) => view::redirect(&format!("/deliveries?retried={}", jobs.len()), None),
        Ok(_) => view::redirect("/deliveries?retried=0", None),
        Err(e) => view::message(StatusCode::SERVICE_UNAVAILABLE, nav, "Delivery store unavailable", &e.to_string()),
    }
}
