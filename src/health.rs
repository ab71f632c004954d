//! `hookroute health`: is the server on this machine ready? For container
//! `HEALTHCHECK`s and scripts, so an image needs no curl.
//!
//! It asks `GET /-/readyz` on the admin listener: the address given with
//! `--admin`, or the config's `admin_listen` (see [`crate::admin_address`]:
//! a route with a problem must not make a healthy server look unhealthy).
//! The token is sent when there
//! is one, although `/-/readyz` does not need it, so a proxy in front of the
//! admin API that does is satisfied too.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::admin_address;
/// Kept here too: the helper started in this module.
pub use crate::admin_address::reachable;

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The routes file whose `admin_listen` and `admin_token` to use
    /// [env: HOOKROUTE_CONFIG, then ./routes.yaml].
    #[arg(short = 'c', long = "config", env = "HOOKROUTE_CONFIG", default_value = "routes.yaml", hide_env = true)]
    pub config: PathBuf,
    /// Admin address to ask instead (host:port or URL); skips the config.
    #[arg(long, env = "HOOKROUTE_ADMIN")]
    pub admin: Option<String>,
    /// Bearer token to send with --admin.
    #[arg(long, env = "HOOKROUTE_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Give up after this long.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("{0}")]
    Config(String),
    #[error(
        "not ready: cannot reach {}: {} (is hookroute running, with this admin address?)",
        crate::redact::url(url),
        crate::redact::text(message)
    )]
    Unreachable { url: String, message: String },
    #[error("not ready: {} answered {status}{detail}", crate::redact::url(url))]
    NotReady { url: String, status: reqwest::StatusCode, detail: String },
}

/// Checks readiness; Ok carries the line to print.
pub async fn run(args: &HealthArgs) -> Result<String, HealthError> {
    let admin_address::AdminEndpoint { base, token } = match &args.admin {
        Some(admin) => admin_address::given(admin, args.token.clone()),
        None => admin_address::from_config(&args.config).map_err(|e| HealthError::Config(e.to_string()))?,
    };
    let url = format!("{base}/-/readyz");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(args.timeout)
        .build()
        .map_err(|e| HealthError::Unreachable { url: url.clone(), message: e.to_string() })?;
    let mut request = client.get(&url);
    if let Some(token) = &token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| HealthError::Unreachable { url: url.clone(), message: crate::error_text::root_cause(&e) })?;
    let status = response.status();
    if status.is_success() {
        return Ok(format!("ready: {} answered {status}", crate::redact::url(&url)));
    }
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("status").or(v.get("error")).and_then(|s| s.as_str()).map(|s| format!(" ({s})")))
        .unwrap_or_default();
    Err(HealthError::NotReady { url, status, detail })
}
