//! `respond`: what the sender hears back.
//!
//! By default a matched event is answered `202` with its id and the routes
//! taken, because providers only need to know the event was accepted. A
//! static answer can be configured (some providers want `200 ok`), or the
//! route can act as a synchronous proxy and relay its first forward's answer.
//!
//! A static answer's header values and body may be templates (echo Slack's
//! `url_verification` challenge: `body: {challenge: "{{ json.challenge }}"}`);
//! the body follows [`crate::template::Body`]'s rules for its content type.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};

use crate::config::spec::{RespondFrom, RespondSpec};
use crate::config::ConfigError;
use crate::template::{self, Body, Headers, RenderError, Scope, Text};

#[derive(Debug)]
pub(crate) enum Respond {
    /// 202 with `{"id", "routes"}`.
    Accepted,
    /// Boxed: with its templates it is far larger than the other variants.
    Static(Box<StaticReply>),
    /// Relay the route's first forward's status, content type and body.
    FromForward,
    /// Run the route's first exec at once; answer with its standard output.
    FromExec,
}

#[derive(Debug, Clone)]
pub(crate) struct StaticReply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Header values that are templates (the plain ones are in `headers`).
    pub(crate) header_templates: Vec<(HeaderName, Text)>,
    /// A body with templates; `body` is used when None.
    pub(crate) body_template: Option<Body>,
}

impl StaticReply {
    /// The answer for one event: the fixed parts as they are, templates
    /// rendered. An error means this answer cannot be given.
    pub(crate) fn render(&self, scope: &Scope) -> Result<(StatusCode, HeaderMap, Bytes), RenderError> {
        let mut headers = self.headers.clone();
        Headers::render_into(&self.header_templates, scope, "respond.headers", &mut headers)?;
        let body = match &self.body_template {
            Some(t) => t.render(scope).map_err(|e| RenderError(format!("respond.body: {e}")))?,
            None => self.body.clone(),
        };
        Ok((self.status, headers, body))
    }
}

impl Respond {
    pub(crate) fn compile(
        spec: Option<&RespondSpec>,
        has_forward: bool,
        has_exec: bool,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Respond> {
        let Some(spec) = spec else { return Some(Respond::Accepted) };
        if let Some(from) = spec.from {
            let (kind, present, respond) = match from {
                RespondFrom::Forward => ("forward", has_forward, Respond::FromForward),
                RespondFrom::Exec => ("exec", has_exec, Respond::FromExec),
            };
            if spec.status.is_some() || spec.body.is_some() || !spec.headers.is_empty() {
                errors.push(ConfigError::new(
                    "respond",
                    format!("`from: {kind}` relays the {kind}'s answer; remove `status`, `headers` and `body`"),
                ));
                return None;
            }
            if !present {
                errors.push(ConfigError::new(
                    "respond.from",
                    format!("`from: {kind}` needs a `{kind}` action in this route"),
                ));
                return None;
            }
            return Some(respond);
        }
        let before = errors.len();
        let status = match StatusCode::from_u16(spec.status.unwrap_or(202)) {
            Ok(s) => s,
            Err(_) => {
                errors.push(ConfigError::new(
                    "respond.status",
                    format!("{} is not an HTTP status code (100-999)", spec.status.unwrap_or(0)),
                ));
                StatusCode::ACCEPTED
            }
        };
        let Headers { fixed: mut headers, templated: header_templates } =
            Headers::compile(&spec.headers, "respond.headers", errors);
        let declared = template::body::declared_content_type(&spec.headers);
        let compiled = spec.body.as_ref().and_then(|b| Body::compile(b, declared, "respond.body", errors));
        let (body, body_template) = match compiled {
            None => (Bytes::new(), None),
            Some(b) => {
                let content_type = HeaderValue::from_static(b.content_type());
                headers.entry(CONTENT_TYPE).or_insert(content_type);
                match b {
                    Body::Fixed { bytes, .. } => (bytes, None),
                    templated => (Bytes::new(), Some(templated)),
                }
            }
        };
        if errors.len() > before {
            return None;
        }
        Some(Respond::Static(Box::new(StaticReply { status, headers, body, header_templates, body_template })))
    }
}
