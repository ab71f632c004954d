//! The scheduler's bounded window on each destination's backlog.
//!
//! A long outage piles up pending jobs; keeping every record in memory made
//! memory grow with the backlog (about 6 KiB a job). Instead the scheduler
//! holds at most [`WINDOW`] jobs per destination; the rest stay only in the
//! store, which indexes pending jobs by (destination, id)
//! (`pending_by_destination`, see [`super::redb_tables`]). When fewer than
//! half a window are held, the next jobs are read from the store, in
//! acceptance order, from where the window stopped.
//!
//! Why acceptance order per destination and not due time: ordering keys
//! need a key's earlier jobs loaded before its later ones (a later job
//! loaded first would become the key's head), and acceptance order gives
//! that for free across refills; breakers, limits and rate limits are per
//! destination, so a dead destination fills only its own window and never
//! keeps another's jobs out of memory. Jobs in the window wait for their due
//! time on timers, as before.
//!
//! Pure bookkeeping, no I/O: the scheduler asks for refills and hands back
//! what the store returned. Only durable jobs of the embedded store spill:
//! `delivery: memory` jobs have their own bound (`memory_queue_limit`) and
//! leased jobs (JetStream) are bounded by the leases taken.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, SystemTime};

use super::job::JobRecord;
use crate::metrics as m;

/// Most jobs of one destination held in memory (spillable ones).
pub(crate) const WINDOW: usize = 1024;
/// A refill is asked for when fewer than this many are held.
const REFILL_BELOW: usize = WINDOW / 2;

/// One destination's window.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// Ids of its jobs held in memory: admitted and not finished.
    held: BTreeSet<String>,
    /// Its pending jobs in all, held or in the store only.
    pending: u64,
    /// Some: its pending jobs with this id or a later one may be in the
    /// store only. Ids sort in acceptance order.
    spill_from: Option<String>,
    /// A refill in flight.
    refill: Option<Refill>,
}

/// What happened while a refill was in flight: its read may have seen the
/// store before or after.
#[derive(Debug, Default)]
struct Refill {
    /// The lowest id spilled meanwhile.
    spilled: Option<String>,
    /// Jobs finished meanwhile: the read may still have seen them pending.
    finished: HashSet<String>,
}

/// A refill to ask the store for: up to `limit` pending jobs from `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefillAsk {
    pub from: String,
    pub limit: usize,
}

fn lower(slot: &mut Option<String>, id: &str) {
    if slot.as_deref().is_none_or(|held| id < held) {
        *slot = Some(id.to_string());
    }
}

impl Window {
    /// A job arrives (accepted or replayed) and is counted; true when it is
    /// to be held, false when it stays in the store only (`spillable`: a
    /// durable job of the embedded store).
    pub(crate) fn admit(&mut self, id: &str, spillable: bool) -> bool {
        self.pending += 1;
        if spillable && (self.spill_from.is_some() || self.held.len() >= WINDOW) {
            lower(&mut self.spill_from, id);
            if let Some(refill) = &mut self.refill {
                lower(&mut refill.spilled, id);
            }
            return false;
        }
        self.held.insert(id.to_string());
        true
    }

    /// A held job is done here: delivered, dead, or handed back to a queue.
    pub(crate) fn finished(&mut self, id: &str) {
        if self.held.remove(id) {
            self.pending = self.pending.saturating_sub(1);
        }
        if let Some(refill) = &mut self.refill {
            refill.finished.insert(id.to_string());
        }
    }

    /// A held job is dropped from memory at shutdown; it stays pending.
    pub(crate) fn released(&mut self, id: &str) {
        self.held.remove(id);
    }

    /// At start: the store holds `count` pending jobs, the oldest `oldest`.
    pub(crate) fn resume(&mut self, count: u64, oldest: &str) {
        self.pending += count;
        lower(&mut self.spill_from, oldest);
    }

    /// A refill to ask for now, if one is needed and none is in flight.
    pub(crate) fn refill_due(&mut self) -> Option<RefillAsk> {
        if self.refill.is_some() || self.held.len() >= REFILL_BELOW {
            return None;
        }
        let from = self.spill_from.clone()?;
        self.refill = Some(Refill::default());
        Some(RefillAsk { from, limit: WINDOW - self.held.len() })
    }

    /// The store answered `ask` with `jobs`: returns those to hold now
    /// (not held already, not finished meanwhile).
    pub(crate) fn refilled(&mut self, ask: &RefillAsk, jobs: Vec<JobRecord>) -> Vec<JobRecord> {
        let refill = self.refill.take().unwrap_or_default();
        // Past the last one read: a NUL sorts right after it, before any
        // other id.
        self.spill_from = match jobs.last() {
            Some(last) if jobs.len() >= ask.limit => Some(format!("{}\0", last.id)),
            _ => None,
        };
        if let Some(spilled) = &refill.spilled {
            lower(&mut self.spill_from, spilled);
        }
        jobs.into_iter().filter(|job| !refill.finished.contains(&job.id) && self.held.insert(job.id.clone())).collect()
    }

