//! `event_log:` compiled: whether requests are recorded, how much of each,
//! and how long the log keeps them.
//!
//! It lives with the settings (not in `crate::eventlog`, which sits above
//! them) because [`super::Settings`] holds it and a reload compares it like
//! every other key. Every field applies at reload: recording reads the
//! active settings per request, and the log's writer prunes with the
//! limits of the config active when it runs.

use std::time::Duration;

use crate::config::{ConfigError, ConfigSpec};

/// Default `max_events`.
pub const DEFAULT_MAX_EVENTS: u64 = 100_000;
/// Default `max_age`: a week.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default `max_body_bytes`: 64 KiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The compiled `event_log:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLogSettings {
    /// Record requests at all.
    pub enabled: bool,
    /// Most events kept (the oldest go first).
    pub max_events: u64,
    /// Events older than this are pruned.
    pub max_age: Duration,
    /// Keep bodies (cut at `max_body_bytes`); false: metadata only.
    pub bodies: bool,
    /// Bytes of a body kept per event.
    pub max_body_bytes: usize,
}

impl Default for EventLogSettings {
    fn default() -> Self {
        EventLogSettings {
            enabled: true,
            max_events: DEFAULT_MAX_EVENTS,
            max_age: DEFAULT_MAX_AGE,
            bodies: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl EventLogSettings {
    /// Compiles `event_log:`, adding each problem with its key.
    pub(crate) fn compile(spec: &ConfigSpec, errors: &mut Vec<ConfigError>) -> EventLogSettings {
        let mut out = EventLogSettings::default();
        let Some(block) = &spec.event_log else { return out };
        if let Some(enabled) = block.enabled {
            out.enabled = enabled;
        }
        if let Some(bodies) = block.bodies {
            out.bodies = bodies;
        }
        match block.max_events {
            Some(0) => errors.push(ConfigError::new("event_log.max_events", "must be at least 1")),
            Some(n) => out.max_events = n,
            None => {}
        }
        match block.max_age {
            Some(age) if age.0.is_zero() => {
                errors.push(ConfigError::new("event_log.max_age", "must be greater than 0"))
            }
            Some(age) => out.max_age = age.0,
            None => {}
        }
        if let Some(size) = block.max_body_bytes {
            match usize::try_from(size.as_u64()) {
                Ok(n) => out.max_body_bytes = n,
                Err(_) => errors.push(ConfigError::new("event_log.max_body_bytes", "is too large")),
            }
        }
        out
    }
}
