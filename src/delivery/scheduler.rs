//! The scheduler: decides which job is attempted when.
//!
//! One task owns all scheduling state — timers, per-destination backlogs and
//! breakers, ordering-key queues — and everything else talks to it by
//! message, so there are no locks and no races between "a slot freed" and
//! "a job became due". Attempts run as their own tasks and report back.
//!
//! A job's path: admitted (behind its ordering key's head, if it has one) →
//! timer until due → its destination's backlog → started when the
//! destination's limit and breaker allow → finished: done, dead, or back to
//! a timer. Each destination's backlog is its own, so a destination that is
//! slow or open-circuited only ever holds its own jobs.
//!
//! The in-memory queue holds job records but not bodies (except for fresh
//! and `delivery: memory` jobs), so a long outage costs memory per job, not
//! per byte received. Durable jobs are also in the store; at shutdown the
//! in-memory queue is simply dropped and the store resumes them on start.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::attempt;
use super::destination::{BreakerSettings, Destination, Health, Permit};
use super::job::{Attempt, JobRecord, Status, Timestamp};
use super::ordering::KeyQueues;
use super::retry::Verdict;
use super::store::Store;
use crate::metrics as m;

/// A queued job.
#[derive(Debug)]
pub struct Entry {
    pub job: JobRecord,
    /// The body while it is at hand; read from the store otherwise.
    pub body: Option<Bytes>,
}

/// Settings the scheduler starts with.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub concurrency: usize,
    pub breaker: BreakerSettings,
}

enum Msg {
    Admit(Vec<Entry>),
    Finished {
        entry: Box<Entry>,
        verdict: Verdict,
        health: Health,
    },
    /// Stop starting attempts; let the running ones finish.
    Drain,
}

enum Timer {
    Job(Box<Entry>),
    /// A destination's breaker may let a probe through now.
    Wake(String),
}

/// The store, once it is open: the scheduler starts before it (memory
/// jobs need no store) and the store may open later, on first need.
pub type StoreSlot = Arc<OnceLock<Arc<dyn Store>>>;

/// What attempts need: shared by every attempt task.
struct Ctx {
    client: reqwest::Client,
    store: StoreSlot,
}

/// The handle everyone else holds.
#[derive(Clone)]
pub struct Scheduler {
    tx: mpsc::UnboundedSender<Msg>,
    tasks: TaskTracker,
}

impl Scheduler {
    /// Starts the scheduling task.
    pub fn spawn(client: reqwest::Client, store: StoreSlot, settings: SchedulerSettings) -> Scheduler {
        let (tx, rx) = mpsc::unbounded_channel();
        let tasks = TaskTracker::new();
        let state = State {
            rx,
            tx: tx.clone(),
            ctx: Arc::new(Ctx { client, store }),
            tasks: tasks.clone(),
            settings,
            timers: BTreeMap::new(),
            seq: 0,
            destinations: HashMap::new(),
            keys: KeyQueues::default(),
            queued: BTreeSet::new(),
            in_flight: 0,
            draining: false,
        };
        tokio::spawn(state.run());
        Scheduler { tx, tasks }
    }

    /// Queues jobs; they are scheduled in the order given.
    pub fn admit(&self, entries: Vec<Entry>) {
        if !entries.is_empty() {
            // Fails only after a drain finished: the store keeps durable jobs.
            let _ = self.tx.send(Msg::Admit(entries));
        }
    }

    /// Attempts running now.
    pub fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Stops starting attempts and waits up to `grace` for the running ones;
    /// returns how many were still running when it gave up.
    pub async fn drain(&self, grace: Duration) -> usize {
        let _ = self.tx.send(Msg::Drain);
        self.tasks.close();
        let _ = tokio::time::timeout(grace, self.tasks.wait()).await;
        self.tasks.len()
    }
}

struct Slot {
    state: Destination,
    backlog: VecDeque<Entry>,
    /// A wake-up timer is set for this instant.
    wake_at: Option<Instant>,
}

