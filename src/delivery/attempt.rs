//! One delivery attempt: send the stored request, read the answer, and say
//! what it was in words an operator can act on.
//!
//! The answer body is read (up to a cap) so the pooled connection can be
//! reused, and its start is kept in the attempt history: "422: {\"error\":
//! \"unknown repository\"}" explains a dead letter better than "422".

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;

use super::destination::Health;
use super::job::Target;
use super::retry::{parse_retry_after, AttemptResult};
use crate::upstream::{ReadBody, SendError, Upstream, UpstreamUrl};

/// Answer bytes read before the connection is dropped instead of reused.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Answer bytes kept in the attempt history.
const SNIPPET_BYTES: usize = 200;

/// What happened, for the policy, the breaker and the history.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: AttemptResult,
    pub status: Option<u16>,
    /// The failure in words; None on success.
    pub error: Option<String>,
    pub latency: Duration,
}

impl Outcome {
    pub fn health(&self) -> Health {
        match self.result {
            AttemptResult::Status { code, .. } if (200..300).contains(&code) => Health::Up,
            AttemptResult::Status { code, .. } if code == 408 || code == 429 || code >= 500 => Health::Down,
            AttemptResult::Status { .. } => Health::Neutral,
            AttemptResult::Transport { .. } => Health::Down,
        }
    }

    /// One phrase for logs and dead-letter reasons.
    pub fn describe(&self) -> String {
        match (&self.status, &self.error) {
            (_, Some(e)) => e.clone(),
            (Some(s), None) => format!("answered {s}"),
            (None, None) => "no answer".into(),
        }
    }
}

/// Sends attempt number `number` of a job.
pub async fn send(client: &Upstream, target: &Target, body: Bytes, number: u32) -> Outcome {
    let started = Instant::now();
    let transport = |e: SendError| Outcome {
        result: AttemptResult::Transport { timeout: matches!(e, SendError::Timeout(_)) },
        status: None,
        error: Some(e.to_string()),
        latency: started.elapsed(),
    };
    let url = match UpstreamUrl::parse(&target.url) {
        Ok(url) => url,
        Err(e) => return transport(e),
    };
    let method = Method::from_bytes(target.method.as_bytes()).unwrap_or(Method::POST);
    let mut headers = HeaderMap::with_capacity(target.headers.len() + 1);
    for (name, value) in &target.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.append(n, v);
        }
    }
    headers.insert("x-hookroute-attempt", HeaderValue::from(number));
    let answer = match client
        .exchange(method, &url, headers, body, target.timeout(), ReadBody::AtMost(MAX_ANSWER_BYTES))
        .await
    {
        Ok(answer) => answer,
        Err(e) => return transport(e),
    };
    let code = answer.status.as_u16();
    let retry_after = answer
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let snippet = &answer.body[..answer.body.len().min(SNIPPET_BYTES)];
    let latency = started.elapsed();
    let error = (!(200..300).contains(&code)).then(|| {
        let text = String::from_utf8_lossy(snippet);
        let text = text.trim();
        let reason = http::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        match text.is_empty() {
            true => format!("answered {code} {reason}").trim_end().to_string(),
            false => format!("answered {code} {reason}: {text}"),
        }
    });
    Outcome { result: AttemptResult::Status { code, retry_after }, status: Some(code), error, latency }
}
