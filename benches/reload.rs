//! Reload cost: loading, validating and compiling a routes.yaml of 10 and
//! 10,000 routes — everything a reload does before the (constant-time)
//! pointer swap. Target: 10,000 routes in under 200 ms.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use hookroute::actions::Resources;
use hookroute::settings::load_str;

/// The allocator the `hookroute` binary runs with (src/main.rs), so the
/// figures are what a server's reload costs: reload allocates heavily, and
/// under the system allocator the same work measured markedly slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config(routes: usize) -> String {
    let mut out = String::from("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nroutes:\n");
    for i in 0..routes {
        out.push_str(&format!(
            "  - name: route-{i}\n    path: /hooks/{i}/{{provider}}\n    when:\n      - header: X-Event\n        equals: push\n      - json: $.repository.full_name\n        in: [acme/api, acme/web]\n      - json: $.ref\n        matches: '^refs/heads/(main|release/.+)$'\n    actions:\n      - forward: {{ url: 'http://127.0.0.1:9/build/{i}', timeout: 5s, headers: {{ X-Source: github }} }}\n      - log: {{ message: push {i} }}\n"
        ));
    }
    out
}

fn bench_reload(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let resources = Resources::new().expect("resources");
    let env = |_: &str| None::<String>;
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    for n in [10usize, 10_000] {
        let text = config(n);
        group.bench_with_input(BenchmarkId::new("validate_and_compile", n), &text, |b, text| {
            b.iter(|| load_str("routes.yaml", text, &env, &resources).expect("valid config"))
        });
        // The parse/decode half alone, to see where a slow reload spends.
        group.bench_with_input(BenchmarkId::new("parse_and_decode", n), &text, |b, text| {
            b.iter(|| hookroute::config::load("routes.yaml", text, &env).expect("valid YAML"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_reload);
criterion_main!(benches);
