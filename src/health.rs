//! `hookroute health`: is the server on this machine ready? For container
//! `HEALTHCHECK`s and scripts, so an image needs no curl.
//!
//! It asks `GET /-/readyz` on the admin listener: the address given with
//! `--admin`, or the config's `admin_listen` (an unspecified address such as
//! `0.0.0.0` is reached on loopback). From the config it reads only
//! `admin_listen` and `admin_token`: a route with a problem — a file being
//! edited, say — must not make a healthy server look unhealthy, since the
//! server keeps serving its last good config. The token is sent when there
//! is one, although `/-/readyz` does not need it, so a proxy in front of the
//! admin API that does is satisfied too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config::interpolate::ProcessEnv;

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
    let (base, token) = match &args.admin {
        Some(admin) => (base_url(admin), args.token.clone()),
        None => from_config(args)?,
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

/// The admin base URL and token from the config file.
fn from_config(args: &HealthArgs) -> Result<(String, Option<String>), HealthError> {
    let config = crate::config::load_file(&args.config, &ProcessEnv).map_err(|e| {
        HealthError::Config(format!("{e}\nerror: cannot read the admin address from the config; or give --admin ADDR"))
    })?;
    if let Some(problem) = config.problems.iter().find(|p| p.key_path == "admin_listen") {
        return Err(HealthError::Config(format!(
            "{}: admin_listen: {}; give --admin ADDR instead",
            config.source_name, problem.message
        )));
    }
    let token = config.security.admin_token.as_ref().filter(|t| !t.is_empty()).map(|t| t.expose().to_string());
    Ok((format!("http://{}", reachable(config.admin_listen)), token))
}

/// Where to reach a listener bound to `addr`: an unspecified address
/// (`0.0.0.0`, `::`) listens on loopback too.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    }
}

fn base_url(admin: &str) -> String {
    let base = if admin.contains("://") { admin.to_string() } else { format!("http://{admin}") };
    base.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_are_reached_on_loopback() {
        assert_eq!(reachable("0.0.0.0:9090".parse().unwrap()), "127.0.0.1:9090".parse().unwrap());
        assert_eq!(reachable("[::]:9090".parse().unwrap()), "[::1]:9090".parse().unwrap());
        assert_eq!(reachable("10.0.0.5:9090".parse().unwrap()), "10.0.0.5:9090".parse().unwrap());
        assert_eq!(base_url("127.0.0.1:9090/"), "http://127.0.0.1:9090");
        assert_eq!(base_url("https://admin.local"), "https://admin.local");
    }
}
