//! A queued job, whatever its kind: the work one action hands to delivery
//! for one event, fully built at acceptance.
//!
//! Delivery's machinery (the durable queue, retries and backoff, breakers
//! and concurrency per destination, ordering keys, dead letters, replay,
//! metrics) is the same for every kind; only *what one attempt does*
//! differs. So a job is one [`QueuedJob`] shape around a [`Work`] enum with
//! one variant per kind, each owning its target type (what it sends, built
//! at acceptance); delivery matches on it in exactly one place
//! (`crate::delivery::execute::attempt`) to run the kind's attempt.
//!
//! **Adding a kind** (the `exec` action is next): a variant here with its
//! target type (serde, self-contained: jobs outlive reloads and restarts),
//! an arm in each `match` of this file, an arm in
//! `crate::delivery::execute::attempt` that runs it and returns an
//! `Outcome`, and its preview in `crate::explain`. The compiler finds every
//! other place.
//!
//! On disk an HTTP job's `request` is the bare [`Target`], with no `kind`
//! field, exactly as versions before the generalization wrote it (and can
//! still read it back, on a JetStream queue shared with older replicas);
//! every other kind is written with `"kind": "<name>"`.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::exec::ExecTarget;
use super::forward::{RetryOverrides, Target};
use super::publish::PublishTarget;
use super::DeliveryMode;
use crate::template::RenderError;

/// What a job does at each attempt; one variant per kind of queued action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Work {
    /// `forward`: one HTTP request.
    Http(Target),
    /// `publish`: one message to a named broker connection.
    Publish(PublishTarget),
    /// `exec`: one run of a command.
    Exec(ExecTarget),
}

impl Work {
    /// Why the work could not be built at acceptance (a template did not
    /// render, or rendered something unsafe): such a job is dead from the
    /// start, and a manual retry ends the same way.
    pub(crate) fn unsendable(&self) -> Option<&str> {
        match self {
            Work::Http(t) => t.unsendable.as_deref(),
            Work::Publish(p) => p.unsendable.as_deref(),
            Work::Exec(e) => e.unsendable.as_deref(),
        }
    }

    /// The body rendered at acceptance by a `body:` template; None sends the
    /// event's body as received (read from the store when not at hand).
    pub(crate) fn rendered_body(&self) -> Option<&str> {
        match self {
            Work::Http(t) => t.body.as_deref(),
            Work::Publish(p) => p.body.as_deref(),
            // Its standard input, when it reads one, is the event's body.
            Work::Exec(_) => None,
        }
    }

    /// The kind's name, as written in records and shown by the admin API.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Work::Http(_) => "http",
            Work::Publish(_) => "publish",
            Work::Exec(_) => "exec",
        }
    }

    /// The action that queued it, as logs name it (`forward failed …`).
    pub(crate) fn action(&self) -> &'static str {
        match self {
            Work::Http(_) => "forward",
            Work::Publish(_) => "publish",
            Work::Exec(_) => "exec",
        }
    }

    /// Where it goes, in one phrase for logs (credentials hidden): the URL,
    /// or `broker NAME, subject S`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Work::Http(t) => crate::redact::display(&t.url).to_string(),
            Work::Publish(p) => p.describe(),
            Work::Exec(e) => format!("command {}", e.program()),
        }
    }
}

/// The kinds written with a `kind` tag (every kind but HTTP, see the module
/// doc), borrowed for writing.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum TaggedRef<'a> {
    Publish(&'a PublishTarget),
    Exec(&'a ExecTarget),
}

/// The same, owned for reading.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Tagged {
    Publish(PublishTarget),
    Exec(ExecTarget),
}

impl Serialize for Work {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Work::Http(t) => t.serialize(s),
            Work::Publish(p) => TaggedRef::Publish(p).serialize(s),
            Work::Exec(e) => TaggedRef::Exec(e).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Work {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let kind = value.get("kind").and_then(|k| k.as_str());
        match kind {
            // Records written before there were kinds are HTTP requests.
            None | Some("http") => Target::deserialize(value).map(Work::Http).map_err(serde::de::Error::custom),
            Some(_) => match Tagged::deserialize(value).map_err(serde::de::Error::custom)? {
                Tagged::Publish(p) => Ok(Work::Publish(p)),
                Tagged::Exec(e) => Ok(Work::Exec(e)),
            },
        }
    }
}

