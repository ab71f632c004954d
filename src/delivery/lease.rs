//! The scheduler's hook for jobs it was *handed* rather than owns.
//!
//! With the embedded store a replica's scheduler owns its jobs: a retry is
//! a local timer. With a shared queue (JetStream) a job reaches a replica
//! on a lease from the queue, and a retry must go back to the queue — with
//! its backoff as the delay — so that any replica, not only this one, runs
//! the next attempt. The scheduler tells the [`Leases`] how each handed job
//! ended; the backend turns that into acknowledgements.

use super::job::JobRecord;
use super::retry::Verdict;

/// Where handed jobs go back to. Called on the scheduler's task: must not
/// block (send the acknowledgement from a task of its own).
pub(crate) trait Leases: Send + Sync + std::fmt::Debug {
    /// The job's attempt ended with `verdict`; its record is saved. A retry
    /// goes back to the queue, due after `after`: the scheduler forgets it.
    fn finished(&self, job: &JobRecord, verdict: &Verdict);
    /// The job left this replica without an attempt (shutdown): another
    /// replica should take it now.
    fn released(&self, job: &JobRecord);
}
