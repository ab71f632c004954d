//! Delivery: getting forwards to their destination, at least once, after the
//! sender has its answer.
//!
//! The pipeline hands every accepted event's forwards to [`Delivery::accept`]
//! *before* answering: durable jobs are written to the [`store`] (one
//! group-committed, synced transaction shared with concurrent requests) and
//! only then does the sender get its 202; if the store cannot write, the
//! sender gets 503 and retries. `delivery: memory` jobs are only queued,
//! up to a bound ([`memory_backlog`]) past which the sender gets 503 too.
//! The [`scheduler`] then attempts each job with the [`retry`] policy, a
//! per-destination limit and circuit breaker ([`destination`]) and per-key
//! [`ordering`]; jobs that cannot be delivered end in dead letters, which
//! the admin API lists and replays. A restart resumes every pending job
//! from the store.
//!
//! This state lives in the application, not in the config snapshot: a
//! reload changes what *new* events become, never the jobs already
//! accepted, which carry everything they need (see [`job`]).

pub(crate) mod attempt;
pub(crate) mod body_budget;
pub(crate) mod destination;
pub(crate) mod exec_attempt;
pub(crate) mod execute;
pub(crate) mod group_commit;
pub(crate) mod intake;
pub(crate) mod jetstream;
pub(crate) mod job;
pub(crate) mod lease;
pub(crate) mod memory_backlog;
pub(crate) mod ordering;
pub(crate) mod publish_attempt;
pub(crate) mod rate;
pub(crate) mod redb_store;
pub mod redb_tables;
pub(crate) mod retry;
pub(crate) mod scheduler;
pub(crate) mod settings;
pub(crate) mod spec;
pub(crate) mod store;
pub(crate) mod window;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use body_budget::{BodyBudget, QueuedBody};
use intake::Plan;
pub(crate) use job::{JobRecord, Status};
use memory_backlog::MemoryBacklog;
use scheduler::{Entry, Scheduler, SchedulerSettings, StoreSlot};
pub(crate) use settings::DeliverySettings;
pub(crate) use store::{Filter, Page, ReplayOutcome, ReplaySelector, Store, StoreError};

/// What attempts send with, one field per kind of work that needs a shared
/// resource (see `crate::actions::job`; `exec` adds its runner here if it
/// needs one).
#[derive(Clone)]
pub(crate) struct Senders {
    /// The pooled HTTP client of forwards.
    pub(crate) http: crate::upstream::Upstream,
    /// The live broker connections of publishes, looked up by name.
    pub(crate) brokers: crate::actions::publish::Brokers,
}

/// The delivery engine: the store, the scheduler and retention.
#[derive(Clone)]
pub(crate) struct Delivery {
    inner: Arc<Inner>,
}

struct Inner {
    senders: Senders,
    /// Set by [`Delivery::start`].
    running: OnceLock<Running>,
    store: StoreSlot,
    /// `delivery: memory` jobs held, against `memory_queue_limit`.
    memory: Arc<MemoryBacklog>,
    /// Durable jobs' bodies held, against `queued_body_memory`.
    bodies: Arc<BodyBudget>,
    /// Serializes opening the store.
    opening: tokio::sync::Mutex<()>,
    pruner: Mutex<Option<tokio::task::JoinHandle<()>>>,
    closed: AtomicBool,
    /// The active config's rate limits, watched by the scheduler.
    rates: tokio::sync::watch::Sender<Arc<rate::RateLimits>>,
}

struct Running {
    scheduler: Scheduler,
    data_dir: PathBuf,
    retention: settings::Retention,
    /// Durable jobs reach the scheduler from a shared queue
    /// ([`jetstream`]), not from acceptance, replay or a restart.
    fed: bool,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("started", &self.inner.running.get().is_some())
            .field("store_open", &self.inner.store.get().is_some())
            .finish()
    }
}

/// Why [`Delivery::accept`] refused an event. Either way nothing of it was
/// queued or stored, and the sender must be told to send it again.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum AcceptError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Its `delivery: memory` jobs would take the in-memory backlog past
    /// `memory_queue_limit`.
    #[error("the in-memory delivery queue is full: {limit} `delivery: memory` jobs are waiting (memory_queue_limit)")]
    MemoryFull { limit: usize },
}

