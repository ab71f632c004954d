//! The embedded queue: one redb file in `data_dir`.
//!
//! redb is a pure-Rust, ACID, copy-on-write B-tree store: a commit is
//! durable when it returns (it syncs), a crash leaves the last committed
//! state, and readers never block the writer. That is exactly the contract
//! [`Store::accept`] needs, with no server to run and no C to build. Writes
//! go through the [`group_commit`](super::group_commit) thread, one
//! transaction and one sync per batch; reads run on the blocking pool
//! against their own snapshot.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableHandle};
use tokio::sync::oneshot;

use super::group_commit::GroupCommit;
use super::job::{JobRecord, Status};
use super::redb_tables::{
    decode, dedup_key, status_code, storage, unix_ms, RedbCommitter, Shared, WriteOp, BODIES, BODY_REFS,
    BY_DESTINATION, BY_EVENT, BY_STATUS, DEDUP, DEDUP_EXPIRY, JOBS,
};
use super::store::{
    AcceptBatch, AcceptOutcome, Filter, Page, PendingDestination, PruneBefore, PruneCounts, ReplayOutcome,
    ReplaySelector, Store, StoreError,
};

/// The file inside `data_dir`.
pub(crate) const FILE_NAME: &str = "deliveries.redb";

/// redb's page cache. Jobs are read once per attempt, so a modest cache is
/// enough; redb's default (1 GiB) is sized for databases read hot.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

pub(crate) struct RedbStore {
    shared: Arc<Shared>,
    writer: Mutex<Option<GroupCommit<WriteOp>>>,
}

/// Opens (creating if needed) the database file with every table. Blocking:
/// after a crash redb repairs the file, which reads all of it.
pub(crate) fn open_database(path: &Path) -> Result<Database, StoreError> {
    let fail = |message: String| StoreError::Open { path: path.display().to_string(), message };
    let db = Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => {
            fail("another hookroute (or another server in this process) has it open; give each its own data_dir".into())
        }
        e => fail(e.to_string()),
    })?;
    // Create every table now, so reads never meet a missing one.
    let txn = db.begin_write().map_err(|e| fail(e.to_string()))?;
    let tables: Vec<String> =
        txn.list_tables().map_err(|e| fail(e.to_string()))?.map(|table| table.name().to_string()).collect();
    let had_event_index = tables.iter().any(|name| name == BY_EVENT.name());
    let had_destination_index = tables.iter().any(|name| name == BY_DESTINATION.name());
    {
        let open = |e: redb::TableError| fail(e.to_string());
        if !had_event_index {
            // A file from before the index: build it from the jobs kept.
            let jobs = txn.open_table(JOBS).map_err(open)?;
            let mut by_event = txn.open_table(BY_EVENT).map_err(open)?;
            for entry in jobs.iter().map_err(|e| fail(e.to_string()))? {
                let (id, record) = entry.map_err(|e| fail(e.to_string()))?;
                let job = decode(record.value()).map_err(|e| fail(e.to_string()))?;
                by_event.insert((job.event_id.as_str(), id.value()), ()).map_err(|e| fail(e.to_string()))?;
            }
        }
        if !had_destination_index {
            // A file from before the window: index its pending jobs (one
            // read of each pending record, once).
            let index = txn.open_table(BY_STATUS).map_err(open)?;
            let jobs = txn.open_table(JOBS).map_err(open)?;
            let mut by_destination = txn.open_table(BY_DESTINATION).map_err(open)?;
            let code = status_code(Status::Pending);
            for entry in index.range((code, 0, "")..(code + 1, 0, "")).map_err(|e| fail(e.to_string()))? {
                let (key, _) = entry.map_err(|e| fail(e.to_string()))?;
                let id = key.value().2;
                if let Some(record) = jobs.get(id).map_err(|e| fail(e.to_string()))? {
                    let job = decode(record.value()).map_err(|e| fail(e.to_string()))?;
                    by_destination.insert((job.destination.as_str(), id), ()).map_err(|e| fail(e.to_string()))?;
                }
            }
        }
        txn.open_table(JOBS).map_err(open)?;
        txn.open_table(BODIES).map_err(open)?;
        txn.open_table(BODY_REFS).map_err(open)?;
        txn.open_table(BY_STATUS).map_err(open)?;
        txn.open_table(BY_EVENT).map_err(open)?;
        txn.open_table(BY_DESTINATION).map_err(open)?;
        txn.open_table(DEDUP).map_err(open)?;
        txn.open_table(DEDUP_EXPIRY).map_err(open)?;
    }
    txn.commit().map_err(|e| fail(e.to_string()))?;
    Ok(db)
}

