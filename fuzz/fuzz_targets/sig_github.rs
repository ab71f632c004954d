//! GitHub's `X-Hub-Signature-256` parser and the whole check on any header and body.
#![no_main]
use hookroute::verify::Verify;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

include!("common.rs");

static V: LazyLock<hookroute::verify::Verifier> =
    LazyLock::new(|| verifier("github: { secrets: [\"It's a Secret to Everybody\", other] }"));

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 2);
    if let Ok(text) = std::str::from_utf8(parts[0]) {
        let _ = hookroute::verify::github::parse_header(text);
    }
    let h = headers_from(&[("x-hub-signature-256", parts[0])]);
    let _ = V.verify(&h, parts[1], fixed_now());
});
