//! Reading a request body the way real senders send it.
//!
//! A webhook body is rarely refused for a good reason: the sender retries,
//! then disables the endpoint, and nothing was stored. So the body is read
//! as leniently as its bytes allow, and refused only with an answer the
//! sender's operator can act on. In order:
//!
//! 1. **Content codings** (`Content-Encoding`, RFC 9110 §8.4): `gzip`
//!    (and `x-gzip`), `deflate` (zlib, RFC 1950; a raw RFC 1951 stream is
//!    taken too, as some senders send that), `br` (RFC 7932) and `identity`
//!    are undone, a stacked list in reverse order. Each stage stops reading
//!    at the limit + 1 byte, so a gzip bomb costs at most the limit in
//!    memory and CPU, and answers 413. Any other coding is a 415 naming it.
//! 2. **A UTF-8 byte-order mark** is dropped (RFC 8259 §8.1 lets a JSON
//!    parser ignore it; .NET senders such as SharePoint send one).
//! 3. **The media type** decides the reading ([`ReadAs`]), with the
//!    declared `charset` decoded by `encoding_rs` for forms and `text/*`
//!    (an unknown one is a 415). JSON is UTF-8 (RFC 8259 §8.1); a JSON
//!    body that is not valid UTF-8 is decoded with its declared charset if
//!    it has one. A form or `text/plain` body that is, whole, a JSON object
//!    or array is read as JSON (`curl -d` sends form, AWS SNS sends
//!    `text/plain`); an empty JSON body (a provider's test ping) has no
//!    document.
//!
//! The received bytes are never changed: they are what signatures are
//! checked on and what a forward sends. When nothing needs undoing (the
//! usual plain JSON body) the content *is* the received buffer, shared, so
//! this costs no copy.

use std::borrow::Cow;
use std::io::Read;

use bytes::Bytes;
use encoding_rs::{Encoding, UTF_8};
use http::{HeaderMap, StatusCode};
use serde::Serialize;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many content codings a body may stack before it is refused: real
/// senders use one; each layer costs up to the limit in CPU.
const MAX_CODINGS: usize = 3;

/// How the body was read, as `explain` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReadAs {
    /// Declared JSON (`application/json`, `application/*+json`).
    Json,
    /// Declared `application/x-www-form-urlencoded`, but the whole body is
    /// a JSON object or array.
    JsonInForm,
    /// Declared `text/plain`, but the whole body is a JSON object or array.
    JsonInText,
    /// No `Content-Type`, and the body is a JSON object or array.
    JsonUndeclared,
    /// Form fields, as an object.
    Form,
    /// Declared JSON with no content (empty or whitespace): no document.
    Empty,
    /// Anything else: no document.
    Other,
}

impl ReadAs {
    /// True when the body was read as a JSON document.
    pub(crate) fn is_json(self) -> bool {
        matches!(self, ReadAs::Json | ReadAs::JsonInForm | ReadAs::JsonInText | ReadAs::JsonUndeclared)
    }
}

/// What was undone to read the body; shown by `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Reading {
    pub(crate) read_as: ReadAs,
    /// The content codings undone, as listed in `Content-Encoding`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) content_encoding: Vec<&'static str>,
    /// A UTF-8 byte-order mark was dropped.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) bom_removed: bool,
    /// A declared charset other than UTF-8 the text was decoded from
    /// (its WHATWG name, e.g. `windows-1252` for `iso-8859-1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) charset: Option<&'static str>,
    /// Bytes received.
    pub(crate) received_bytes: usize,
    /// Bytes after decoding (content codings, BOM and charset).
    pub(crate) content_bytes: usize,
}

/// A body that cannot be read. Each answers with the status a sender's
/// operator can act on ([`BodyError::status`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum BodyError {
    /// Declared JSON that does not parse (400).
    #[error("invalid JSON body: {0}")]
    Json(String),
    /// A `Content-Encoding` this server does not decode (415).
    #[error("Content-Encoding {0:?} is not supported (supported: gzip, deflate, br, identity)")]
    UnsupportedEncoding(String),
    /// More content codings stacked than [`MAX_CODINGS`] (415).
    #[error("Content-Encoding stacks {0} codings; at most {MAX_CODINGS} are decoded")]
    TooManyEncodings(usize),
    /// Compressed data that does not decode (400).
    #[error("the body is not valid {coding} data (Content-Encoding: {coding}): {reason}")]
    Corrupt {
        /// The `Content-Encoding` token (`gzip`, `deflate`, `br`).
        coding: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// The decoded body is larger than the route's `max_body_bytes` (413).
    #[error("the decoded body exceeds the limit of {limit} bytes (Content-Encoding: {coding})")]
    TooLarge {
        /// The route's body limit, in bytes.
        limit: usize,
        /// The `Content-Encoding` token.
        coding: &'static str,
    },
    /// A `charset` that `encoding_rs` does not know (415).
    #[error("charset {0:?} is not supported; send UTF-8 or a charset of the WHATWG Encoding Standard")]
    UnsupportedCharset(String),
}

