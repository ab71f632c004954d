//! Reading what a page sent: query strings, and form bodies in the two
//! encodings browsers use — `application/x-www-form-urlencoded` for the
//! buttons, `multipart/form-data` for the preview's file upload.
//!
//! The multipart reader is small on purpose: the console's forms have a
//! few text fields and one file, all bounded by the POST size limit, so
//! each part is read whole; a file part's bytes become its field's text
//! (invalid UTF-8 replaced).

use std::collections::HashMap;

use http::header::CONTENT_TYPE;
use http::HeaderMap;

/// A form's fields by name (the first value of a repeated name).
pub(crate) type Fields = HashMap<String, String>;

/// Why a form body could not be read (answered 400).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FormError {
    /// Neither of the two form encodings.
    #[error("the form must be sent as application/x-www-form-urlencoded or multipart/form-data, not {0:?}")]
    ContentType(String),
    /// A multipart body without its boundary, or not made of parts.
    #[error("the multipart form is malformed: {0}")]
    Multipart(&'static str),
}

/// The parameters of a query string.
pub(crate) fn query(raw: &str) -> Fields {
    first_values(form_urlencoded::parse(raw.as_bytes()).into_owned())
}

fn first_values(pairs: impl Iterator<Item = (String, String)>) -> Fields {
    let mut fields = Fields::new();
    for (name, value) in pairs {
        fields.entry(name).or_insert(value);
    }
    fields
}

/// The fields of a POSTed form.
pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Fields, FormError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" | "" => Ok(first_values(form_urlencoded::parse(body).into_owned())),
        "multipart/form-data" => {
            let boundary = content_type
                .split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.trim_matches('"'))
                .filter(|b| !b.is_empty())
                .ok_or(FormError::Multipart("no boundary"))?;
            multipart(boundary, body)
        }
        _ => Err(FormError::ContentType(content_type.to_string())),
    }
}

/// RFC 7578: parts separated by `--boundary`, each with headers, a blank
/// line and its content; the last delimiter ends with `--`.
fn multipart(boundary: &str, body: &[u8]) -> Result<Fields, FormError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut fields = Fields::new();
    let mut rest = match find(body, delimiter) {
        Some(i) => &body[i + delimiter.len()..],
        None => return Err(FormError::Multipart("no part")),
    };
    loop {
        if rest.starts_with(b"--") {
            return Ok(fields);
        }
        let part_start = rest.strip_prefix(b"\r\n").ok_or(FormError::Multipart("a delimiter without CRLF"))?;
        let end = find(part_start, &[b"\r\n", delimiter].concat()).ok_or(FormError::Multipart("an unfinished part"))?;
        let part = &part_start[..end];
        rest = &part_start[end + 2 + delimiter.len()..];
        let head_end = find(part, b"\r\n\r\n").ok_or(FormError::Multipart("a part without headers"))?;
        let head = String::from_utf8_lossy(&part[..head_end]);
        let content = &part[head_end + 4..];
        if let Some(name) = part_name(&head) {
            fields.entry(name).or_insert_with(|| String::from_utf8_lossy(content).into_owned());
        }
    }
}

/// The `name` of a part's `Content-Disposition: form-data; name="…"`.
fn part_name(head: &str) -> Option<String> {
    let line = head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';').filter_map(|p| p.trim().split_once('=')).find(|(k, _)| *k == "name").map(|(_, v)| {
        let v = v.trim();
        v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v).to_string()
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, t.parse().unwrap());
        h
    }

    #[test]
    fn reads_both_encodings() {
        let f = parse(&with_type("application/x-www-form-urlencoded"), b"csrf=abc&route=a+b&route=c").unwrap();
        assert_eq!(f["csrf"], "abc");
        assert_eq!(f["route"], "a b");
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.yaml\"\r\nContent-Type: text/yaml\r\n\r\n\
            routes:\r\n  - name: x\r\n\r\n--XyZ--\r\n";
        let f = parse(&with_type("multipart/form-data; boundary=XyZ"), body).unwrap();
        assert_eq!(f["csrf"], "abc");
        assert_eq!(f["file"], "routes:\r\n  - name: x\r\n");
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        for body in [&b""[..], b"--XyZ", b"--XyZ\r\nno end", b"--XyZ\r\nContent-Disposition: x\r\n--XyZ--"] {
            assert!(parse(&with_type("multipart/form-data; boundary=XyZ"), body).is_err(), "{body:?}");
        }
        assert!(parse(&with_type("multipart/form-data"), b"").is_err());
        assert!(parse(&with_type("application/json"), b"{}").is_err());
    }
}
