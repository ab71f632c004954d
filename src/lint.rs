//! `check` warnings: a config that loads but does not do what its author
//! meant.
//!
//! Warnings never stop a config from loading (`check` exits 0 when there
//! are only warnings); they point at routes that routing can never take:
//! - a route after an unconditional route on the same path and method that
//!   does not `continue` (the earlier one takes every request);
//! - a route with the same path and the same conditions as an earlier one;
//! - a body template that can only fail (see [`body_warnings`]);
//! - an explicit `routes: []`, which answers every webhook 404 (a file
//!   without any `routes:` list is an error instead: see [`crate::config`]);
//! - a template that reads a top-level name the context never has
//!   (`{{ jsn.event_type }}`): it loads, then fails for every event.
//!
//! "The same path" follows the router's trailing-slash rule: `/hooks/x/`
//! and `/hooks/x` are one path unless a route says `strict_slash: true`.
//!
//! A forward URL without a scheme is not a warning: it is already an error
//! (see [`crate::actions::forward`]), because it cannot be sent at all.

use std::collections::BTreeMap;

use crate::config::error::closest;
use crate::config::spec::ActionSpec;
use crate::config::{Config, ConfigError, RouteSpec};
use crate::template;
use crate::template::{unknown_roots, ROOTS};

/// Said by `check`, and logged by startup and reload, for `routes: []`.
pub(crate) const NO_ROUTES: &str = "`routes: []` routes nothing: every webhook will be answered 404 \
    (and senders such as GitHub do not redeliver after a 404)";

/// Every warning, located like an error (route, line, column).
pub fn warnings(config: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    if config.routes.is_empty() && config.problems.is_empty() {
        out.push(ConfigError { location: config.key_location("routes"), ..ConfigError::new("", NO_ROUTES) });
    }
    let routes = &config.routes;
    for (i, later) in routes.iter().enumerate() {
        for (j, earlier) in routes.iter().enumerate().take(i) {
            if !path_covers(earlier, later) {
                continue;
            }
            let shared: Vec<String> = methods(later).into_iter().filter(|m| methods(earlier).contains(m)).collect();
            if shared.is_empty() {
                continue;
            }
            let line = config.locate(j, ConfigError::new("", "")).location.map(|l| l.line).unwrap_or(0);
            let methods_text = shared.join(", ");
            let message = if earlier.when.is_empty() && !earlier.continue_matching {
                let all = shared.len() == methods(later).len();
                let what = if all { "can never be reached" } else { "is never reached by these methods" };
                format!(
                    "{what}: route \"{}\" (line {line}) has no conditions, takes every {methods_text} request to {} first, and does not `continue`",
                    earlier.name, later.path
                )
            } else if !earlier.when.is_empty() && conditions_key(earlier) == conditions_key(later) {
                if earlier.continue_matching {
                    format!(
                        "has the same path and conditions as route \"{}\" (line {line}); both are taken for {methods_text}, so one route with both routes' actions would say the same",
                        earlier.name
                    )
                } else {
                    format!(
                        "can never be reached: it has the same path and conditions as route \"{}\" (line {line}), which is tried first and does not `continue`",
                        earlier.name
                    )
                }
            } else {
                continue;
            };
            out.push(config.locate(i, ConfigError::new("", message)));
            break;
        }
    }
    for (i, route) in routes.iter().enumerate() {
        out.extend(body_warnings(route).into_iter().map(|w| config.locate(i, w)));
    }
    out
}

