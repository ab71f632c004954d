//! An address as text without `core::fmt`'s integer formatting.
//!
//! Every forwarded request writes the client's IP into `X-Forwarded-For`,
//! and the access line writes the client and the peer. `Ipv4Addr`'s
//! `Display` formats each octet through `fmt` (padding checks, a buffer
//! per address): about 1,300 instructions an address in the callgrind
//! profile of an 80-byte forward (bench/PROFILE.md, issue 18), three per
//! request. An IPv4 address and a port are written here digit by digit into
//! a stack buffer, in the same text `Display` gives; IPv6 addresses, rare
//! behind a load balancer, go through `Display` as before.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

/// Longest text: `[`, an IPv6 address (at most 45), `%` and a scope id
/// (at most 11), `]:65535`.
const CAPACITY: usize = 64;

/// An IP address or socket address, written out; see the module doc.
#[derive(Clone, Copy)]
pub(crate) struct AddrText {
    buf: [u8; CAPACITY],
    len: usize,
}

impl AddrText {
    /// `ip` as `Display` writes it.
    pub(crate) fn ip(ip: IpAddr) -> AddrText {
        let mut text = AddrText { buf: [0; CAPACITY], len: 0 };
        match ip {
            IpAddr::V4(v4) => text.octets(v4.octets()),
            IpAddr::V6(v6) => {
                let _ = write!(text, "{v6}");
            }
        }
        text
    }

    /// `addr` as `Display` writes it: `ip:port`, `[ipv6]:port`.
    pub(crate) fn socket(addr: SocketAddr) -> AddrText {
        let mut text = AddrText { buf: [0; CAPACITY], len: 0 };
        match addr {
            SocketAddr::V4(v4) => {
                text.octets(v4.ip().octets());
                text.push(b':');
                text.number(v4.port());
            }
            SocketAddr::V6(v6) => {
                let _ = write!(text, "{v6}");
            }
        }
        text
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation, or what `Display` wrote.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    fn octets(&mut self, octets: [u8; 4]) {
        for (i, octet) in octets.into_iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            self.number(u16::from(octet));
        }
    }

    fn number(&mut self, mut n: u16) {
        let mut digits = [0u8; 5];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[start..] {
            self.push(d);
        }
    }

    fn push(&mut self, byte: u8) {
        if self.len < CAPACITY {
            self.buf[self.len] = byte;
            self.len += 1;
        }
    }
}

impl fmt::Write for AddrText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > CAPACITY {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl fmt::Display for AddrText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AddrText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_as_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.255.9",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(AddrText::ip(ip).as_str(), ip.to_string());
            for port in [0, 7, 80, 8080, 65535] {
                let addr = SocketAddr::new(ip, port);
                assert_eq!(AddrText::socket(addr).as_str(), addr.to_string());
            }
        }
        let ip: std::net::Ipv6Addr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        let longest = SocketAddr::V6(std::net::SocketAddrV6::new(ip, 65535, 0, u32::MAX));
        assert_eq!(AddrText::socket(longest).as_str(), longest.to_string());
    }
}