/// What [`Delivery::accept`] did with an event.
#[derive(Debug, Default)]
pub(crate) struct Accepted {
    /// Routes found to be redeliveries while committing (a race with a
    /// concurrent redelivery), with the original event id.
    pub duplicates: Vec<(String, String)>,
}

impl Delivery {
    /// An engine that is not started yet: see [`Delivery::start`].
    pub(crate) fn new(senders: Senders) -> Self {
        Delivery {
            inner: Arc::new(Inner {
                senders,
                running: OnceLock::new(),
                store: Arc::new(OnceLock::new()),
                memory: Arc::new(MemoryBacklog::default()),
                bodies: Arc::new(BodyBudget::default()),
                opening: tokio::sync::Mutex::new(()),
                pruner: Mutex::new(None),
                closed: AtomicBool::new(false),
                rates: tokio::sync::watch::Sender::new(Arc::default()),
            }),
        }
    }

    /// Starts delivering. The embedded store in `data_dir` (the override, or
    /// the config's) is opened now — resuming every pending job — when the
    /// config needs it (`needs_store`) or names a data directory; otherwise
    /// on first need, so a config without durable forwards never touches
    /// the disk.
    pub(crate) async fn start(
        &self,
        settings: &DeliverySettings,
        data_dir: Option<PathBuf>,
        needs_store: bool,
    ) -> Result<(), StoreError> {
        if let Some(shared) = &settings.jetstream {
            return self.start_jetstream(settings, shared).await;
        }
        let open_now = needs_store || data_dir.is_some() || settings.data_dir_set;
        let running = Running {
            scheduler: Scheduler::spawn(
                self.inner.senders.clone(),
                self.inner.store.clone(),
                self.inner.memory.clone(),
                self.inner.bodies.clone(),
                SchedulerSettings { concurrency: settings.concurrency, breaker: settings.breaker, leases: None },
                self.inner.rates.subscribe(),
            ),
            data_dir: data_dir.unwrap_or_else(|| settings.data_dir.clone()),
            retention: settings.retention.clone(),
            fed: false,
        };
        if self.inner.running.set(running).is_err() {
            return Err(StoreError::Internal("delivery was already started".into()));
        }
        if open_now {
            self.store().await?;
        }
        Ok(())
    }

    /// The store, opening the embedded one on first use.
    async fn store(&self) -> Result<&Arc<dyn Store>, StoreError> {
        if let Some(store) = self.inner.store.get() {
            return Ok(store);
        }
        let running = self.inner.running.get().ok_or(StoreError::Closed)?;
        let _guard = self.inner.opening.lock().await;
        if self.inner.store.get().is_none() {
            let dir = running.data_dir.clone();
            let store = tokio::task::spawn_blocking(move || redb_store::RedbStore::open(&dir))
                .await
                .map_err(|e| StoreError::Internal(format!("opening the store did not finish: {e}")))??;
            tracing::info!(path = %store.path().display(), "delivery store open");
            self.install(Arc::new(store)).await?;
        }
        self.inner.store.get().ok_or(StoreError::Closed)
    }