/// Templates in the routes of `root` (the file's YAML, as `check` read it)
/// that name an unknown top-level variable, located in `config`. Every
/// string with `{{`/`{%` is looked at, whichever key holds it. Skipped when
/// some route did not decode (route indices would not line up; `check`
/// reports the errors then).
pub fn template_warnings(config: &Config, root: &serde_yaml::Value) -> Vec<ConfigError> {
    let Some(routes) = root.get("routes").and_then(serde_yaml::Value::as_sequence) else { return Vec::new() };
    if routes.len() != config.routes.len() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        let mut found = Vec::new();
        strings(route, String::new(), &mut found);
        for (key_path, source) in found {
            for name in unknown_roots(&source) {
                let hint = match closest(&name, &ROOTS) {
                    Some(known) => format!(" (did you mean `{known}`?)"),
                    None => String::new(),
                };
                let message = format!(
                    "template reads `{name}`, which no event has{hint}; a template sees {}",
                    ROOTS.map(|r| format!("`{r}`")).join(", ")
                );
                out.push(config.locate(i, ConfigError::new(key_path.clone(), message)));
            }
        }
    }
    out
}

/// Every string under `value` that looks like a template, with its key path.
fn strings(value: &serde_yaml::Value, path: String, out: &mut Vec<(String, String)>) {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        serde_yaml::Value::String(s) if crate::template::is_template(s) => out.push((path, s.clone())),
        serde_yaml::Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{path}[{i}]"), out);
            }
        }
        serde_yaml::Value::Mapping(map) => {
            for (key, item) in map {
                strings(item, join(key.as_str().unwrap_or("?")), out);
            }
        }
        serde_yaml::Value::Tagged(tagged) => strings(&tagged.value, path, out),
        _ => {}
    }
}

/// Bodies that cannot do what their author meant: a template that can
/// only fail, or JSON written as a string body without a JSON
/// `Content-Type` (sent as text). See [`template::body::static_warning`].
fn body_warnings(route: &RouteSpec) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let mut check = |key: String, body: Option<&serde_json::Value>, headers: &BTreeMap<String, String>| {
        let declared = template::body::declared_content_type(headers);
        if let Some(message) = body.and_then(|b| template::body::static_warning(b, declared)) {
            out.push(ConfigError::new(key, message));
        }
    };
    for (j, action) in route.actions.iter().enumerate() {
        if let ActionSpec::Forward(f) = action {
            check(format!("actions[{j}].forward.body"), f.body.as_ref(), &f.headers);
        }
    }
    if let Some(respond) = &route.respond {
        check("respond.body".to_string(), respond.body.as_ref(), &respond.headers);
    }
    out
}

/// True when every request path `later` accepts reaches `earlier` too,
/// under the router's trailing-slash rule: a lenient route takes its path
/// with and without a trailing slash, a `strict_slash` one only as written.
fn path_covers(earlier: &RouteSpec, later: &RouteSpec) -> bool {
    fn trimmed(path: &str) -> &str {
        path.strip_suffix('/').filter(|t| !t.is_empty()).unwrap_or(path)
    }
    match (earlier.strict_slash, later.strict_slash) {
        (false, _) => trimmed(&earlier.path) == trimmed(&later.path),
        (true, true) => earlier.path == later.path,
        // The later route also takes the spelling the earlier one refuses.
        (true, false) => false,
    }
}

/// Upper-case methods; POST when none are listed (as the router does).
fn methods(route: &RouteSpec) -> Vec<String> {
    match &route.methods {
        None => vec!["POST".to_string()],
        Some(list) => list.iter().map(|m| m.to_ascii_uppercase()).collect(),
    }
}

/// The route's conditions in a comparable form, ignoring their order.
fn conditions_key(route: &RouteSpec) -> Vec<String> {
    let mut parts: Vec<String> = route.when.iter().map(|c| format!("{c:?}")).collect();
    parts.sort();
    parts
}

/// One warning as printed: `file:line:col: warning: route "name": key: message`.
pub fn format(file: &str, w: &ConfigError) -> String {
    let at = w.location.map(|l| format!("{}:{}:", l.line, l.column)).unwrap_or_default();
    let route = w.route.as_ref().map(|r| format!("route \"{r}\": ")).unwrap_or_default();
    let key = if w.key_path.is_empty() { String::new() } else { format!("{}: ", w.key_path) };
    format!("{file}:{at} warning: {route}{key}{}", w.message)
}
