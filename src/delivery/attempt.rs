//! One delivery attempt of an HTTP job: send the stored request, read the
//! answer, and say what it was in words an operator can act on. (Other
//! kinds' attempts are beside it, e.g. [`super::publish_attempt`]; each
//! returns the same [`Outcome`].)
//!
//! The answer body is read (up to a cap) so the pooled connection can be
//! reused, and its start is kept in the attempt history: "422: {\"error\":
//! \"unknown repository\"}" explains a dead letter better than "422". A
//! non-2xx answer also keeps the headers that say what to do next
//! ([`KEPT_HEADERS`]: where a 3xx points, when a 429/503 says to come back)
//! and a longer excerpt of its body ([`EXCERPT_BYTES`]), so the admin API
//! and `hookroute deliveries show` can print them. 2xx answers keep none of
//! it: succeeded jobs are the bulk of the store.
//!
//! Once the status line has arrived the status decides, whatever happens to
//! the body: an upstream that answers 200 and then stalls (or drops the
//! connection) has taken the event, and sending it again would only
//! duplicate it. The stall is recorded as the attempt's note.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;

use super::destination::Health;
use super::job::{AnswerDetail, Target};
use super::retry::{parse_retry_after, AttemptResult};
use crate::upstream::{ReadBody, SendError, Upstream, UpstreamUrl};

/// Answer bytes read before the connection is dropped instead of reused.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Answer bytes quoted in the attempt's one-line error.
const SNIPPET_BYTES: usize = 200;
/// Answer bytes kept as the attempt's body excerpt (non-2xx answers): room
/// for a typical JSON or HTML error, bounded so a job's record stays small
/// however many attempts it makes.
pub(crate) const EXCERPT_BYTES: usize = 1024;
/// Longest header value kept; longer ones are cut (and marked with `…`).
const HEADER_VALUE_BYTES: usize = 512;
/// Most header values kept per attempt (a header may repeat): with the
/// excerpt, an attempt's answer detail stays under about 5 KiB.
const HEADER_VALUES: usize = 8;
/// Answer headers kept for non-2xx answers, because they tell the operator
/// what to do next: `location` (a 3xx's new address: update the forward's
/// URL), `retry-after` (429/503: when the upstream wants it back, RFC 9110
/// §10.2.3), `www-authenticate` (401: which credentials it expects),
/// `allow` (405: the methods it takes), `content-type` (how to read the
/// excerpt) and `x-request-id` (to find the attempt in the upstream's logs).
pub(crate) const KEPT_HEADERS: &[&str] =
    &["location", "retry-after", "www-authenticate", "allow", "content-type", "x-request-id"];

/// What happened, for the policy, the breaker and the history.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub result: AttemptResult,
    pub status: Option<u16>,
    /// The failure in words; None on success.
    pub error: Option<String>,
    pub latency: Duration,
    /// Headers, body excerpt and notes worth keeping (see the module doc).
    pub answer: AnswerDetail,
}

impl Outcome {
    pub(crate) fn health(&self) -> Health {
        match self.result {
            AttemptResult::Status { code, .. } if (200..300).contains(&code) => Health::Up,
            AttemptResult::Status { code, .. } if code == 408 || code == 429 || code >= 500 => Health::Down,
            AttemptResult::Status { .. } => Health::Neutral,
            AttemptResult::Transport { .. } => Health::Down,
            AttemptResult::Done => Health::Up,
        }
    }

    /// One phrase for logs and dead-letter reasons.
    pub(crate) fn describe(&self) -> String {
        match (&self.status, &self.error) {
            (_, Some(e)) => e.clone(),
            (Some(s), None) => format!("answered {s}"),
            (None, None) => "no answer".into(),
        }
    }
}

