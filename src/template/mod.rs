//! Templates in routes.yaml: `{{ json.pusher.name }}` in a forward's URL,
//! headers and body, a log message, a file path, a reply.
//!
//! The engine is minijinja (Jinja syntax, which operators already know from
//! Ansible and Salt). Every template is compiled once, when the config loads,
//! and its syntax errors are reported like every other config error, with
//! the key path and line; nothing parses a template per request. A string
//! without `{{` or `{%` is not a template at all: it stays the plain string
//! it was, with no per-request cost.
//!
//! Sandboxing: the environment has no loader (no `include` of files), no
//! functions beyond minijinja's pure built-ins, and a fuel budget per render,
//! so a template cannot read the disk, loop forever or allocate without
//! bound. Undefined values are *semi-strict*: printing or walking into a
//! value that is not there is a render error (a message with a hole in it is
//! worse than no message), while `{% if json.draft %}` and
//! `json.x | default("-")` may test for it.
//!
//! A render error fails the one action it belongs to, never the process;
//! see each action for what failing means there.

pub(crate) mod body;
pub(crate) mod context;
pub(crate) mod headers;
pub(crate) mod path;
pub(crate) mod url;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior};

pub(crate) use body::Body;
pub(crate) use context::Scope;
pub(crate) use headers::Headers;
pub(crate) use path::PathTemplate;
pub(crate) use url::UrlTemplate;

use crate::config::ConfigError;

/// Fuel for one render: minijinja charges roughly one unit per instruction
/// or per 64 bytes produced, so this bounds a render to a few million steps
/// and about 256 MiB, far above any sane template (a `tojson` of a 5 MiB
/// payload uses about 80k) and far below what would hurt the process.
const FUEL: u64 = 4_000_000;

/// The single template each environment holds.
const NAME: &str = "template";

/// How values printed by `{{ }}` are escaped, by where the output goes.
/// Values marked safe (`| safe`, `| tojson`) are always written as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// Written as they are: log messages, file paths, headers, text bodies.
    None,
    /// Escaped as the inside of a JSON string (`"` → `\"`), so
    /// `{"text": "{{ json.title }}"}` stays valid JSON whatever the title;
    /// numbers, booleans and null print as JSON.
    JsonString,
    /// Printed as JSON (a string gets its quotes): a body leaf that is one
    /// `{{ expr }}` keeps the value's type.
    Json,
    /// Percent-encoded as one URL component, so a payload value cannot add
    /// path segments, a query or a fragment to a forward URL.
    UrlComponent,
}

impl Escape {
    fn auto_escape(self) -> AutoEscape {
        match self {
            Escape::None => AutoEscape::None,
            Escape::Json => AutoEscape::Json,
            Escape::JsonString => AutoEscape::Custom(Cow::Borrowed("json-string")),
            Escape::UrlComponent => AutoEscape::Custom(Cow::Borrowed("url")),
        }
    }
}

/// A string from the config that may be a template.
#[derive(Clone)]
pub(crate) struct Text {
    source: Arc<str>,
    /// None: a plain string, used as it is.
    compiled: Option<Arc<Environment<'static>>>,
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Text").field("source", &self.source).field("template", &self.compiled.is_some()).finish()
    }
}

/// A template that could not be rendered for one event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct RenderError(pub(crate) String);

/// True when `text` uses template syntax (`{{ }}` or `{% %}`).
pub(crate) fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// The top-level names a template can see (see [`context`]).
pub(crate) const ROOTS: [&str; 6] = ["json", "headers", "query", "path_params", "event", "route"];

/// The top-level names `source` reads that the context never has (`jsn` in
/// `{{ jsn.event_type }}`), sorted: such a template fails for every event.
/// Names the template sets itself (`{% set %}`, loop variables) and
/// minijinja's global functions (`range`, `dict`, …) are not counted. A
/// template that does not parse has none (its syntax error is reported).
pub(crate) fn unknown_roots(source: &str) -> Vec<String> {
    if !is_template(source) {
        return Vec::new();
    }
    let env = base_environment();
    let Ok(template) = env.template_from_str(source) else { return Vec::new() };
    let mut names: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|n| !ROOTS.contains(&n.as_str()) && !env.globals().any(|(g, _)| g == n))
        .collect();
    names.sort();
    names
}

/// The part of `text` before its first `{{` or `{%`: what is literal
/// whatever the event.
pub(crate) fn literal_prefix(text: &str) -> &str {
    let at = [text.find("{{"), text.find("{%")].into_iter().flatten().min().unwrap_or(text.len());
    &text[..at]
}

/// The part of `text` after its last `}}` or `%}`: what is literal at the
/// end whatever the event.
pub(crate) fn literal_suffix(text: &str) -> &str {
    let at = [text.rfind("}}"), text.rfind("%}")].into_iter().flatten().max().map_or(0, |i| i + 2);
    text.get(at..).unwrap_or("")
}

