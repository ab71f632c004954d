//! Matching: conditions and path patterns, compiled once at config load.
//!
//! Nothing here parses text per request: JSONPaths, regexes and path patterns
//! become data structures when the config loads, and evaluation only walks
//! them.

pub mod cache;
pub mod condition;
pub mod explain;
pub mod jsonpath;
pub(crate) mod number;
pub mod path;

pub use condition::{Condition, EvalContext};
pub use jsonpath::JsonPathExpr;
pub use path::{PathIndex, PathPattern};