    /// The store failed to answer: the next tick asks again.
    pub(crate) fn refill_failed(&mut self) {
        if let Some(refill) = self.refill.take() {
            if let Some(spilled) = &refill.spilled {
                lower(&mut self.spill_from, spilled);
            }
        }
    }

    /// Pending jobs in all: held and in the store only.
    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    /// The id of its oldest pending job (ids sort in acceptance order).
    pub(crate) fn oldest(&self) -> Option<&str> {
        let stored = self.spill_from.as_deref().map(|id| id.trim_end_matches('\0'));
        match (self.held.first().map(String::as_str), stored) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Sets the queue's gauges: pending jobs and the oldest one's age, per
/// destination and in all. Ages come from the ids (ULIDs carry their
/// acceptance time), so no record is read for them.
pub(crate) fn report(windows: &HashMap<String, Window>) {
    let now = SystemTime::now();
    let age = |id: &str| {
        ulid::Ulid::from_string(id)
            .ok()
            .map(|id| now.duration_since(id.datetime()).unwrap_or(Duration::ZERO).as_secs_f64())
    };
    let (mut total, mut oldest) = (0u64, 0f64);
    for (name, window) in windows {
        let pending = window.pending();
        let this = if pending == 0 { 0.0 } else { window.oldest().and_then(age).unwrap_or(0.0) };
        total += pending;
        oldest = oldest.max(this);
        metrics::gauge!(m::DESTINATION_PENDING, "destination" => name.clone()).set(pending as f64);
        metrics::gauge!(m::DESTINATION_OLDEST_AGE, "destination" => name.clone()).set(this);
    }
    metrics::gauge!(m::QUEUE_DEPTH).set(total as f64);
    metrics::gauge!(m::QUEUE_OLDEST_AGE).set(oldest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> JobRecord {
        serde_json::from_value(serde_json::json!({
            "id": id, "event_id": id, "route": "r", "status": "pending",
            "created_at": "2023-11-14T22:13:20.123Z", "updated_at": "2023-11-14T22:13:20.123Z",
            "destination": "127.0.0.1:9",
            "request": {"method": "POST", "url": "http://127.0.0.1:9/", "headers": [], "timeout_ms": 5},
            "retry": {"max_attempts": 10, "initial_backoff": 1000, "max_backoff": 600000, "max_age": 86400000},
            "round_started_at": "2023-11-14T22:13:20.123Z", "round_first_attempt": 0, "attempts": []
        }))
        .unwrap()
    }

    fn id(n: usize) -> String {
        format!("{n:08}")
    }

    #[test]
    fn holds_a_window_then_refills_in_acceptance_order() {
        let mut w = Window::default();
        for n in 0..WINDOW + 10 {
            assert_eq!(w.admit(&id(n), true), n < WINDOW, "job {n}");
        }
        assert_eq!(w.pending(), (WINDOW + 10) as u64);
        // Memory jobs are never spilled.
        assert!(w.admit("m", false));
        assert_eq!(w.refill_due(), None, "the window is full");
        for n in 0..=REFILL_BELOW + 1 {
            w.finished(&id(n));
        }
        let ask = w.refill_due().expect("below half a window");
        assert_eq!(ask.from, id(WINDOW));
        assert_eq!(w.refill_due(), None, "one refill at a time");
        // A job accepted meanwhile spills behind the others.
        assert!(!w.admit(&id(WINDOW + 10), true));
        let back: Vec<JobRecord> = (WINDOW..WINDOW + 11).map(|n| job(&id(n))).collect();
        let held = w.refilled(&ask, back);
        assert_eq!(held.len(), 11);
        assert_eq!(w.oldest(), Some(id(REFILL_BELOW + 2).as_str()));
        // The spill during the refill keeps the window open to the store...
        assert_eq!(w.spill_from.as_deref(), Some(id(WINDOW + 10).as_str()));
    }

    #[test]
    fn a_job_finished_during_a_refill_is_not_loaded_again() {
        let mut w = Window::default();
        w.resume(2, &id(0));
        assert_eq!(w.oldest(), Some(id(0).as_str()));
        let ask = w.refill_due().unwrap();
        assert_eq!(ask, RefillAsk { from: id(0), limit: WINDOW });
        let held = w.refilled(&ask, vec![job(&id(0)), job(&id(1))]);
        assert_eq!(held.len(), 2);
        assert_eq!(w.spill_from, None, "the store had no more");
        w.finished(&id(0));
        w.finished(&id(1));
        assert_eq!(w.pending(), 0);
        // A replay of both, spilled by a full window, then one finishes
        // before the read comes back.
        w.spill_from = Some(id(0));
        let ask = w.refill_due().unwrap();
        w.finished(&id(0));
        let held = w.refilled(&ask, vec![job(&id(0)), job(&id(1))]);
        assert_eq!(held.iter().map(|j| j.id.clone()).collect::<Vec<_>>(), vec![id(1)]);
    }
}
