//! Condition evaluation on arbitrary JSON: the input is a condition (first
//! line, YAML) and a body (the rest). Bodies are decoded as the ingress
//! does; every condition that compiles is evaluated, plus a fixed set that
//! covers every operator. Checks `not` inverts and evaluation is pure.
#![no_main]
use hookroute::config::spec::ConditionSpec;
use hookroute::matcher::{Condition, EvalContext};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static FIXED: LazyLock<Vec<Condition>> = LazyLock::new(|| {
    let specs = [
        "{json: $.a, equals: 1}",
        "{json: '$.a.b[0]', exists: true}",
        "{json: '$..id', in: [1, \"1\", true, null]}",
        "{json: '$.items[*].n', gt: 2.5}",
        "{json: '$.items[?(@.n > 1)].name', matches: '^x'}",
        "{json: $.tags, contains: red}",
        "{json: $.s, not_equals: {a: [1]}}",
        "{any: [{json: $.a, lte: 0}, {not: {json: $.b, gte: 10}}]}",
        "{header: X-Event, equals: push}",
        "{query: q, contains: a}",
        "{method: true, in: [post, put]}",
    ];
    specs.iter().map(|s| compile(s).expect("fixed condition compiles")).collect()
});

fn compile(yaml: &str) -> Option<Condition> {
    let spec: ConditionSpec = serde_yaml::from_str(yaml).ok()?;
    Condition::compile(&spec, "when[0]", &mut Vec::new())
}

fuzz_target!(|data: &[u8]| {
    let (first, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", http::HeaderValue::from_static("application/json"));
    headers.insert("x-event", http::HeaderValue::from_static("push"));
    let event = match hookroute::event::Event::new(
        http::Method::POST,
        "/hooks/x".into(),
        Some("q=abc".into()),
        headers,
        bytes::Bytes::copy_from_slice(body),
        None,
    ) {
        Ok(e) => e,
        Err(_) => return,
    };
    let ctx = EvalContext { event: &event, params: &[] };
    let custom = std::str::from_utf8(first).ok().and_then(compile);
    for cond in FIXED.iter().chain(custom.iter()) {
        let once = cond.eval(&ctx);
        assert_eq!(once, cond.eval(&ctx), "evaluation is not pure");
        let negated = Condition::Not(Box::new(cond.clone()));
        assert_eq!(negated.eval(&ctx), !once, "`not` does not invert");
    }
});
