//! Standard Webhooks / Svix: the `v1,<base64>` list parser, secret decoding
//! and the whole check with `webhook-` and `svix-` names.
#![no_main]
use hookroute::verify::Verify;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

include!("common.rs");

static V: LazyLock<hookroute::verify::Verifier> =
    LazyLock::new(|| verifier("standard_webhooks: { secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }"));

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 5);
    if let Ok(text) = std::str::from_utf8(parts[0]) {
        for mac in hookroute::verify::standard_webhooks::parse_signatures(text) {
            assert_eq!(mac.len(), 32);
        }
        let _ = hookroute::verify::standard_webhooks::decode_secret(text);
    }
    let prefix = if parts[4].first().is_some_and(|b| b % 2 == 0) { "webhook" } else { "svix" };
    let (id, ts, sig) = match prefix {
        "webhook" => ("webhook-id", "webhook-timestamp", "webhook-signature"),
        _ => ("svix-id", "svix-timestamp", "svix-signature"),
    };
    let h = headers_from(&[(sig, parts[0]), (id, parts[1]), (ts, parts[2])]);
    let _ = V.verify(&h, parts[3], fixed_now());
});
