//! Where a command-line tool reaches the admin API of a running server:
//! `hookroute health` and `hookroute deliveries` both take `--admin ADDR`,
//! or read `admin_listen` (and `admin_token`) from the routes file the
//! server runs with, so an operator who has `-c routes.yaml` at hand needs
//! nothing else.
//!
//! Only those two keys are read: a route with a problem — a file being
//! edited, say — must not stop an operator from reaching a server that
//! keeps serving its last good config.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use hookroute::config::interpolate::ProcessEnv;

use super::problems::Problems;

/// An admin API to call: its base URL (`http://host:port`, no trailing
/// slash) and the bearer token to send, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminEndpoint {
    /// `http://host:port`, no trailing slash.
    pub(crate) base: String,
    /// The bearer token to send.
    pub(crate) token: Option<String>,
}

/// The admin API of the server configured by the file at `path`. When the
/// file cannot be read, the error is [`Problems`]: the config's own
/// messages, then what to do instead.
pub(crate) fn from_config(path: &Path) -> anyhow::Result<AdminEndpoint> {
    let mut config = hookroute::config::load_file(path, &ProcessEnv)
        .map_err(|e| Problems::new(e, "cannot read the admin address from the config; or give --admin ADDR"))?;
    // The security settings add their own problems (an exposed admin
    // listener without a token among them).
    let mut found = Vec::new();
    let security = hookroute::guard::SecuritySettings::compile(&config.spec, &mut found, &|_| None);
    config.problems.extend(found);
    if let Some(problem) = config.problems.iter().find(|p| p.key_path == "admin_listen") {
        anyhow::bail!("{}: admin_listen: {}; give --admin ADDR instead", config.source_name, problem.message);
    }
    let token = security.admin_token.as_ref().filter(|t| !t.is_empty()).map(|t| t.expose().to_string());
    Ok(AdminEndpoint { base: format!("http://{}", reachable(config.admin_listen)), token })
}

/// The admin API at `admin` (`host:port` or a URL), with `token`.
pub(crate) fn given(admin: &str, token: Option<String>) -> AdminEndpoint {
    AdminEndpoint { base: base_url(admin), token }
}

/// Where to reach a listener bound to `addr`: an unspecified address
/// (`0.0.0.0`, `::`) listens on loopback too.
pub(crate) fn reachable(addr: SocketAddr) -> SocketAddr {
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
