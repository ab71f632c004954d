//! The redb file's layout, and the writes the group-commit thread applies.
//!
//! Tables:
//! - `jobs`: job id → the job record (JSON).
//! - `bodies`: event id → the exact body bytes, once per event;
//!   `body_refs`: event id → how many stored jobs still use it.
//! - `jobs_by_status`: (status, time, job id) → route. Pending jobs use
//!   time 0, so they sort by id, which is acceptance order (what a restart
//!   resumes in); finished jobs use the time they finished, which is what
//!   listings (newest first) and retention (oldest first) walk.
//! - `jobs_by_event`: (event id, job id) → (): an event's jobs, for the
//!   admin API's lookups by the id a sender got. Added after the first
//!   release; opening an older file builds it from `jobs` once.
//! - `pending_by_destination`: (destination, job id) → (): the pending
//!   jobs of each host:port in acceptance order, what the scheduler refills
//!   its bounded window from (see [`super::window`]). Maintained by every
//!   write that changes a job's status; opening an older file builds it
//!   from the pending jobs once.
//! - `dedup`: "route␟key" → (event id, expiry ms); `dedup_expiry`:
//!   (expiry ms, "route␟key") → () for pruning without a full scan.
//!
//! Every write of one batch happens in one transaction; [`WriteOp`] carries
//! its own reply, sent only after the commit (or with the commit's error).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use redb::{Database, Durability, ReadableTable, Table, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;

use super::group_commit::Committer;
use super::job::{JobRecord, Status, Timestamp};
use super::store::{AcceptBatch, AcceptOutcome, PruneBefore, PruneCounts, ReplayOutcome, ReplaySelector, StoreError};

/// Job records by id, JSON-encoded [`super::JobRecord`]s.
pub const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
pub(crate) const BODIES: TableDefinition<&str, &[u8]> = TableDefinition::new("bodies");
pub(crate) const BODY_REFS: TableDefinition<&str, u32> = TableDefinition::new("body_refs");
/// Index of jobs by (status, due time in Unix milliseconds, id) to the
/// job id: what the scheduler and the dead-letter listing scan.
pub const BY_STATUS: TableDefinition<(u8, u64, &str), &str> = TableDefinition::new("jobs_by_status");
pub(crate) const BY_EVENT: TableDefinition<(&str, &str), ()> = TableDefinition::new("jobs_by_event");
/// Pending jobs by (destination, job id).
pub(crate) const BY_DESTINATION: TableDefinition<(&str, &str), ()> = TableDefinition::new("pending_by_destination");
pub(crate) const DEDUP: TableDefinition<&str, (&str, u64)> = TableDefinition::new("dedup");
pub(crate) const DEDUP_EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("dedup_expiry");

/// Most finished jobs (or dedup keys) one prune transaction removes; the
/// pruner repeats while a pass is full, so one transaction stays short.
pub(crate) const PRUNE_CHUNK: usize = 5000;

pub(crate) fn status_code(status: Status) -> u8 {
    match status {
        Status::Pending => 0,
        Status::Succeeded => 1,
        Status::Dead => 2,
    }
}

/// The job's `jobs_by_status` key.
pub(crate) fn index_key(job: &JobRecord) -> (u8, u64, &str) {
    let time = match job.status {
        Status::Pending => 0,
        _ => job.updated_at.unix_ms(),
    };
    (status_code(job.status), time, job.id.as_str())
}

pub(crate) fn dedup_key(route: &str, key: &str) -> String {
    format!("{route}\u{1f}{key}")
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    Timestamp(t).unix_ms()
}

pub(crate) fn storage(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Io(e.into().to_string())
}

pub(crate) fn decode(bytes: &[u8]) -> Result<JobRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode(job: &JobRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(job).map_err(|e| StoreError::Encode(e.to_string()))
}

