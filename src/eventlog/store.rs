//! Where the event log is kept: the [`EventStore`] interface, and its
//! embedded implementation, a redb file of its own (`events.redb` in
//! `data_dir`), or the same tables in memory when the process was given
//! no data directory.
//!
//! One table, event id → JSON record. Event ids are ULIDs, which sort by
//! time, so "newest first" is the table read backwards, a cursor is the
//! last id shown, and pruning by age or by count is popping the first
//! entries. A separate file keeps the delivery queue's store, its format
//! and its group commit untouched by a log that writes far more; the log
//! commits without fsync ([`Durability::None`] except every
//! [`SYNC_EVERY`]th batch), as losing the last moments of a log in a crash
//! loses no event.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::query::{millis, EventQuery};
use super::record::{EventPage, EventRecord, EventSummary};
use super::EventLogError;

const EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("events");

/// The log's file in `data_dir`.
pub(crate) const FILE_NAME: &str = "events.redb";

/// Most events kept in memory when there is no data directory, whatever
/// `max_events` says.
pub(crate) const MEMORY_MAX_EVENTS: u64 = 10_000;

/// redb's page cache for the log. Its default (1 GiB) made a server
/// recording 6,000 events/s grow to 1.4 GiB resident; the log is written
/// far more than read, so a small cache costs little.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Every this many batches, a commit is made durable.
const SYNC_EVERY: u32 = 64;

/// What the log keeps and prunes to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub max_events: u64,
    pub max_age: Duration,
}

/// A place the event log is kept.
pub(super) trait EventStore: Send + Sync {
    /// Writes a batch, then prunes to `limits`.
    fn write(&self, batch: Vec<EventRecord>, limits: Limits) -> BoxFuture<'_, Result<(), EventLogError>>;
    /// Events newest first, filtered and paged.
    fn list(&self, query: EventQuery) -> BoxFuture<'_, Result<EventPage, EventLogError>>;
    /// One event.
    fn get(&self, id: String) -> BoxFuture<'_, Result<Option<EventRecord>, EventLogError>>;
    /// The newest `n` events.
    fn recent(&self, n: usize) -> BoxFuture<'_, Result<Vec<EventRecord>, EventLogError>>;
}

/// The embedded store.
pub(super) struct RedbEvents {
    db: Arc<Database>,
    /// None: in memory.
    path: Option<PathBuf>,
    batches: std::sync::atomic::AtomicU32,
}

fn storage(e: impl std::fmt::Display) -> EventLogError {
    EventLogError::Store(e.to_string())
}

