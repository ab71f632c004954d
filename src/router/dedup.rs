//! Dedup of incoming events (the compiled `dedup:` of a route; the claims
//! are written by delivery): a provider's redelivery of an event already
//! accepted gets the same answer and event id, and creates no new jobs.
//!
//! Providers name their events: GitHub in `X-GitHub-Delivery`, Standard
//! Webhooks in `webhook-id`, Stripe in the body's `$.id`. A route opts in
//! with `dedup: { header: ... }` or `{ json: ... }` and a `window`. The
//! claim on a key is written in the same transaction as the event's jobs,
//! so two concurrent redeliveries cannot both be accepted; a read before
//! the actions run spares the usual duplicate its log and file actions.

use std::time::Duration;

use http::HeaderName;
use serde_json::Value;

use crate::config::spec::RouteSpec;
use crate::config::ConfigError;
use crate::event::Event;
use crate::matcher::jsonpath::JsonPathExpr;

pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub(crate) enum DedupSource {
    Header(HeaderName),
    Json(JsonPathExpr),
}

#[derive(Debug, Clone)]
pub(crate) struct Dedup {
    pub(crate) source: DedupSource,
    pub(crate) window: Duration,
}

impl Dedup {
    /// Checks a route's `dedup:` (None when absent or wrong; errors pushed).
    pub(crate) fn compile(route: &RouteSpec, errors: &mut Vec<ConfigError>) -> Option<Dedup> {
        let (spec, respond) = (route.dedup.as_ref()?, route.respond.as_ref());
        let before = errors.len();
        let source = match (&spec.header, &spec.json) {
            (Some(h), None) => match HeaderName::from_bytes(h.as_bytes()) {
                Ok(name) => Some(DedupSource::Header(name)),
                Err(_) => {
                    errors.push(ConfigError::new("dedup.header", format!("invalid header name {h:?}")));
                    None
                }
            },
            (None, Some(j)) => match JsonPathExpr::compile(j) {
                Ok(path) => Some(DedupSource::Json(path)),
                Err(e) => {
                    errors.push(ConfigError::new("dedup.json", format!("invalid JSONPath {j:?}: {e}")));
                    None
                }
            },
            (None, None) => {
                errors.push(ConfigError::new(
                    "dedup",
                    "name where the event id is: `header: X-GitHub-Delivery` or `json: $.id`",
                ));
                None
            }
            (Some(_), Some(_)) => {
                errors.push(ConfigError::new("dedup", "use either `header` or `json`, not both"));
                None
            }
        };
        let window = spec.window.map(|w| w.0).unwrap_or(DEFAULT_WINDOW);
        if window.is_zero() {
            errors.push(ConfigError::new("dedup.window", "must be greater than 0"));
        }
        if respond.and_then(|r| r.from).is_some() {
            errors.push(ConfigError::new(
                "dedup",
                "a `respond: {from: forward}` route relays a live answer, which a redelivery cannot repeat; \
                 remove `dedup` or the `respond`",
            ));
        }
        if errors.len() > before {
            return None;
        }
        Some(Dedup { source: source?, window })
    }

    /// The event's key, if it carries one.
    pub(crate) fn key(&self, event: &Event) -> Option<String> {
        match &self.source {
            DedupSource::Header(name) => {
                let value = event.headers.get(name)?.to_str().ok()?.trim();
                (!value.is_empty()).then(|| value.to_string())
            }
            DedupSource::Json(path) => match path.nodes(event.document()?).into_iter().next()? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Null | Value::String(_) => None,
                other => Some(other.to_string()),
            },
        }
    }
}
