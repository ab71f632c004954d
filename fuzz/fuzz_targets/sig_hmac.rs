//! The generic `hmac` scheme's header parser, for every algorithm and encoding.
#![no_main]
use hookroute::verify::Verify;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

include!("common.rs");

static VS: LazyLock<Vec<hookroute::verify::Verifier>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for alg in ["sha1", "sha256", "sha512"] {
        for enc in ["hex", "base64"] {
            out.push(verifier(&format!(
                "hmac: {{ header: X-Signature, algorithm: {alg}, encoding: {enc}, prefix: \"{alg}=\", secret: k }}"
            )));
        }
    }
    out
});

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 2);
    let h = headers_from(&[("x-signature", parts[0])]);
    for v in VS.iter() {
        if let hookroute::verify::Verifier::Hmac(g) = v {
            let _ = g.parse_header(parts[0]);
        }
        let _ = v.verify(&h, parts[1], fixed_now());
    }
});