impl RedbEvents {
    /// Opens (or creates) `dir/events.redb`. Blocking.
    pub(super) fn open(dir: &Path) -> Result<RedbEvents, EventLogError> {
        std::fs::create_dir_all(dir).map_err(|e| storage(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| storage(format!("{}: {e}", path.display())))?;
        RedbEvents::with(db, Some(path))
    }

    /// A store in memory, for a process without a data directory.
    pub(super) fn in_memory() -> Result<RedbEvents, EventLogError> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).map_err(storage)?;
        RedbEvents::with(db, None)
    }

    fn with(db: Database, path: Option<PathBuf>) -> Result<RedbEvents, EventLogError> {
        let txn = db.begin_write().map_err(storage)?;
        txn.open_table(EVENTS).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(RedbEvents { db: Arc::new(db), path, batches: std::sync::atomic::AtomicU32::new(0) })
    }

    /// The file, when on disk.
    pub(super) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn write_now(&self, batch: &[EventRecord], limits: Limits) -> Result<(), EventLogError> {
        let mut limits = limits;
        if self.path.is_none() {
            limits.max_events = limits.max_events.min(MEMORY_MAX_EVENTS);
        }
        let mut txn = self.db.begin_write().map_err(storage)?;
        let n = self.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % SYNC_EVERY != 0 {
            txn.set_durability(Durability::None).map_err(storage)?;
        }
        {
            let mut table = txn.open_table(EVENTS).map_err(storage)?;
            for record in batch {
                let json = serde_json::to_vec(record).map_err(storage)?;
                table.insert(record.id.as_str(), json.as_slice()).map_err(storage)?;
            }
            let cutoff = millis(SystemTime::now()).saturating_sub(limits.max_age.as_millis() as u64);
            loop {
                let len = table.len().map_err(storage)?;
                let oldest = table.first().map_err(storage)?.map(|(k, _)| id_millis(k.value()));
                let Some(oldest) = oldest else { break };
                if len <= limits.max_events && oldest >= cutoff {
                    break;
                }
                table.pop_first().map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)?;
        metrics::counter!(crate::metrics::EVENT_LOG_WRITTEN).increment(batch.len() as u64);
        Ok(())
    }

    fn list_now(&self, query: &EventQuery) -> Result<EventPage, EventLogError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(EVENTS).map_err(storage)?;
        let range = match &query.cursor {
            Some(cursor) => table.range::<&str>(..cursor.as_str()).map_err(storage)?,
            None => table.range::<&str>(..).map_err(storage)?,
        };
        let mut events = Vec::with_capacity(query.limit);
        let mut next_cursor = None;
        for entry in range.rev() {
            let (key, value) = entry.map_err(storage)?;
            // Ids sort by time: past `since`, nothing older can match.
            if query.since_ms.is_some_and(|since| id_millis(key.value()) < since) {
                break;
            }
            let Ok(record) = serde_json::from_slice::<EventRecord>(value.value()) else { continue };
            if !query.matches(&record) {
                continue;
            }
            if events.len() == query.limit {
                next_cursor = events.last().map(|e: &EventSummary| e.id.clone());
                break;
            }
            events.push(EventSummary::from(&record));
        }
        Ok(EventPage { events, next_cursor })
    }

    fn get_now(&self, id: &str) -> Result<Option<EventRecord>, EventLogError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(EVENTS).map_err(storage)?;
        let Some(value) = table.get(id).map_err(storage)? else { return Ok(None) };
        serde_json::from_slice(value.value()).map(Some).map_err(storage)
    }

    fn recent_now(&self, n: usize) -> Result<Vec<EventRecord>, EventLogError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let table = txn.open_table(EVENTS).map_err(storage)?;
        let mut out = Vec::with_capacity(n);
        for entry in table.iter().map_err(storage)?.rev() {
            if out.len() == n {
                break;
            }
            let (_, value) = entry.map_err(storage)?;
            if let Ok(record) = serde_json::from_slice(value.value()) {
                out.push(record);
            }
        }
        Ok(out)
    }
}

/// The time a ULID event id encodes, in milliseconds (0 if it is not one).
pub(super) fn id_millis(id: &str) -> u64 {
    ulid::Ulid::from_string(id).map(|u| u.timestamp_ms()).unwrap_or(0)
}

/// Runs `f` on the blocking pool (redb reads and writes block).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EventLogError> + Send + 'static,
) -> Result<T, EventLogError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| EventLogError::Store(format!("did not finish: {e}")))?
}

impl EventStore for Arc<RedbEvents> {
    fn write(&self, batch: Vec<EventRecord>, limits: Limits) -> BoxFuture<'_, Result<(), EventLogError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.write_now(&batch, limits)))
    }

    fn list(&self, query: EventQuery) -> BoxFuture<'_, Result<EventPage, EventLogError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.list_now(&query)))
    }

    fn get(&self, id: String) -> BoxFuture<'_, Result<Option<EventRecord>, EventLogError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.get_now(&id)))
    }

    fn recent(&self, n: usize) -> BoxFuture<'_, Result<Vec<EventRecord>, EventLogError>> {
        let this = self.clone();
        Box::pin(blocking(move || this.recent_now(n)))
    }
}
