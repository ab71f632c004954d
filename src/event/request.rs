//! A request as received, before its body is read: the parts ingress,
//! `explain` and `hookroute test` share, decoded into an [`super::Event`].

use bytes::Bytes;
use http::{HeaderMap, Method};

/// A request as received, before its body is read: what ingress hands to
/// [`Event::decode`], and what `explain` and `hookroute test` build from
/// their arguments.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request method.
    pub method: Method,
    /// The path, percent-encoded as received, without the query.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// The headers as received.
    pub headers: HeaderMap,
    /// The body as received (not decoded).
    pub body: Bytes,
}
