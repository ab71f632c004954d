//! The scheduler's upkeep of its windows, rate limits and board: refilling
//! a destination's window from the store ([`crate::delivery::window`]),
//! applying the active config's rate limits ([`crate::delivery::rate`]),
//! and publishing each destination's state for the admin API and gauges.
//! Apart from the scheduler's main loop so each stays short; the state is
//! the scheduler's own.

use tokio::time::Instant;

use std::time::SystemTime;

use super::{DestinationView, Entry, Msg, State, Timer};
use crate::delivery::job::JobRecord;
use crate::delivery::store::StoreError;
use crate::delivery::window::{RefillAsk, Window};
use crate::metrics as m;

impl State {
    /// Asks the store for a window's next jobs, when it needs them.
    pub(super) fn refill(&mut self, name: &str) {
        let Some(store) = self.ctx.store.get().cloned() else { return };
        let Some(ask) = self.windows.get_mut(name).and_then(Window::refill_due) else { return };
        let (tx, destination) = (self.tx.clone(), name.to_string());
        tokio::spawn(async move {
            let jobs = store.pending_of(destination.clone(), ask.from.clone(), ask.limit).await;
            let _ = tx.send(Msg::Refilled { destination, ask, jobs });
        });
    }

    pub(super) fn refilled(&mut self, name: &str, ask: &RefillAsk, jobs: Result<Vec<JobRecord>, StoreError>) {
        let Some(window) = self.windows.get_mut(name) else { return };
        match jobs {
            Ok(jobs) => {
                let held = window.refilled(ask, jobs);
                if self.draining {
                    held.iter().for_each(|job| window.released(&job.id));
                    return;
                }
                held.into_iter().for_each(|job| self.enter(Entry { job, body: None }));
            }
            Err(e) => {
                tracing::warn!(
                    destination = name,
                    "could not read pending deliveries from the store (trying again): {e}"
                );
                window.refill_failed();
            }
        }
    }

    /// Sets a timer to pump `name` at `at`, unless one is set for then.
    pub(super) fn wake(&mut self, name: &str, at: Instant) {
        let Some(slot) = self.destinations.get_mut(name) else { return };
        if slot.wake_at != Some(at) {
            slot.wake_at = Some(at);
            self.seq += 1;
            self.timers.insert((at, self.seq), Timer::Wake(name.to_string()));
        }
    }

    /// Applies a new table of rate limits (at start and at each reload).
    pub(super) fn set_rates(&mut self) {
        let rates = self.rates.borrow_and_update().clone();
        let names: Vec<String> = self.destinations.keys().cloned().collect();
        for name in names {
            if let Some(slot) = self.destinations.get_mut(&name) {
                slot.state.set_rate(rates.get(&name).copied());
            }
            self.pump(&name);
        }
    }

    /// Copies a destination's state to the board, and its breaker to the
    /// gauge when that changed.
    pub(super) fn publish(&mut self, name: &str) {
        let Some(slot) = self.destinations.get_mut(name) else { return };
        let now = Instant::now();
        let (breaker, until, failures) = slot.state.breaker(now);
        let open_until = until.map(|u| SystemTime::now() + u.saturating_duration_since(now));
        let view = DestinationView {
            name: name.to_string(),
            breaker,
            open_until,
            failures,
            waiting: slot.backlog.len(),
            in_flight: slot.state.in_flight(),
        };
        if slot.published != Some(breaker) {
            slot.published = Some(breaker);
            metrics::gauge!(m::BREAKER_STATE, "destination" => name.to_string()).set(breaker.gauge());
        }
        self.board.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), view);
    }
}
