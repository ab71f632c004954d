//! `X-Forwarded-For` parsing behind trusted proxies: never panics, and the
//! client it names is the peer itself or came from the header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

include!("common.rs");

fuzz_target!(|data: &[u8]| {
    let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    let parts = split_parts(data, 2);
    let h = headers_from(&[("x-forwarded-for", parts[0]), ("x-forwarded-for", parts[1])]);
    let peer: SocketAddr = "10.1.2.3:4000".parse().unwrap();
    let _ = hookroute::guard::ip::parse_hop(parts[0]);
    if let Some(ip) = hookroute::guard::client_ip(Some(peer), &h, &trusted) {
        let untouched = ip == peer.ip();
        assert!(untouched || !parts[0].is_empty() || !parts[1].is_empty());
    }
});
