//! Retry policy: what an attempt's outcome means and when to try again.
//!
//! The rules follow what webhook senders agree on: only 2xx is success;
//! 408, 429, 5xx, connection errors and timeouts are worth another try
//! (plus any status the operator lists in `retry_on`); every other answer
//! (3xx, the rest of 4xx, 410 Gone included) will not change by retrying, so
//! the job goes straight to dead letters. Waits grow exponentially with
//! *full jitter* (a uniform draw between zero and the capped exponential),
//! which spreads a burst of failures over the window instead of retrying
//! them in lockstep against a recovering service. A `Retry-After` the
//! downstream sends wins over the computed wait, capped by `max_backoff`.
//!
//! The policy is a plain value stored with each job, so a job keeps the
//! policy it was accepted under across reloads and restarts.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 10;
pub(crate) const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub(crate) const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(600);
pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// A complete retry policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    #[serde(with = "millis")]
    pub initial_backoff: Duration,
    #[serde(with = "millis")]
    pub max_backoff: Duration,
    #[serde(with = "millis")]
    pub max_age: Duration,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_on: Vec<u16>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_age: DEFAULT_MAX_AGE,
            retry_on: Vec::new(),
        }
    }
}

pub(crate) use crate::actions::forward::RetryOverrides;

impl RetryOverrides {
    /// `self` over `base`. A `max_backoff` left below the resulting
    /// `initial_backoff` (one set here, the other inherited) is raised to it.
    pub(crate) fn over(&self, base: &RetryPolicy) -> RetryPolicy {
        let initial_backoff = self.initial_backoff.unwrap_or(base.initial_backoff);
        RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            initial_backoff,
            max_backoff: self.max_backoff.unwrap_or(base.max_backoff).max(initial_backoff),
            max_age: self.max_age.unwrap_or(base.max_age),
            retry_on: self.retry_on.clone().unwrap_or_else(|| base.retry_on.clone()),
        }
    }
}

/// What one attempt produced, as far as the policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, DNS, timeout.
    Transport {
        timeout: bool,
    },
    /// Work that is not an HTTP request (a broker message) was
    /// acknowledged; a failure of such work is a `Transport` one (always
    /// worth retrying: there is no status that says "never").
    Done,
}

/// What an answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Success,
    Retryable,
    Permanent,
}

/// What to do with a job after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    Retry {
        after: Duration,
    },
    /// Into dead letters, with the reason an operator reads.
    Dead {
        reason: String,
    },
}

impl RetryPolicy {
    pub fn classify(&self, result: &AttemptResult) -> Class {
        match *result {
            AttemptResult::Status { code, .. } if (200..300).contains(&code) => Class::Success,
            AttemptResult::Status { code, .. }
                if code == 408 || code == 429 || (500..600).contains(&code) || self.retry_on.contains(&code) =>
            {
                Class::Retryable
            }
            AttemptResult::Status { .. } => Class::Permanent,
            AttemptResult::Transport { .. } => Class::Retryable,
            AttemptResult::Done => Class::Success,
        }
    }

    /// Decides after attempt number `attempt` (1-based within the current
    /// round, i.e. since acceptance or the last manual retry) of a round
    /// that started at `round_started`. `describe` is the outcome in words,
    /// used in the dead-letter reason.
    pub fn decide(
        &self,
        result: &AttemptResult,
        attempt: u32,
        round_started: SystemTime,
        now: SystemTime,
        describe: &str,
    ) -> Verdict {
        match self.classify(result) {
            Class::Success => Verdict::Succeeded,
            Class::Permanent => Verdict::Dead {
                reason: format!("{describe}; not retried (only 408, 429, 5xx and retry_on statuses are)"),
            },
            Class::Retryable if attempt >= self.max_attempts => {
                Verdict::Dead { reason: format!("gave up after {attempt} attempt(s); last: {describe}") }
            }
            Class::Retryable => {
                let retry_after = match result {
                    AttemptResult::Status { retry_after, .. } => *retry_after,
                    AttemptResult::Transport { .. } | AttemptResult::Done => None,
                };
                let after = match retry_after {
                    Some(wait) => wait.min(self.max_backoff),
                    None => self.backoff(attempt),
                };
                let deadline = round_started + self.max_age;
                if now + after > deadline {
                    Verdict::Dead {
                        reason: format!(
                            "gave up after {attempt} attempt(s): the next would be past max_age ({}); last: {describe}",
                            humantime::format_duration(self.max_age)
                        ),
                    }
                } else {
                    Verdict::Retry { after }
                }
            }
        }
    }

