//! `hookroute test`: route tests an operator runs in CI before deploying a
//! config, the way `promtool test rules` and `vector test` are used.
//!
//! A test is a request and expectations (routes taken, status, the rendered
//! forward, the reply). Each is run through [`crate::explain`], so it uses
//! the real router and the actions' own rendering, and nothing is sent or
//! written: tests need no network and have no side effects. A failure says
//! what differed, with a line diff for bodies.

pub mod command;
/// The `tests:` format, defined in config (see [`crate::config::test_spec`]).
pub(crate) mod spec {
    pub(crate) use crate::config::test_spec::*;
}

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;

use crate::config::decode::decode_all;
use crate::config::locate::PositionIndex;
use crate::explain::{explain, ActionPreview, Explanation, Request};
use crate::router::Snapshot;
pub(crate) use spec::TestSpec;

/// A test with the directory its `body_file` is relative to.
#[derive(Debug, Clone)]
pub(crate) struct LoadedTest {
    pub(crate) spec: TestSpec,
    pub(crate) base_dir: PathBuf,
}

/// The result of one test.
#[derive(Debug, Clone)]
pub(crate) struct TestResult {
    pub(crate) name: String,
    /// Empty when it passed; otherwise each difference, ready to print.
    pub(crate) failures: Vec<String>,
}

impl TestResult {
    pub(crate) fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Reads the `tests:` list of a YAML file (a routes file or a `*.test.yaml`,
/// which may also be a bare list). A file without tests gives none.
pub(crate) fn load(path: &Path) -> Result<Vec<LoadedTest>, Vec<String>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: cannot read: {e}")])?;
    let root: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| vec![format!("{name}: invalid YAML: {e}")])?;
    let (prefix, list) = match root {
        serde_yaml::Value::Sequence(_) => ("", root),
        serde_yaml::Value::Mapping(mut m) => match m.remove("tests") {
            Some(list) => ("tests", list),
            None => return Ok(Vec::new()),
        },
        _ => return Ok(Vec::new()),
    };
    let (tests, problems) = decode_all::<Vec<TestSpec>>(list);
    if !problems.is_empty() {
        let positions = PositionIndex::build(&text);
        return Err(problems
            .into_iter()
            .map(|p| {
                let full = match (prefix, p.key_path.as_str()) {
                    ("", k) => k.to_string(),
                    (pre, "") => pre.to_string(),
                    (pre, k) if k.starts_with('[') => format!("{pre}{k}"),
                    (pre, k) => format!("{pre}.{k}"),
                };
                let at = if p.at_key { positions.key(&full) } else { positions.value(&full) };
                let loc = at.map(|l| format!("{}:{}:", l.line, l.column)).unwrap_or_default();
                format!("{name}:{loc} {full}: {}", p.message)
            })
            .collect());
    }
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(tests.unwrap_or_default().into_iter().map(|spec| LoadedTest { spec, base_dir: base_dir.clone() }).collect())
}

/// Runs one test against a compiled config.
pub(crate) fn run(snapshot: &Snapshot, test: &LoadedTest) -> TestResult {
    let name = test.spec.name.clone();
    let request = match build_request(test) {
        Ok(r) => r,
        Err(e) => return TestResult { name, failures: vec![format!("request: {e}")] },
    };
    let e = explain(snapshot, request);
    TestResult { name, failures: compare(&test.spec.expect, &e) }
}

/// Why a test's `request:` could not be built (the test fails with it).
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    #[error("invalid value for header {0}")]
    HeaderValue(String),
    #[error("give `body` or `body_file`, not both")]
    TwoBodies,
    #[error("body_file {path}: {source}")]
    BodyFile { path: String, source: std::io::Error },
}