struct State {
    rx: mpsc::UnboundedReceiver<Msg>,
    tx: mpsc::UnboundedSender<Msg>,
    ctx: Arc<Ctx>,
    tasks: TaskTracker,
    settings: SchedulerSettings,
    timers: BTreeMap<(Instant, u64), Timer>,
    seq: u64,
    destinations: HashMap<String, Slot>,
    keys: KeyQueues<Entry>,
    /// Ids of every job admitted and not finished: queue depth and age.
    queued: BTreeSet<String>,
    in_flight: usize,
    draining: bool,
}

impl State {
    async fn run(mut self) {
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        gauges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.timers.keys().next().map(|(at, _)| *at);
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                () = sleep_until(next) => self.fire(Instant::now()),
                _ = gauges.tick() => self.report(),
            }
            if self.draining && self.in_flight == 0 {
                break;
            }
        }
        self.report();
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Admit(entries) => entries.into_iter().for_each(|e| self.admit(e)),
            Msg::Finished { entry, verdict, health } => self.finished(*entry, verdict, health),
            Msg::Drain => self.drain(),
        }
    }

    fn admit(&mut self, entry: Entry) {
        if self.draining {
            return self.discard(entry);
        }
        self.queued.insert(entry.job.id.clone());
        match entry.job.ordering_key.clone() {
            Some(key) => {
                if let Some(head) = self.keys.offer(&key, entry) {
                    self.schedule(head);
                }
            }
            None => self.schedule(entry),
        }
    }

    fn schedule(&mut self, entry: Entry) {
        let due = due_instant(entry.job.next_attempt_at);
        if due <= Instant::now() {
            self.ready(entry);
        } else {
            self.seq += 1;
            self.timers.insert((due, self.seq), Timer::Job(Box::new(entry)));
        }
    }

    fn ready(&mut self, entry: Entry) {
        if self.draining {
            return self.discard(entry);
        }
        let name = entry.job.destination.clone();
        let settings = &self.settings;
        self.destinations
            .entry(name.clone())
            .or_insert_with(|| Slot {
                state: Destination::new(name.clone(), settings.concurrency, settings.breaker),
                backlog: VecDeque::new(),
                wake_at: None,
            })
            .backlog
            .push_back(entry);
        self.pump(&name);
    }

    /// Starts as many of a destination's backlog as it allows now.
    fn pump(&mut self, name: &str) {
        let now = Instant::now();
        loop {
            if self.draining {
                return;
            }
            let Some(slot) = self.destinations.get_mut(name) else { return };
            if slot.backlog.is_empty() {
                return;
            }
            match slot.state.try_start(now) {
                Permit::Go => {
                    let Some(entry) = slot.backlog.pop_front() else { return };
                    self.start(entry);
                }
                Permit::WaitUntil(at) => {
                    if slot.wake_at != Some(at) {
                        slot.wake_at = Some(at);
                        self.seq += 1;
                        self.timers.insert((at, self.seq), Timer::Wake(name.to_string()));
                    }
                    return;
                }
                Permit::Busy => return,
            }
        }
    }

    fn start(&mut self, entry: Entry) {
        self.in_flight += 1;
        let ctx = self.ctx.clone();
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            let (entry, verdict, health) = run_attempt(&ctx, entry).await;
            let _ = tx.send(Msg::Finished { entry: Box::new(entry), verdict, health });
        });
    }

    fn finished(&mut self, entry: Entry, verdict: Verdict, health: Health) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let name = entry.job.destination.clone();
        if let Some(slot) = self.destinations.get_mut(&name) {
            slot.state.finish(health, Instant::now());
        }
        match verdict {
            Verdict::Retry { .. } => {
                if self.draining {
                    self.discard(entry);
                } else {
                    self.schedule(entry);
                }
            }
            Verdict::Succeeded | Verdict::Dead { .. } => {
                self.queued.remove(&entry.job.id);
                if let Some(key) = &entry.job.ordering_key {
                    if let Some(next) = self.keys.advance(key) {
                        if self.draining {
                            self.discard(next);
                        } else {
                            self.schedule(next);
                        }
                    }
                }
            }
        }
        self.pump(&name);
    }

    fn fire(&mut self, now: Instant) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Timer::Job(job) => self.ready(*job),
                Timer::Wake(name) => {
                    if let Some(slot) = self.destinations.get_mut(&name) {
                        slot.wake_at = None;
                    }
                    self.pump(&name);
                }
            }
        }
    }

    fn drain(&mut self) {
        self.draining = true;
        let mut left = Vec::new();
        for (_, timer) in std::mem::take(&mut self.timers) {
            if let Timer::Job(entry) = timer {
                left.push(*entry);
            }
        }
        for slot in self.destinations.values_mut() {
            left.extend(slot.backlog.drain(..));
        }
        left.extend(self.keys.drain());
        left.into_iter().for_each(|e| self.discard(e));
    }

    /// Drops a job from memory at shutdown: a durable one stays pending in
    /// the store; a memory one is lost, and said so.
    fn discard(&mut self, entry: Entry) {
        self.queued.remove(&entry.job.id);
        if entry.job.memory {
            tracing::warn!(
                route = %entry.job.route,
                event_id = %entry.job.event_id,
                url = %entry.job.request.url,
                "shutdown: a `delivery: memory` forward was not delivered and is lost"
            );
        }
    }

    fn report(&self) {
        metrics::gauge!(m::QUEUE_DEPTH).set(self.queued.len() as f64);
        let oldest = self
            .queued
            .first()
            .and_then(|id| ulid::Ulid::from_string(id).ok())
            .map(|id| SystemTime::now().duration_since(id.datetime()).unwrap_or(Duration::ZERO).as_secs_f64());
        metrics::gauge!(m::QUEUE_OLDEST_AGE).set(oldest.unwrap_or(0.0));
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A wall-clock due time as an instant on the scheduler's clock.
fn due_instant(at: Option<Timestamp>) -> Instant {
    let now = Instant::now();
    match at.and_then(|t| t.0.duration_since(SystemTime::now()).ok()) {
        Some(wait) => now + wait,
        None => now,
    }
}

/// Runs one attempt of a job and records it.
async fn run_attempt(ctx: &Ctx, mut entry: Entry) -> (Entry, Verdict, Health) {
    // A job held back (open breaker, busy key) may outlive max_age waiting.
    let max_age = entry.job.retry.max_age;
    if SystemTime::now() > entry.job.round_started_at.0 + max_age {
        let reason = format!(
            "expired: not delivered within max_age ({}) while waiting for its destination or ordering key",
            humantime::format_duration(max_age)
        );
        return finish_without_attempt(ctx, entry, Verdict::Dead { reason }).await;
    }
    // Built at acceptance and failed there (a template): a manual retry
    // ends as the first time did, without sending anything.
    if let Some(reason) = entry.job.request.unsendable.clone() {
        return finish_without_attempt(ctx, entry, Verdict::Dead { reason }).await;
    }
    let rendered = entry.job.request.body.clone().map(bytes::Bytes::from);
    let body = match rendered.or_else(|| entry.body.clone()) {
        Some(body) => body,
        None => match load_body(ctx, &entry.job).await {
            Ok(body) => body,
            Err(Unavailable::Missing) => {
                let reason = "the event's body is no longer in the store".to_string();
                return finish_without_attempt(ctx, entry, Verdict::Dead { reason }).await;
            }
            Err(Unavailable::Store(e)) => {
                // Not an attempt: try again shortly, budget untouched.
                tracing::warn!(job = %entry.job.id, "cannot read the job's body ({e}); trying again in 1s");
                let after = Duration::from_secs(1);
                entry.job.next_attempt_at = Some(Timestamp(SystemTime::now() + after));
                return (entry, Verdict::Retry { after }, Health::Neutral);
            }
        },
    };
    let job = &mut entry.job;
    let number = job.attempts.len() as u32 + 1;
    let started_at = SystemTime::now();
    let outcome = attempt::send(&ctx.client, &job.request, body, number).await;
    let now = SystemTime::now();
    let describe = outcome.describe();
    let verdict = job.retry.decide(&outcome.result, job.round_attempts() + 1, job.round_started_at.0, now, &describe);
    job.attempts.push(Attempt {
        number,
        at: Timestamp(started_at),
        status: outcome.status,
        error: outcome.error.clone(),
        latency_ms: outcome.latency.as_millis() as u64,
    });
    let destination = job.destination.clone();
    metrics::histogram!(m::FORWARD_DURATION, "destination" => destination.clone())
        .record(outcome.latency.as_secs_f64());
    let (route, event_id, url) = (job.route.as_str(), job.event_id.as_str(), job.request.url.as_str());
    let latency_ms = outcome.latency.as_millis() as u64;
    let label = match &verdict {
        Verdict::Succeeded => {
            tracing::debug!(route, event_id, url, attempt = number, latency_ms, "forward delivered");
            "success"
        }
        Verdict::Retry { after } => {
            tracing::info!(
                route,
                event_id,
                url,
                attempt = number,
                latency_ms,
                "forward failed ({describe}); retrying in {}",
                humantime::format_duration(Duration::from_millis(after.as_millis() as u64))
            );
            metrics::counter!(m::RETRIES, "destination" => destination.clone()).increment(1);
            "retry"
        }
        Verdict::Dead { reason } => {
            tracing::warn!(
                route,
                event_id,
                url,
                attempt = number,
                latency_ms,
                "forward moved to dead letters: {reason}"
            );
            metrics::counter!(m::DEAD_LETTERS, "route" => job.route.clone()).increment(1);
            "failed"
        }
    };
    metrics::counter!(m::FORWARD_ATTEMPTS, "destination" => destination, "outcome" => label).increment(1);
    let health = outcome.health();
    let (entry, verdict) = record(ctx, entry, verdict, now).await;
    (entry, verdict, health)
}

/// Ends a job without sending it (its body is gone).
async fn finish_without_attempt(ctx: &Ctx, entry: Entry, verdict: Verdict) -> (Entry, Verdict, Health) {
    if let Verdict::Dead { reason } = &verdict {
        tracing::warn!(route = %entry.job.route, event_id = %entry.job.event_id, "forward moved to dead letters: {reason}");
        metrics::counter!(m::DEAD_LETTERS, "route" => entry.job.route.clone()).increment(1);
    }
    let (entry, verdict) = record(ctx, entry, verdict, SystemTime::now()).await;
    (entry, verdict, Health::Neutral)
}

/// Applies a verdict to the job and saves it (durable jobs).
async fn record(ctx: &Ctx, mut entry: Entry, verdict: Verdict, now: SystemTime) -> (Entry, Verdict) {
    let job = &mut entry.job;
    job.updated_at = Timestamp(now);
    match &verdict {
        Verdict::Succeeded => {
            job.status = Status::Succeeded;
            job.next_attempt_at = None;
        }
        Verdict::Retry { after } => job.next_attempt_at = Some(Timestamp(now + *after)),
        Verdict::Dead { reason } => {
            job.status = Status::Dead;
            job.next_attempt_at = None;
            job.dead_reason = Some(reason.clone());
        }
    }
    if !job.memory {
        if let Some(store) = ctx.store.get() {
            // A lost update only repeats an attempt later; say so and go on.
            if let Err(e) = store.save(vec![job.clone()]).await {
                tracing::warn!(job = %job.id, "cannot record the attempt ({e}); it may be repeated after a restart");
            }
        }
        // Retries re-read the body: a long outage must not pin every body in memory.
        entry.body = None;
    }
    (entry, verdict)
}

enum Unavailable {
    Missing,
    Store(super::store::StoreError),
}

async fn load_body(ctx: &Ctx, job: &JobRecord) -> Result<Bytes, Unavailable> {
    let store = ctx.store.get().ok_or(Unavailable::Missing)?;
    match store.body(job.event_id.clone()).await {
        Ok(Some(body)) => Ok(body),
        Ok(None) => Err(Unavailable::Missing),
        Err(e) => Err(Unavailable::Store(e)),
    }
}