impl BodyError {
    /// The status the sender gets.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            BodyError::Json(_) | BodyError::Corrupt { .. } => StatusCode::BAD_REQUEST,
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::UnsupportedEncoding(_) | BodyError::TooManyEncodings(_) | BodyError::UnsupportedCharset(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
        }
    }
}

/// A body with its content codings undone and its BOM dropped, before the
/// media type is looked at.
pub(super) struct Decoded {
    pub(crate) content: Bytes,
    pub(crate) content_encoding: Vec<&'static str>,
    pub(crate) bom_removed: bool,
}

/// Undoes the content codings (each stage bounded by `limit` decoded bytes)
/// and drops a UTF-8 BOM. Without either, `content` is `body` itself.
pub(super) fn decode(headers: &HeaderMap, body: &Bytes, limit: usize) -> Result<Decoded, BodyError> {
    let codings = content_codings(headers)?;
    let mut content = body.clone();
    // An empty body has nothing to decode, whatever its headers say.
    if !content.is_empty() {
        for coding in codings.iter().rev() {
            content = Bytes::from(inflate(coding, &content, limit)?);
        }
    }
    let bom_removed = content.starts_with(BOM);
    if bom_removed {
        content = content.slice(BOM.len()..);
    }
    Ok(Decoded { content, content_encoding: codings, bom_removed })
}

/// The codings of every `Content-Encoding` line, in the order applied,
/// without `identity`.
fn content_codings(headers: &HeaderMap) -> Result<Vec<&'static str>, BodyError> {
    let mut codings = Vec::new();
    for value in headers.get_all(http::header::CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let coding = match name.to_ascii_lowercase().as_str() {
                "identity" => continue,
                // RFC 9110 §8.4.1.3: a recipient should treat x-gzip as gzip.
                "gzip" | "x-gzip" => "gzip",
                "deflate" => "deflate",
                "br" => "br",
                _ => return Err(BodyError::UnsupportedEncoding(name.to_string())),
            };
            codings.push(coding);
        }
    }
    if codings.len() > MAX_CODINGS {
        return Err(BodyError::TooManyEncodings(codings.len()));
    }
    Ok(codings)
}

/// Decodes one coding, reading at most `limit + 1` bytes of output: the
/// decoder never produces more than that, so memory stays bounded.
fn inflate(coding: &'static str, input: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let reader: Box<dyn Read + '_> = match coding {
        // Several gzip members in a row are one valid body (RFC 1952 §2.2).
        "gzip" => Box::new(flate2::read::MultiGzDecoder::new(input)),
        "deflate" if is_zlib_header(input) => Box::new(flate2::read::ZlibDecoder::new(input)),
        "deflate" => Box::new(flate2::read::DeflateDecoder::new(input)),
        _ => Box::new(brotli_decompressor::Decompressor::new(input, 4096)),
    };
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(limit.saturating_add(1)));
    reader
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt { coding, reason: e.to_string() })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit, coding });
    }
    Ok(out)
}

/// HTTP's `deflate` is the zlib format (RFC 9110 §8.4.1.2), but some
/// senders send a raw deflate stream: a zlib stream starts with a header
/// whose method is 8 and whose two bytes are a multiple of 31 (RFC 1950 §2.2).
fn is_zlib_header(input: &[u8]) -> bool {
    match input {
        [cmf, flg, ..] => cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

/// The `charset` parameter of the `Content-Type`, if any.
pub(super) fn charset_label(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    value.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"').to_string())
    })
}

/// The declared charset as an encoding: None for UTF-8 or none declared,
/// an error for a label the Encoding Standard does not know.
pub(super) fn declared_encoding(headers: &HeaderMap) -> Result<Option<&'static Encoding>, BodyError> {
    match charset_label(headers) {
        None => Ok(None),
        Some(label) => match Encoding::for_label(label.as_bytes()) {
            Some(enc) if enc == UTF_8 => Ok(None),
            Some(enc) => Ok(Some(enc)),
            None => Err(BodyError::UnsupportedCharset(label)),
        },
    }
}