    /// Makes `store` the store and resumes its pending jobs. Called with the
    /// opening lock held.
    async fn install(&self, store: Arc<dyn Store>) -> Result<(), StoreError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            store.close().await;
            return Err(StoreError::Closed);
        }
        let running = self.inner.running.get().ok_or(StoreError::Closed)?;
        // Counts and oldest ids only: the scheduler reads the jobs a window
        // at a time, so a large backlog neither delays the start nor fills
        // memory.
        let pending = match running.fed {
            true => Vec::new(),
            false => store.pending_destinations().await?,
        };
        // The slot first: resumed jobs read their bodies from it.
        if self.inner.store.set(store.clone()).is_err() {
            return Err(StoreError::Internal("a delivery store is already open".into()));
        }
        if !pending.is_empty() {
            let jobs: u64 = pending.iter().map(|p| p.count).sum();
            tracing::info!(jobs, destinations = pending.len(), "resuming pending deliveries");
        }
        running.scheduler.resume(pending);
        let pruner = tokio::spawn(prune_loop(store, running.retention.clone()));
        *self.inner.pruner.lock().unwrap_or_else(|p| p.into_inner()) = Some(pruner);
        Ok(())
    }

    /// Makes `limits` the destinations' rate limits (at start and at each
    /// reload); jobs already queued are paced by them from now on.
    pub(crate) fn pace(&self, limits: rate::RateLimits) {
        self.inner.rates.send_if_modified(|held| {
            let changed = **held != limits;
            if changed {
                *held = Arc::new(limits);
            }
            changed
        });
    }

    fn scheduler(&self) -> Result<&Scheduler, StoreError> {
        self.inner.running.get().map(|r| &r.scheduler).ok_or(StoreError::Closed)
    }

    /// True once started and until shut down.
    pub(crate) fn is_open(&self) -> bool {
        self.inner.running.get().is_some()
            && !self.inner.closed.load(Ordering::SeqCst)
            && self.inner.store.get().is_none_or(|store| store.is_available())
    }

    /// Records an event's jobs and dedup claims, then queues the jobs. Durable
    /// jobs are on disk when this returns `Ok`, and keep the body in memory
    /// while `settings.queued_body_memory` allows; `delivery: memory` jobs
    /// are only queued, and refused (with nothing of the event kept) when
    /// they would take the jobs held in memory past
    /// `settings.memory_queue_limit`. The settings are the snapshot's the
    /// event was routed by, so a reload changes both limits at once.
    pub(crate) async fn accept(
        &self,
        event_id: &str,
        body: &Bytes,
        plan: Plan,
        settings: &DeliverySettings,
    ) -> Result<Accepted, AcceptError> {
        let memory_limit = settings.memory_queue_limit;
        if plan.durable.is_empty() && plan.memory.is_empty() && plan.dedup.is_empty() {
            return Ok(Accepted::default());
        }
        let scheduler = self.scheduler()?;
        let fed = self.inner.running.get().is_some_and(|r| r.fed);
        // Room first: a refused event must leave nothing behind, not even
        // its durable jobs or dedup claims (the resend would be a duplicate).
        let room = match plan.memory.len() {
            0 => None,
            jobs => Some(
                self.inner.memory.reserve(jobs, memory_limit).ok_or(AcceptError::MemoryFull { limit: memory_limit })?,
            ),
        };
        let mut accepted = Accepted::default();
        let mut entries = Vec::new();
        if !plan.durable.is_empty() || !plan.dedup.is_empty() {
            let outcome = self
                .store()
                .await?
                .accept(store::AcceptBatch {
                    event_id: event_id.to_string(),
                    body: body.clone(),
                    jobs: plan.durable,
                    dedup: plan.dedup,
                    now: SystemTime::now(),
                })
                .await?;
            // A job that is dead from the start (its templates did not
            // render) is stored for the dead letters, not attempted.
            // A shared queue hands the jobs to whichever replica pulls them.
            entries.extend(
                outcome
                    .stored
                    .into_iter()
                    .filter(|job| job.status == Status::Pending && !fed)
                    .map(|job| Entry { job, body: self.inner.bodies.hold(body, settings.queued_body_memory) }),
            );
            accepted.duplicates = outcome.duplicates;
        }
        let duplicate = |route: &str| accepted.duplicates.iter().any(|(r, _)| r == route);
        let before = entries.len();
        entries.extend(
            plan.memory
                .into_iter()
                .filter(|j| !duplicate(&j.route))
                .map(|job| Entry { job, body: Some(QueuedBody::uncounted(body)) }),
        );
        if let Some(room) = room {
            room.keep(entries.len() - before);
        }
        // Queued before the sender is answered, so an event acknowledged
        // before the next one arrived is also queued before it.
        scheduler.admit(entries);
        Ok(accepted)
    }

    /// The event that claimed a dedup key on a route, if still in its window.
    pub(crate) async fn claimed(&self, route: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.store().await?.claimed(route.to_string(), key.to_string(), SystemTime::now()).await
    }

    pub(crate) async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.store().await?.job(id.to_string()).await
    }

    /// Every stored job of one event, oldest first.
    pub(crate) async fn event_jobs(&self, event_id: &str) -> Result<Vec<JobRecord>, StoreError> {
        self.store().await?.event_jobs(event_id.to_string()).await
    }

    /// How long finished jobs are kept (what an operator is told when a
    /// job is not found); None before start.
    pub(crate) fn retention(&self) -> Option<settings::Retention> {
        self.inner.running.get().map(|r| r.retention.clone())
    }

    pub(crate) async fn list(&self, filter: Filter, cursor: Option<String>, limit: usize) -> Result<Page, StoreError> {
        self.store().await?.list(filter, cursor, limit).await
    }

    /// Manual retry: moves finished jobs back to pending with a fresh attempt
    /// budget (history kept) and queues them.
    pub(crate) async fn replay(&self, selector: ReplaySelector) -> Result<ReplayOutcome, StoreError> {
        let outcome = self.store().await?.replay(selector, SystemTime::now()).await?;
        let fed = self.inner.running.get().is_some_and(|r| r.fed);
        if let (ReplayOutcome::Replayed(jobs), false) = (&outcome, fed) {
            self.scheduler()?.admit(jobs.iter().map(|job| Entry { job: job.clone(), body: None }).collect());
        }
        Ok(outcome)
    }

    /// Every destination attempted since start, with its breaker.
    pub(crate) fn destinations(&self) -> Vec<scheduler::DestinationView> {
        self.inner.running.get().map(|r| r.scheduler.destinations()).unwrap_or_default()
    }

    /// Stops starting deliveries, waits up to `grace` for those in flight,
    /// then closes the store; returns how many were still in flight (they
    /// stay pending in the store and run again after a restart).
    pub(crate) async fn drain(&self, grace: Duration) -> usize {
        let Some(running) = self.inner.running.get() else { return 0 };
        let left = running.scheduler.drain(grace).await;
        // No store opens from now on, and the open one closes.
        self.inner.closed.store(true, Ordering::SeqCst);
        let _guard = self.inner.opening.lock().await;
        if let Some(pruner) = self.inner.pruner.lock().unwrap_or_else(|p| p.into_inner()).take() {
            pruner.abort();
        }
        if let Some(store) = self.inner.store.get() {
            store.close().await;
        }
        left
    }
}