fn build_request(test: &LoadedTest) -> Result<Request, RequestError> {
    let r = &test.spec.request;
    let method = match &r.method {
        Some(m) => {
            Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| RequestError::Method(m.clone()))?
        }
        None => Method::POST,
    };
    let mut headers = HeaderMap::new();
    for (k, v) in &r.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| RequestError::HeaderName(k.clone()))?;
        let value = HeaderValue::from_str(v).map_err(|_| RequestError::HeaderValue(k.clone()))?;
        headers.append(name, value);
    }
    let body = match (&r.body, &r.body_file) {
        (Some(_), Some(_)) => return Err(RequestError::TwoBodies),
        (Some(Value::String(s)), None) => Bytes::from(s.clone()),
        (Some(other), None) => {
            if !headers.contains_key(http::header::CONTENT_TYPE) {
                headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Bytes::from(other.to_string())
        }
        (None, Some(file)) => {
            let path = test.base_dir.join(file);
            let bytes = std::fs::read(&path)
                .map_err(|source| RequestError::BodyFile { path: path.display().to_string(), source })?;
            if !headers.contains_key(http::header::CONTENT_TYPE) && looks_like_json(&bytes) {
                headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Bytes::from(bytes)
        }
        (None, None) => Bytes::new(),
    };
    let query = match r.query.is_empty() {
        true => None,
        false => Some(form_urlencoded::Serializer::new(String::new()).extend_pairs(&r.query).finish()),
    };
    Ok(Request { method, path: r.path.clone(), query, headers, body })
}

fn looks_like_json(bytes: &[u8]) -> bool {
    matches!(bytes.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

fn compare(expect: &spec::TestExpect, e: &Explanation) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(problem) = &e.problem {
        if expect.status.is_none_or(|s| Some(s) != e.status) {
            failures.push(format!("the request did not reach the routes: {problem}"));
        }
    }
    if let Some(want) = &expect.routes {
        if *want != e.taken {
            failures.push(format!("routes: expected {want:?}, got {:?}{}", e.taken, why_not(want, e)));
        }
    }
    if let Some(want) = expect.status {
        if Some(want) != e.status {
            let got =
                e.status.map_or("the forward's own answer (respond: from: forward)".to_string(), |s| s.to_string());
            failures.push(format!("status: expected {want}, got {got}"));
        }
    }
    if let Some(want) = &expect.forward {
        let first = e.candidates.iter().filter(|c| c.taken).flat_map(|c| &c.actions).find_map(|a| match a {
            ActionPreview::Forward { url, headers, body, error, .. } => Some((url, headers, body, error)),
            _ => None,
        });
        match first {
            None => failures.push("forward: expected a forward, but no route taken forwards".to_string()),
            Some((_, _, _, Some(err))) => failures.push(format!("forward: it could not be built: {err}")),
            Some((url, headers, body, None)) => {
                if let Some(want_url) = &want.url {
                    if Some(want_url) != url.as_ref() {
                        failures
                            .push(format!("forward url: expected {want_url}, got {}", url.as_deref().unwrap_or("")));
                    }
                }
                for (k, v) in &want.headers {
                    let got = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v);
                    if got != Some(v) {
                        failures.push(format!("forward header {k}: expected {v:?}, got {got:?}"));
                    }
                }
                if let Some(want_body) = &want.body {
                    failures.extend(compare_body("forward body", want_body, body.as_deref().unwrap_or("")));
                }
            }
        }
    }
    if let Some(want) = expect.respond.as_ref().and_then(|r| r.body.as_ref()) {
        match &e.reply_body {
            Some(got) => failures.extend(compare_body("respond body", want, got)),
            None => failures.push("respond body: the reply is the forward's own answer".to_string()),
        }
    }
    failures
}

/// For a route expected but not taken: the first condition that was false.
fn why_not(want: &[String], e: &Explanation) -> String {
    let mut notes = String::new();
    for c in e.candidates.iter().filter(|c| want.contains(&c.route) && !c.taken) {
        if let Some(by) = &c.not_tried {
            notes.push_str(&format!("\n    {}: not tried: {by}", c.route));
            continue;
        }
        let mut text = String::new();
        for t in c.conditions.iter().filter(|t| !t.result()) {
            crate::matcher::explain::render_text(t, 3, &mut text);
        }
        notes.push_str(&format!("\n    {}: not taken; false:\n{}", c.route, text.trim_end()));
    }
    notes
}

fn compare_body(what: &str, want: &Value, got: &str) -> Option<String> {
    let (expected, actual) = match want {
        Value::String(s) => {
            if s == got {
                return None;
            }
            (with_newline(s), with_newline(got))
        }
        other => {
            let parsed: Result<Value, _> = serde_json::from_str(got);
            if parsed.as_ref().is_ok_and(|g| g == other) {
                return None;
            }
            let pretty = |v: &Value| with_newline(&serde_json::to_string_pretty(v).unwrap_or_default());
            let actual = match &parsed {
                Ok(v) => pretty(v),
                Err(_) => with_newline(got),
            };
            (pretty(other), actual)
        }
    };
    let diff = similar::TextDiff::from_lines(&expected, &actual);
    let text = diff.unified_diff().context_radius(3).header("expected", "got").to_string();
    Some(format!("{what} differs:\n{}", indent(&text, "    ")))
}

fn with_newline(s: &str) -> String {
    if s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

fn indent(text: &str, pad: &str) -> String {
    text.lines().map(|l| format!("{pad}{l}")).collect::<Vec<_>>().join("\n")
}

/// The printed report: one line per test, differences under failures, and
/// a closing count. True when every test passed.
pub(crate) fn report(results: &[TestResult]) -> (String, bool) {
    let mut out = String::new();
    for r in results {
        if r.passed() {
            out.push_str(&format!("PASS  {}\n", r.name));
        } else {
            out.push_str(&format!("FAIL  {}\n", r.name));
            for f in &r.failures {
                out.push_str(&format!("{}\n", indent(f, "  ")));
            }
        }
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    out.push_str(&format!("\n{} passed, {failed} failed\n", results.len() - failed));
    (out, failed == 0)
}
