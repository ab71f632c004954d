//! Stripe's `Stripe-Signature` parser (`t=..,v1=..`) and the whole check.
#![no_main]
use hookroute::verify::Verify;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

include!("common.rs");

static V: LazyLock<hookroute::verify::Verifier> =
    LazyLock::new(|| verifier("stripe: { secret: whsec_test_secret, tolerance: 5m }"));

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 2);
    if let Ok(text) = std::str::from_utf8(parts[0]) {
        if let Ok(parsed) = hookroute::verify::stripe::parse_header(text) {
            assert!(text.contains(parsed.timestamp_text));
        }
    }
    let h = headers_from(&[("stripe-signature", parts[0])]);
    let _ = V.verify(&h, parts[1], fixed_now());
});