/// The delivery keys every queued action has (`timeout:`, `retry:`,
/// `ordering_key:`), compiled once for all kinds.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryKeys {
    /// What one attempt may take.
    pub(crate) timeout: std::time::Duration,
    /// This action's `retry:`; the rest comes from `defaults.retry`.
    pub(crate) retry: RetryOverrides,
    /// `ordering_key:`: deliveries with the same value go one at a time.
    pub(crate) ordering_key: Option<crate::matcher::JsonPathExpr>,
}

impl DeliveryKeys {
    /// Compiles the keys of the action at `path`, pushing what is wrong;
    /// `timeout` defaults to `default_timeout`.
    pub(crate) fn compile(
        timeout: Option<&crate::config::spec::HumanDuration>,
        retry: Option<&crate::config::delivery_spec::RetrySpec>,
        ordering_key: Option<&String>,
        default_timeout: std::time::Duration,
        path: &str,
        errors: &mut Vec<crate::config::ConfigError>,
    ) -> DeliveryKeys {
        use crate::config::ConfigError;
        let timeout = timeout.map(|t| t.0).unwrap_or(default_timeout);
        if timeout.is_zero() {
            errors.push(ConfigError::new(format!("{path}.timeout"), "must be greater than 0"));
        }
        let retry = retry.map(|r| RetryOverrides::compile(r, &format!("{path}.retry"), errors)).unwrap_or_default();
        let ordering_key = ordering_key.and_then(|k| {
            let compiled = crate::matcher::JsonPathExpr::compile(k);
            if let Err(e) = &compiled {
                errors.push(ConfigError::new(format!("{path}.ordering_key"), format!("invalid JSONPath {k:?}: {e}")));
            }
            compiled.ok()
        });
        DeliveryKeys { timeout, retry, ordering_key }
    }
}

/// One queued action of one event, fully rendered, for delivery to queue.
#[derive(Debug, Clone)]
pub(crate) struct QueuedJob {
    pub(crate) route: Arc<str>,
    pub(crate) work: Work,
    /// The unit of per-destination limits and breakers: `host:port` of a
    /// forward's URL, `broker:NAME` of a publish.
    pub(crate) destination: String,
    /// The action's own `retry:` keys; delivery lays them over its defaults.
    pub(crate) retry: RetryOverrides,
    pub(crate) ordering_key: Option<String>,
    pub(crate) mode: DeliveryMode,
    /// The template error that made the work unsendable, as rendering
    /// reported it (`work.unsendable()` carries it for the dead letter).
    pub(crate) error: Option<RenderError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::publish::connector::Address;

    #[test]
    fn http_work_is_written_without_a_kind_and_old_records_read() {
        let old = r#"{"method":"POST","url":"http://127.0.0.1:9/","headers":[],"timeout_ms":5}"#;
        let work: Work = serde_json::from_str(old).unwrap();
        let Work::Http(target) = &work else { panic!("{work:?}") };
        assert_eq!(target.url, "http://127.0.0.1:9/");
        assert_eq!(serde_json::to_string(&work).unwrap(), old);
    }

    #[test]
    fn publish_work_round_trips_with_its_kind() {
        let work = Work::Publish(PublishTarget {
            broker: "bus".into(),
            address: Address::Nats { subject: "github.push".into(), jetstream: true },
            headers: vec![("hookroute-route".into(), "r".into())],
            timeout_ms: 5000,
            body: None,
            unsendable: None,
        });
        let text = serde_json::to_string(&work).unwrap();
        assert!(text.starts_with(r#"{"kind":"publish","broker":"bus""#), "{text}");
        assert_eq!(serde_json::from_str::<Work>(&text).unwrap(), work);
    }
}