impl RedbStore {
    /// Opens (creating if needed) the store in `data_dir`. Blocking.
    pub(crate) fn open(data_dir: &Path) -> Result<RedbStore, StoreError> {
        let path = data_dir.join(FILE_NAME);
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: format!("cannot create the directory {}: {e}", data_dir.display()),
        })?;
        let db = Arc::new(open_database(&path)?);
        let shared = Arc::new(Shared { path: path.clone(), db: Mutex::new(Some(db)), closed: AtomicBool::new(false) });
        let writer = GroupCommit::spawn(
            "hookroute-store",
            RedbCommitter { shared: shared.clone(), last_reopen: None, last_sync: std::time::Instant::now() },
        )
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: format!("cannot start the writer thread: {e}"),
        })?;
        Ok(RedbStore { shared, writer: Mutex::new(Some(writer)) })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.shared.path
    }

    fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.shared.current().ok_or_else(|| match self.shared.closed.load(Ordering::SeqCst) {
            true => StoreError::Closed,
            false => StoreError::Reopening,
        })
    }

    /// Sends a write to the group-commit thread and waits for its commit.
    async fn write<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> WriteOp,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let sender = {
            let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            writer.as_ref().map(GroupCommit::sender).ok_or(StoreError::Closed)?
        };
        sender.send(make(tx)).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db()?;
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Internal(format!("a store read did not finish: {e}")))?
    }
}