/// Sends attempt number `number` of a job, with the attempt span's
/// `traceparent` when traces are exported.
pub(crate) async fn send(
    client: &Upstream,
    target: &Target,
    body: Bytes,
    number: u32,
    traceparent: Option<&str>,
) -> Outcome {
    let started = Instant::now();
    let transport = |e: SendError| Outcome {
        result: AttemptResult::Transport { timeout: matches!(e, SendError::Timeout(_)) },
        status: None,
        error: Some(e.to_string()),
        latency: started.elapsed(),
        answer: AnswerDetail::default(),
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
    // This attempt's span, replacing any `traceparent` the forward copied.
    if let Some(value) = traceparent.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(crate::observe::trace::TRACEPARENT, value);
    }
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
    let success = (200..300).contains(&code);
    let stalled = answer.body_timed_out.then(|| {
        format!(
            "the status arrived but the body did not finish within {}; {}",
            humantime::format_duration(target.timeout()),
            match success {
                true => "delivered: the status decides",
                false => "the status decides what happens next",
            }
        )
    });
    let error = (!success).then(|| {
        let text = String::from_utf8_lossy(snippet);
        let text = text.trim();
        let reason = http::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        match text.is_empty() {
            true => format!("answered {code} {reason}").trim_end().to_string(),
            false => format!("answered {code} {reason}: {text}"),
        }
    });
    let detail = match success {
        true => AnswerDetail { note: stalled, ..AnswerDetail::default() },
        false => AnswerDetail {
            headers: kept_headers(&answer.headers),
            body: (!answer.body.is_empty()).then(|| excerpt(&answer.body, EXCERPT_BYTES)),
            body_truncated: answer.body.len() > EXCERPT_BYTES || answer.body_timed_out,
            note: stalled,
            exec: None,
        },
    };
    Outcome { result: AttemptResult::Status { code, retry_after }, status: Some(code), error, latency, answer: detail }
}

/// The [`KEPT_HEADERS`] of an answer, each value at most
/// [`HEADER_VALUE_BYTES`].
fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut kept = Vec::new();
    let values = KEPT_HEADERS.iter().flat_map(|name| headers.get_all(*name).iter().map(move |v| (name, v)));
    for (name, value) in values.take(HEADER_VALUES) {
        let mut text = excerpt(value.as_bytes(), HEADER_VALUE_BYTES);
        if value.len() > HEADER_VALUE_BYTES {
            text.push('…');
        }
        kept.push((name.to_string(), text));
    }
    kept
}

/// At most `limit` bytes of `bytes` as text, cut at a character boundary
/// (a character split by the limit is left out, not mangled); invalid UTF-8
/// elsewhere is replaced.
fn excerpt(bytes: &[u8], limit: usize) -> String {
    let mut cut = &bytes[..bytes.len().min(limit)];
    if cut.len() < bytes.len() {
        if let Err(e) = std::str::from_utf8(cut) {
            if e.error_len().is_none() {
                cut = &cut[..e.valid_up_to()];
            }
        }
    }
    String::from_utf8_lossy(cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded_and_cut_between_characters() {
        assert_eq!(excerpt(b"hello", 10), "hello");
        assert_eq!(excerpt("héllo".as_bytes(), 2), "h");
        assert_eq!(excerpt("héllo".as_bytes(), 3), "hé");
        assert_eq!(excerpt(&[b'a', 0xff, b'b'], 10), "a\u{fffd}b");
        let mut headers = HeaderMap::new();
        headers.append("location", HeaderValue::from_static("/webhook/"));
        headers.append("server", HeaderValue::from_static("nginx"));
        headers.append("retry-after", HeaderValue::from_str(&"9".repeat(600)).unwrap());
        let kept = kept_headers(&headers);
        assert_eq!(kept[0], ("location".to_string(), "/webhook/".to_string()));
        assert_eq!(kept[1].0, "retry-after");
        assert_eq!(kept[1].1.len(), HEADER_VALUE_BYTES + '…'.len_utf8());
        assert_eq!(kept.len(), 2, "{kept:?}");
        let mut many = HeaderMap::new();
        for _ in 0..20 {
            many.append("allow", HeaderValue::from_static("POST"));
        }
        assert_eq!(kept_headers(&many).len(), HEADER_VALUES);
    }
}
