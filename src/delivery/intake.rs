//! What delivery makes of the jobs it is handed for one event, before the
//! pipeline answers the sender.
//!
//! The jobs come fully built from the router's decision (see
//! `crate::router::dispatch` and [`QueuedJob`]): the work rendered from
//! the snapshot the event was routed by, so a reload cannot change what an
//! accepted event becomes. Here each becomes a [`JobRecord`] under the retry
//! defaults of the moment, and the event's dedup claims are gathered, for
//! [`super::Delivery::accept`]. A job whose templates failed for this event
//! becomes a dead job carrying the message (a `delivery: memory` one is
//! logged and dropped), and the event's other work goes on.

use std::time::{Duration, SystemTime};

use super::job::{JobRecord, Status, Timestamp};
use super::retry::RetryPolicy;
use super::store::DedupClaim;
use crate::actions::{DeliveryMode, QueuedJob};
use crate::event::new_event_id;

/// The jobs and dedup claims of one event.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) durable: Vec<JobRecord>,
    pub(crate) memory: Vec<JobRecord>,
    pub(crate) dedup: Vec<DedupClaim>,
}

impl Plan {
    /// Adds a planned job (forward, publish) of event `event_id`, its
    /// `retry:` laid over `defaults`.
    pub(crate) fn add_job(&mut self, event_id: &str, job: QueuedJob, defaults: &RetryPolicy, now: SystemTime) {
        let memory = job.mode == DeliveryMode::Memory;
        if let Some(reason) = job.work.unsendable() {
            tracing::error!(route = &*job.route, event_id = %event_id, "{} not sent: {reason}", job.work.action());
            super::execute::count_dead_letter(&job.route);
            if memory {
                return;
            }
        }
        let record = record(event_id, job, defaults, now);
        match memory {
            true => self.memory.push(record),
            false => self.durable.push(record),
        }
    }

    /// Adds the claim of `key` for `route`, written with the jobs.
    pub(crate) fn add_claim(&mut self, route: &str, key: String, window: Duration) {
        self.dedup.push(DedupClaim { route: route.to_string(), key, window });
    }

    /// The jobs, in order.
    pub(crate) fn jobs(&self) -> impl Iterator<Item = &JobRecord> {
        self.durable.iter().chain(&self.memory)
    }
}

fn record(event_id: &str, job: QueuedJob, defaults: &RetryPolicy, now: SystemTime) -> JobRecord {
    let now = Timestamp(now);
    let dead = job.work.unsendable().is_some();
    JobRecord {
        id: new_event_id(),
        event_id: event_id.to_string(),
        route: job.route.to_string(),
        status: if dead { Status::Dead } else { Status::Pending },
        created_at: now,
        updated_at: now,
        next_attempt_at: if dead { None } else { Some(now) },
        destination: job.destination,
        dead_reason: job.work.unsendable().map(str::to_string),
        request: job.work,
        retry: job.retry.over(defaults),
        ordering_key: job.ordering_key,
        round_started_at: now,
        round_first_attempt: 0,
        attempts: Vec::new(),
        memory: job.mode == DeliveryMode::Memory,
    }
}
