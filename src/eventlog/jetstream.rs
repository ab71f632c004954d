//! The event log on NATS JetStream (`store: jetstream:`): one stream,
//! `S_events` (subjects `S.events.ID`), that every replica publishes its
//! records to and reads from, so each replica's API and console list every
//! replica's events.
//!
//! The stream's own limits do the pruning: `max_msgs` is `max_events`,
//! `max_age` is `max_age`, discarding the oldest; the writer updates them
//! when a reload changes them. Newest first is the stream read backwards
//! by sequence (one direct get each); a filtered listing reads at most
//! [`MAX_SCAN`] records per page, and says where it stopped through its
//! cursor. Records are stored as the embedded store stores them (JSON);
//! a body is cut to [`MAX_BODY`] so a record stays below NATS's default
//! 1 MiB message limit.

use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures_util::future::BoxFuture;

use super::query::EventQuery;
use super::record::{EventPage, EventRecord, EventSummary};
use super::store::{EventStore, Limits};
use super::EventLogError;
use crate::delivery::jetstream::JetStreamSettings;

/// Most records one listing reads before it answers with what it found.
const MAX_SCAN: u64 = 20_000;

/// Bytes of a body kept in a JetStream record, whatever `max_body_bytes`.
pub(super) const MAX_BODY: usize = 512 * 1024;

/// How long one NATS operation may take.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct JetStreamEvents {
    js: jetstream::Context,
    name: String,
    prefix: String,
    replicas: usize,
    /// The limits last given to the stream.
    applied: Mutex<Option<(u64, Duration)>>,
}

fn nats(what: &str, e: impl std::fmt::Display) -> EventLogError {
    EventLogError::Store(format!("NATS JetStream: {what}: {e}"))
}

impl JetStreamEvents {
    /// Connects and creates (or finds) the stream.
    pub(super) async fn open(settings: &JetStreamSettings, limits: Limits) -> Result<JetStreamEvents, EventLogError> {
        let client = crate::delivery::jetstream::connect(settings).await.map_err(|e| nats("connect", e))?;
        let js = jetstream::new(client);
        let this = JetStreamEvents {
            js,
            name: format!("{}_events", settings.stream),
            prefix: format!("{}.events", settings.stream),
            replicas: settings.replicas,
            applied: Mutex::new(None),
        };
        this.js
            .get_or_create_stream(this.config(limits))
            .await
            .map_err(|e| nats("cannot create the event stream", e))?;
        Ok(this)
    }