/// A write, with where to send its result.
pub(crate) enum WriteOp {
    Accept(AcceptBatch, oneshot::Sender<Result<AcceptOutcome, StoreError>>),
    Save(Vec<JobRecord>, oneshot::Sender<Result<(), StoreError>>),
    Replay(ReplaySelector, SystemTime, oneshot::Sender<Result<ReplayOutcome, StoreError>>),
    Prune(PruneBefore, oneshot::Sender<Result<PruneCounts, StoreError>>),
}

/// What a write asks for, apart from its reply channel (so a write that
/// fails halfway can still be answered).
enum Request {
    Accept(AcceptBatch),
    Save(Vec<JobRecord>),
    Replay(ReplaySelector, SystemTime),
    Prune(PruneBefore),
}

enum ReplyTo {
    Accept(oneshot::Sender<Result<AcceptOutcome, StoreError>>),
    Save(oneshot::Sender<Result<(), StoreError>>),
    Replay(oneshot::Sender<Result<ReplayOutcome, StoreError>>),
    Prune(oneshot::Sender<Result<PruneCounts, StoreError>>),
}

/// A write's result, held until the commit.
enum Done {
    Accept(AcceptOutcome),
    Save,
    Replay(ReplayOutcome),
    Prune(PruneCounts),
}

impl WriteOp {
    fn split(self) -> (Request, ReplyTo) {
        match self {
            WriteOp::Accept(b, tx) => (Request::Accept(b), ReplyTo::Accept(tx)),
            WriteOp::Save(j, tx) => (Request::Save(j), ReplyTo::Save(tx)),
            WriteOp::Replay(s, now, tx) => (Request::Replay(s, now), ReplyTo::Replay(tx)),
            WriteOp::Prune(b, tx) => (Request::Prune(b), ReplyTo::Prune(tx)),
        }
    }
}

impl ReplyTo {
    /// Answers with `done` if the commit succeeded, else with its error. A
    /// requester that stopped waiting is not an error.
    fn answer(self, done: Result<Done, StoreError>) {
        match (self, done) {
            (ReplyTo::Accept(tx), Ok(Done::Accept(o))) => drop(tx.send(Ok(o))),
            (ReplyTo::Save(tx), Ok(Done::Save)) => drop(tx.send(Ok(()))),
            (ReplyTo::Replay(tx), Ok(Done::Replay(o))) => drop(tx.send(Ok(o))),
            (ReplyTo::Prune(tx), Ok(Done::Prune(c))) => drop(tx.send(Ok(c))),
            (reply, Ok(_)) => reply.answer(Err(StoreError::Internal("internal: mismatched write result".into()))),
            (ReplyTo::Accept(tx), Err(e)) => drop(tx.send(Err(e))),
            (ReplyTo::Save(tx), Err(e)) => drop(tx.send(Err(e))),
            (ReplyTo::Replay(tx), Err(e)) => drop(tx.send(Err(e))),
            (ReplyTo::Prune(tx), Err(e)) => drop(tx.send(Err(e))),
        }
    }
}

/// The database handle shared by the writer thread and the readers. After a
/// failed write redb refuses every later one ("previous I/O error") until
/// the file is reopened; the writer drops the handle and reopens it on the
/// next batch, so a store that failed because the disk was full works again
/// once there is space, without a restart.
pub(crate) struct Shared {
    pub path: PathBuf,
    pub db: Mutex<Option<Arc<Database>>>,
    /// Set by close: no reopening after it.
    pub closed: AtomicBool,
}

impl Shared {
    pub(crate) fn current(&self) -> Option<Arc<Database>> {
        self.db.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, db: Option<Arc<Database>>) {
        *self.db.lock().unwrap_or_else(|p| p.into_inner()) = db;
    }
}

/// The group-commit thread's side.
pub(crate) struct RedbCommitter {
    pub shared: Arc<Shared>,
    /// When the last reopen was tried, to try at most once a second.
    pub last_reopen: Option<Instant>,
    /// When a commit was last synced; attempt records wait at most
    /// [`MAX_UNSYNCED`] for one.
    pub last_sync: Instant,
}

/// Longest time attempt records may stay unsynced.
const MAX_UNSYNCED: Duration = Duration::from_secs(1);

