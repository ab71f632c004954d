//! Shopify's base64 `X-Shopify-Hmac-Sha256` parser and the whole check.
#![no_main]
use hookroute::verify::Verify;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

include!("common.rs");

static V: LazyLock<hookroute::verify::Verifier> = LazyLock::new(|| verifier("shopify: { secret: hush }"));

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 2);
    if let Ok(text) = std::str::from_utf8(parts[0]) {
        let _ = hookroute::verify::shopify::parse_header(text);
    }
    let name = if parts[1].len() % 2 == 0 { "x-shopify-hmac-sha256" } else { "shopify-hmac-sha256" };
    let h = headers_from(&[(name, parts[0])]);
    let _ = V.verify(&h, parts[1], fixed_now());
});
