//! The shared queue: the delivery store on NATS JetStream, so several
//! hookroute replicas accept into and deliver from one queue.
//!
//! Why JetStream: it already is a replicated log (RAFT, R1/R3/R5) with
//! work-queue consumers whose ack deadline is a lease, a duplicate window,
//! and key-value buckets with compare-and-set — everything a shared queue
//! needs, in one small server binary. Hookroute keeps its own scheduler,
//! retry policy and breakers; JetStream holds the state and hands out work.
//!
//! What lives where (all named after `stream`, here `S`):
//! - bucket `S_jobs`: every job record (JSON, as the admin API shows it),
//!   keyed by job id. The record is the truth about attempts and status;
//!   any replica reads and writes it.
//! - bucket `S_dedup`: one key per (route, dedup key), created with
//!   `create` (fails when the key exists), so two replicas cannot both
//!   claim it ([`claims`]).
//! - stream `S_bodies` (subjects `S.body.EVENT.N`): each event's body once,
//!   in chunks below NATS's 1 MiB message limit, read back per attempt.
//! - stream `S` (subjects `S.work.…`, work-queue retention): one small
//!   message per pending job, carrying its id. Replicas pull from durable
//!   consumers ([`feed`]): ack wait is the lease, `in progress` extends it
//!   while the job waits in a replica's scheduler, an ack ends it, a nak
//!   with a delay is the retry backoff (kept by the server, so the retry
//!   survives the replica that scheduled it).
//!
//! Ordering: jobs with an ordering key go to one of [`PARTITIONS`] subjects
//! by a hash of the key, each consumed by a durable consumer with
//! `max_ack_pending: 1` — one job in flight per partition across every
//! replica, in stream (acceptance) order, its retries (naks) included.
//! Jobs without a key share one consumer with no such limit.

pub(crate) mod claims;
pub(crate) mod feed;
pub(crate) mod settings;
mod start;
pub(crate) mod store;

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

pub(crate) use settings::JetStreamSettings;
pub(crate) use store::JetStreamStore;

use super::store::StoreError;

/// Hash partitions of ordered jobs: the most ordered jobs in flight at
/// once across the cluster. A busy key (a head in retry) holds back the
/// other keys of its partition, so more partitions mean less of that, at
/// the cost of one consumer each.
pub(crate) const PARTITIONS: u32 = 16;

/// Body chunks stay well below NATS's default `max_payload` (1 MiB).
const CHUNK_BYTES: usize = 512 * 1024;

/// How long one NATS operation may take before the caller is told the
/// store is unavailable (the sender then gets 503).
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// The names of everything hookroute creates for one `stream:`.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub stream: String,
}

impl Names {
    pub(crate) fn work_stream(&self) -> &str {
        &self.stream
    }
    pub(crate) fn bodies_stream(&self) -> String {
        format!("{}_bodies", self.stream)
    }
    pub(crate) fn jobs_bucket(&self) -> String {
        format!("{}_jobs", self.stream)
    }
    pub(crate) fn dedup_bucket(&self) -> String {
        format!("{}_dedup", self.stream)
    }
    pub(crate) fn body_subject(&self, event_id: &str, chunk: usize) -> String {
        format!("{}.body.{event_id}.{chunk}", self.stream)
    }
    pub(crate) fn body_subjects(&self, event_id: &str) -> String {
        format!("{}.body.{event_id}.>", self.stream)
    }
    /// The work subject of a job: its key's partition, or the shared one.
    pub(crate) fn work_subject(&self, ordering_key: Option<&str>) -> String {
        match ordering_key {
            Some(key) => format!("{}.work.key.{}", self.stream, partition(key)),
            None => format!("{}.work.any", self.stream),
        }
    }
    pub(crate) fn any_consumer(&self) -> String {
        format!("{}_any", self.stream)
    }
    pub(crate) fn key_consumer(&self, partition: u32) -> String {
        format!("{}_key{partition}", self.stream)
    }
}

/// A key's partition: the first bytes of its SHA-256, so every replica
/// (and every version) agrees.
pub(crate) fn partition(key: &str) -> u32 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % PARTITIONS
}

