//! The queue's storage interface.
//!
//! Small on purpose: what the ack path, the scheduler, the admin API and
//! retention need, phrased as whole operations (accept an event with its
//! jobs, save jobs after attempts, replay, prune) rather than as key-value
//! primitives, so a backend can implement each with its own transaction
//! model. The embedded backend is [`super::redb_store::RedbStore`]; the
//! shared backend for several replicas is [`super::jetstream`] (a
//! work-queue stream for jobs, KV buckets for records and dedup keys).
//! Methods return boxed futures so the trait stays object-safe and a
//! backend may be async (network) or blocking behind its own threads.
//!
//! Contract: when `accept` returns `Ok`, the event and its jobs survive a
//! crash of the process and of the machine (they are synced to disk, or
//! acknowledged by a quorum). Everything else may be less durable; losing
//! an update only means an attempt is repeated, never that a job is lost.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::job::{JobRecord, Status};

/// Why the store did not do what was asked. Two kinds, told apart by
/// [`StoreError::is_io`]: the disk or the database file failed (I/O, a
/// lock held by another process, a failed commit) — worth trying again
/// later, which is why callers answer 503 with Retry-After — or the data or
/// the code is wrong (a record that does not decode or encode, a call the
/// store did not expect), which trying again does not fix. Callers treat
/// both alike today; the split says which is which.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// I/O: the file cannot be opened or created, or another process has it.
    #[error("cannot open the delivery store at {path}: {message}")]
    Open { path: String, message: String },
    /// I/O: the database failed to read or commit.
    #[error("the delivery store failed: {0}")]
    Io(String),
    /// I/O: a write failed a moment ago and the file is being reopened.
    #[error("the delivery store failed: it is being reopened after a failed write")]
    Reopening,
    /// Logic: a stored job record does not decode.
    #[error("the delivery store failed: a stored job record is unreadable: {0}")]
    Corrupt(String),
    /// Logic: a job record does not encode.
    #[error("the delivery store failed: cannot encode a job record: {0}")]
    Encode(String),
    /// Logic: a call the store did not expect in its state, or a store task
    /// that did not finish (it panicked): a bug, not the disk.
    #[error("the delivery store failed: {0}")]
    Internal(String),
    /// The store was closed (shutdown); nothing more is done with it.
    #[error("the delivery store is closed")]
    Closed,
}

impl StoreError {
    /// The disk or the database file failed, or is being reopened: the same
    /// call may succeed later. False for closed and for logic errors.
    pub fn is_io(&self) -> bool {
        matches!(self, StoreError::Open { .. } | StoreError::Io(_) | StoreError::Reopening)
    }
}

/// A claim on a dedup key, written with the event it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct DedupClaim {
    pub route: String,
    pub key: String,
    pub window: Duration,
}

/// One accepted event: its body, its durable jobs and its dedup claims,
/// written together or not at all.
#[derive(Debug, Clone)]
pub(crate) struct AcceptBatch {
    pub event_id: String,
    pub body: Bytes,
    pub jobs: Vec<JobRecord>,
    pub dedup: Vec<DedupClaim>,
    pub now: SystemTime,
}

/// What `accept` did.
#[derive(Debug, Clone, Default)]
pub(crate) struct AcceptOutcome {
    /// Jobs stored, in acceptance order.
    pub stored: Vec<JobRecord>,
    /// Routes whose dedup key was already claimed within its window, with
    /// the event that claimed it; their jobs were not stored.
    pub duplicates: Vec<(String, String)>,
}

/// Which jobs a listing or a bulk retry covers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub status: Option<Status>,
    pub route: Option<String>,
    /// Only the jobs of this event (the id its sender got in the 202).
    pub event: Option<String>,
}

impl Filter {
    pub(crate) fn matches(&self, job: &JobRecord) -> bool {
        self.status.is_none_or(|s| s == job.status)
            && self.route.as_ref().is_none_or(|r| *r == job.route)
            && self.event.as_ref().is_none_or(|e| *e == job.event_id)
    }
}

