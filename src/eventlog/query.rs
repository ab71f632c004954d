//! The filters of `GET /-/events`: [`EventQuery`], read from the query
//! string, and how a record is tested against it.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::record::{EventRecord, OutcomeKind};
use super::EventLogError;

/// Default page size.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub(crate) const MAX_LIMIT: usize = 500;

/// Which events to list, newest first. Every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EventQuery {
    /// `route=NAME`: events that route took.
    pub route: Option<String>,
    /// `outcome=taken|ignored|rejected|deduplicated|failed`.
    pub outcome: Option<OutcomeKind>,
    /// `status=401`: the status answered.
    pub status: Option<u16>,
    /// `path=/hooks/github`: the request path starts with this.
    pub path: Option<String>,
    /// `since=` / `until=`: RFC 3339 times (or Unix milliseconds); since is
    /// inclusive, until exclusive.
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    /// `text=`: the recorded body contains this text (case-sensitive).
    pub text: Option<String>,
    /// `replay_of=ID`: replays of that event.
    pub replay_of: Option<String>,
    /// `cursor=`: the `next_cursor` of the previous page (an event id;
    /// the page starts below it).
    pub cursor: Option<String>,
    /// `limit=`: events per page, 1 to 500. Default 50.
    pub limit: usize,
}

impl EventQuery {
    /// Reads the query string's parameters; an unknown parameter or a bad
    /// value is an error naming it (the API answers 400).
    pub(crate) fn from_params(params: &HashMap<String, String>) -> Result<EventQuery, EventLogError> {
        let mut q = EventQuery { limit: DEFAULT_LIMIT, ..Default::default() };
        let bad = |name: &str, why: &str| EventLogError::BadQuery(format!("{name}: {why}"));
        for (name, value) in params {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match name.as_str() {
                "route" => q.route = Some(value.to_string()),
                "outcome" => {
                    q.outcome =
                        Some(OutcomeKind::parse(value).ok_or_else(|| {
                            bad("outcome", "must be taken, ignored, rejected, deduplicated or failed")
                        })?)
                }
                "status" => q.status = Some(value.parse().map_err(|_| bad("status", "must be an HTTP status"))?),
                "path" => q.path = Some(value.to_string()),
                "since" => q.since_ms = Some(parse_time(value).ok_or_else(|| bad("since", TIME_HELP))?),
                "until" => q.until_ms = Some(parse_time(value).ok_or_else(|| bad("until", TIME_HELP))?),
                "text" => q.text = Some(value.to_string()),
                "replay_of" => q.replay_of = Some(value.to_string()),
                "cursor" => q.cursor = Some(value.to_string()),
                "limit" => {
                    q.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| bad("limit", "must be 1 to 500"))?
                }
                other => return Err(EventLogError::BadQuery(format!("unknown parameter {other}"))),
            }
        }
        Ok(q)
    }

    /// Whether `record` passes every filter (not the cursor).
    pub(crate) fn matches(&self, record: &EventRecord) -> bool {
        self.route.as_ref().is_none_or(|r| record.routes.iter().any(|x| x == r))
            && self.outcome.is_none_or(|o| record.outcome.kind() == o)
            && self.status.is_none_or(|s| record.status == s)
            && self.path.as_ref().is_none_or(|p| record.path.starts_with(p.as_str()))
            && self.since_ms.is_none_or(|t| record.time_ms >= t)
            && self.until_ms.is_none_or(|t| record.time_ms < t)
            && self.replay_of.as_ref().is_none_or(|id| record.replay_of.as_ref() == Some(id))
            && self.text.as_ref().is_none_or(|t| record.body.as_ref().is_some_and(|b| b.data.contains(t.as_str())))
    }
}

const TIME_HELP: &str = "must be an RFC 3339 time (2026-11-30T02:00:00Z) or Unix milliseconds";

/// An RFC 3339 time or Unix milliseconds, as milliseconds.
fn parse_time(text: &str) -> Option<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Some(ms);
    }
    let at = humantime::parse_rfc3339_weak(text).ok()?;
    Some(millis(at))
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
