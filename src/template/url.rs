//! A forward URL with templates in its path or query.
//!
//! The scheme, host and port must be written out: a payload value must never
//! choose where hookroute sends a request (SSRF). So the literal text before
//! the first `{{`/`{%` has to contain the whole origin *and* the character
//! that ends it (`/` or `?`); `http://svc:80{{ x }}` is refused, because a
//! value could still turn the port into `8080` or the host into
//! `svc:80@elsewhere`. Values are percent-encoded as one URL component, and
//! every rendered URL is checked again: same scheme, host and port as the
//! literal prefix, and a path that still starts with the prefix's path (so
//! `..` in a value cannot climb out of `/builds/` to another endpoint).

use reqwest::Url;

use super::{literal_prefix, Escape, RenderError, Scope, Text};
use crate::config::ConfigError;

#[derive(Debug, Clone)]
pub(crate) struct UrlTemplate {
    text: Text,
    /// The literal prefix, parsed: its origin is the only one allowed.
    base: Url,
    /// The path every rendered URL keeps as its prefix.
    path_prefix: String,
    /// The template starts in the query: the path is fixed entirely.
    path_fixed: bool,
}

const HINT: &str = "templates may appear only in the path and query; write the scheme, host and port out \
                    (e.g. http://ci.internal:8080/builds/{{ json.id }})";

impl UrlTemplate {
    /// Compiles a URL that is a template; None (with an error pushed at
    /// `key_path`) when it is not acceptable.
    pub(crate) fn compile(source: &str, key_path: &str, errors: &mut Vec<ConfigError>) -> Option<UrlTemplate> {
        let prefix = literal_prefix(source);
        let refuse = |errors: &mut Vec<ConfigError>, why: &str| {
            errors.push(ConfigError::new(key_path, format!("URL {source:?}: {why}; {HINT}")));
            None
        };
        let Some((_, after_scheme)) = prefix.split_once("://") else {
            return refuse(errors, "the scheme is templated or missing");
        };
        let Some(end) = after_scheme.find(['/', '?', '#']) else {
            return refuse(errors, "the host or port is templated");
        };
        if after_scheme[..end].is_empty() {
            return refuse(errors, "the URL has no host");
        }
        let base = match Url::parse(prefix) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
            Ok(u) => {
                return refuse(
                    errors,
                    &format!("must be http:// or https:// with a host (scheme was {:?})", u.scheme()),
                )
            }
            Err(e) => return refuse(errors, &format!("the literal part {prefix:?} is not a URL: {e}")),
        };
        let path_fixed = after_scheme[end..].contains(['?', '#']);
        let text = Text::compile(source, Escape::UrlComponent, key_path, errors)?;
        Some(UrlTemplate { text, path_prefix: base.path().to_string(), base, path_fixed })
    }

    /// The fixed origin (and path prefix): where every rendered URL goes.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// The URL for one event, checked against the literal origin and path.
    pub(crate) fn render(&self, scope: &Scope) -> Result<Url, RenderError> {
        let text = self.text.render(scope)?;
        // Messages show the URL redacted: they are logged, and a relayed
        // forward's is answered to the sender.
        let url = Url::parse(&text)
            .map_err(|e| RenderError(format!("rendered URL {:?} is not a URL: {e}", crate::redact::url(&text))))?;
        let same_origin = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
            && url.username() == self.base.username()
            && url.password() == self.base.password();
        if !same_origin {
            return Err(RenderError(format!(
                "rendered URL {} does not go to {}; a template may not change the scheme, host or port",
                crate::redact::display(url.as_str()),
                self.base.origin().ascii_serialization()
            )));
        }
        let path_ok =
            if self.path_fixed { url.path() == self.path_prefix } else { url.path().starts_with(&self.path_prefix) };
        if !path_ok {
            return Err(RenderError(format!(
                "rendered URL {} leaves the path {}; a value may not add `..` or change the literal path",
                crate::redact::display(url.as_str()),
                self.path_prefix
            )));
        }
        Ok(url)
    }
}
