//! The bound on `delivery: memory` jobs: how many are held in memory
//! (accepted, not yet delivered or dead) and whether one more event fits.
//!
//! Memory jobs exist only in the process, so under sustained overload —
//! acceptance outrunning delivery, or a destination down — they would pile
//! up until the process is killed for its memory, losing every one of them
//! after each was acknowledged with a 2xx. With a bound, the event that
//! would pass it is refused with 503 before anything of it is queued, and
//! the provider sends it again later: the promise that nothing acknowledged
//! is dropped silently holds.
//!
//! The count is shared by the request tasks (which reserve room before
//! answering) and the scheduler (which releases it as jobs finish), so it
//! is an atomic rather than scheduler state: a request must know *now*
//! whether its event fits. The limit comes with each call, from the config
//! snapshot the request was routed by, so a reload changes it at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// `delivery: memory` jobs held in memory, shared by acceptance and the
/// scheduler.
#[derive(Debug, Default)]
pub(crate) struct MemoryBacklog {
    held: AtomicUsize,
    /// Set while events are being refused, so the log says so once per
    /// episode rather than once per event (a flood of 503s is already in
    /// the access log).
    refusing: AtomicBool,
}

/// Room reserved for one event's memory jobs. Whatever is not [`kept`]
/// goes back when it is dropped, so every early return between reserving
/// and queueing (a store failure, a redelivery) gives the room back.
///
/// [`kept`]: Reservation::keep
#[derive(Debug)]
pub(crate) struct Reservation<'a> {
    backlog: &'a MemoryBacklog,
    held: usize,
}

impl MemoryBacklog {
    /// Jobs held now.
    pub(crate) fn depth(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Reserves room for `jobs` more, or None when the backlog would then
    /// hold more than `limit`.
    pub(crate) fn reserve(&self, jobs: usize, limit: usize) -> Option<Reservation<'_>> {
        let reserved = self.held.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            held.checked_add(jobs).filter(|&total| total <= limit)
        });
        let Ok(before) = reserved else {
            if !self.refusing.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    limit,
                    "the `delivery: memory` backlog is full; answering 503 to such events until it drains \
                     (a destination down or too slow? see hookroute_queue_memory_depth)"
                );
            }
            return None;
        };
        // "Room again" only once a tenth of the limit is free: at the edge,
        // every delivery would otherwise let one event in and flip the state
        // (bench scenario 3 logged 10,315 warnings in one 10 s overload run).
        let held = before.saturating_add(jobs);
        if self.refusing.load(Ordering::Relaxed)
            && held <= limit - limit / 10
            && self.refusing.swap(false, Ordering::Relaxed)
        {
            tracing::info!(limit, "the `delivery: memory` backlog has room again; accepting such events");
        }
        Some(Reservation { backlog: self, held: jobs })
    }

    /// `jobs` held jobs finished (delivered, dead or dropped at shutdown).
    pub(crate) fn release(&self, jobs: usize) {
        if jobs > 0 {
            // Saturating: a release never wraps the count, whatever happens.
            let _ = self.held.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| Some(held.saturating_sub(jobs)));
        }
    }
}

impl Reservation<'_> {
    /// Keeps `jobs` of the reserved room (they are queued now and released
    /// by the scheduler when they finish); the rest is given back.
    pub(crate) fn keep(mut self, jobs: usize) {
        self.held = self.held.saturating_sub(jobs);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.backlog.release(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_would_pass_the_limit_and_nothing_less() {
        let backlog = MemoryBacklog::default();
        backlog.reserve(2, 3).expect("2 of 3").keep(2);
        assert!(backlog.reserve(2, 3).is_none(), "2 more would make 4 > 3");
        assert_eq!(backlog.depth(), 2, "a refusal reserves nothing");
        backlog.reserve(1, 3).expect("exactly at the limit").keep(1);
        assert_eq!(backlog.depth(), 3);
        backlog.release(1);
        assert!(backlog.reserve(1, 3).is_some(), "room again after a job finished");
    }

    #[test]
    fn what_is_not_kept_goes_back() {
        let backlog = MemoryBacklog::default();
        drop(backlog.reserve(3, 10));
        assert_eq!(backlog.depth(), 0, "dropped without keeping: all back");
        backlog.reserve(3, 10).expect("room").keep(1);
        assert_eq!(backlog.depth(), 1, "two of three were redeliveries");
    }

    #[test]
    fn a_lower_limit_after_a_reload_refuses_until_the_backlog_is_below_it() {
        let backlog = MemoryBacklog::default();
        backlog.reserve(5, 10).expect("room").keep(5);
        assert!(backlog.reserve(1, 4).is_none());
        backlog.release(2);
        assert!(backlog.reserve(1, 4).is_some());
    }

    #[test]
    fn release_never_wraps() {
        let backlog = MemoryBacklog::default();
        backlog.release(3);
        assert_eq!(backlog.depth(), 0);
    }
}
