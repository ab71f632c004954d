//! `hookroute explain` on the command line: arguments to a [`Request`],
//! the config to a snapshot, and the explanation printed.

use std::io::Read;
use std::path::PathBuf;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::{explain, render_text, Request};
use crate::actions::Resources;
use crate::config::interpolate::ProcessEnv;
use crate::settings::load_file;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The routes file [env: HOOKROUTE_CONFIG, then ./routes.yaml].
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub config: PathBuf,
    /// The request path, e.g. /hooks/github (a `?query` may follow).
    #[arg(long)]
    pub path: String,
    /// The request method.
    #[arg(short = 'X', long, default_value = "POST")]
    pub method: String,
    /// A request header, `Name: value`; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A query parameter, `name=value`; repeat for more.
    #[arg(long = "query", value_name = "NAME=VALUE")]
    pub query: Vec<String>,
    /// A file holding the request body (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// `text` for people, `json` for scripts.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `explain`: Ok(output) to print on stdout, or Err(message) for
/// stderr (exit 1).
pub fn run(args: &ExplainArgs) -> Result<String, String> {
    let request = request_from(args)?;
    let resources = Resources::new().map_err(|e| format!("cannot start: {e}"))?;
    let snapshot = load_file(&args.config, &ProcessEnv, &resources).map_err(|e| e.to_string())?.snapshot;
    let explanation = explain(&snapshot, request);
    Ok(match args.format {
        Format::Text => render_text(&explanation),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&explanation).map_err(|e| e.to_string())?;
            s.push('\n');
            s
        }
    })
}

fn request_from(args: &ExplainArgs) -> Result<Request, String> {
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("invalid method {:?}", args.method))?;
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h.split_once(':').ok_or_else(|| format!("header {h:?}: write it as `Name: value`"))?;
        let name =
            HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| format!("invalid header name in {h:?}"))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| format!("invalid header value in {h:?}"))?;
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
            std::io::stdin().read_to_end(&mut buf).map_err(|e| format!("cannot read standard input: {e}"))?;
            Bytes::from(buf)
        }
        Some(p) => Bytes::from(std::fs::read(p).map_err(|e| format!("cannot read body file {}: {e}", p.display()))?),
    };
    Ok(Request { method, path, query, headers, body })
}
