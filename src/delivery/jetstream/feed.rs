//! Feeding a replica's scheduler from the shared work stream.
//!
//! Each replica pulls from the same durable consumers: the shared one
//! (jobs without an ordering key) and one per ordering partition, whose
//! `max_ack_pending: 1` keeps one job of the partition in flight across the
//! cluster. A pulled message names a job; its record (in the jobs bucket)
//! says where it stands, and the job joins this replica's scheduler, which
//! applies the per-destination limits and breakers as for local jobs.
//!
//! The message's ack deadline is the job's lease: while the job waits here
//! (for its due time, or its turn at a busy destination) a heartbeat sends
//! `in progress` every third of [`ACK_WAIT`] (jobs whose destination's
//! breaker is open go back to the queue instead: see the scheduler's
//! `hand_back`); a replica that dies
//! stops the heartbeat, and the job goes to another replica after at most
//! [`ACK_WAIT`]. The number of jobs leased at once is bounded
//! ([`MAX_LEASED`]), so one replica never hoards a backlog the others
//! could run. When the scheduler is done with a job ([`Leases`]) the
//! message is acked (delivered or dead) or nak'd with the retry's delay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::{kv, stream};
use async_nats::Subject;
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{nats_error, Names, PARTITIONS};
use crate::delivery::job::{JobRecord, Status};
use crate::delivery::lease::Leases;
use crate::delivery::retry::Verdict;
use crate::delivery::scheduler::{Entry, Scheduler};
use crate::delivery::store::StoreError;
use crate::metrics as m;

/// The lease: how long a job may go without a heartbeat before another
/// replica gets it. Also the longest a crashed replica delays its jobs.
pub(crate) const ACK_WAIT: Duration = Duration::from_secs(10);

/// Jobs one replica holds at once (waiting or in flight).
pub(crate) const MAX_LEASED: usize = 512;

/// Messages asked for per pull from the shared consumer.
const BATCH: usize = 64;

/// How long a pull waits on the server for work.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

struct Held {
    reply: Subject,
    _permit: OwnedSemaphorePermit,
}

/// The jobs this replica holds on a lease, by job id.
pub(crate) struct LeaseTable {
    client: async_nats::Client,
    held: Mutex<HashMap<String, Held>>,
    room: Arc<Semaphore>,
}

impl std::fmt::Debug for LeaseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseTable").field("held", &self.len()).finish()
    }
}

impl LeaseTable {
    pub(crate) fn new(client: async_nats::Client) -> Self {
        LeaseTable { client, held: Mutex::new(HashMap::new()), room: Arc::new(Semaphore::new(MAX_LEASED)) }
    }

    fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Records a lease; false when the job was already held here (then the
    /// newer delivery's subject is kept and the job is not admitted twice).
    fn hold(&self, id: &str, reply: Subject, permit: OwnedSemaphorePermit) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(id.to_string(), Held { reply, _permit: permit }).is_none()
    }

    fn take(&self, id: &str) -> Option<Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(id)
    }

    /// Answers one delivery, from a task (callers may be synchronous).
    fn answer(&self, reply: Subject, kind: AckKind, permit: Option<Held>) {
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.publish(reply, kind.into()).await {
                tracing::debug!("cannot answer a JetStream delivery ({e}); its lease runs out instead");
            }
            drop(permit);
        });
    }

    /// Extends every lease held (see the module doc).
    async fn heartbeat(&self) {
        let replies: Vec<Subject> =
            self.held.lock().unwrap_or_else(|p| p.into_inner()).values().map(|h| h.reply.clone()).collect();
        for reply in replies {
            let _ = self.client.publish(reply, AckKind::Progress.into()).await;
        }
    }

    /// Gives every lease back at shutdown, so other replicas take the jobs now.
    pub(crate) async fn release_all(&self) {
        let held: Vec<Held> = self.held.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, h)| h).collect();
        for h in held {
            let _ = self.client.publish(h.reply.clone(), AckKind::Nak(None).into()).await;
        }
        let _ = self.client.flush().await;
    }
}

impl Leases for LeaseTable {
    fn finished(&self, job: &JobRecord, verdict: &Verdict) {
        let Some(held) = self.take(&job.id) else { return };
        let kind = match verdict {
            Verdict::Retry { after } => AckKind::Nak(Some(*after)),
            Verdict::Succeeded | Verdict::Dead { .. } => AckKind::Ack,
        };
        self.answer(held.reply.clone(), kind, Some(held));
    }

