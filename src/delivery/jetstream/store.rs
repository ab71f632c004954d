//! [`Store`] on JetStream: the operations of the embedded store, with the
//! same contract, over the streams and buckets of [`super`].
//!
//! `accept` returns only once every publish of the event is acknowledged
//! by the stream (by a quorum with R3): dedup claims, body chunks, job
//! records, work messages, in that order, so a work message never names a
//! job or body that is not stored. Anything unacknowledged — NATS down, a
//! leader election outlasting the timeout — is an error, which the sender
//! sees as 503. Leftovers of a failed accept (a body, records) are never
//! worked on and are pruned like finished jobs.
//!
//! Listings scan the jobs bucket (one ordered consumer over the latest
//! value of every key): linear in the jobs kept, which retention bounds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_nats::jetstream::{self, kv, stream};
use bytes::{Bytes, BytesMut};
use futures_util::future::{try_join_all, BoxFuture};
use futures_util::{FutureExt, StreamExt};

use super::claims::{self, Claimed};
use super::feed::{self, LeaseTable};
use super::{nats_error, JetStreamSettings, Names, CHUNK_BYTES, OP_TIMEOUT};
use crate::delivery::job::{JobRecord, Status};
use crate::delivery::scheduler::Scheduler;
use crate::delivery::store::{
    AcceptBatch, AcceptOutcome, Filter, Page, PruneBefore, PruneCounts, ReplayOutcome, ReplaySelector, Store,
    StoreError,
};

/// Header of a body chunk: how many chunks the body has.
const CHUNKS_HEADER: &str = "Hookroute-Chunks";

/// Jobs pruned per call, as the embedded store does.
const PRUNE_CHUNK: usize = crate::delivery::redb_tables::PRUNE_CHUNK;

