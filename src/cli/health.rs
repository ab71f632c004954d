//! `hookroute health`: is the server on this machine ready? For container
//! `HEALTHCHECK`s and scripts, so an image needs no curl.
//!
//! It asks `GET /-/readyz` on the admin listener: the address given with
//! `--admin`, or the config's `admin_listen` (see [`super::admin`]:
//! a route with a problem must not make a healthy server look unhealthy).
//! The token is sent when there
//! is one, although `/-/readyz` does not need it, so a proxy in front of the
//! admin API that does is satisfied too.
//!
//! "ready: …" (stdout) and "not ready: …" (stderr) are the command's answer,
//! not errors of the binary: only when it cannot ask at all (no address)
//! does it fail with `hookroute: error: …`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hookroute::{error_text, redact};

use super::admin;

/// `hookroute health`'s arguments.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The routes file whose `admin_listen` and `admin_token` to use
    /// [env: HOOKROUTE_CONFIG, then ./routes.yaml].
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub(crate) config: PathBuf,
    /// Admin address to ask instead (host:port or URL); skips the config.
    #[arg(long, env = "HOOKROUTE_ADMIN")]
    pub(crate) admin: Option<String>,
    /// Bearer token to send with --admin.
    #[arg(long, env = "HOOKROUTE_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Give up after this long.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Duration,
}

/// Why the server is not ready: the line printed on stderr.
#[derive(Debug, thiserror::Error)]
enum NotReady {
    #[error(
        "not ready: cannot reach {}: {} (is hookroute running, with this admin address?)",
        redact::url(url),
        redact::text(message)
    )]
    Unreachable { url: String, message: String },
    #[error("not ready: {} answered {status}{detail}", redact::url(url))]
    Answered { url: String, status: reqwest::StatusCode, detail: String },
}

/// Runs `health`: one line on stdout when ready (exit 0), on stderr when
/// not (exit 1).
pub(crate) async fn run(args: &HealthArgs) -> anyhow::Result<ExitCode> {
    let admin::AdminEndpoint { base, token } = match &args.admin {
        Some(address) => admin::given(address, args.token.clone()),
        None => admin::from_config(&args.config)?,
    };
    match ask(&format!("{base}/-/readyz"), token.as_deref(), args.timeout).await {
        Ok(line) => {
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(not_ready) => {
            eprintln!("{not_ready}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Asks `url`; Ok carries the line to print.
async fn ask(url: &str, token: Option<&str>, timeout: Duration) -> Result<String, NotReady> {
    let unreachable = |message: String| NotReady::Unreachable { url: url.to_string(), message };
    let client =
        reqwest::Client::builder().no_proxy().timeout(timeout).build().map_err(|e| unreachable(e.to_string()))?;
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| unreachable(error_text::root_cause(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(format!("ready: {} answered {status}", redact::url(url)));
    }
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("status").or(v.get("error")).and_then(|s| s.as_str()).map(|s| format!(" ({s})")))
        .unwrap_or_default();
    Err(NotReady::Answered { url: url.to_string(), status, detail })
}
