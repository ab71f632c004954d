//! Route selection cost: path lookup, condition evaluation and body decoding,
//! without the network.
//!
//! Two questions, two groups:
//! - `select/routes/N`: does the number of routes matter? N routes on
//!   distinct paths (10, 1,000, 10,000); one request's `Snapshot::lookup` +
//!   `select` on a decoded event. The path index must make 10,000 cost about
//!   what 10 do.
//! - `decode_select/payload/SIZE`: what does the body cost? Decoding a JSON
//!   body of 1 KiB, 64 KiB and 1 MiB into an `Event`, then lookup + select,
//!   with 1,000 routes.
//!
//! Each route has the conditions a real GitHub route has (a header, an `in`
//! on a JSONPath, a regex on another), and the request matches, so every
//! condition is evaluated.
//!
//! Run: `cargo bench --bench matching -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hookroute::actions::Resources;
use hookroute::config::interpolate::ProcessEnv;
use hookroute::event::Event;
use hookroute::router::{Lookup, Snapshot};
use hookroute::settings::load_str;
use http::{HeaderMap, HeaderValue, Method};
use std::sync::Arc;

fn config(routes: usize) -> String {
    let mut yaml = String::from("routes:\n");
    for i in 0..routes {
        yaml.push_str(&format!(
            "  - name: route-{i}\n    path: /hooks/r{i}\n    when:\n      - header: X-GitHub-Event\n        equals: push\n      - json: $.repository.full_name\n        in: [acme/api, acme/web]\n      - json: $.ref\n        matches: '^refs/heads/(main|release/.+)$'\n    actions: [{{log: {{}}}}]\n"
        ));
    }
    yaml
}

fn snapshot(routes: usize, resources: &Resources) -> Arc<Snapshot> {
    load_str("bench.yaml", &config(routes), &ProcessEnv, resources).expect("the bench config compiles").snapshot
}

/// A push-like JSON body of about `size` bytes (padded with commits).
fn payload(size: usize) -> Bytes {
    let head = r#"{"ref":"refs/heads/main","repository":{"full_name":"acme/api"},"commits":["#;
    let mut body = String::from(head);
    let mut i = 0;
    while body.len() + 2 < size {
        if i > 0 {
            body.push(',');
        }
        let commit = serde_json::json!({
            "id": format!("{i:040x}"),
            "message": "Fix the thing that was broken",
            "author": {"name": "Dev", "email": format!("dev{i}@acme.com")},
        });
        body.push_str(&commit.to_string());
        i += 1;
    }
    body.push_str("]}");
    Bytes::from(body)
}

fn headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("x-github-event", HeaderValue::from_static("push"));
    h
}

fn event(path: &str, body: Bytes) -> Event {
    Event::new(Method::POST, path.to_string(), None, headers(), body, None).expect("valid JSON")
}

/// Lookup + select; returns the number of routes taken (always 1 here).
fn route(snapshot: &Snapshot, event: &Event) -> usize {
    match snapshot.lookup(event.path(), event.method()) {
        Lookup::Candidates(candidates) => snapshot.select(candidates, event).len(),
        _ => 0,
    }
}

fn select_by_route_count(c: &mut Criterion) {
    let resources = Resources::new().expect("HTTP client");
    let mut group = c.benchmark_group("select/routes");
    for n in [10, 1_000, 10_000] {
        let snapshot = snapshot(n, &resources);
        // A route in the middle of the file: a scan would pay for half of them.
        let event = event(&format!("/hooks/r{}", n / 2), payload(1024));
        assert_eq!(route(&snapshot, &event), 1, "the benchmark request must match");
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| route(black_box(&snapshot), black_box(&event)))
        });
    }
    group.finish();
}

fn decode_and_select_by_payload(c: &mut Criterion) {
    let resources = Resources::new().expect("HTTP client");
    let snapshot = snapshot(1_000, &resources);
    let mut group = c.benchmark_group("decode_select/payload");
    for (label, size) in [("1KiB", 1024), ("64KiB", 64 * 1024), ("1MiB", 1024 * 1024)] {
        let body = payload(size);
        assert_eq!(route(&snapshot, &event("/hooks/r500", body.clone())), 1, "the benchmark request must match");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
            b.iter(|| {
                let event = event("/hooks/r500", black_box(body.clone()));
                route(&snapshot, &event)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, select_by_route_count, decode_and_select_by_payload);
criterion_main!(benches);