pub(crate) struct JetStreamStore {
    client: async_nats::Client,
    js: jetstream::Context,
    names: Names,
    work: stream::Stream,
    bodies: stream::Stream,
    jobs: kv::Store,
    dedup: kv::Store,
    pub(crate) leases: Arc<LeaseTable>,
    closed: AtomicBool,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl JetStreamStore {
    /// Connects and creates (or finds) the streams and buckets.
    pub(crate) async fn open(settings: &JetStreamSettings) -> Result<JetStreamStore, StoreError> {
        let client = super::connect(settings).await?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(OP_TIMEOUT);
        let names = Names { stream: settings.stream.clone() };
        let (work, bodies, jobs, dedup) = super::ensure_layout(&js, &names, settings.replicas).await?;
        tracing::info!(store = %settings.describe(), "delivery store open");
        Ok(JetStreamStore {
            leases: Arc::new(LeaseTable::new(client.clone())),
            client,
            js,
            names,
            work,
            bodies,
            jobs,
            dedup,
            closed: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Starts pulling jobs into `scheduler` (and the heartbeat and gauges).
    pub(crate) async fn start_feed(&self, scheduler: Scheduler) -> Result<(), StoreError> {
        let consumers = feed::consumers(&self.work, &self.names).await?;
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for (consumer, ordered) in &consumers {
            tasks.push(tokio::spawn(feed::pull_loop(
                consumer.clone(),
                *ordered,
                self.jobs.clone(),
                self.leases.clone(),
                scheduler.clone(),
            )));
        }
        tasks.push(tokio::spawn(feed::heartbeat_loop(self.leases.clone())));
        tasks.push(tokio::spawn(feed::gauge_loop(consumers.into_iter().map(|(c, _)| c).collect())));
        Ok(())
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            _ => Err(StoreError::Io("NATS JetStream is unreachable (reconnecting)".into())),
        }
    }

    /// Publishes and waits for every acknowledgement.
    async fn publish_all(
        &self,
        messages: Vec<(String, Option<String>, Option<usize>, Bytes)>,
    ) -> Result<(), StoreError> {
        let mut acks = Vec::with_capacity(messages.len());
        for (subject, msg_id, chunks, payload) in messages {
            let mut headers = async_nats::HeaderMap::new();
            if let Some(id) = msg_id {
                headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
            }
            if let Some(n) = chunks {
                headers.insert(CHUNKS_HEADER, n.to_string().as_str());
            }
            let ack = self
                .js
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(|e| nats_error("publish failed", e))?;
            acks.push(std::future::IntoFuture::into_future(ack));
        }
        try_join_all(acks).await.map_err(|e| nats_error("publish not acknowledged", e))?;
        Ok(())
    }

    fn work_message(&self, job: &JobRecord) -> (String, Option<String>, Option<usize>, Bytes) {
        // The round is part of the id: a replay is a new message, a publish
        // retried after a lost ack is not.
        let msg_id = format!("{}.{}", job.id, job.round_first_attempt);
        (self.names.work_subject(job.ordering_key.as_deref()), Some(msg_id), None, Bytes::from(job.id.clone()))
    }

    async fn put_jobs(&self, jobs: &[JobRecord]) -> Result<(), StoreError> {
        let puts = jobs.iter().map(|job| async move {
            let value = serde_json::to_vec(job).map_err(|e| StoreError::Io(format!("cannot encode a job: {e}")))?;
            self.jobs.put(&job.id, value.into()).await.map_err(|e| nats_error("cannot write a job", e))
        });
        try_join_all(puts).await.map(|_| ())
    }

    /// Body, records, then work: see the module doc.
    async fn store_event(&self, event_id: &str, body: &Bytes, jobs: &[JobRecord]) -> Result<(), StoreError> {
        let chunks: Vec<Bytes> = match body.is_empty() {
            true => vec![Bytes::new()],
            false => body.chunks(CHUNK_BYTES).map(|c| body.slice_ref(c)).collect(),
        };
        let n = chunks.len();
        let mut parts: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| (self.names.body_subject(event_id, i), Some(format!("{event_id}.{i}")), Some(n), c))
            .collect();
        // The records in the same round trip as the body: a KV put is a
        // publish to the bucket's subject for the key. Only the work
        // messages must wait for both to be acknowledged.
        for job in jobs {
            let value = serde_json::to_vec(job).map_err(|e| StoreError::Io(format!("cannot encode a job: {e}")))?;
            parts.push((format!("$KV.{}.{}", self.jobs.name, job.id), None, None, value.into()));
        }
        self.publish_all(parts).await?;
        let work = jobs.iter().filter(|j| j.status == Status::Pending).map(|j| self.work_message(j)).collect();
        self.publish_all(work).await
    }

    async fn accept_now(&self, batch: AcceptBatch) -> Result<AcceptOutcome, StoreError> {
        self.check()?;
        let mut held = Vec::new();
        let mut duplicates = Vec::new();
        for claim in &batch.dedup {
            match claims::claim(&self.dedup, claim, &batch.event_id, batch.now).await {
                Ok(Claimed::Won(h)) => held.push(h),
                Ok(Claimed::Duplicate(event)) => duplicates.push((claim.route.clone(), event)),
                Err(e) => {
                    claims::release(&self.dedup, held).await;
                    return Err(e);
                }
            }
        }
        let stored: Vec<JobRecord> = batch
            .jobs
            .into_iter()
            .filter(|j| !duplicates.iter().any(|(route, _): &(String, String)| *route == j.route))
            .collect();
        if !stored.is_empty() {
            if let Err(e) = self.store_event(&batch.event_id, &batch.body, &stored).await {
                claims::release(&self.dedup, held).await;
                self.roll_back(&batch.event_id, &stored).await;
                return Err(e);
            }
        }
        // The event is stored: a claim left uncommitted only delays a
        // redelivery's answer until it is taken over (see `claims`).
        if let Err(e) = claims::commit(&self.dedup, held).await {
            tracing::warn!("event {} stored, but its dedup claim was not committed: {e}", batch.event_id);
        }
        Ok(AcceptOutcome { stored, duplicates })
    }

    /// Removes what a failed accept stored, as far as NATS still answers:
    /// the sender retries, and a record left pending without its work
    /// message would be listed as pending for ever. (A work message that was
    /// stored is harmless: its job's record is gone, so it is just acked.)
    async fn roll_back(&self, event_id: &str, jobs: &[JobRecord]) {
        for job in jobs {
            let _ = self.jobs.purge(&job.id).await;
        }
        let _ = self.bodies.purge().filter(self.names.body_subjects(event_id)).await;
    }

    async fn all_jobs(&self) -> Result<Vec<(JobRecord, u64)>, StoreError> {
        let mut out = Vec::new();
        for (_, value, revision) in scan(&self.jobs).await? {
            if let Ok(job) = serde_json::from_slice::<JobRecord>(&value) {
                out.push((job, revision));
            }
        }
        out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        Ok(out)
    }

    /// Pending again, written only if nobody changed the record meanwhile
    /// (two replicas replaying at once), then queued.
    async fn replay_one(
        &self,
        mut job: JobRecord,
        revision: u64,
        now: SystemTime,
    ) -> Result<Option<JobRecord>, StoreError> {
        job.restart_round(now);
        let value = serde_json::to_vec(&job).map_err(|e| StoreError::Io(format!("cannot encode a job: {e}")))?;
        match self.jobs.update(&job.id, value.into(), revision).await {
            Ok(_) => {}
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => return Ok(None),
            Err(e) => return Err(nats_error("cannot write a job", e)),
        }
        self.publish_all(vec![self.work_message(&job)]).await?;
        Ok(Some(job))
    }

    async fn replay_now(&self, selector: ReplaySelector, now: SystemTime) -> Result<ReplayOutcome, StoreError> {
        self.check()?;
        let chosen: Vec<(JobRecord, u64)> = match selector {
            ReplaySelector::One(id) => {
                if !valid_key(&id) {
                    return Ok(ReplayOutcome::NotFound);
                }
                let entry = self.jobs.entry(id.as_str()).await.map_err(|e| nats_error("cannot read a job", e))?;
                let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
                    return Ok(ReplayOutcome::NotFound);
                };
                let job: JobRecord = serde_json::from_slice(&entry.value)
                    .map_err(|e| StoreError::Io(format!("a job record does not decode: {e}")))?;
                if job.status == Status::Pending {
                    return Ok(ReplayOutcome::AlreadyPending);
                }
                vec![(job, entry.revision)]
            }
            ReplaySelector::Matching(filter) => self
                .all_jobs()
                .await?
                .into_iter()
                .filter(|(j, _)| j.status != Status::Pending && filter.matches(j))
                .collect(),
        };
        let mut replayed = Vec::new();
        for (job, revision) in chosen {
            if let Some(job) = self.replay_one(job, revision, now).await? {
                replayed.push(job);
            }
        }
        Ok(ReplayOutcome::Replayed(replayed))
    }

    async fn prune_now(&self, before: PruneBefore) -> Result<PruneCounts, StoreError> {
        self.check()?;
        let mut counts = PruneCounts::default();
        let jobs = self.all_jobs().await?;
        let mut kept_events = BTreeSet::new();
        let mut gone_events = BTreeSet::new();
        for (job, revision) in jobs {
            let cutoff = match job.status {
                Status::Succeeded => Some(before.succeeded),
                Status::Dead => Some(before.dead),
                Status::Pending => None,
            };
            let old = cutoff.is_some_and(|c| job.updated_at.0 < c);
            if !old || counts.succeeded + counts.dead >= PRUNE_CHUNK {
                kept_events.insert(job.event_id);
                continue;
            }
            if remove_key(&self.jobs, &job.id, revision).await {
                match job.status {
                    Status::Succeeded => counts.succeeded += 1,
                    _ => counts.dead += 1,
                }
                gone_events.insert(job.event_id);
            } else {
                kept_events.insert(job.event_id);
            }
        }
        for event in gone_events.difference(&kept_events) {
            if let Err(e) = self.bodies.purge().filter(self.names.body_subjects(event)).await {
                tracing::debug!("cannot remove the body of event {event}: {e}");
            }
        }
        counts.dedup_keys = claims::prune(&self.dedup, before.now).await?;
        Ok(counts)
    }

    async fn body_now(&self, event_id: String) -> Result<Option<Bytes>, StoreError> {
        if !valid_key(&event_id) {
            return Ok(None);
        }
        let first = match self.bodies.get_last_raw_message_by_subject(&self.names.body_subject(&event_id, 0)).await {
            Ok(m) => m,
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => return Ok(None),
            Err(e) => return Err(nats_error("cannot read a body", e)),
        };
        let n: usize = first.headers.get(CHUNKS_HEADER).and_then(|v| v.as_str().parse().ok()).unwrap_or(1);
        if n <= 1 {
            return Ok(Some(first.payload));
        }
        let mut body = BytesMut::from(first.payload.as_ref());
        for i in 1..n {
            match self.bodies.get_last_raw_message_by_subject(&self.names.body_subject(&event_id, i)).await {
                Ok(m) => body.extend_from_slice(&m.payload),
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => return Ok(None),
                Err(e) => return Err(nats_error("cannot read a body", e)),
            }
        }
        Ok(Some(body.freeze()))
    }

    async fn list_now(&self, filter: Filter, cursor: Option<String>, limit: usize) -> Result<Page, StoreError> {
        let mut jobs: Vec<JobRecord> =
            self.all_jobs().await?.into_iter().map(|(j, _)| j).filter(|j| filter.matches(j)).collect();
        jobs.reverse();
        let start = cursor.map_or(0, |c| jobs.iter().position(|j| j.id < c).unwrap_or(jobs.len()));
        let page: Vec<JobRecord> = jobs.iter().skip(start).take(limit.max(1)).cloned().collect();
        let next_cursor = (start + page.len() < jobs.len()).then(|| page.last().map(|j| j.id.clone())).flatten();
        Ok(Page { jobs: page, next_cursor })
    }
}

/// Job and event ids are ULIDs; anything else cannot be a KV key here.
fn valid_key(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Removes `key` if its value is still at `revision` (nobody replayed or
/// rewrote it meanwhile), then the purge marker that leaves, so a bucket
/// does not grow by one marker per job ever pruned. False when it changed.
pub(crate) async fn remove_key(bucket: &kv::Store, key: &str, revision: u64) -> bool {
    if bucket.purge_expect_revision(key, Some(revision)).await.is_err() {
        return false;
    }
    // Nothing writes a key after its purge (ids are never reused, and a
    // replay needs the record), so the marker can go without a check.
    if let Err(e) = bucket.stream.purge().filter(format!("$KV.{}.{key}", bucket.name)).await {
        tracing::debug!("cannot remove the purge marker of {key}: {e}");
    }
    true
}

/// The latest value and revision of every key of `bucket`.
pub(crate) async fn scan(bucket: &kv::Store) -> Result<Vec<(String, Bytes, u64)>, StoreError> {
    let fail = |e: &dyn std::fmt::Display| nats_error("cannot list a bucket", e);
    // Fresh stream info: the bucket's own `status` is cached at open.
    let mut stream = bucket.stream.clone();
    let messages = stream.info().await.map_err(|e| fail(&e))?.state.messages;
    if messages == 0 {
        return Ok(Vec::new());
    }
    let mut latest = BTreeMap::new();
    let mut watch = bucket.watch_with_history(">").await.map_err(|e| fail(&e))?;
    loop {
        let next = tokio::time::timeout(OP_TIMEOUT, watch.next()).await.map_err(|e| fail(&e))?;
        let Some(entry) = next else { break };
        let entry = entry.map_err(|e| fail(&e))?;
        let last = entry.delta == 0;
        match entry.operation {
            kv::Operation::Put => latest.insert(entry.key, (entry.value, entry.revision)),
            _ => latest.remove(&entry.key),
        };
        if last {
            break;
        }
    }
    Ok(latest.into_iter().map(|(k, (v, r))| (k, v, r)).collect())
}

impl Store for JetStreamStore {
    fn accept(&self, batch: AcceptBatch) -> BoxFuture<'_, Result<AcceptOutcome, StoreError>> {
        self.accept_now(batch).boxed()
    }

    fn save(&self, jobs: Vec<JobRecord>) -> BoxFuture<'_, Result<(), StoreError>> {
        async move { self.put_jobs(&jobs).await }.boxed()
    }

    fn replay(&self, selector: ReplaySelector, now: SystemTime) -> BoxFuture<'_, Result<ReplayOutcome, StoreError>> {
        self.replay_now(selector, now).boxed()
    }