/// A page of a listing, newest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page {
    pub jobs: Vec<JobRecord>,
    /// Pass back to get the next page; None on the last one.
    pub next_cursor: Option<String>,
}

/// What a manual retry selects.
#[derive(Debug, Clone)]
pub(crate) enum ReplaySelector {
    One(String),
    Matching(Filter),
}

/// What a manual retry did.
#[derive(Debug, Clone)]
pub(crate) enum ReplayOutcome {
    /// The jobs now pending again.
    Replayed(Vec<JobRecord>),
    NotFound,
    /// A single job that is still pending cannot be retried by hand: it
    /// may be in flight right now.
    AlreadyPending,
}

/// One destination's pending jobs in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingDestination {
    /// `host:port`.
    pub destination: String,
    pub count: u64,
    /// The id of its oldest pending job (ids sort in acceptance order).
    pub oldest: String,
}

/// Retention cut-offs: finished jobs older than these are removed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PruneBefore {
    pub succeeded: SystemTime,
    pub dead: SystemTime,
    pub now: SystemTime,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PruneCounts {
    pub succeeded: usize,
    pub dead: usize,
    pub dedup_keys: usize,
}

pub(crate) trait Store: Send + Sync + 'static {
    /// Durably records an event with its jobs and dedup claims (see the
    /// module's contract). Claims already held within their window are
    /// reported, and those routes' jobs are not stored.
    fn accept(&self, batch: AcceptBatch) -> BoxFuture<'_, Result<AcceptOutcome, StoreError>>;
    /// Writes jobs back after attempts.
    fn save(&self, jobs: Vec<JobRecord>) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Moves finished jobs back to pending, atomically with the check that
    /// they are finished.
    fn replay(&self, selector: ReplaySelector, now: SystemTime) -> BoxFuture<'_, Result<ReplayOutcome, StoreError>>;
    /// Removes finished jobs past retention, their bodies once unreferenced,
    /// and expired dedup keys.
    fn prune(&self, before: PruneBefore) -> BoxFuture<'_, Result<PruneCounts, StoreError>>;
    fn job(&self, id: String) -> BoxFuture<'_, Result<Option<JobRecord>, StoreError>>;
    /// Every stored job of one event, in acceptance order (empty when the
    /// event is unknown, had no durable forward, or was pruned).
    fn event_jobs(&self, event_id: String) -> BoxFuture<'_, Result<Vec<JobRecord>, StoreError>>;
    fn body(&self, event_id: String) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>>;
    fn list(&self, filter: Filter, cursor: Option<String>, limit: usize) -> BoxFuture<'_, Result<Page, StoreError>>;
    /// Each destination with pending jobs: how many, and the oldest's id.
    /// What a restart resumes from, without loading the jobs. A store that
    /// feeds the scheduler itself (JetStream) has none to report.
    fn pending_destinations(&self) -> BoxFuture<'_, Result<Vec<PendingDestination>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Up to `limit` pending jobs of `destination` whose ids are `from` or
    /// later, in acceptance order: how the scheduler refills its window.
    fn pending_of(
        &self,
        destination: String,
        from: String,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<JobRecord>, StoreError>> {
        let _ = (destination, from, limit);
        Box::pin(async { Ok(Vec::new()) })
    }
    /// The event that claimed `key` on `route`, if the claim is still live.
    fn claimed(&self, route: String, key: String, now: SystemTime)
        -> BoxFuture<'_, Result<Option<String>, StoreError>>;
    /// False while the store cannot take writes (a network backend that
    /// lost its servers): readiness reports it, so traffic goes elsewhere.
    fn is_available(&self) -> bool {
        true
    }
    /// Finishes outstanding writes and releases the store (its files, its
    /// locks). Later calls fail with [`StoreError::Closed`].
    fn close(&self) -> BoxFuture<'_, ()>;
}
