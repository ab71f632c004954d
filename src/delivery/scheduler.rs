//! The scheduler: decides which job is attempted when.
//!
//! One task owns all scheduling state — timers, per-destination backlogs and
//! breakers, ordering-key queues — and everything else talks to it by
//! message, so there are no locks and no races between "a slot freed" and
//! "a job became due". Attempts run as their own tasks ([`super::execute`])
//! and report back.
//!
//! A job's path: admitted (behind its ordering key's head, if it has one) →
//! timer until due → its destination's backlog → started when the
//! destination's limit and breaker allow → finished: done, dead, or back to
//! a timer. Each destination's backlog is its own, so a destination that is
//! slow or open-circuited only ever holds its own jobs.
//!
//! The in-memory queue holds job records but not bodies (except for fresh
//! jobs, up to `queued_body_memory` in all — see [`super::body_budget`] —
//! and `delivery: memory` jobs), so a long outage costs memory per job, not
//! per byte received. Durable jobs are also in the store; at shutdown the
//! in-memory queue is simply dropped and the store resumes them on start.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::body_budget::{BodyBudget, QueuedBody};
use super::destination::{BreakerSettings, BreakerState, Destination, Health, Permit};
use super::execute::{self, Ctx};
use super::job::{JobRecord, Timestamp};
use super::lease::Leases;
use super::memory_backlog::MemoryBacklog;
use super::ordering::KeyQueues;
use super::retry::Verdict;
use super::store::Store;
use crate::metrics as m;

/// A queued job.
#[derive(Debug)]
pub(crate) struct Entry {
    pub job: JobRecord,
    /// The body while it is at hand; read from the store otherwise.
    pub body: Option<QueuedBody>,
}

/// Settings the scheduler starts with.
#[derive(Debug, Clone)]
pub(crate) struct SchedulerSettings {
    pub concurrency: usize,
    pub breaker: BreakerSettings,
    /// Set when durable jobs are handed in on leases from a shared queue:
    /// their retries go back to it instead of to a local timer.
    pub leases: Option<Arc<dyn Leases>>,
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
pub(crate) type StoreSlot = Arc<OnceLock<Arc<dyn Store>>>;

/// The handle everyone else holds.
#[derive(Clone)]
pub(crate) struct Scheduler {
    tx: mpsc::UnboundedSender<Msg>,
    tasks: TaskTracker,
    board: Board,
}

/// One destination as the admin API shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DestinationView {
    /// `host:port`.
    pub name: String,
    pub breaker: BreakerState,
    /// Until when nothing is sent (an open breaker).
    pub open_until: Option<SystemTime>,
    /// Consecutive failures counted towards opening (a closed breaker).
    pub failures: u32,
    /// Jobs due and waiting for this destination (breaker or limit).
    pub waiting: usize,
    pub in_flight: usize,
}

/// The scheduler's destinations as last published: the scheduler task
/// owns the state, readers get a copy without asking it.
type Board = Arc<std::sync::Mutex<BTreeMap<String, DestinationView>>>;

impl Scheduler {
    /// Starts the scheduling task.
    /// `memory` counts the `delivery: memory` jobs held; the scheduler
    /// releases each as it finishes.
    pub(crate) fn spawn(
        senders: super::Senders,
        store: StoreSlot,
        memory: Arc<MemoryBacklog>,
        bodies: Arc<BodyBudget>,
        settings: SchedulerSettings,
    ) -> Scheduler {
        let (tx, rx) = mpsc::unbounded_channel();
        let tasks = TaskTracker::new();
        let board = Board::default();
        let state = State {
            board: board.clone(),
            rx,
            tx: tx.clone(),
            ctx: Arc::new(Ctx { senders, store }),
            tasks: tasks.clone(),
            settings,
            timers: BTreeMap::new(),
            seq: 0,
            destinations: HashMap::new(),
            keys: KeyQueues::default(),
            queued: BTreeSet::new(),
            memory,
            bodies,
            in_flight: 0,
            draining: false,
        };
        tokio::spawn(state.run());
        Scheduler { tx, tasks, board }
    }

