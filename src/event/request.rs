//! A request as received, before its body is read: the parts ingress,
//! `explain` and `hookroute test` share, decoded into an [`super::Event`].

use bytes::Bytes;
use http::{HeaderMap, Method};

/// A request as received, before its body is read: what ingress hands to
/// [`Event::decode`], and what `explain` and `hookroute test` build from
/// their arguments.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}
