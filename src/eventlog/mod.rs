//! The event log: every request that reached the router, what became of
//! it and why, kept for the admin API (`GET /-/events`), replay and the
//! config preview (`POST /-/preview`), and the console built on them.
//!
//! Recording must never delay or fail the sender's answer. A request
//! hands its finished [`EventRecord`] to [`EventLog::record`], which only
//! pushes it onto a bounded in-memory queue; one writer task takes what
//! is there in batches and writes each batch in one transaction. When the
//! queue is full the *oldest* pending records are dropped (the newest are
//! what an operator looks for) and `hookroute_event_log_dropped_total`
//! counts them.
//!
//! Storage is its own redb file, `events.redb` in `data_dir`, so the
//! delivery store's file, its format and its group commit are untouched by
//! a log that writes far more (`store.rs`); with `store: jetstream:` it is
//! a JetStream stream, so every replica lists every replica's events
//! (`jetstream.rs`). Either is pruned by count and age (`event_log:`).
//!
//! The module sits with the tools, above the router and delivery: a record
//! holds a decision's reasons (as `explain` shows them) and a detail holds
//! the delivery jobs of the event; the server and the runtime use it.

mod draft;
mod error;
mod jetstream;
pub(crate) mod preview;
mod query;
mod queue;
mod record;
mod redact;
mod store;

use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use draft::Draft;
pub(crate) use error::{EventLogError, PreviewError, ReplayError};
pub(crate) use preview::PreviewReport;
pub(crate) use query::EventQuery;
pub(crate) use redact::is_secret_name as is_secret_header;
// The whole record vocabulary is re-exported for the console's pages,
// which render what the API answers; not every type is named here yet.
#[allow(unused_imports)]
pub(crate) use record::{
    ActionRecord, ActionResult, BodyEncoding, EventDetail, EventPage, EventRecord, EventSummary, Outcome, OutcomeKind,
    RecordedBody,
};

use crate::settings::EventLogSettings;

/// Default number of recent events `POST /-/preview` runs through both
/// configs.
pub(crate) const DEFAULT_PREVIEW_EVENTS: usize = 100;
/// Most events one preview may ask for.
pub(crate) const MAX_PREVIEW_EVENTS: usize = 10_000;

/// What a replay did: the new event, linked to the original.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Replayed {
    /// The new event's id.
    pub id: String,
    /// The event replayed.
    pub replay_of: String,
    /// What the current config answered (as the sender would have been).
    pub status: u16,
    /// The reply's body, as text.
    pub body: String,
    /// The routes taken this time.
    pub routes: Vec<String>,
}

/// The process's event log: the queue requests record into and the store
/// it is written to. Created with the app; [`EventLog::start`] opens the
/// store, and records made before are kept in the queue until then.
pub(crate) struct EventLog {
    queue: Arc<queue::Queue>,
    store: tokio::sync::OnceCell<Arc<dyn store::EventStore>>,
    /// What the writer prunes to: the active config's, set at every apply.
    limits: Arc<std::sync::Mutex<store::Limits>>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").field("pending", &self.queue.len()).finish_non_exhaustive()
    }
}

impl EventLog {
    /// A log with nothing open yet.
    pub(crate) fn new() -> EventLog {
        let defaults = EventLogSettings::default();
        EventLog {
            queue: Arc::new(queue::Queue::new(queue::CAPACITY)),
            store: tokio::sync::OnceCell::new(),
            limits: Arc::new(std::sync::Mutex::new(store::Limits {
                max_events: defaults.max_events,
                max_age: defaults.max_age,
            })),
        }
    }

    /// Takes the limits of the config being applied (at start and at every
    /// reload); the writer prunes to them from its next batch on.
    pub(crate) fn apply(&self, settings: &EventLogSettings) {
        let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        *limits = store::Limits { max_events: settings.max_events, max_age: settings.max_age };
    }

