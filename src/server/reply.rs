//! The one name for an HTTP answer: a status, headers and a body.
//!
//! It lives with the server because the server is what turns it into a
//! response; the pipeline, the door and the admin API build it, and the
//! access log reads its status. Kept free of warp so the code that builds
//! answers does not depend on the HTTP framework.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use serde_json::json;

/// An HTTP answer, independent of the server framework.
// TODO(#16): `src/pipeline.rs` (decide's pass) re-exports this with `pub use`,
// which needs `pub`; make it `pub(crate)` once that re-export is gone.
#[allow(unreachable_pub)]
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// `value` as a JSON body with `status`.
    pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Reply { status, headers, body: Bytes::from(value.to_string()) }
    }

    /// `{"error": message}` with `status`.
    pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Reply {
        Reply::json(status, &json!({ "error": message.to_string() }))
    }
}
