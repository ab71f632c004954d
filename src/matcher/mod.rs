//! Matching: conditions and path patterns, compiled once at config load.
//!
//! Nothing here parses text per request: JSONPaths, regexes and path patterns
//! become data structures when the config loads, and evaluation only walks
//! them.

pub(crate) mod cache;
pub mod condition;
pub(crate) mod explain;
pub(crate) mod jsonpath;
pub(crate) mod number;
pub(crate) mod path;

pub use condition::{Condition, EvalContext};
pub(crate) use jsonpath::JsonPathExpr;
pub(crate) use path::{PathIndex, PathPattern};
