//! Typed decoding that reports every problem, not just the first.
//!
//! serde stops at the first error. To report all of them, a failed decode is
//! retried with the offending key removed, until the value decodes or nothing
//! more can be removed; each removal records the error that caused it. Errors
//! found later (while compiling) under a path that was already reported are
//! dropped, so one mistake yields one message.

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::error::{closest, ConfigError};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A decode failure, already phrased for the operator.
#[derive(Debug, Clone)]
pub(crate) struct DecodeProblem {
    /// Key path relative to the decoded value.
    pub key_path: String,
    /// True when the location should point at a key (an unknown key) rather
    /// than at a value.
    pub at_key: bool,
    pub message: String,
}

impl DecodeProblem {
    pub(crate) fn into_error(self) -> ConfigError {
        ConfigError::new(self.key_path, self.message)
    }
}

/// Decodes `value` as `T`, removing bad keys and retrying to find every
/// problem. Returns the decoded value (if it could be decoded at all after
/// removals) and the problems found.
pub(crate) fn decode_all<T: DeserializeOwned>(mut value: Value) -> (Option<T>, Vec<DecodeProblem>) {
    // Most values decode: try once without serde_path_to_error, whose path
    // tracking wraps every step and is only needed to explain a failure.
    if let Ok(decoded) = T::deserialize(&value) {
        return (Some(decoded), Vec::new());
    }
    let mut problems: Vec<DecodeProblem> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    // Each round removes one key, so this bounds the work on a hostile file.
    for _ in 0..64 {
        let err = match serde_path_to_error::deserialize::<_, T>(&value) {
            Ok(decoded) => return (Some(decoded), problems),
            Err(err) => err,
        };
        let steps = parse_path(&err.path().to_string());
        let raw = err.inner().to_string();
        let (message, unknown_key) = phrase(&raw);
        if let Some(field) = missing_field(&raw) {
            // A required key we removed ourselves is already reported.
            let path = join(&steps, Some(field));
            if !removed.iter().any(|r| r == &path) {
                problems.push(DecodeProblem { key_path: join(&steps, None), at_key: false, message });
            }
            return (None, problems);
        }
        let (target, at_key) = match &unknown_key {
            // serde_path_to_error's path already ends at the unknown key in
            // most cases; make sure it does.
            Some(key) => {
                let mut t = steps.clone();
                if t.last() != Some(&Step::Key(key.clone())) {
                    t.push(Step::Key(key.clone()));
                }
                (t, true)
            }
            None => (steps.clone(), false),
        };
        problems.push(DecodeProblem { key_path: join(&target, None), at_key, message });
        match remove_nearest_key(&mut value, &target) {
            Some(path) => removed.push(path),
            None => return (None, problems),
        }
    }
    (None, problems)
}

/// Rewrites serde's wording into the operator's: unknown keys get a
/// suggestion, enum variants get the list of allowed values.
fn phrase(raw: &str) -> (String, Option<String>) {
    let quoted: Vec<&str> = raw.split('`').skip(1).step_by(2).collect();
    let suggestion =
        |unknown: &str| closest(unknown, &quoted[1..]).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
    let expected = || quoted[1..].iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    if raw.starts_with("unknown field") && !quoted.is_empty() {
        let unknown = quoted[0];
        let msg = format!("unknown key `{unknown}`{}; expected one of {}", suggestion(unknown), expected());
        return (msg, Some(unknown.to_string()));
    }
    if raw.starts_with("unknown variant") && !quoted.is_empty() {
        let unknown = quoted[0];
        return (format!("unknown value `{unknown}`{}; expected one of {}", suggestion(unknown), expected()), None);
    }
    if let Some(field) = missing_field(raw) {
        return (format!("missing required key `{field}`"), None);
    }
    // serde_yaml appends its own (meaningless for a Value) position.
    let cleaned = raw.split(" at line ").next().unwrap_or(raw);
    if cleaned.starts_with("invalid type: map, expected a string") {
        // `message: {{ json.a }}` is a mapping inside a mapping to YAML.
        return (
            format!("{cleaned} (if this is a `{{{{ … }}}}` template, put it in quotes: \"{{{{ json.a }}}}\")"),
            None,
        );
    }
    (cleaned.to_string(), None)
}

fn missing_field(raw: &str) -> Option<&str> {
    raw.strip_prefix("missing field `")?.split('`').next()
}

/// Parses serde_path_to_error's `a.b[2].c` form.
fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    if path == "." {
        return steps;
    }
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                steps.push(Step::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(tail) = rest.strip_prefix('[') {
                let end = tail.find(']').unwrap_or(tail.len());
                if let Ok(n) = tail[..end].parse() {
                    steps.push(Step::Index(n));
                }
                rest = tail.get(end + 1..).unwrap_or("");
            }
        } else if !rest.is_empty() && rest != "?" {
            steps.push(Step::Key(rest.to_string()));
        }
    }
    steps
}

fn join(steps: &[Step], extra: Option<&str>) -> String {
    let mut out = String::new();
    for step in steps.iter().map(Some).chain(std::iter::once(None)) {
        let key = match step {
            Some(Step::Index(i)) => {
                out.push_str(&format!("[{i}]"));
                continue;
            }
            Some(Step::Key(k)) => k.as_str(),
            None => match extra {
                Some(k) => k,
                None => break,
            },
        };
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    }
    out
}

/// Removes the mapping entry at `target`, or, if `target` is a list element,
/// the nearest enclosing mapping entry. Returns the removed key's path.
fn remove_nearest_key(value: &mut Value, target: &[Step]) -> Option<String> {
    let cut = target.iter().rposition(|s| matches!(s, Step::Key(_)))?;
    let Step::Key(key) = &target[cut] else { return None };
    let parent = navigate(value, &target[..cut])?;
    let map: &mut Mapping = parent.as_mapping_mut()?;
    map.remove(key.as_str())?;
    Some(join(&target[..=cut], None))
}

fn navigate<'a>(value: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    let mut node = value;
    for step in steps {
        node = match step {
            Step::Key(k) => node.as_mapping_mut()?.get_mut(k.as_str())?,
            Step::Index(i) => node.as_sequence_mut()?.get_mut(*i)?,
        };
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::RouteSpec;

    fn problems(yaml: &str) -> Vec<String> {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        let (_, p) = decode_all::<RouteSpec>(v);
        p.into_iter().map(|p| format!("{}: {}", p.key_path, p.message)).collect()
    }

    #[test]
    fn finds_several_problems_in_one_route() {
        let mut p = problems(
            "name: a\npath: /x\nmetods: [POST]\nwhen:\n  - json: $.a\n    equal: 1\nactions:\n  - forward: {url: http://x, timeout: soon}\n",
        );
        assert_eq!(p.len(), 3, "{p:?}");
        p.sort();
        assert!(p[1].starts_with("metods: unknown key `metods` (did you mean `methods`?)"), "{p:?}");
        assert!(p[2].starts_with("when[0].equal: unknown key `equal` (did you mean `equals`?)"), "{p:?}");
        assert!(p[0].starts_with("actions[0].forward.timeout: invalid duration \"soon\""), "{p:?}");
    }

    #[test]
    fn missing_required_key_is_reported_once() {
        let p = problems("name: a\nactions: []\n");
        assert_eq!(p, vec![": missing required key `path`".to_string()]);
    }

    #[test]
    fn path_round_trip() {
        let steps = parse_path("routes[0].when[1].json");
        assert_eq!(join(&steps, None), "routes[0].when[1].json");
        assert_eq!(join(&parse_path("a"), Some("b")), "a.b");
    }
}
