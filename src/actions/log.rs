//! `log`: one structured line per event through `tracing`.
//!
//! The message may be a template (`{{ json.pusher.name }} pushed`); if it
//! cannot be rendered for an event, an error line says why instead, and the
//! event's other actions go on.

use std::borrow::Cow;

use http::header::HeaderName;
use serde_json::{Map, Value};

use crate::config::spec::{LogLevel, LogSpec};
use crate::config::ConfigError;
use crate::event::Event;
use crate::template::{Escape, RenderError, Scope, Text};

#[derive(Debug)]
pub(crate) struct LogAction {
    pub(crate) level: LogLevel,
    pub(crate) message: Text,
    pub(crate) headers: Vec<HeaderName>,
}

impl LogAction {
    pub(crate) fn compile(spec: &LogSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<LogAction> {
        let mut headers = Vec::new();
        for (i, h) in spec.headers.iter().enumerate() {
            match HeaderName::from_bytes(h.as_bytes()) {
                Ok(n) => headers.push(n),
                Err(_) => {
                    errors.push(ConfigError::new(format!("{path}.headers[{i}]"), format!("invalid header name {h:?}")))
                }
            }
        }
        let message = match &spec.message {
            Some(m) => Text::compile(m, Escape::None, &format!("{path}.message"), errors)?,
            None => Text::plain("event received"),
        };
        Some(LogAction { level: spec.level.unwrap_or(LogLevel::Info), message, headers })
    }

    /// The message for one event, rendered: what this action will write.
    pub(crate) fn plan<'s>(&'s self, scope: &Scope) -> Result<Cow<'s, str>, RenderError> {
        self.message.render(scope)
    }

    /// Writes the planned line for `event`, or an error line when its
    /// message did not render. True when the planned line was written.
    pub(crate) fn write(&self, event: &Event, route: &str, planned: &Result<Cow<'_, str>, RenderError>) -> bool {
        let message = match planned {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(target: "hookroute::action::log", route, event_id = %event.id, "log action failed: message: {e}");
                return false;
            }
        };
        let mut selected = Map::new();
        for name in &self.headers {
            if let Some(v) = event.headers.get(name).and_then(|v| v.to_str().ok()) {
                let v = if crate::guard::is_credential_header(name) { "***" } else { v };
                selected.insert(name.as_str().to_string(), Value::String(v.to_string()));
            }
        }
        // `headers` is written only when asked for (an empty `{}` on every
        // line said nothing), and JSON log lines write it as an object (see
        // observe::json_lines::OBJECT_FIELDS).
        let headers = (!self.headers.is_empty()).then(|| Value::Object(selected));
        let (id, method, path, message) = (&event.id, event.method.as_str(), &event.path, &**message);
        // tracing needs the level at compile time, hence one call per level.
        macro_rules! emit {
            ($lvl:expr) => {
                tracing::event!(target: "hookroute::action::log", $lvl, route, event_id = %id, method, path = %path, headers = headers.as_ref().map(tracing::field::display), "{message}")
            };
        }
        match self.level {
            LogLevel::Trace => emit!(tracing::Level::TRACE),
            LogLevel::Debug => emit!(tracing::Level::DEBUG),
            LogLevel::Info => emit!(tracing::Level::INFO),
            LogLevel::Warn => emit!(tracing::Level::WARN),
            LogLevel::Error => emit!(tracing::Level::ERROR),
        }
        true
    }
}
