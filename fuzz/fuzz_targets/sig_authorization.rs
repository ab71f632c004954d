//! `Authorization` parsing for `bearer` and `basic`, and the GitLab token check.
#![no_main]
use hookroute::verify::Verify;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

include!("common.rs");

static VS: LazyLock<Vec<hookroute::verify::Verifier>> = LazyLock::new(|| {
    vec![
        verifier("bearer: { tokens: [t0ken, other] }"),
        verifier("basic: { username: Aladdin, password: open sesame }"),
        verifier("gitlab: { token: t0ken }"),
    ]
});

fuzz_target!(|data: &[u8]| {
    let _ = hookroute::verify::bearer::credentials(data, "bearer");
    if let Ok((user, password)) = hookroute::verify::basic::parse_header(data) {
        assert!(!user.contains(&b':'));
        let _ = password;
    }
    let h = headers_from(&[("authorization", data), ("x-gitlab-token", data)]);
    for v in VS.iter() {
        let _ = v.verify(&h, b"", fixed_now());
    }
});
