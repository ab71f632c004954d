//! The bound on request bodies that durable jobs keep in memory.
//!
//! A durable job is on disk with its event's body, but a fresh one keeps the
//! body in memory too, so its first attempt need not read the store. While
//! acceptance outruns delivery that cache grew with the backlog: in the
//! async benchmark (bench/RESULTS.md, scenario 3) the server peaked at
//! 559 MiB, and at 252 MiB with no bodies kept. Past `queued_body_memory`
//! bytes a new job keeps no body and its attempt reads it from the store,
//! so memory stays bounded however far delivery falls behind, and nothing
//! is refused: unlike `delivery: memory` jobs, these bodies are safe on disk.
//!
//! Bodies are counted per job: an event forwarded to three places counts
//! its body three times, though the bytes are shared — an overestimate,
//! which errs on the side of less memory. `delivery: memory` jobs have no
//! copy on disk and are bounded by count instead (`memory_queue_limit`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;

/// Default for `queued_body_memory`.
pub(crate) const DEFAULT_QUEUED_BODY_MEMORY: usize = 64 * 1024 * 1024;

/// Bytes of durable jobs' bodies held in memory, shared by acceptance and
/// the scheduler (which drops the bodies).
#[derive(Debug, Default)]
pub(crate) struct BodyBudget {
    held: AtomicUsize,
}

/// A queued job's body, while it is kept in memory.
#[derive(Debug)]
pub(crate) struct QueuedBody {
    bytes: Bytes,
    /// The budget this body counts against; None for `delivery: memory`
    /// jobs, whose body is not counted here.
    budget: Option<Arc<BodyBudget>>,
}

impl BodyBudget {
    /// Keeps `body` for a durable job if it fits under `limit` bytes.
    pub(crate) fn hold(self: &Arc<Self>, body: &Bytes, limit: usize) -> Option<QueuedBody> {
        let len = body.len();
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(len).filter(|total| *total <= limit)
            })
            .ok()?;
        Some(QueuedBody { bytes: body.clone(), budget: Some(self.clone()) })
    }

    /// Bytes held now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

impl QueuedBody {
    /// A `delivery: memory` job's body, not counted against the budget.
    pub(crate) fn uncounted(body: &Bytes) -> QueuedBody {
        QueuedBody { bytes: body.clone(), budget: None }
    }

    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl Drop for QueuedBody {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.held.fetch_sub(self.bytes.len(), Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_kept_up_to_the_limit_and_released_when_dropped() {
        let budget = Arc::new(BodyBudget::default());
        let body = Bytes::from(vec![b'x'; 400]);
        let first = budget.hold(&body, 1000).expect("fits");
        let second = budget.hold(&body, 1000).expect("fits");
        assert_eq!(budget.held(), 800);
        assert!(budget.hold(&body, 1000).is_none(), "1,200 bytes would pass the limit");
        assert_eq!(budget.held(), 800, "a refused body is not counted");
        drop(first);
        assert_eq!(budget.held(), 400);
        let third = budget.hold(&body, 1000).expect("room again");
        assert_eq!(third.bytes(), &body);
        drop((second, third));
        assert_eq!(budget.held(), 0);
        assert!(budget.hold(&body, 0).is_none(), "0 keeps no bodies");
    }

    #[test]
    fn memory_jobs_bodies_are_not_counted() {
        let budget = Arc::new(BodyBudget::default());
        let body = Bytes::from_static(b"{}");
        let kept = QueuedBody::uncounted(&body);
        assert_eq!(budget.held(), 0);
        drop(kept);
        assert_eq!(budget.held(), 0);
    }
}
