//! The Prometheus recorder behind the `metrics` facade, and its rendering
//! for `GET /-/metrics`.
//!
//! The recorder is process-global (the facade allows one), so [`install`]
//! runs once per process however many servers start in it — tests start
//! dozens — and every later call returns the same handle. There is no HTTP
//! listener of the exporter's own: the admin API serves the rendering, so
//! metrics sit behind the same address, token and probes as the rest of
//! the admin API.
//!
//! Histogram samples wait in lock-free buckets until "upkeep" folds them
//! into the exposition; a small named thread runs it every few seconds so
//! memory stays flat even when nobody scrapes. A thread rather than a task:
//! the recorder outlives any one tokio runtime.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::metrics as m;

/// Upper bounds (seconds) of the forward latency buckets: from a fast
/// in-cluster service to the default 10 s timeout and a configured 60 s.
pub const FORWARD_DURATION_BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder on the first call; later calls return the same
/// handle. None when another recorder already owns the facade (hookroute
/// embedded in a program that installed its own): nothing breaks, but
/// `/-/metrics` has nothing to render.
pub(crate) fn install() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(build_and_install).as_ref()
}

fn build_and_install() -> Option<PrometheusHandle> {
    let builder = match PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(m::FORWARD_DURATION.to_string()), FORWARD_DURATION_BUCKETS)
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("metrics disabled: cannot configure the Prometheus recorder: {e}");
            return None;
        }
    };
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if let Err(e) = metrics::set_global_recorder(recorder) {
        tracing::warn!("metrics disabled: another metrics recorder is already installed ({e})");
        return None;
    }
    super::catalog::describe_all();
    metrics::gauge!(m::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // Present from the first scrape, so `rate()` and alerts on them have a
    // starting point instead of appearing with the first event.
    for outcome in ["matched", "ignored", "rejected"] {
        metrics::counter!(m::EVENTS, "outcome" => outcome).increment(0);
    }
    for outcome in ["success", "failure"] {
        metrics::counter!(m::CONFIG_RELOADS, "outcome" => outcome).increment(0);
    }
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
        std::thread::sleep(UPKEEP_EVERY);
        upkeep.run_upkeep();
    });
    if let Err(e) = spawned {
        // Rendering also runs upkeep, so scrapes still keep it bounded.
        tracing::warn!("cannot start the metrics upkeep thread ({e}); histograms are folded in on each scrape only");
    }
    Some(handle)
}

/// True once our recorder is the facade's: metric handles resolved from
/// then on stay valid for the life of the process (see [`super::handles`]).
pub fn installed() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// The Prometheus text exposition, or None when metrics are disabled.
pub(crate) fn render() -> Option<String> {
    let handle = HANDLE.get()?.as_ref()?;
    handle.run_upkeep();
    Some(handle.render())
}
