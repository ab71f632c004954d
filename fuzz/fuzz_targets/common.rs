// Shared by the signature targets (included with `include!`): a header map
// built from fuzz input, and a fixed clock so runs are reproducible.

#[allow(dead_code)]
fn headers_from(pairs: &[(&'static str, &[u8])]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            h.append(*name, v);
        }
    }
    h
}

/// Splits fuzz input into `n` parts on 0xFF bytes (never valid in a header),
/// the last part taking the rest.
#[allow(dead_code)]
fn split_parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |b| *b == 0xff).collect();
    while parts.len() < n {
        parts.push(&[]);
    }
    parts
}

#[allow(dead_code)]
fn fixed_now() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)
}

#[allow(dead_code)]
fn verifier(yaml: &str) -> hookroute::verify::Verifier {
    let spec: hookroute::config::spec::VerifySpec = serde_yaml::from_str(yaml).expect("fuzz verifier spec");
    hookroute::verify::Verifier::compile(&spec, "verify", &mut Vec::new()).expect("fuzz verifier compiles")
}