/// How often retention runs: often enough that short retentions (tests,
/// small disks) are honoured, at most once a minute.
fn prune_interval(retention: &settings::Retention) -> Duration {
    (retention.succeeded.min(retention.dead) / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

async fn prune_loop(store: Arc<dyn Store>, retention: settings::Retention) {
    let mut tick = tokio::time::interval(prune_interval(&retention));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match prune_once(&*store, &retention).await {
            Ok(c) if c.succeeded + c.dead + c.dedup_keys > 0 => tracing::debug!(
                succeeded = c.succeeded,
                dead = c.dead,
                dedup_keys = c.dedup_keys,
                "retention: removed old deliveries"
            ),
            Ok(_) => {}
            Err(StoreError::Closed) => return,
            Err(e) => tracing::warn!("retention: cannot prune the delivery store: {e}"),
        }
    }
}

/// Prunes in chunks until a pass removes less than a full chunk.
async fn prune_once(store: &dyn Store, retention: &settings::Retention) -> Result<store::PruneCounts, StoreError> {
    let mut total = store::PruneCounts::default();
    loop {
        let now = SystemTime::now();
        let before = store::PruneBefore {
            succeeded: now.checked_sub(retention.succeeded).unwrap_or(SystemTime::UNIX_EPOCH),
            dead: now.checked_sub(retention.dead).unwrap_or(SystemTime::UNIX_EPOCH),
            now,
        };
        let c = store.prune(before).await?;
        total.succeeded += c.succeeded;
        total.dead += c.dead;
        total.dedup_keys += c.dedup_keys;
        let chunk = redb_tables::PRUNE_CHUNK;
        if c.succeeded < chunk && c.dead < chunk && c.dedup_keys < chunk {
            return Ok(total);
        }
    }
}

/// `delivery:` as a route spells it, to the mode its jobs are planned with.
/// (It lives here while the spec type is in [`spec`]; it moves beside the
/// spec type's new home once that leaves delivery.)
impl From<spec::DeliveryModeSpec> for crate::actions::DeliveryMode {
    fn from(spec: spec::DeliveryModeSpec) -> Self {
        match spec {
            spec::DeliveryModeSpec::Durable => crate::actions::DeliveryMode::Durable,
            spec::DeliveryModeSpec::Memory => crate::actions::DeliveryMode::Memory,
        }
    }
}