impl Store for RedbStore {
    fn accept(&self, batch: AcceptBatch) -> BoxFuture<'_, Result<AcceptOutcome, StoreError>> {
        self.write(|tx| WriteOp::Accept(batch, tx)).boxed()
    }

    fn save(&self, jobs: Vec<JobRecord>) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write(|tx| WriteOp::Save(jobs, tx)).boxed()
    }

    fn replay(&self, selector: ReplaySelector, now: SystemTime) -> BoxFuture<'_, Result<ReplayOutcome, StoreError>> {
        self.write(move |tx| WriteOp::Replay(selector, now, tx)).boxed()
    }

    fn prune(&self, before: PruneBefore) -> BoxFuture<'_, Result<PruneCounts, StoreError>> {
        self.write(move |tx| WriteOp::Prune(before, tx)).boxed()
    }

    fn job(&self, id: String) -> BoxFuture<'_, Result<Option<JobRecord>, StoreError>> {
        self.read(move |db| {
            let txn = db.begin_read().map_err(storage)?;
            let jobs = txn.open_table(JOBS).map_err(storage)?;
            let record = jobs.get(id.as_str()).map_err(storage)?;
            record.map(|g| decode(g.value())).transpose()
        })
        .boxed()
    }

    fn event_jobs(&self, event_id: String) -> BoxFuture<'_, Result<Vec<JobRecord>, StoreError>> {
        self.read(move |db| event_jobs(db, &event_id)).boxed()
    }

    fn body(&self, event_id: String) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        self.read(move |db| {
            let txn = db.begin_read().map_err(storage)?;
            let bodies = txn.open_table(BODIES).map_err(storage)?;
            let body = bodies.get(event_id.as_str()).map_err(storage)?;
            Ok(body.map(|g| Bytes::copy_from_slice(g.value())))
        })
        .boxed()
    }

    fn list(&self, filter: Filter, cursor: Option<String>, limit: usize) -> BoxFuture<'_, Result<Page, StoreError>> {
        self.read(move |db| list(db, &filter, cursor.as_deref(), limit.max(1))).boxed()
    }

    fn pending_destinations(&self) -> BoxFuture<'_, Result<Vec<PendingDestination>, StoreError>> {
        self.read(|db| {
            let txn = db.begin_read().map_err(storage)?;
            let index = txn.open_table(BY_DESTINATION).map_err(storage)?;
            let mut out: Vec<PendingDestination> = Vec::new();
            // Keys only, in order: a destination's first key is its oldest job.
            for entry in index.iter().map_err(storage)? {
                let (key, _) = entry.map_err(storage)?;
                let (destination, id) = key.value();
                match out.last_mut() {
                    Some(last) if last.destination == destination => last.count += 1,
                    _ => out.push(PendingDestination {
                        destination: destination.to_string(),
                        count: 1,
                        oldest: id.to_string(),
                    }),
                }
            }
            Ok(out)
        })
        .boxed()
    }

    fn pending_of(
        &self,
        destination: String,
        from: String,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<JobRecord>, StoreError>> {
        self.read(move |db| {
            let txn = db.begin_read().map_err(storage)?;
            let index = txn.open_table(BY_DESTINATION).map_err(storage)?;
            let jobs = txn.open_table(JOBS).map_err(storage)?;
            let mut out = Vec::new();
            for entry in index.range((destination.as_str(), from.as_str())..).map_err(storage)? {
                let (key, _) = entry.map_err(storage)?;
                let (of, id) = key.value();
                if of != destination || out.len() >= limit {
                    break;
                }
                if let Some(record) = jobs.get(id).map_err(storage)? {
                    out.push(decode(record.value())?);
                }
            }
            Ok(out)
        })
        .boxed()
    }

    fn claimed(
        &self,
        route: String,
        key: String,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        self.read(move |db| {
            let txn = db.begin_read().map_err(storage)?;
            let dedup = txn.open_table(DEDUP).map_err(storage)?;
            let held = dedup.get(dedup_key(&route, &key).as_str()).map_err(storage)?;
            Ok(held.and_then(|g| {
                let (event, expiry) = g.value();
                (expiry > unix_ms(now)).then(|| event.to_string())
            }))
        })
        .boxed()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        async move {
            self.shared.closed.store(true, Ordering::SeqCst);
            let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(writer) = writer {
                // Joining waits for the writes already sent: blocking.
                let _ = tokio::task::spawn_blocking(move || writer.join()).await;
            }
            // The file lock goes with the last handle; reads in progress
            // hold theirs for a moment longer.
            self.shared.closed.store(true, Ordering::SeqCst);
            self.shared.db.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        .boxed()
    }
}

/// Every job of an event, in acceptance (id) order.
fn event_jobs(db: &Database, event_id: &str) -> Result<Vec<JobRecord>, StoreError> {
    let txn = db.begin_read().map_err(storage)?;
    let index = txn.open_table(BY_EVENT).map_err(storage)?;
    let jobs = txn.open_table(JOBS).map_err(storage)?;
    let mut out = Vec::new();
    for entry in index.range((event_id, "")..).map_err(storage)? {
        let (key, _) = entry.map_err(storage)?;
        let (of, id) = key.value();
        if of != event_id {
            break;
        }
        if let Some(record) = jobs.get(id).map_err(storage)? {
            out.push(decode(record.value())?);
        }
    }
    Ok(out)
}

/// A page of jobs, newest first. With an event, its jobs (a handful: one
/// page, no cursor); with a status, walks that status's index (cursor
/// `time:id`); otherwise walks all jobs by id (cursor `id`).
fn list(db: &Database, filter: &Filter, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
    if let Some(event) = &filter.event {
        let mut jobs = event_jobs(db, event)?;
        jobs.retain(|j| filter.matches(j));
        jobs.reverse();
        jobs.truncate(limit);
        return Ok(Page { jobs, next_cursor: None });
    }
    let txn = db.begin_read().map_err(storage)?;
    let jobs = txn.open_table(JOBS).map_err(storage)?;
    let mut page = Page::default();
    match filter.status {
        Some(status) => {
            let index = txn.open_table(BY_STATUS).map_err(storage)?;
            let code = status_code(status);
            let (time, id) = match cursor.and_then(|c| c.split_once(':')) {
                Some((t, id)) => (t.parse::<u64>().unwrap_or(u64::MAX), id.to_string()),
                None => (u64::MAX, String::new()),
            };
            let range = match cursor {
                Some(_) => index.range((code, 0, "")..(code, time, id.as_str())),
                None => index.range((code, 0, "")..(code + 1, 0, "")),
            }
            .map_err(storage)?;
            for entry in range.rev() {
                let (key, route) = entry.map_err(storage)?;
                if filter.route.as_deref().is_some_and(|r| r != route.value()) {
                    continue;
                }
                let (_, time, id) = key.value();
                if page.jobs.len() == limit {
                    page.next_cursor = page.jobs.last().map(|j: &JobRecord| cursor_of(j));
                    break;
                }
                if let Some(record) = jobs.get(id).map_err(storage)? {
                    let job = decode(record.value())?;
                    debug_assert_eq!(time, super::redb_tables::index_key(&job).1);
                    page.jobs.push(job);
                }
            }
        }
        None => {
            let range = match cursor {
                Some(c) => jobs.range(..c),
                None => jobs.range::<&str>(..),
            }
            .map_err(storage)?;
            for entry in range.rev() {
                let (_, record) = entry.map_err(storage)?;
                let job = decode(record.value())?;
                if !filter.matches(&job) {
                    continue;
                }
                if page.jobs.len() == limit {
                    page.next_cursor = page.jobs.last().map(|j| j.id.clone());
                    break;
                }
                page.jobs.push(job);
            }
        }
    }
    Ok(page)
}

/// The cursor that resumes a status listing after `job`.
fn cursor_of(job: &JobRecord) -> String {
    let (_, time, id) = super::redb_tables::index_key(job);
    format!("{time}:{id}")
}