fn nats_error(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("NATS JetStream: {what}: {e}"))
}

/// Connects to the servers with the configured credentials. Fails when no
/// server answers within the connection timeout: a replica that cannot
/// reach its queue at start has nothing to serve (the orchestrator
/// restarts it); once connected, the client reconnects on its own.
pub(crate) async fn connect(settings: &JetStreamSettings) -> Result<async_nats::Client, StoreError> {
    use settings::Auth;
    let open = |message: String| StoreError::Open { path: settings.describe(), message };
    let mut addrs = Vec::new();
    for server in &settings.servers {
        addrs.push(server.parse::<async_nats::ServerAddr>().map_err(|e| open(format!("{server}: {e}")))?);
    }
    let mut options = async_nats::ConnectOptions::new()
        .name("hookroute")
        .connection_timeout(OP_TIMEOUT)
        .request_timeout(Some(OP_TIMEOUT))
        // Reconnect quickly: while disconnected, every event gets 503.
        .reconnect_delay_callback(|attempts| Duration::from_millis((100 * attempts as u64).min(2_000)))
        .max_reconnects(None);
    options = match &settings.auth {
        Auth::None => options,
        Auth::Token(token) => options.token(token.expose().to_string()),
        Auth::UserPassword { user, password } => options.user_and_password(user.clone(), password.expose().to_string()),
        Auth::Creds(path) => {
            options.credentials_file(path).await.map_err(|e| open(format!("cannot read the creds file {path}: {e}")))?
        }
        Auth::Nkey(seed) => options.nkey(seed.expose().to_string()),
    };
    if let Some(tls) = &settings.tls {
        options = options.require_tls(true);
        if let Some(ca) = &tls.ca {
            options = options.add_root_certificates(ca.into());
        }
        if let Some((cert, key)) = &tls.client {
            options = options.add_client_certificate(cert.into(), key.into());
        }
    }
    options.connect(addrs).await.map_err(|e| open(format!("cannot connect: {e}")))
}

/// Creates (or finds, with the same settings) the streams and buckets.
/// Idempotent, so every replica runs it at start.
pub(crate) async fn ensure_layout(
    js: &jetstream::Context,
    names: &Names,
    replicas: usize,
) -> Result<(stream::Stream, stream::Stream, kv::Store, kv::Store), StoreError> {
    let work = js
        .get_or_create_stream(stream::Config {
            name: names.work_stream().to_string(),
            subjects: vec![format!("{}.work.>", names.stream)],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: replicas,
            // Work messages carry a job id and its round: a publish retried
            // after a lost ack is stored once.
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| nats_error("cannot create the work stream", e))?;
    let bodies = js
        .get_or_create_stream(stream::Config {
            name: names.bodies_stream(),
            subjects: vec![format!("{}.body.>", names.stream)],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            duplicate_window: Duration::from_secs(120),
            allow_direct: true,
            ..Default::default()
        })
        .await
        .map_err(|e| nats_error("cannot create the body stream", e))?;
    let jobs = bucket(js, &names.jobs_bucket(), replicas).await?;
    let dedup = bucket(js, &names.dedup_bucket(), replicas).await?;
    Ok((work, bodies, jobs, dedup))
}

/// A KV bucket with one value per key. Its stream is created here, with
/// the settings the client's own `create_key_value` uses, because that call
/// first reads the account's limits in a shape nats-server 2.9 does not
/// answer in.
async fn bucket(js: &jetstream::Context, name: &str, replicas: usize) -> Result<kv::Store, StoreError> {
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .map_err(|e| nats_error(&format!("cannot create the bucket {name}"), e))?;
    js.get_key_value(name).await.map_err(|e| nats_error(&format!("cannot open the bucket {name}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        assert_eq!(partition("a"), partition("a"));
        let used: std::collections::BTreeSet<u32> = (0..200).map(|i| partition(&format!("k{i}"))).collect();
        assert_eq!(used.len(), PARTITIONS as usize, "200 keys reach every partition");
        let names = Names { stream: "hr".into() };
        assert_eq!(names.work_subject(None), "hr.work.any");
        assert!(names.work_subject(Some("x")).starts_with("hr.work.key."));
    }
}