    /// The wait after failed attempt `attempt`: uniform in
    /// `[0, min(max_backoff, initial_backoff * 2^(attempt-1))]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self.backoff_cap(attempt);
        let micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(fastrand::u64(0..=micros))
    }

    /// The ceiling of [`backoff`](Self::backoff) for `attempt`.
    pub fn backoff_cap(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff.max(self.initial_backoff))
    }
}

/// Reads `Retry-After`: delta-seconds or an HTTP date. A date in the past
/// means "now".
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Durations stored as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> AttemptResult {
        AttemptResult::Status { code, retry_after: None }
    }

    #[test]
    fn classifies_like_webhook_senders() {
        let p = RetryPolicy { retry_on: vec![409], ..Default::default() };
        for code in [200, 201, 204, 299] {
            assert_eq!(p.classify(&status(code)), Class::Success, "{code}");
        }
        for code in [408, 429, 500, 502, 503, 504, 409] {
            assert_eq!(p.classify(&status(code)), Class::Retryable, "{code}");
        }
        for code in [301, 302, 400, 401, 403, 404, 410, 422] {
            assert_eq!(p.classify(&status(code)), Class::Permanent, "{code}");
        }
        assert_eq!(p.classify(&AttemptResult::Transport { timeout: true }), Class::Retryable);
    }

    #[test]
    fn backoff_is_capped_full_jitter() {
        let p = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            ..Default::default()
        };
        assert_eq!(p.backoff_cap(1), Duration::from_secs(1));
        assert_eq!(p.backoff_cap(3), Duration::from_secs(4));
        assert_eq!(p.backoff_cap(5), Duration::from_secs(10));
        assert_eq!(p.backoff_cap(1000), Duration::from_secs(10));
        for attempt in 1..20 {
            assert!(p.backoff(attempt) <= p.backoff_cap(attempt));
        }
    }

    #[test]
    fn gives_up_on_attempts_and_age() {
        let p = RetryPolicy { max_attempts: 3, max_age: Duration::from_secs(60), ..Default::default() };
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(matches!(p.decide(&status(503), 2, t0, t0, "503"), Verdict::Retry { .. }));
        assert!(matches!(p.decide(&status(503), 3, t0, t0, "503"), Verdict::Dead { .. }));
        assert!(matches!(p.decide(&status(404), 1, t0, t0, "404"), Verdict::Dead { .. }));
        let late = t0 + Duration::from_secs(61);
        assert!(matches!(p.decide(&status(503), 1, t0, late, "503"), Verdict::Dead { .. }));
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let p = RetryPolicy { max_backoff: Duration::from_secs(30), ..Default::default() };
        let now = SystemTime::now();
        let r = AttemptResult::Status { code: 429, retry_after: Some(Duration::from_secs(7)) };
        assert_eq!(p.decide(&r, 1, now, now, "429"), Verdict::Retry { after: Duration::from_secs(7) });
        let r = AttemptResult::Status { code: 503, retry_after: Some(Duration::from_secs(3600)) };
        assert_eq!(p.decide(&r, 1, now, now, "503"), Verdict::Retry { after: Duration::from_secs(30) });
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now), Some(Duration::from_secs(10)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn overrides_layer() {
        let base = RetryPolicy { max_attempts: 5, ..Default::default() };
        let o = RetryOverrides { initial_backoff: Some(Duration::from_secs(900)), ..Default::default() };
        let p = o.over(&base);
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.initial_backoff, Duration::from_secs(900));
        assert_eq!(p.max_backoff, Duration::from_secs(900), "raised to the initial backoff");
    }
}