impl Text {
    /// Compiles `source`; a syntax error is pushed at `key_path`.
    pub(crate) fn compile(source: &str, escape: Escape, key_path: &str, errors: &mut Vec<ConfigError>) -> Option<Text> {
        if !is_template(source) {
            return Some(Text::plain(source));
        }
        let mut env = base_environment().clone();
        let auto = escape.auto_escape();
        env.set_auto_escape_callback(move |_| auto.clone());
        if let Err(e) = env.add_template_owned(NAME, source.to_string()) {
            errors.push(ConfigError::new(key_path, format!("invalid template: {}", describe(&e, source))));
            return None;
        }
        if let Some(e) = unknown_name(&env) {
            errors.push(ConfigError::new(key_path, format!("invalid template: {}", describe(&e, source))));
            return None;
        }
        Some(Text { source: Arc::from(source), compiled: Some(Arc::new(env)) })
    }

    /// A string that is never rendered.
    pub(crate) fn plain(text: &str) -> Text {
        Text { source: Arc::from(text), compiled: None }
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// True when the text has no template syntax (a unit test's check).
    #[cfg(test)]
    pub(crate) fn is_plain(&self) -> bool {
        self.compiled.is_none()
    }

    /// The text for one event: the string itself when plain.
    pub(crate) fn render(&self, scope: &Scope) -> Result<Cow<'_, str>, RenderError> {
        let Some(env) = &self.compiled else { return Ok(Cow::Borrowed(&self.source)) };
        let template = env.get_template(NAME).map_err(|e| RenderError(describe(&e, &self.source)))?;
        template.render(scope.value()).map(Cow::Owned).map_err(|e| RenderError(describe(&e, &self.source)))
    }
}

/// One line saying what went wrong and where in the template.
pub(crate) fn describe(e: &Error, source: &str) -> String {
    let quoted = e.range().and_then(|r| expression_at(source, r)).map(|s| format!(" `{s}`")).unwrap_or_default();
    let what = match (e.kind(), e.detail()) {
        (ErrorKind::UndefinedError, _) => format!(
            "undefined value{quoted}: the event has no such key (test it with `is defined` or use `| default(...)`)"
        ),
        (ErrorKind::OutOfFuel, _) => "the template did too much work for one event (fuel exhausted)".to_string(),
        (kind, Some(d)) => format!("{kind}: {d}"),
        (kind, None) => kind.to_string(),
    };
    match e.line() {
        Some(line) => format!("{what} (template line {line})"),
        None => what,
    }
}

/// The expression an error span points into, widened back to the start of
/// its name (minijinja's span of `json.a.b` begins at `.a`).
fn expression_at(source: &str, range: std::ops::Range<usize>) -> Option<&str> {
    let head = source.get(..range.start)?;
    let start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.'))
        .last()
        .map_or(range.start, |(i, _)| i);
    source.get(start..range.end).map(str::trim)
}

/// A filter, test or function name that does not exist (a typo such as
/// `| tojosn`). minijinja resolves names when a template runs, so the
/// template is run once at load against an empty event, with undefined
/// values allowed everywhere; only unknown names are reported from that run.
fn unknown_name(env: &Environment<'static>) -> Option<Error> {
    let mut trial = env.clone();
    trial.set_undefined_behavior(UndefinedBehavior::Chainable);
    trial.set_fuel(Some(100_000));
    let template = trial.get_template(NAME).ok()?;
    match template.render(minijinja::context! {}) {
        Err(e)
            if matches!(e.kind(), ErrorKind::UnknownFilter | ErrorKind::UnknownTest | ErrorKind::UnknownFunction) =>
        {
            Some(e)
        }
        _ => None,
    }
}

/// The environment every template starts from: strictness, fuel, the
/// escaping formatter and no loader.
fn base_environment() -> &'static Environment<'static> {
    static BASE: OnceLock<Environment<'static>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_fuel(Some(FUEL));
        env.set_formatter(format_value);
        env.set_debug(false);
        env
    })
}

/// Writes a `{{ }}` value with this template's escaping.
fn format_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let mode = match state.auto_escape() {
        AutoEscape::Custom(name) if !value.is_safe() => name.clone(),
        _ => return minijinja::escape_formatter(out, state, value),
    };
    let text = match mode.as_ref() {
        "json-string" => json_inside_string(value)?,
        "url" => {
            let raw = match value.as_str() {
                Some(s) => s.to_string(),
                None => value.to_string(),
            };
            percent_encoding::utf8_percent_encode(&raw, URL_COMPONENT).to_string()
        }
        other => return Err(Error::new(ErrorKind::InvalidOperation, format!("unknown escaping {other}"))),
    };
    out.write_str(&text).map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
}

/// Everything but RFC 3986's unreserved characters is encoded.
const URL_COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A string's JSON escape without the quotes; anything else as JSON.
fn json_inside_string(value: &Value) -> Result<String, Error> {
    let json = serde_json::to_string(value)
        .map_err(|e| Error::new(ErrorKind::BadSerialization, format!("cannot write the value as JSON: {e}")))?;
    Ok(match value.as_str() {
        Some(_) => json.get(1..json.len().saturating_sub(1)).unwrap_or("").to_string(),
        None => json,
    })
}

#[cfg(test)]
mod tests;
