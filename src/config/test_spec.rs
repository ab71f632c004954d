//! The `tests:` format: a request and what routing should make of it.
//!
//! A spec type, so it lives in `config` (which imports no runtime module);
//! [`crate::routetest`] runs the tests and re-exports it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// One route test, run by `hookroute test` (the server ignores tests).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// Shown on the test's pass/fail line.
    pub name: String,
    /// The request to route.
    pub request: TestRequest,
    /// What routing should make of it; only what is written is checked.
    #[serde(default)]
    pub expect: TestExpect,
}

/// A request, as a provider would send it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The request path, e.g. `/hooks/github`.
    pub path: String,
    /// The HTTP method. Default `POST`.
    pub method: Option<String>,
    /// Request headers by name. `Content-Type: application/json` is added
    /// when the body is a mapping or list and no content type is given.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters by name.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// The body inline: a string is sent as it is, a mapping or list as JSON.
    pub body: Option<serde_json::Value>,
    /// A file holding the body, relative to the file the test is written in
    /// (e.g. a provider's example payload).
    pub body_file: Option<String>,
}

/// Expectations; each one left out is not checked.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestExpect {
    /// The names of the routes taken, in order; `[]` means none.
    pub routes: Option<Vec<String>>,
    /// The status the sender gets.
    pub status: Option<u16>,
    /// The first forward of the routes taken, as it would be sent.
    pub forward: Option<ExpectForward>,
    /// The reply hookroute writes (`respond:` of the first route taken).
    pub respond: Option<ExpectRespond>,
}

/// A forward as it would be sent.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectForward {
    /// The rendered URL, exactly.
    pub url: Option<String>,
    /// The body: a string is compared exactly; a mapping or list is compared
    /// as JSON (key order does not matter).
    pub body: Option<serde_json::Value>,
    /// Headers that must be sent with these values (names case-insensitive).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The reply hookroute writes.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectRespond {
    /// The body: a string is compared exactly; a mapping or list as JSON.
    pub body: Option<serde_json::Value>,
}
