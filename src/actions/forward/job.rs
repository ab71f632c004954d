//! A forward planned for one event: the finished request (a
//! [`Work::Http`] job for delivery to schedule), built when the event is routed (see
//! `crate::router::dispatch`) and handed to delivery, which runs it.
//!
//! Everything is computed from the snapshot the request was routed by, so a
//! reload cannot change what an accepted event becomes.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Forward, Outgoing};
use crate::actions::job::{QueuedJob, Work};
use crate::actions::DeliveryMode;
use crate::event::Event;
use crate::matcher::JsonPathExpr;
use crate::template::RenderError;

/// The request a job sends, built once at acceptance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Target {
    pub(crate) method: String,
    pub(crate) url: String,
    /// Outgoing headers in order; values that are not UTF-8 are rare enough
    /// (and invalid for every provider's signature header) to be stored
    /// lossily.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout_ms: u64,
    /// The body to send when the forward has a `body:` template, rendered at
    /// acceptance; None sends the event's body as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<String>,
    /// Why the request could not be built at acceptance (a template did not
    /// render). Such a job is dead from the start, and a manual retry ends
    /// the same way instead of sending a half-built request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unsendable: Option<String>,
}

impl Target {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl Forward {
    /// The job for `event` from this forward's rendered request.
    pub(crate) fn job(
        &self,
        event: &Event,
        route: &Arc<str>,
        rendered: &Result<Outgoing, RenderError>,
        mode: DeliveryMode,
    ) -> QueuedJob {
        let (url, headers, body, error) = match rendered {
            Ok(out) => {
                let headers = out
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
                    })
                    .collect();
                let body = out.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
                (out.url.as_str().to_string(), headers, body, None)
            }
            Err(e) => (self.url.as_str().to_string(), Vec::new(), None, Some(e.clone())),
        };
        let ordering_key =
            self.ordering_key.as_ref().and_then(|path| ordering_key_for(path, event.document(), route, &url));
        QueuedJob {
            route: route.clone(),
            work: Work::Http(Target {
                method: self.method.as_str().to_string(),
                url,
                headers,
                timeout_ms: self.timeout.as_millis() as u64,
                body,
                unsendable: error.as_ref().map(|e| format!("template: {e}")),
            }),
            destination: crate::upstream::destination_of(&self.url),
            retry: self.retry.clone(),
            ordering_key,
            mode,
            error,
        }
    }
}

/// The ordering key of an event for a forward: the value at `path` (a
/// string as is, anything else as JSON), scoped by route and URL. None when
/// the event has no document or no value there: such a job is not ordered.
pub(crate) fn ordering_key_for(
    path: &JsonPathExpr,
    document: Option<&Value>,
    route: &str,
    url: &str,
) -> Option<String> {
    let node = path.nodes(document?).into_iter().next()?;
    let value = match node {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    };
    Some(format!("{route}\u{1f}{url}\u{1f}{value}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_from_documents() {
        let path = JsonPathExpr::compile("$.data.id").unwrap();
        let doc = json!({"data": {"id": 42}});
        assert_eq!(ordering_key_for(&path, Some(&doc), "r", "http://x/"), Some("r\u{1f}http://x/\u{1f}42".into()));
        let doc = json!({"data": {"id": "abc"}});
        assert_eq!(ordering_key_for(&path, Some(&doc), "r", "u").as_deref(), Some("r\u{1f}u\u{1f}abc"));
        assert_eq!(ordering_key_for(&path, Some(&json!({})), "r", "u"), None);
        assert_eq!(ordering_key_for(&path, None, "r", "u"), None);
    }
}
