//! Which request headers the event log shows as `***`.
//!
//! The credential headers the rest of hookroute hides in its records
//! ([`crate::guard::is_credential_header`]: `Authorization`, `Cookie`,
//! GitLab's token), and any header whose name says it carries a secret
//! (`token`, `secret`, `password`, `api-key`, `session`): custom schemes
//! put shared secrets in headers with such names. Signature headers
//! (`X-Hub-Signature-256`, `Stripe-Signature`) are kept: an HMAC does not
//! reveal its key, and an operator debugging a 401 needs to see it.

use http::{HeaderMap, HeaderName};

/// What a redacted header's value is shown as.
pub(super) const HIDDEN: &str = "***";

const SECRET_WORDS: &[&str] = &["token", "secret", "password", "passwd", "api-key", "apikey", "session"];

/// Whether `name`'s value is hidden in the log.
pub(super) fn is_secret(name: &HeaderName) -> bool {
    crate::guard::is_credential_header(name) || SECRET_WORDS.iter().any(|w| name.as_str().contains(w))
}

/// [`is_secret`] for a header name as text (any case): a forward's
/// rendered headers.
pub(crate) fn is_secret_name(name: &str) -> bool {
    HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).is_ok_and(|n| is_secret(&n))
}

/// The headers as the log keeps them: in order, secrets hidden, values
/// that are not UTF-8 shown lossily.
pub(super) fn headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret(name) {
                HIDDEN.to_string()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_string(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_secret_named_headers_are_hidden_signatures_kept() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer s3cret".parse().unwrap());
        h.insert("x-api-token", "t0k".parse().unwrap());
        h.insert("x-hub-signature-256", "sha256=ab".parse().unwrap());
        let shown = headers(&h);
        assert!(shown.contains(&("authorization".into(), "***".into())));
        assert!(shown.contains(&("x-api-token".into(), "***".into())));
        assert!(shown.contains(&("x-hub-signature-256".into(), "sha256=ab".into())));
    }
}
