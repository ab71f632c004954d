//! `log`: one structured line per event through `tracing`.

use http::header::HeaderName;
use serde_json::{Map, Value};

use crate::config::spec::{LogLevel, LogSpec};
use crate::config::ConfigError;
use crate::event::Event;

#[derive(Debug)]
pub struct LogAction {
    pub level: LogLevel,
    pub message: String,
    pub headers: Vec<HeaderName>,
}

impl LogAction {
    pub fn compile(spec: &LogSpec, path: &str, errors: &mut Vec<ConfigError>) -> Option<LogAction> {
        let mut headers = Vec::new();
        for (i, h) in spec.headers.iter().enumerate() {
            match HeaderName::from_bytes(h.as_bytes()) {
                Ok(n) => headers.push(n),
                Err(_) => {
                    errors.push(ConfigError::new(format!("{path}.headers[{i}]"), format!("invalid header name {h:?}")))
                }
            }
        }
        Some(LogAction {
            level: spec.level.unwrap_or(LogLevel::Info),
            message: spec.message.clone().unwrap_or_else(|| "event received".to_string()),
            headers,
        })
    }

    pub fn run(&self, event: &Event, route: &str) {
        let mut selected = Map::new();
        for name in &self.headers {
            if let Some(v) = event.headers.get(name).and_then(|v| v.to_str().ok()) {
                selected.insert(name.as_str().to_string(), Value::String(v.to_string()));
            }
        }
        let headers = Value::Object(selected).to_string();
        let (id, method, path, message) = (&event.id, event.method.as_str(), &event.path, &self.message);
        // tracing needs the level at compile time, hence one call per level.
        macro_rules! emit {
            ($lvl:expr) => {
                tracing::event!(target: "hookroute::action::log", $lvl, route, event_id = %id, method, path = %path, headers = %headers, "{message}")
            };
        }
        match self.level {
            LogLevel::Trace => emit!(tracing::Level::TRACE),
            LogLevel::Debug => emit!(tracing::Level::DEBUG),
            LogLevel::Info => emit!(tracing::Level::INFO),
            LogLevel::Warn => emit!(tracing::Level::WARN),
            LogLevel::Error => emit!(tracing::Level::ERROR),
        }
    }
}
