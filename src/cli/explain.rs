//! `hookroute explain` on the command line: the arguments to a
//! [`Request`] (reading the body file or standard input), the library's
//! [`explain_file`] on it, and the explanation printed as text or JSON.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use bytes::Bytes;
use hookroute::explain::command::{explain_file, ExplainError};
use hookroute::explain::{render_text, Request};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::problems::Problems;

/// How to print the explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

/// `hookroute explain`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ExplainArgs {
    /// The routes file [env: HOOKROUTE_CONFIG, then ./routes.yaml].
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub(crate) config: PathBuf,
    /// The request path, e.g. /hooks/github (a `?query` may follow).
    #[arg(long)]
    pub(crate) path: String,
    /// The request method.
    #[arg(short = 'X', long, default_value = "POST")]
    pub(crate) method: String,
    /// A request header, `Name: value`; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,
    /// A query parameter, `name=value`; repeat for more.
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub(crate) query: Vec<String>,
    /// A file holding the request body (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    pub(crate) body: Option<PathBuf>,
    /// `text` for people, `json` for scripts.
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: Format,
}

/// Why the arguments do not make a request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("header {0:?}: write it as `Name: value`")]
    HeaderSyntax(String),
    #[error("invalid header name in {0:?}")]
    HeaderName(String),
    #[error("invalid header value in {0:?}")]
    HeaderValue(String),
    #[error("cannot read standard input: {0}")]
    Stdin(std::io::Error),
    #[error("cannot read body file {}: {error}", .path.display())]
    BodyFile { path: PathBuf, error: std::io::Error },
}

/// Runs `explain`: the explanation on stdout.
pub(crate) fn run(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let request = request_from(args)?;
    let explanation = explain_file(&args.config, request).map_err(|e| match e {
        ExplainError::Config(problems) => Problems::new(problems, "the config has problems; nothing explained").into(),
        other => anyhow::Error::new(other),
    })?;
    match args.format {
        Format::Text => print!("{}", render_text(&explanation)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&explanation)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn request_from(args: &ExplainArgs) -> Result<Request, RequestError> {
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| RequestError::Method(args.method.clone()))?;
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h.split_once(':').ok_or_else(|| RequestError::HeaderSyntax(h.clone()))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| RequestError::HeaderName(h.clone()))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| RequestError::HeaderValue(h.clone()))?;
        headers.append(name, value);
    }
    let (path, mut query) = match args.path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (args.path.clone(), None),
    };
    if !args.query.is_empty() {
        let mut ser = form_urlencoded::Serializer::new(query.take().unwrap_or_default());
        for q in &args.query {
            let (k, v) = q.split_once('=').unwrap_or((q.as_str(), ""));
            ser.append_pair(k, v);
        }
        query = Some(ser.finish());
    }
    let body = match &args.body {
        None => Bytes::new(),
        Some(p) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(RequestError::Stdin)?;
            Bytes::from(buf)
        }
        Some(p) => Bytes::from(std::fs::read(p).map_err(|error| RequestError::BodyFile { path: p.clone(), error })?),
    };
    Ok(Request { method, path, query, headers, body })
}
