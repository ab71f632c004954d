//! Slack's `X-Slack-Signature` / `X-Slack-Request-Timestamp` parsing and the whole check.
#![no_main]
use hookroute::verify::Verify;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

include!("common.rs");

static V: LazyLock<hookroute::verify::Verifier> =
    LazyLock::new(|| verifier("slack: { signing_secret: 8f742231b10e8888abcd99yyyzzz85a5 }"));

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 3);
    if let Ok(text) = std::str::from_utf8(parts[0]) {
        let _ = hookroute::verify::slack::parse_signature(text);
    }
    let h = headers_from(&[("x-slack-signature", parts[0]), ("x-slack-request-timestamp", parts[1])]);
    let _ = V.verify(&h, parts[2], fixed_now());
});
