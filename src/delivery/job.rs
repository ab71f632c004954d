//! A delivery job: one queued action (a forward, a publish) of one event,
//! with everything needed to run it and the history of what happened.
//!
//! A job is self-contained on purpose. It carries its fully built work (a
//! forward's URL, method, outgoing headers and timeout; a publish's broker
//! name, address and headers: see [`Work`] for the kinds) and
//! the retry policy it was accepted under, so it can be sent after a config
//! reload removed its route, or after a restart, exactly as it would have
//! been sent at once. Only the body lives apart, stored once per event and
//! shared by that event's jobs. Records are JSON: the admin API shows them
//! as they are stored, and an operator can read them.

use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::retry::RetryPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Waiting for its next attempt (or in flight).
    Pending,
    Succeeded,
    /// Out of attempts or permanently refused; kept for replay.
    Dead,
}

impl Status {
    pub(crate) fn parse(text: &str) -> Option<Status> {
        match text {
            "pending" => Some(Status::Pending),
            "succeeded" => Some(Status::Succeeded),
            "dead" => Some(Status::Dead),
            _ => None,
        }
    }
}

pub(crate) use crate::actions::forward::Target;
pub(crate) use crate::actions::Work;

/// One attempt, as an operator wants to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attempt {
    /// 1-based, across manual retries: the `X-Hookroute-Attempt` sent.
    pub number: u32,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
    /// What the upstream's answer said beyond its status, kept so a dead
    /// letter says what to do next (a 301's `Location`, a 503's
    /// `Retry-After`, the error the body explains). Empty for 2xx answers and
    /// in records written before hookroute kept it.
    #[serde(default, flatten)]
    pub answer: AnswerDetail,
}

/// The parts of a non-2xx answer worth reading after the fact; every part
/// is bounded (see [`super::attempt`] for the bounds and the header list).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AnswerDetail {
    /// Answer headers from a fixed list (`Location`, `Retry-After`, …), as
    /// `[name, value]` pairs in the order received, names lower-case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The start of the answer's body as text (invalid UTF-8 replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// True when the body was longer than what `body` keeps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_truncated: bool,
    /// Something about the answer that its status does not say: e.g. the
    /// status arrived but the body stalled until the timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What an `exec` run left: its exit status and the start of its
    /// output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecRun>,
}

/// An `exec` attempt's outcome, as an operator reads it in a dead letter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExecRun {
    /// The exit status; None when the process was killed (by its timeout,
    /// or a signal) or never started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The start of its standard output (`…[truncated]` marks a cut).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// The start of its standard error, likewise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    /// ULID, assigned at acceptance: ids sort in acceptance order.
    pub id: String,
    /// The event's id: sent as `X-Hookroute-Event-Id` on every attempt.
    pub event_id: String,
    pub route: String,
    pub status: Status,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the next attempt is due (pending jobs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    /// The unit of concurrency limits and breakers: `host:port` of a
    /// forward's URL, `broker:NAME` of a publish.
    pub destination: String,
    /// What each attempt does, by kind (the field keeps the name it had
    /// when every job was an HTTP request, so old records read).
    pub request: Work,
    pub retry: RetryPolicy,
    /// Jobs with the same key are delivered one at a time, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// A manual retry starts a new round: attempts and age count from it.
    pub round_started_at: Timestamp,
    pub round_first_attempt: u32,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// Why the job is dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_reason: Option<String>,
    /// True for `delivery: memory` jobs, which are never stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub memory: bool,
    /// The W3C `traceparent` of the request that queued the job: every
    /// attempt's span is its child, however late (absent without
    /// `telemetry:`, and in records written before hookroute kept it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl JobRecord {
    /// Attempts made in the current round.
    pub(crate) fn round_attempts(&self) -> u32 {
        (self.attempts.len() as u32).saturating_sub(self.round_first_attempt)
    }

    /// Starts a new round now (a manual retry): the job is pending again with
    /// a fresh attempt budget and age, its history kept.
    pub(crate) fn restart_round(&mut self, now: SystemTime) {
        self.status = Status::Pending;
        self.round_started_at = Timestamp(now);
        self.round_first_attempt = self.attempts.len() as u32;
        self.next_attempt_at = Some(Timestamp(now));
        self.updated_at = Timestamp(now);
        self.dead_reason = None;
    }
}

/// A point in time, stored and shown as RFC 3339 with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timestamp(pub SystemTime);

impl Timestamp {
    /// Milliseconds since the Unix epoch (0 before it).
    pub(crate) fn unix_ms(self) -> u64 {
        self.0.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_millis(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339(&text).map(Timestamp).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn record_round_trips_as_json() {
        let now = Timestamp(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        let job = JobRecord {
            id: "01J".into(),
            event_id: "01E".into(),
            route: "r".into(),
            status: Status::Dead,
            created_at: now,
            updated_at: now,
            next_attempt_at: None,
            destination: "127.0.0.1:9".into(),
            request: Work::Http(Target {
                method: "POST".into(),
                url: "http://127.0.0.1:9/".into(),
                headers: vec![],
                timeout_ms: 5,
                body: None,
                unsendable: None,
            }),
            retry: RetryPolicy::default(),
            ordering_key: None,
            round_started_at: now,
            round_first_attempt: 0,
            attempts: vec![Attempt {
                number: 1,
                at: now,
                status: Some(301),
                error: None,
                latency_ms: 3,
                answer: AnswerDetail {
                    headers: vec![("location".into(), "/webhook/".into())],
                    body: Some("moved".into()),
                    body_truncated: true,
                    note: None,
                    exec: None,
                },
            }],
            dead_reason: Some("404".into()),
            memory: false,
            trace: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        };
        let text = serde_json::to_string(&job).unwrap();
        assert!(text.contains("\"created_at\":\"2023-11-14T22:13:20.123Z\""), "{text}");
        assert_eq!(serde_json::from_str::<JobRecord>(&text).unwrap(), job);
    }

    /// A record as the previous version wrote it (no answer details) still
    /// reads: stores on disk keep working across the upgrade.
    #[test]
    fn records_without_answer_details_still_read() {
        let old = r#"{"id":"01J","event_id":"01E","route":"r","status":"dead","created_at":"2023-11-14T22:13:20.123Z",
            "updated_at":"2023-11-14T22:13:20.123Z","destination":"127.0.0.1:9","request":{"method":"POST",
            "url":"http://127.0.0.1:9/","headers":[],"timeout_ms":5},"retry":{"max_attempts":10,"initial_backoff":1000,
            "max_backoff":600000,"max_age":86400000},"round_started_at":"2023-11-14T22:13:20.123Z","round_first_attempt":0,
            "attempts":[{"number":1,"at":"2023-11-14T22:13:20.123Z","status":404,"error":"answered 404 Not Found","latency_ms":3}],
            "dead_reason":"404"}"#;
        let job: JobRecord = serde_json::from_str(old).unwrap();
        assert_eq!(job.attempts[0].status, Some(404));
        assert_eq!(job.attempts[0].answer, AnswerDetail::default());
        // It is an HTTP job, written back as it was (no `kind`).
        assert!(matches!(&job.request, Work::Http(t) if t.url == "http://127.0.0.1:9/"));
        let text = serde_json::to_string(&job).unwrap();
        assert!(text.contains(r#""request":{"method":"POST","url""#), "{text}");
        assert_eq!(job.trace, None);
        // And it is written back without empty fields.
        let again = serde_json::to_string(&job.attempts[0]).unwrap();
        assert!(!again.contains("headers") && !again.contains("body"), "{again}");
    }
}
