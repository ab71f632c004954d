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
//! - `dedup`: "route␟key" → (event id, expiry ms); `dedup_expiry`:
//!   (expiry ms, "route␟key") → () for pruning without a full scan.
//!
//! Every write of one batch happens in one transaction; [`WriteOp`] carries
//! its own reply, sent only after the commit (or with the commit's error).

use std::sync::Arc;
use std::time::SystemTime;

use redb::{Database, ReadableTable, Table, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;

use super::group_commit::Committer;
use super::job::{JobRecord, Status, Timestamp};
use super::store::{AcceptBatch, AcceptOutcome, PruneBefore, PruneCounts, ReplayOutcome, ReplaySelector, StoreError};

pub const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
pub const BODIES: TableDefinition<&str, &[u8]> = TableDefinition::new("bodies");
pub const BODY_REFS: TableDefinition<&str, u32> = TableDefinition::new("body_refs");
pub const BY_STATUS: TableDefinition<(u8, u64, &str), &str> = TableDefinition::new("jobs_by_status");
pub const DEDUP: TableDefinition<&str, (&str, u64)> = TableDefinition::new("dedup");
pub const DEDUP_EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("dedup_expiry");

/// Most finished jobs (or dedup keys) one prune transaction removes; the
/// pruner repeats while a pass is full, so one transaction stays short.
pub const PRUNE_CHUNK: usize = 5000;

pub fn status_code(status: Status) -> u8 {
    match status {
        Status::Pending => 0,
        Status::Succeeded => 1,
        Status::Dead => 2,
    }
}

/// The job's `jobs_by_status` key.
pub fn index_key(job: &JobRecord) -> (u8, u64, &str) {
    let time = match job.status {
        Status::Pending => 0,
        _ => job.updated_at.unix_ms(),
    };
    (status_code(job.status), time, job.id.as_str())
}

pub fn dedup_key(route: &str, key: &str) -> String {
    format!("{route}\u{1f}{key}")
}

pub fn unix_ms(t: SystemTime) -> u64 {
    Timestamp(t).unix_ms()
}

pub fn storage(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Io(e.into().to_string())
}

pub fn decode(bytes: &[u8]) -> Result<JobRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Io(format!("a stored job record is unreadable: {e}")))
}

fn encode(job: &JobRecord) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(job).map_err(|e| StoreError::Io(format!("cannot encode a job record: {e}")))
}

/// A write, with where to send its result.
pub enum WriteOp {
    Accept(AcceptBatch, oneshot::Sender<Result<AcceptOutcome, StoreError>>),
    Save(Vec<JobRecord>, oneshot::Sender<Result<(), StoreError>>),
    Replay(ReplaySelector, SystemTime, oneshot::Sender<Result<ReplayOutcome, StoreError>>),
    Prune(PruneBefore, oneshot::Sender<Result<PruneCounts, StoreError>>),
}

/// A write applied but not yet committed: its reply waits for the commit.
enum Applied {
    Accept(oneshot::Sender<Result<AcceptOutcome, StoreError>>, AcceptOutcome),
    Save(oneshot::Sender<Result<(), StoreError>>),
    Replay(oneshot::Sender<Result<ReplayOutcome, StoreError>>, ReplayOutcome),
    Prune(oneshot::Sender<Result<PruneCounts, StoreError>>, PruneCounts),
}

impl Applied {
    fn answer(self, committed: Result<(), StoreError>) {
        // A requester that stopped waiting is not an error.
        match self {
            Applied::Accept(tx, outcome) => drop(tx.send(committed.map(|()| outcome))),
            Applied::Save(tx) => drop(tx.send(committed)),
            Applied::Replay(tx, outcome) => drop(tx.send(committed.map(|()| outcome))),
            Applied::Prune(tx, counts) => drop(tx.send(committed.map(|()| counts))),
        }
    }
}

fn fail(op: WriteOp, error: StoreError) {
    match op {
        WriteOp::Accept(_, tx) => drop(tx.send(Err(error))),
        WriteOp::Save(_, tx) => drop(tx.send(Err(error))),
        WriteOp::Replay(_, _, tx) => drop(tx.send(Err(error))),
        WriteOp::Prune(_, tx) => drop(tx.send(Err(error))),
    }
}

/// The group-commit thread's side: owns a handle on the database.
pub struct RedbCommitter {
    pub db: Arc<Database>,
}

impl Committer for RedbCommitter {
    type Op = WriteOp;

    fn commit(&mut self, ops: Vec<WriteOp>) {
        let txn = match self.db.begin_write() {
            Ok(txn) => txn,
            Err(e) => {
                let error = storage(e);
                tracing::error!("delivery store: cannot start a write: {error}");
                return ops.into_iter().for_each(|op| fail(op, error.clone()));
            }
        };
        let mut applied = Vec::with_capacity(ops.len());
        let mut ops = ops.into_iter();
        let result = (|| {
            let mut tables = Tables::open(&txn)?;
            for op in ops.by_ref() {
                applied.push(tables.apply(op)?);
            }
            Ok::<(), StoreError>(())
        })();
        let committed = result.and_then(|()| txn.commit().map_err(storage));
        if let Err(e) = &committed {
            tracing::error!("delivery store: a write failed, nothing in it was stored: {e}");
            ops.for_each(|op| fail(op, e.clone()));
        }
        for a in applied {
            a.answer(committed.clone());
        }
    }
}

struct Tables<'t> {
    jobs: Table<'t, &'static str, &'static [u8]>,
    bodies: Table<'t, &'static str, &'static [u8]>,
    refs: Table<'t, &'static str, u32>,
    by_status: Table<'t, (u8, u64, &'static str), &'static str>,
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
            dedup: txn.open_table(DEDUP).map_err(storage)?,
            dedup_expiry: txn.open_table(DEDUP_EXPIRY).map_err(storage)?,
        })
    }

    /// Applies one write. On error the caller fails the whole batch, so a
    /// write applied halfway is never committed.
    fn apply(&mut self, op: WriteOp) -> Result<Applied, StoreError> {
        Ok(match op {
            WriteOp::Accept(batch, tx) => Applied::Accept(tx, self.accept(batch)?),
            WriteOp::Save(jobs, tx) => {
                for job in &jobs {
                    self.save(job, false)?;
                }
                Applied::Save(tx)
            }
            WriteOp::Replay(selector, now, tx) => Applied::Replay(tx, self.replay(selector, now)?),
            WriteOp::Prune(before, tx) => Applied::Prune(tx, self.prune(before)?),
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
        let old = self.jobs.get(job.id.as_str()).map_err(storage)?.map(|g| decode(g.value()));
        match old {
            Some(old) => {
                let old = old?;
                self.by_status.remove(index_key(&old)).map_err(storage)?;
            }
            None if !new => return Ok(()),
            None => {}
        }
        self.jobs.insert(job.id.as_str(), encode(job)?.as_slice()).map_err(storage)?;
        self.by_status.insert(index_key(job), job.route.as_str()).map_err(storage)?;
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
