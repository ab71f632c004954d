//! Who is asking: the client address, and per-route address allowlists.
//!
//! Behind a reverse proxy every connection comes from the proxy, and the
//! real client is in `X-Forwarded-For`. That header is only as honest as
//! whoever wrote it, so it is believed only when the connection comes from
//! a configured `trusted_proxies` address, and then read from the right
//! (the entry the trusted proxy appended) leftwards, skipping further
//! trusted proxies: the first address not trusted is the client. Entries
//! further left were written by the client itself and are ignored. An entry
//! that is not an address makes the client unknown, and an unknown client
//! is in no allowlist.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

use crate::config::ConfigError;

pub(crate) const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Parses a list of CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single
/// addresses (`192.0.2.7`, `::1`), reporting each bad entry at `key[i]`.
pub(crate) fn parse_nets(items: &[String], key: &str, errors: &mut Vec<ConfigError>) -> Option<Vec<IpNet>> {
    let mut nets = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let text = item.trim();
        match text.parse::<IpNet>().or_else(|_| text.parse::<IpAddr>().map(IpNet::from)) {
            Ok(net) => nets.push(net.trunc()),
            Err(_) => {
                ok = false;
                errors.push(ConfigError::new(
                    format!("{key}[{i}]"),
                    format!("{text:?} is not an IP address or CIDR (write e.g. 203.0.113.0/24 or 2001:db8::/32)"),
                ));
            }
        }
    }
    ok.then_some(nets)
}

/// A route's `allow_ips`.
#[derive(Debug, Clone)]
pub struct IpAllowlist {
    nets: Vec<IpNet>,
}

impl IpAllowlist {
    pub(crate) fn new(nets: Vec<IpNet>) -> Self {
        IpAllowlist { nets }
    }

    /// True when the client is known and inside one of the networks.
    pub fn allows(&self, client: Option<IpAddr>) -> bool {
        client.is_some_and(|ip| contains(&self.nets, ip))
    }
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

/// The client's address: the socket peer, or — when the peer is a trusted
/// proxy — the address that proxy says it forwarded for. None when no
/// address can be trusted.
pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.ip().to_canonical();
    if trusted_proxies.is_empty() || !contains(trusted_proxies, peer) {
        return Some(peer);
    }
    // Every X-Forwarded-For line, in order, forms one list.
    let mut hops: Vec<&[u8]> = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        hops.extend(value.as_bytes().split(|b| *b == b','));
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        if !contains(trusted_proxies, client) {
            break;
        }
        client = parse_hop(hop)?;
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`198.51.100.7:4711`, `[2001:db8::1]:4711`).
pub fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?.trim();
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(items: &[&str]) -> Vec<IpNet> {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        parse_nets(&items, "k", &mut Vec::new()).unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 1234))
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = xff(&["6.6.6.6, 203.0.113.9"]);
        // Not from a proxy: the header is ignored.
        assert_eq!(client_ip(peer("198.51.100.1"), &h, &trusted), Some("198.51.100.1".parse().unwrap()));
        // From a proxy: the rightmost untrusted entry, not the forged one on the left.
        assert_eq!(client_ip(peer("10.1.2.3"), &h, &trusted), Some("203.0.113.9".parse().unwrap()));
        // Chained proxies, split over two header lines.
        let h = xff(&["6.6.6.6, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(client_ip(peer("10.1.2.3"), &h, &trusted), Some("203.0.113.9".parse().unwrap()));
        // No header: the proxy itself.
        assert_eq!(client_ip(peer("10.1.2.3"), &HeaderMap::new(), &trusted), Some("10.1.2.3".parse().unwrap()));
        // Garbage where the client should be: unknown.
        assert_eq!(client_ip(peer("10.1.2.3"), &xff(&["nonsense"]), &trusted), None);
        // No trusted proxies configured: never believed.
        assert_eq!(client_ip(peer("10.1.2.3"), &h, &[]), Some("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn hops_and_mapped_addresses() {
        assert_eq!(parse_hop(b" 198.51.100.7:4711"), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(parse_hop(b"[2001:db8::1]:80"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(parse_hop(b"[2001:db8::1]"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(parse_hop(b"unknown"), None);
        let list = IpAllowlist::new(nets(&["127.0.0.1", "2001:db8::/32"]));
        assert!(list.allows(Some("::ffff:127.0.0.1".parse().unwrap())));
        assert!(list.allows(Some("2001:db8::9".parse().unwrap())));
        assert!(!list.allows(Some("127.0.0.2".parse().unwrap())));
        assert!(!list.allows(None));
    }
}