impl RedbCommitter {
    fn database(&mut self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self.shared.current() {
            return Ok(db);
        }
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        if self.last_reopen.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return Err(StoreError::Reopening);
        }
        self.last_reopen = Some(Instant::now());
        let db = Arc::new(super::redb_store::open_database(&self.shared.path)?);
        tracing::info!(path = %self.shared.path.display(), "delivery store reopened after a write failure");
        self.shared.set(Some(db.clone()));
        Ok(db)
    }
}

impl Committer for RedbCommitter {
    type Op = WriteOp;

    fn commit(&mut self, ops: Vec<WriteOp>) {
        let (requests, replies): (Vec<Request>, Vec<ReplyTo>) = ops.into_iter().map(WriteOp::split).unzip();
        let result = self.database().and_then(|db| {
            let mut txn = db.begin_write().map_err(storage)?;
            // Only accepted events need their sync before anyone is answered.
            // A batch of nothing but attempt records rides on the next synced
            // commit (at most a second later): a crash before it repeats
            // those attempts, it never loses a job.
            let sync =
                !requests.iter().all(|r| matches!(r, Request::Save(_))) || self.last_sync.elapsed() >= MAX_UNSYNCED;
            if !sync {
                txn.set_durability(Durability::None).map_err(|e| StoreError::Io(e.to_string()))?;
            }
            let mut done = Vec::with_capacity(requests.len());
            {
                let mut tables = Tables::open(&txn)?;
                for request in requests {
                    done.push(tables.apply(request)?);
                }
            }
            txn.commit().map_err(storage)?;
            Ok((done, sync))
        });
        match result {
            Ok((done, sync)) => {
                if sync {
                    self.last_sync = Instant::now();
                }
                replies.into_iter().zip(done).for_each(|(reply, done)| reply.answer(Ok(done)));
            }
            Err(e) => {
                tracing::error!("delivery store: a write failed, nothing in it was stored: {e}");
                // The disk or the file failed: drop our handle to reopen it;
                // readers drop theirs when they finish. A bad record or a
                // bug is not fixed by reopening, and reopening would fail
                // every read meanwhile.
                if e.is_io() {
                    self.shared.set(None);
                }
                replies.into_iter().for_each(|reply| reply.answer(Err(e.clone())));
            }
        }
    }
}