    /// Opens the store and starts the writer: the JetStream stream with
    /// `shared`, else `dir/events.redb`, else (no directory) in memory.
    pub(crate) async fn start(
        &self,
        dir: Option<PathBuf>,
        shared: Option<crate::delivery::jetstream::JetStreamSettings>,
    ) -> Result<(), EventLogError> {
        let store: Arc<dyn store::EventStore> = match shared {
            Some(settings) => {
                let limits = *self.limits.lock().unwrap_or_else(|p| p.into_inner());
                let opened = jetstream::JetStreamEvents::open(&settings, limits).await?;
                tracing::info!(stream = opened.name(), "event log on NATS JetStream");
                Arc::new(opened)
            }
            None => {
                let opened = tokio::task::spawn_blocking(move || match dir {
                    Some(dir) => store::RedbEvents::open(&dir),
                    None => store::RedbEvents::in_memory(),
                })
                .await
                .map_err(|e| EventLogError::Store(format!("opening did not finish: {e}")))??;
                match opened.path() {
                    Some(path) => tracing::info!(path = %path.display(), "event log open"),
                    None => {
                        tracing::info!(max_events = store::MEMORY_MAX_EVENTS, "event log in memory (no data_dir given)")
                    }
                }
                Arc::new(Arc::new(opened))
            }
        };
        if self.store.set(store.clone()).is_err() {
            return Err(EventLogError::Store("the event log was already started".into()));
        }
        tokio::spawn(write_loop(self.queue.clone(), store, self.limits.clone()));
        Ok(())
    }

    /// Starts a draft of one request's record when `settings` enable the
    /// log; None otherwise, and then nothing is copied.
    pub(crate) fn draft(settings: &EventLogSettings) -> Option<Draft> {
        settings.enabled.then(|| Draft::new(settings))
    }

    /// Hands a finished record to the writer. Never waits: a full queue
    /// drops its oldest record, counted by `hookroute_event_log_dropped_total`.
    pub(crate) fn record(&self, record: EventRecord) {
        self.queue.push(record);
    }

    /// Events newest first, filtered and paged.
    pub(crate) async fn list(&self, query: EventQuery) -> Result<EventPage, EventLogError> {
        self.flush().await;
        self.store()?.list(query).await
    }

    /// One event by id.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<EventRecord>, EventLogError> {
        self.flush().await;
        self.store()?.get(id.to_string()).await
    }

    /// The last `n` events, newest first (what preview runs).
    pub(crate) async fn recent(&self, n: usize) -> Result<Vec<EventRecord>, EventLogError> {
        self.flush().await;
        self.store()?.recent(n).await
    }

    /// Waits until what was recorded before the call is written, so an
    /// operator's listing right after a request shows it. Bounded: a
    /// writer that is stuck does not hang the admin API.
    pub(crate) async fn flush(&self) {
        if self.store.get().is_some() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.queue.flushed()).await;
        }
    }

    fn store(&self) -> Result<&Arc<dyn store::EventStore>, EventLogError> {
        self.store.get().ok_or(EventLogError::NotOpen)
    }
}

/// The writer: takes what the queue holds, in batches, and writes each in
/// one transaction. A failed write drops its batch (counted as dropped):
/// the log must not hold requests' memory while its disk is unwell.
async fn write_loop(
    queue: Arc<queue::Queue>,
    store: Arc<dyn store::EventStore>,
    limits: Arc<std::sync::Mutex<store::Limits>>,
) {
    let mut failing = false;
    loop {
        let (batch, last) = queue.take(queue::BATCH).await;
        let n = batch.len() as u64;
        let now = *limits.lock().unwrap_or_else(|p| p.into_inner());
        match store.write(batch, now).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("event log writes again");
            }
            Ok(()) => {}
            Err(e) => {
                metrics::counter!(crate::metrics::EVENT_LOG_DROPPED).increment(n);
                if !failing {
                    tracing::warn!("event log: cannot write; dropping records until it can: {e}");
                }
                failing = true;
            }
        }
        queue.handled(last);
    }
}