/// `content` as UTF-8 text decoded from `encoding`; None when its bytes are
/// not valid in that encoding.
pub(super) fn transcode(content: &Bytes, encoding: &'static Encoding) -> Option<Bytes> {
    let text = encoding.decode_without_bom_handling_and_without_replacement(content)?;
    Some(match text {
        Cow::Borrowed(_) => content.clone(),
        Cow::Owned(s) => Bytes::from(s),
    })
}

/// True when the first byte that is not whitespace opens an object or array.
pub(super) fn looks_like_json(content: &[u8]) -> bool {
    matches!(content.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{' | b'['))
}

/// The fields of a form body whose bytes are in `encoding`: percent-decoded
/// to bytes first, then decoded, as the URL Standard's form parser does
/// with a non-UTF-8 encoding (so `Jos%E9` is `José` in ISO-8859-1).
pub(super) fn form_pairs<'a>(
    body: &'a [u8],
    encoding: &'static Encoding,
) -> impl Iterator<Item = (Cow<'static, str>, Cow<'static, str>)> + 'a {
    let decode = move |part: &[u8]| -> Cow<'static, str> {
        let spaced: Vec<u8> = part.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        let bytes: Cow<[u8]> = percent_encoding::percent_decode(&spaced).into();
        Cow::Owned(encoding.decode_without_bom_handling(&bytes).0.into_owned())
    };
    body.split(|b| *b == b'&').filter(|pair| !pair.is_empty()).map(move |pair| {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (decode(name), decode(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_bodies_are_not_copied() {
        let body = Bytes::from_static(b"{\"a\":1}");
        let d = decode(&HeaderMap::new(), &body, 100).unwrap();
        assert_eq!(d.content.as_ptr(), body.as_ptr());
        let bom = Bytes::from_static(b"\xEF\xBB\xBF{}");
        let d = decode(&HeaderMap::new(), &bom, 100).unwrap();
        assert!(d.bom_removed);
        assert_eq!(d.content.as_ptr(), bom[3..].as_ptr());
    }

    #[test]
    fn stacked_codings_are_undone_in_reverse_order() {
        let twice = Bytes::from(gzip(&gzip(b"{}")));
        let d =
            decode(&headers(&[("content-encoding", "gzip, identity"), ("content-encoding", "x-gzip")]), &twice, 100)
                .unwrap();
        assert_eq!(&d.content[..], b"{}");
        assert_eq!(d.content_encoding, ["gzip", "gzip"]);
        let err = decode(&headers(&[("content-encoding", "gzip, gzip, gzip, gzip")]), &twice, 100).err().unwrap();
        assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn deflate_is_zlib_or_raw() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"{\"z\":1}").unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(b"{\"z\":1}").unwrap();
        for body in [z.finish().unwrap(), r.finish().unwrap()] {
            let d = decode(&headers(&[("content-encoding", "deflate")]), &Bytes::from(body), 100).unwrap();
            assert_eq!(&d.content[..], b"{\"z\":1}");
        }
    }

    #[test]
    fn the_limit_is_on_decoded_bytes() {
        let bomb = Bytes::from(gzip(&vec![b' '; 10_000]));
        assert!(bomb.len() < 100);
        let err = decode(&headers(&[("content-encoding", "gzip")]), &bomb, 9_999).err().unwrap();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(decode(&headers(&[("content-encoding", "gzip")]), &bomb, 10_000).is_ok());
    }

    #[test]
    fn latin1_form_fields() {
        let enc = Encoding::for_label(b"iso-8859-1").unwrap();
        let pairs: Vec<_> = form_pairs(b"name=Jos%E9&city=S\xE3o+Paulo&flag", enc).collect();
        assert_eq!(
            pairs,
            [("name".into(), "José".into()), ("city".into(), "São Paulo".into()), ("flag".into(), "".into())]
        );
    }

    #[test]
    fn charset_labels() {
        let h = headers(&[("content-type", "text/plain; Charset=\"ISO-8859-1\"")]);
        assert_eq!(declared_encoding(&h).unwrap().map(|e| e.name()), Some("windows-1252"));
        let h = headers(&[("content-type", "text/plain; charset=utf-8")]);
        assert_eq!(declared_encoding(&h).unwrap(), None);
        let h = headers(&[("content-type", "text/plain; charset=klingon")]);
        assert_eq!(declared_encoding(&h).err().unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
