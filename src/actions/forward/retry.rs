//! A forward's `retry:` keys, as compiled with the forward. The keys left
//! out come from `defaults.retry`; delivery lays these over its defaults
//! when it accepts a job (see `crate::delivery::retry`).

use std::time::Duration;

use crate::config::delivery_spec::RetrySpec;
use crate::config::ConfigError;

/// The keys one `retry:` block sets; the rest come from the level above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RetryOverrides {
    pub(crate) max_attempts: Option<u32>,
    pub(crate) initial_backoff: Option<Duration>,
    pub(crate) max_backoff: Option<Duration>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) retry_on: Option<Vec<u16>>,
}

impl RetryOverrides {
    /// Compiles a `retry:` block found at `path` (a forward's, or
    /// `defaults.retry`), pushing what is wrong.
    pub(crate) fn compile(spec: &RetrySpec, path: &str, errors: &mut Vec<ConfigError>) -> RetryOverrides {
        RetryOverrides {
            max_attempts: spec.max_attempts,
            initial_backoff: spec.initial_backoff.map(|d| d.0),
            max_backoff: spec.max_backoff.map(|d| d.0),
            max_age: spec.max_age.map(|d| d.0),
            retry_on: spec.retry_on.clone(),
        }
        .checked(path, errors)
    }

    /// Checks the keys of a `retry:` block found at `path`, pushing what is
    /// wrong; the block is returned as written.
    pub(crate) fn checked(self, path: &str, errors: &mut Vec<ConfigError>) -> RetryOverrides {
        let spec = &self;
        if spec.max_attempts == Some(0) {
            errors.push(ConfigError::new(
                format!("{path}.max_attempts"),
                "must be at least 1 (the first attempt counts)",
            ));
        }
        for (key, value) in
            [("initial_backoff", spec.initial_backoff), ("max_backoff", spec.max_backoff), ("max_age", spec.max_age)]
        {
            if value.is_some_and(|d| d.is_zero()) {
                errors.push(ConfigError::new(format!("{path}.{key}"), "must be greater than 0"));
            }
        }
        if let (Some(initial), Some(max)) = (spec.initial_backoff, spec.max_backoff) {
            if max < initial {
                errors.push(ConfigError::new(
                    format!("{path}.max_backoff"),
                    format!(
                        "is shorter than initial_backoff ({} < {})",
                        humantime::format_duration(max),
                        humantime::format_duration(initial)
                    ),
                ));
            }
        }
        for (i, status) in spec.retry_on.iter().flatten().enumerate() {
            if !(100..=599).contains(status) {
                errors
                    .push(ConfigError::new(format!("{path}.retry_on[{i}]"), format!("{status} is not an HTTP status")));
            } else if (200..300).contains(status) {
                errors.push(ConfigError::new(
                    format!("{path}.retry_on[{i}]"),
                    format!("{status} is a success; only failures can be retried"),
                ));
            }
        }
        self
    }
}
