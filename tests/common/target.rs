//! A real upstream for the JetStream tests that fails while told to and
//! notes which events it answered 2xx: "every acknowledged event arrived"
//! is then a set comparison, whatever was retried in between.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Downstream, Recorded, UpstreamReply};

pub fn event_of(r: &Recorded) -> String {
    r.header("x-hookroute-event-id").unwrap_or_default().to_string()
}

/// A real upstream that fails while told to (with `failing_status`) and
/// notes which events it answered 2xx.
pub struct Target {
    pub down: Downstream,
    healthy: Arc<AtomicBool>,
    ok: Arc<Mutex<Vec<String>>>,
}

impl Target {
    pub async fn start(healthy: bool, failing_status: u16) -> Target {
        Target::start_with(move |_, healthy| if healthy { 200 } else { failing_status }, healthy).await
    }

    /// `status(n, healthy)`: the answer to the n-th request (0-based).
    pub async fn start_with(status: impl Fn(usize, bool) -> u16 + Send + Sync + 'static, healthy: bool) -> Target {
        let healthy = Arc::new(AtomicBool::new(healthy));
        let ok: Arc<Mutex<Vec<String>>> = Arc::default();
        let (h, o) = (healthy.clone(), ok.clone());
        let down = Downstream::start(move |req, seen| {
            let code = status(seen.len(), h.load(Ordering::SeqCst));
            if (200..300).contains(&code) {
                o.lock().unwrap().push(event_of(req));
            }
            UpstreamReply::status(code)
        })
        .await;
        Target { down, healthy, ok }
    }

    pub fn url(&self) -> String {
        self.down.url("/in")
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    pub fn attempts(&self) -> usize {
        self.down.seen().len()
    }

    pub fn delivered(&self) -> Vec<String> {
        self.ok.lock().unwrap().clone()
    }

    pub async fn wait_attempts(&self, n: usize) {
        self.down.wait_until(&format!("{n} attempts"), |seen| seen.len() >= n).await;
    }

    /// Waits until every id in `ids` was answered 2xx (at least once).
    pub async fn wait_all(&self, ids: &[String], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let seen: HashSet<String> = self.delivered().into_iter().collect();
            let missing: Vec<&String> = ids.iter().filter(|id| !seen.contains(*id)).collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} acknowledged events never delivered, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