    fn released(&self, job: &JobRecord) {
        if let Some(held) = self.take(&job.id) {
            self.answer(held.reply.clone(), AckKind::Nak(None), Some(held));
        }
    }
}

/// Creates (or finds) the durable consumers.
pub(crate) async fn consumers(work: &stream::Stream, names: &Names) -> Result<Vec<(PullConsumer, bool)>, StoreError> {
    let config = |name: String, subject: String, max_ack_pending: i64| pull::Config {
        durable_name: Some(name),
        filter_subject: subject,
        ack_policy: AckPolicy::Explicit,
        ack_wait: ACK_WAIT,
        // The retry policy decides when a job is dead, not the server.
        max_deliver: -1,
        max_ack_pending,
        ..Default::default()
    };
    let mut out = Vec::new();
    let shared = config(names.any_consumer(), names.work_subject(None), -1);
    let consumer = work
        .get_or_create_consumer(&names.any_consumer(), shared)
        .await
        .map_err(|e| nats_error("cannot create the work consumer", e))?;
    out.push((consumer, false));
    for p in 0..PARTITIONS {
        let subject = format!("{}.work.key.{p}", names.stream);
        let consumer = work
            .get_or_create_consumer(&names.key_consumer(p), config(names.key_consumer(p), subject, 1))
            .await
            .map_err(|e| nats_error("cannot create an ordering consumer", e))?;
        out.push((consumer, true));
    }
    Ok(out)
}

/// Pulls jobs from `consumer` into `scheduler` until aborted.
pub(crate) async fn pull_loop(
    consumer: PullConsumer,
    ordered: bool,
    jobs: kv::Store,
    leases: Arc<LeaseTable>,
    scheduler: Scheduler,
) {
    loop {
        // Room first: a replica at MAX_LEASED leaves work to the others.
        let Ok(first) = leases.room.clone().acquire_owned().await else { return };
        let mut permits = vec![first];
        let want = if ordered { 1 } else { BATCH };
        while permits.len() < want {
            match leases.room.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let batch = consumer.batch().max_messages(permits.len()).expires(PULL_EXPIRES).messages().await;
        let mut messages = match batch {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("cannot pull jobs from JetStream ({e}); trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(message) = messages.next().await {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!("a JetStream pull ended early: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            };
            let Some(permit) = permits.pop() else { break };
            let Some(reply) = message.reply.clone() else { continue };
            let id = String::from_utf8_lossy(&message.payload).into_owned();
            match read_job(&jobs, &id).await {
                Ok(Some(job)) if job.status == Status::Pending => {
                    if leases.hold(&id, reply, permit) {
                        scheduler.admit(vec![Entry { job, body: None }]);
                    }
                }
                // Finished, or pruned: a stale message (a crash between the
                // record and the ack). Nothing to do but take it off the queue.
                Ok(_) => leases.answer(reply, AckKind::Ack, None),
                Err(e) => {
                    tracing::warn!(job = %id, "cannot read a job's record ({e}); it is tried again shortly");
                    leases.answer(reply, AckKind::Nak(Some(Duration::from_secs(1))), None);
                }
            }
        }
    }
}

/// Extends the leases held, every third of the ack wait, until aborted.
pub(crate) async fn heartbeat_loop(leases: Arc<LeaseTable>) {
    let mut tick = tokio::time::interval(ACK_WAIT / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        leases.heartbeat().await;
    }
}

/// Publishes the work stream's pending and redelivered counts (summed over
/// the consumers), every few seconds.
pub(crate) async fn gauge_loop(mut consumers: Vec<PullConsumer>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (mut pending, mut redelivered) = (0u64, 0u64);
        for consumer in &mut consumers {
            if let Ok(info) = consumer.info().await {
                pending += info.num_pending + info.num_ack_pending as u64;
                redelivered += info.num_redelivered as u64;
            }
        }
        metrics::gauge!(m::JETSTREAM_PENDING).set(pending as f64);
        metrics::gauge!(m::JETSTREAM_REDELIVERED).set(redelivered as f64);
    }
}

pub(crate) async fn read_job(jobs: &kv::Store, id: &str) -> Result<Option<JobRecord>, StoreError> {
    if id.is_empty() || id.contains(['.', '*', '>', ' ']) {
        return Ok(None);
    }
    let Some(value) = jobs.get(id).await.map_err(|e| nats_error("cannot read a job", e))? else { return Ok(None) };
    serde_json::from_slice(&value).map(Some).map_err(|e| StoreError::Io(format!("a job record does not decode: {e}")))
}