    /// Every destination attempted since start, by name.
    pub(crate) fn destinations(&self) -> Vec<DestinationView> {
        self.board.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Queues jobs; they are scheduled in the order given.
    pub(crate) fn admit(&self, entries: Vec<Entry>) {
        if !entries.is_empty() {
            // Fails only after a drain finished: the store keeps durable jobs.
            let _ = self.tx.send(Msg::Admit(entries));
        }
    }

    /// Stops starting attempts and waits up to `grace` for the running ones;
    /// returns how many were still running when it gave up.
    pub(crate) async fn drain(&self, grace: Duration) -> usize {
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
    /// The breaker state last set on the gauge.
    published: Option<BreakerState>,
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
    memory: Arc<MemoryBacklog>,
    /// Durable jobs' bodies held (for the gauge; acceptance does the counting).
    bodies: Arc<BodyBudget>,
    in_flight: usize,
    draining: bool,
    board: Board,
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
                published: None,
            })
            .backlog
            .push_back(entry);
        self.pump(&name);
        self.publish(&name);
    }

    /// Copies a destination's state to the board, and its breaker to the
    /// gauge when that changed.
    fn publish(&mut self, name: &str) {
        let Some(slot) = self.destinations.get_mut(name) else { return };
        let now = Instant::now();
        let (breaker, until, failures) = slot.state.breaker(now);
        let open_until = until.map(|u| SystemTime::now() + u.saturating_duration_since(now));
        let view = DestinationView {
            name: name.to_string(),
            breaker,
            open_until,
            failures,
            waiting: slot.backlog.len(),
            in_flight: slot.state.in_flight(),
        };
        if slot.published != Some(breaker) {
            slot.published = Some(breaker);
            metrics::gauge!(m::BREAKER_STATE, "destination" => name.to_string()).set(breaker.gauge());
        }
        self.board.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), view);
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
                    return self.hand_back(name, at);
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
            let (entry, verdict, health) = execute::run(&ctx, entry).await;
            let _ = tx.send(Msg::Finished { entry: Box::new(entry), verdict, health });
        });
    }

    fn finished(&mut self, entry: Entry, verdict: Verdict, health: Health) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let name = entry.job.destination.clone();
        if let Some(slot) = self.destinations.get_mut(&name) {
            slot.state.finish(health, Instant::now());
        }
        // A leased job's retry is the queue's (see `super::lease`): here it
        // ends like a finished one, freeing its ordering key locally.
        let leased = self.settings.leases.as_ref().filter(|_| !entry.job.memory);
        if let Some(leases) = leased {
            leases.finished(&entry.job, &verdict);
        }
        match verdict {
            Verdict::Retry { .. } if leased.is_none() => {
                if self.draining {
                    self.discard(entry);
                } else {
                    self.schedule(entry);
                }
            }
            Verdict::Retry { .. } | Verdict::Succeeded | Verdict::Dead { .. } => self.forget(entry),
        }
        self.pump(&name);
        self.publish(&name);
    }

    /// A job is done here: its key's next job (if any) becomes the head.
    fn forget(&mut self, entry: Entry) {
        self.queued.remove(&entry.job.id);
        if entry.job.memory {
            self.memory.release(1);
        }
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

    /// Leased jobs (a shared queue) of a destination whose breaker is open
    /// go back to the queue, due when the breaker lets a probe through, so
    /// they hold no lease that another destination's jobs could use. (A
    /// busy destination keeps its leased jobs: handing them back would have
    /// the replica pull and return its whole backlog in a loop.)
    fn hand_back(&mut self, name: &str, open_until: Instant) {
        let Some(leases) = self.settings.leases.clone() else { return };
        let Some(slot) = self.destinations.get_mut(name) else { return };
        let (kept, back): (VecDeque<Entry>, VecDeque<Entry>) = slot.backlog.drain(..).partition(|e| e.job.memory);
        slot.backlog = kept;
        let after = open_until.saturating_duration_since(Instant::now());
        for entry in back {
            leases.finished(&entry.job, &Verdict::Retry { after });
            self.forget(entry);
        }
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
                    self.publish(&name);
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
        if let Some(leases) = self.settings.leases.as_ref().filter(|_| !entry.job.memory) {
            leases.released(&entry.job);
        }
        if entry.job.memory {
            self.memory.release(1);
            tracing::warn!(
                route = %entry.job.route,
                event_id = %entry.job.event_id,
                to = %entry.job.request.describe(),
                "shutdown: a `delivery: memory` {} was not delivered and is lost", entry.job.request.action()
            );
        }
    }

    fn report(&mut self) {
        // An open breaker turns half-open with time alone: refresh them all.
        let names: Vec<String> = self.destinations.keys().cloned().collect();
        names.iter().for_each(|name| self.publish(name));
        metrics::gauge!(m::QUEUE_DEPTH).set(self.queued.len() as f64);
        metrics::gauge!(m::QUEUE_MEMORY_DEPTH).set(self.memory.depth() as f64);
        metrics::gauge!(m::QUEUE_BODY_BYTES).set(self.bodies.held() as f64);
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
