//! One delivery attempt: send the stored request, read the answer, and say
//! what it was in words an operator can act on.
//!
//! The answer body is read (up to a cap) so the pooled connection can be
//! reused, and its start is kept in the attempt history: "422: {\"error\":
//! \"unknown repository\"}" explains a dead letter better than "422".

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::Method;

use super::destination::Health;
use super::job::Target;
use super::retry::{parse_retry_after, AttemptResult};

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
pub async fn send(client: &reqwest::Client, target: &Target, body: Bytes, number: u32) -> Outcome {
    let started = Instant::now();
    let method = Method::from_bytes(target.method.as_bytes()).unwrap_or(Method::POST);
    let mut request = client.request(method, &target.url).timeout(target.timeout()).body(body);
    for (name, value) in &target.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            request = request.header(n, v);
        }
    }
    request = request.header("x-hookroute-attempt", number.to_string());
    let timeout = target.timeout();
    let transport = |e: reqwest::Error, started: Instant| {
        let timed_out = e.is_timeout();
        // reqwest's message names the URL; the text goes to logs and the job's history.
        let e = crate::redact::error(e);
        let error = if timed_out {
            format!("timed out after {}", humantime::format_duration(timeout))
        } else if e.is_connect() {
            format!("cannot connect: {}", crate::error_text::chain(&e))
        } else {
            format!("request failed: {}", crate::error_text::chain(&e))
        };
        Outcome {
            result: AttemptResult::Transport { timeout: timed_out },
            status: None,
            error: Some(error),
            latency: started.elapsed(),
        }
    };
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => return transport(e, started),
    };
    let code = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let mut snippet = Vec::new();
    let mut read = 0usize;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                read += chunk.len();
                if snippet.len() < SNIPPET_BYTES {
                    let take = (SNIPPET_BYTES - snippet.len()).min(chunk.len());
                    snippet.extend_from_slice(&chunk[..take]);
                }
                if read > MAX_ANSWER_BYTES {
                    break;
                }
            }
            Ok(None) => break,
            // The status already arrived; a broken answer body after it
            // does not change what the status says.
            Err(_) => break,
        }
    }
    let latency = started.elapsed();
    let error = (!(200..300).contains(&code)).then(|| {
        let text = String::from_utf8_lossy(&snippet);
        let text = text.trim();
        let reason = http::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        match text.is_empty() {
            true => format!("answered {code} {reason}").trim_end().to_string(),
            false => format!("answered {code} {reason}: {text}"),
        }
    });
    Outcome { result: AttemptResult::Status { code, retry_after }, status: Some(code), error, latency }
}