    /// The stream's name.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    fn config(&self, limits: Limits) -> stream::Config {
        stream::Config {
            name: self.name.clone(),
            subjects: vec![format!("{}.>", self.prefix)],
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            max_messages: i64::try_from(limits.max_events).unwrap_or(i64::MAX),
            max_age: limits.max_age,
            discard: stream::DiscardPolicy::Old,
            allow_direct: true,
            ..Default::default()
        }
    }

    async fn stream(&self) -> Result<stream::Stream, EventLogError> {
        self.js.get_stream(&self.name).await.map_err(|e| nats("the event stream", e))
    }

    /// Gives the stream `limits` when they changed since last time.
    async fn apply(&self, limits: Limits) -> Result<(), EventLogError> {
        let wanted = (limits.max_events, limits.max_age);
        if *self.applied.lock().unwrap_or_else(|p| p.into_inner()) == Some(wanted) {
            return Ok(());
        }
        self.js.update_stream(self.config(limits)).await.map_err(|e| nats("cannot update the event stream", e))?;
        *self.applied.lock().unwrap_or_else(|p| p.into_inner()) = Some(wanted);
        Ok(())
    }

    async fn write_now(&self, batch: Vec<EventRecord>, limits: Limits) -> Result<(), EventLogError> {
        self.apply(limits).await?;
        let mut acks = Vec::with_capacity(batch.len());
        for mut record in batch {
            if let Some(body) = record.body.as_mut() {
                cut(body);
            }
            let payload = serde_json::to_vec(&record).map_err(|e| EventLogError::Store(e.to_string()))?;
            let subject = format!("{}.{}", self.prefix, record.id);
            acks.push(self.js.publish(subject, payload.into()).await.map_err(|e| nats("publish", e))?);
        }
        let n = acks.len() as u64;
        for ack in acks {
            tokio::time::timeout(OP_TIMEOUT, ack)
                .await
                .map_err(|_| nats("publish", "no acknowledgement in time"))?
                .map_err(|e| nats("publish", e))?;
        }
        metrics::counter!(crate::metrics::EVENT_LOG_WRITTEN).increment(n);
        Ok(())
    }

    async fn by_id(&self, stream: &stream::Stream, id: &str) -> Result<Option<(u64, EventRecord)>, EventLogError> {
        match stream.get_last_raw_message_by_subject(&format!("{}.{id}", self.prefix)).await {
            Ok(m) => Ok(serde_json::from_slice(&m.payload).ok().map(|r| (m.sequence, r))),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(nats("get", e)),
        }
    }

    /// Walks the stream newest first from below `cursor`, calling `take`
    /// on each record until it says stop or [`MAX_SCAN`] were read; returns
    /// whether it stopped early.
    async fn walk(&self, cursor: Option<&str>, mut take: impl FnMut(EventRecord) -> bool) -> Result<(), EventLogError> {
        let stream = self.stream().await?;
        let info = stream.get_info().await.map_err(|e| nats("stream info", e))?;
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let start = match cursor {
            None => last,
            Some(id) => match self.by_id(&stream, id).await? {
                Some((seq, _)) => seq.saturating_sub(1),
                // Pruned since: start from the newest older than its time.
                None => last,
            },
        };
        let mut seq = start;
        let mut read = 0;
        while seq >= first.max(1) && read < MAX_SCAN {
            read += 1;
            if let Ok(m) = stream.get_raw_message(seq).await {
                if let Ok(record) = serde_json::from_slice::<EventRecord>(&m.payload) {
                    if cursor.is_some_and(|c| record.id.as_str() >= c) {
                        seq -= 1;
                        continue;
                    }
                    if !take(record) {
                        return Ok(());
                    }
                }
            }
            seq -= 1;
        }
        Ok(())
    }
}

/// Cuts a body to [`MAX_BODY`] (on a character boundary for text).
fn cut(body: &mut super::RecordedBody) {
    if body.data.len() <= MAX_BODY {
        return;
    }
    let mut end = MAX_BODY;
    while !body.data.is_char_boundary(end) {
        end -= 1;
    }
    body.data.truncate(end);
    body.truncated = true;
}

impl EventStore for JetStreamEvents {
    fn write(&self, batch: Vec<EventRecord>, limits: Limits) -> BoxFuture<'_, Result<(), EventLogError>> {
        Box::pin(self.write_now(batch, limits))
    }

    fn list(&self, query: EventQuery) -> BoxFuture<'_, Result<EventPage, EventLogError>> {
        Box::pin(async move {
            let mut events: Vec<EventSummary> = Vec::with_capacity(query.limit);
            let mut more = false;
            self.walk(query.cursor.as_deref(), |record| {
                if !query.matches(&record) {
                    return true;
                }
                if events.len() == query.limit {
                    more = true;
                    return false;
                }
                events.push(EventSummary::from(&record));
                true
            })
            .await?;
            let next_cursor = if more { events.last().map(|e| e.id.clone()) } else { None };
            Ok(EventPage { events, next_cursor })
        })
    }

    fn get(&self, id: String) -> BoxFuture<'_, Result<Option<EventRecord>, EventLogError>> {
        Box::pin(async move {
            let stream = self.stream().await?;
            Ok(self.by_id(&stream, &id).await?.map(|(_, r)| r))
        })
    }

    fn recent(&self, n: usize) -> BoxFuture<'_, Result<Vec<EventRecord>, EventLogError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(n);
            self.walk(None, |record| {
                if out.len() == n {
                    return false;
                }
                out.push(record);
                true
            })
            .await?;
            Ok(out)
        })
    }
}
