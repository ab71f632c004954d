//! Delivery: getting forwards to their destination after the sender has its
//! answer.
//!
//! Today a forward job runs once, in the background, and its outcome is
//! logged — a failure is never silent, but it is not retried. The durable
//! queue with retries and dead letters replaces the inside of
//! [`Delivery::submit`]; callers do not change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::task::TaskTracker;

use crate::actions::Forward;
use crate::event::Event;

/// One forward of one event.
#[derive(Debug, Clone)]
pub struct ForwardJob {
    pub event: Arc<Event>,
    pub route: Arc<str>,
    pub forward: Arc<Forward>,
}

/// Runs forward jobs in the background.
#[derive(Debug, Clone)]
pub struct Delivery {
    client: reqwest::Client,
    tasks: TaskTracker,
}

impl Delivery {
    pub fn new(client: reqwest::Client) -> Self {
        Delivery { client, tasks: TaskTracker::new() }
    }

    pub fn submit(&self, job: ForwardJob) {
        let client = self.client.clone();
        self.tasks.spawn(async move {
            let started = Instant::now();
            let result = job.forward.send(&client, &job.event, &job.route).await;
            let latency_ms = started.elapsed().as_millis() as u64;
            let (route, event_id, url) = (&*job.route, &job.event.id, job.forward.url.as_str());
            match result {
                Ok(resp) if resp.status.is_success() => {
                    tracing::debug!(route, event_id = %event_id, url, status = resp.status.as_u16(), latency_ms, "forward delivered");
                }
                Ok(resp) => {
                    tracing::warn!(route, event_id = %event_id, url, status = resp.status.as_u16(), latency_ms, "forward failed: downstream answered {}", resp.status);
                }
                Err(e) => {
                    tracing::warn!(route, event_id = %event_id, url, latency_ms, "forward failed: {e}");
                }
            }
        });
    }

    /// Number of forwards still running.
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Waits up to `grace` for running forwards; returns how many were still
    /// running when it gave up.
    pub async fn drain(&self, grace: Duration) -> usize {
        self.tasks.close();
        let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
        self.tasks.len()
    }
}