    fn prune(&self, before: PruneBefore) -> BoxFuture<'_, Result<PruneCounts, StoreError>> {
        self.prune_now(before).boxed()
    }

    fn job(&self, id: String) -> BoxFuture<'_, Result<Option<JobRecord>, StoreError>> {
        async move { feed::read_job(&self.jobs, &id).await }.boxed()
    }

    fn event_jobs(&self, event_id: String) -> BoxFuture<'_, Result<Vec<JobRecord>, StoreError>> {
        async move {
            Ok(self.all_jobs().await?.into_iter().map(|(j, _)| j).filter(|j| j.event_id == event_id).collect())
        }
        .boxed()
    }

    fn body(&self, event_id: String) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        self.body_now(event_id).boxed()
    }

    fn list(&self, filter: Filter, cursor: Option<String>, limit: usize) -> BoxFuture<'_, Result<Page, StoreError>> {
        self.list_now(filter, cursor, limit).boxed()
    }

    fn claimed(
        &self,
        route: String,
        key: String,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        async move { claims::holder(&self.dedup, &route, &key, now).await }.boxed()
    }

    fn is_available(&self) -> bool {
        self.check().is_ok()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        async move {
            self.closed.store(true, Ordering::SeqCst);
            for task in self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
                task.abort();
            }
            self.leases.release_all().await;
        }
        .boxed()
    }
}