struct Tables<'t> {
    jobs: Table<'t, &'static str, &'static [u8]>,
    bodies: Table<'t, &'static str, &'static [u8]>,
    refs: Table<'t, &'static str, u32>,
    by_status: Table<'t, (u8, u64, &'static str), &'static str>,
    by_event: Table<'t, (&'static str, &'static str), ()>,
    by_destination: Table<'t, (&'static str, &'static str), ()>,
    dedup: Table<'t, &'static str, (&'static str, u64)>,
    dedup_expiry: Table<'t, (u64, &'static str), ()>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Tables {
            jobs: txn.open_table(JOBS).map_err(storage)?,
            bodies: txn.open_table(BODIES).map_err(storage)?,
            refs: txn.open_table(BODY_REFS).map_err(storage)?,
            by_status: txn.open_table(BY_STATUS).map_err(storage)?,
            by_event: txn.open_table(BY_EVENT).map_err(storage)?,
            by_destination: txn.open_table(BY_DESTINATION).map_err(storage)?,
            dedup: txn.open_table(DEDUP).map_err(storage)?,
            dedup_expiry: txn.open_table(DEDUP_EXPIRY).map_err(storage)?,
        })
    }

    /// Applies one write. On error the caller fails the whole batch, so a
    /// write applied halfway is never committed.
    fn apply(&mut self, request: Request) -> Result<Done, StoreError> {
        Ok(match request {
            Request::Accept(batch) => Done::Accept(self.accept(batch)?),
            Request::Save(jobs) => {
                for job in &jobs {
                    self.save(job, false)?;
                }
                Done::Save
            }
            Request::Replay(selector, now) => Done::Replay(self.replay(selector, now)?),
            Request::Prune(before) => Done::Prune(self.prune(before)?),
        })
    }

    fn accept(&mut self, batch: AcceptBatch) -> Result<AcceptOutcome, StoreError> {
        let now_ms = unix_ms(batch.now);
        let mut duplicates = Vec::new();
        for claim in &batch.dedup {
            let key = dedup_key(&claim.route, &claim.key);
            let held = self.dedup.get(key.as_str()).map_err(storage)?.map(|g| {
                let (event, expiry) = g.value();
                (event.to_string(), expiry)
            });
            match held {
                Some((event, expiry)) if expiry > now_ms => duplicates.push((claim.route.clone(), event)),
                held => {
                    if let Some((_, old_expiry)) = held {
                        self.dedup_expiry.remove((old_expiry, key.as_str())).map_err(storage)?;
                    }
                    let expiry = now_ms.saturating_add(claim.window.as_millis() as u64);
                    self.dedup.insert(key.as_str(), (batch.event_id.as_str(), expiry)).map_err(storage)?;
                    self.dedup_expiry.insert((expiry, key.as_str()), ()).map_err(storage)?;
                }
            }
        }
        let stored: Vec<JobRecord> =
            batch.jobs.into_iter().filter(|j| !duplicates.iter().any(|(route, _)| *route == j.route)).collect();
        if !stored.is_empty() {
            self.bodies.insert(batch.event_id.as_str(), batch.body.as_ref()).map_err(storage)?;
            self.refs.insert(batch.event_id.as_str(), stored.len() as u32).map_err(storage)?;
            for job in &stored {
                self.save(job, true)?;
            }
        }
        Ok(AcceptOutcome { stored, duplicates })
    }

    /// Writes a job and moves its index entry. A job no longer stored (pruned
    /// meanwhile) is not brought back unless it is `new`.
    fn save(&mut self, job: &JobRecord, new: bool) -> Result<(), StoreError> {
        // A new job has a fresh id; a job coming back from an attempt was
        // pending, so its old index key is known without decoding the old
        // record. Anything else (a replayed job) looks the old record up.
        let was_pending = !new
            && self.by_status.remove((status_code(Status::Pending), 0, job.id.as_str())).map_err(storage)?.is_some();
        if !new && !was_pending {
            let old = self.jobs.get(job.id.as_str()).map_err(storage)?.map(|g| decode(g.value()));
            match old {
                Some(old) => {
                    self.by_status.remove(index_key(&old?)).map_err(storage)?;
                }
                None => return Ok(()),
            }
        }
        self.jobs.insert(job.id.as_str(), encode(job)?.as_slice()).map_err(storage)?;
        self.by_status.insert(index_key(job), job.route.as_str()).map_err(storage)?;
        // A job's destination never changes; only its status moves it in
        // or out of the pending index.
        let pending_key = (job.destination.as_str(), job.id.as_str());
        match job.status {
            Status::Pending if !was_pending => {
                self.by_destination.insert(pending_key, ()).map_err(storage)?;
            }
            Status::Succeeded | Status::Dead if was_pending => {
                self.by_destination.remove(pending_key).map_err(storage)?;
            }
            _ => {}
        }
        if new {
            self.by_event.insert((job.event_id.as_str(), job.id.as_str()), ()).map_err(storage)?;
        }
        Ok(())
    }

    fn replay(&mut self, selector: ReplaySelector, now: SystemTime) -> Result<ReplayOutcome, StoreError> {
        let ids: Vec<String> = match selector {
            ReplaySelector::One(id) => {
                let job = match self.jobs.get(id.as_str()).map_err(storage)? {
                    None => return Ok(ReplayOutcome::NotFound),
                    Some(g) => decode(g.value())?,
                };
                if job.status == Status::Pending {
                    return Ok(ReplayOutcome::AlreadyPending);
                }
                vec![id]
            }
            ReplaySelector::Matching(filter) if filter.event.is_some() => {
                let event = filter.event.as_deref().unwrap_or_default();
                let mut ids = Vec::new();
                for entry in self.by_event.range((event, "")..).map_err(storage)? {
                    let (key, _) = entry.map_err(storage)?;
                    let (of, id) = key.value();
                    if of != event {
                        break;
                    }
                    let job = self.jobs.get(id).map_err(storage)?.map(|g| decode(g.value())).transpose()?;
                    // Pending ones are retried on their own.
                    if job.is_some_and(|j| j.status != Status::Pending && filter.matches(&j)) {
                        ids.push(id.to_string());
                    }
                }
                ids
            }
            ReplaySelector::Matching(filter) => {
                let statuses = match filter.status {
                    Some(Status::Pending) => vec![],
                    Some(s) => vec![s],
                    None => vec![Status::Dead, Status::Succeeded],
                };
                let mut ids = Vec::new();
                for status in statuses {
                    let code = status_code(status);
                    for entry in self.by_status.range((code, 0, "")..(code + 1, 0, "")).map_err(storage)? {
                        let (key, route) = entry.map_err(storage)?;
                        if filter.route.as_deref().is_none_or(|r| r == route.value()) {
                            ids.push(key.value().2.to_string());
                        }
                    }
                }
                ids
            }
        };
        let mut replayed = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(mut job) = self.jobs.get(id.as_str()).map_err(storage)?.map(|g| decode(g.value())).transpose()?
            else {
                continue;
            };
            job.restart_round(now);
            self.save(&job, false)?;
            replayed.push(job);
        }
        // Oldest first, so ordering keys replay in acceptance order.
        replayed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(ReplayOutcome::Replayed(replayed))
    }

    fn prune(&mut self, before: PruneBefore) -> Result<PruneCounts, StoreError> {
        let mut counts = PruneCounts::default();
        for (status, cutoff) in [(Status::Succeeded, before.succeeded), (Status::Dead, before.dead)] {
            let code = status_code(status);
            let doomed: Vec<(u64, String)> = self
                .by_status
                .range((code, 0, "")..(code, unix_ms(cutoff), ""))
                .map_err(storage)?
                .take(PRUNE_CHUNK)
                .map(|entry| entry.map(|(k, _)| (k.value().1, k.value().2.to_string())))
                .collect::<Result<_, _>>()
                .map_err(storage)?;
            for (time, id) in &doomed {
                self.by_status.remove((code, *time, id.as_str())).map_err(storage)?;
                let record = self.jobs.remove(id.as_str()).map_err(storage)?.map(|g| decode(g.value()));
                if let Some(job) = record.transpose()? {
                    self.by_event.remove((job.event_id.as_str(), job.id.as_str())).map_err(storage)?;
                    self.release_body(&job.event_id)?;
                }
            }
            match status {
                Status::Succeeded => counts.succeeded = doomed.len(),
                _ => counts.dead = doomed.len(),
            }
        }
        let expired: Vec<(u64, String)> = self
            .dedup_expiry
            .range((0, "")..(unix_ms(before.now), ""))
            .map_err(storage)?
            .take(PRUNE_CHUNK)
            .map(|entry| entry.map(|(k, _)| (k.value().0, k.value().1.to_string())))
            .collect::<Result<_, _>>()
            .map_err(storage)?;
        for (expiry, key) in &expired {
            self.dedup_expiry.remove((*expiry, key.as_str())).map_err(storage)?;
            let current = self.dedup.get(key.as_str()).map_err(storage)?.map(|g| g.value().1);
            if current == Some(*expiry) {
                self.dedup.remove(key.as_str()).map_err(storage)?;
            }
        }
        counts.dedup_keys = expired.len();
        Ok(counts)
    }

    /// Drops one job's hold on its event's body; the last one removes it.
    fn release_body(&mut self, event_id: &str) -> Result<(), StoreError> {
        let left = self.refs.get(event_id).map_err(storage)?.map(|g| g.value()).unwrap_or(0);
        if left <= 1 {
            self.refs.remove(event_id).map_err(storage)?;
            self.bodies.remove(event_id).map_err(storage)?;
        } else {
            self.refs.insert(event_id, left - 1).map_err(storage)?;
        }
        Ok(())
    }
}
