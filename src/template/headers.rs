//! Configured header values, plain or templated: one implementation for
//! every action that sends headers (a forward's request, a route's
//! `respond:` answer), so a value is checked and rendered the same way, with
//! the same messages, wherever it is configured.

use std::collections::BTreeMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{is_template, Escape, RenderError, Scope, Text};
use crate::config::ConfigError;

/// Configured headers, compiled: the plain ones ready to send, the
/// templated ones to render per event.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    pub(crate) fixed: HeaderMap,
    /// Header values that are templates (the plain ones are in `fixed`).
    pub(crate) templated: Vec<(HeaderName, Text)>,
}

impl Headers {
    /// Compiles a `headers:` map found at `key` (e.g. `actions[0].forward.headers`).
    pub(crate) fn compile(spec: &BTreeMap<String, String>, key: &str, errors: &mut Vec<ConfigError>) -> Headers {
        let mut out = Headers::default();
        for (name, value) in spec {
            let key = format!("{key}.{name}");
            let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                errors.push(ConfigError::new(key, format!("invalid header name {name:?}")));
                continue;
            };
            if is_template(value) {
                out.templated.extend(Text::compile(value, Escape::None, &key, errors).map(|t| (header, t)));
                continue;
            }
            match HeaderValue::from_str(value) {
                Ok(v) => {
                    out.fixed.insert(header, v);
                }
                Err(_) => errors.push(ConfigError::new(key, "header value has characters not allowed in HTTP headers")),
            }
        }
        out
    }

    /// Renders templated values (a [`Headers::templated`] list) for one
    /// event into `headers`, over what is there. `key` names them in errors
    /// (`headers`, `respond.headers`).
    pub(crate) fn render_into(
        templated: &[(HeaderName, Text)],
        scope: &Scope,
        key: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), RenderError> {
        for (name, text) in templated {
            let value = text.render(scope).map_err(|e| RenderError(format!("{key}.{name}: {e}")))?;
            let value = HeaderValue::from_str(&value).map_err(|_| {
                RenderError(format!(
                    "{key}.{name}: the rendered value {value:?} has characters not allowed in HTTP headers (such as a line break)"
                ))
            })?;
            headers.insert(name.clone(), value);
        }
        Ok(())
    }
}
