//! Dedup claims shared by every replica: one KV key per (route, dedup key).
//!
//! A claim is taken with the bucket's `create`, which fails when the key
//! exists, so of two replicas that get the same redelivery at once exactly
//! one wins. A claim is written *before* the event's jobs (the loser must
//! not store anything) and marked committed *after* them; a claim that
//! stays uncommitted belongs to an accept that is still running — the
//! loser waits for it — or that failed, which deletes it or, when even
//! that fails, leaves it to be taken over once [`ABANDONED_AFTER`] passed.
//! Expired claims are taken over with a compare-and-set on their revision,
//! so that too has one winner.

use std::time::{Duration, SystemTime};

use async_nats::jetstream::kv;
use serde::{Deserialize, Serialize};

use super::{nats_error, OP_TIMEOUT};
use crate::delivery::store::{DedupClaim, StoreError};

/// An uncommitted claim older than this belongs to a failed accept: every
/// NATS call of an accept times out well before.
pub(crate) const ABANDONED_AFTER: Duration = Duration::from_secs(15);

/// How often a replica looks again at a claim being committed elsewhere.
const POLL: Duration = Duration::from_millis(25);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claim {
    event: String,
    /// Unix ms when the window ends.
    expires: u64,
    /// Unix ms when the claim was taken.
    at: u64,
    committed: bool,
}

/// A claim this accept holds, to commit or release.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    key: String,
    claim: Claim,
    revision: u64,
}

/// What claiming found.
pub(crate) enum Claimed {
    /// Ours now.
    Won(Held),
    /// Another event holds it, committed, within its window.
    Duplicate(String),
}

/// The bucket key of a claim: a digest, because dedup keys are arbitrary
/// text and KV keys are not.
pub(crate) fn key_of(route: &str, key: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(route.as_bytes());
    h.update([0x1f]);
    h.update(key.as_bytes());
    hex::encode(h.finalize())
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn encode(claim: &Claim) -> Result<bytes::Bytes, StoreError> {
    serde_json::to_vec(claim).map(Into::into).map_err(|e| StoreError::Io(format!("cannot encode a dedup claim: {e}")))
}

/// Takes `claim` for `event_id`, or reports the event that holds it.
pub(crate) async fn claim(
    bucket: &kv::Store,
    claim: &DedupClaim,
    event_id: &str,
    now: SystemTime,
) -> Result<Claimed, StoreError> {
    let key = key_of(&claim.route, &claim.key);
    let now_ms = unix_ms(now);
    let mine = Claim {
        event: event_id.to_string(),
        expires: now_ms.saturating_add(claim.window.as_millis() as u64),
        at: now_ms,
        committed: false,
    };
    let value = encode(&mine)?;
    let deadline = tokio::time::Instant::now() + ABANDONED_AFTER + OP_TIMEOUT;
    loop {
        match bucket.create(&key, value.clone()).await {
            Ok(revision) => return Ok(Claimed::Won(Held { key, claim: mine, revision })),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(nats_error("cannot claim a dedup key", e)),
        }
        let Some(entry) = bucket.entry(&key).await.map_err(|e| nats_error("cannot read a dedup claim", e))? else {
            continue;
        };
        if entry.operation != kv::Operation::Put {
            continue;
        }
        let held: Option<Claim> = serde_json::from_slice(&entry.value).ok();
        let now_ms = unix_ms(SystemTime::now());
        let take_over = match &held {
            None => true,
            Some(h) if h.expires <= now_ms => true,
            Some(h) if h.committed => return Ok(Claimed::Duplicate(h.event.clone())),
            Some(h) => now_ms.saturating_sub(h.at) >= ABANDONED_AFTER.as_millis() as u64,
        };
        if take_over {
            match bucket.update(&key, value.clone(), entry.revision).await {
                Ok(revision) => return Ok(Claimed::Won(Held { key, claim: mine, revision })),
                // Someone else took it over first: look again.
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(nats_error("cannot take over an expired dedup claim", e)),
            }
        }
        // Being committed by another replica's accept right now.
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Io("a dedup claim stayed uncommitted; try again".into()));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Marks claims committed once the event's jobs are stored.
pub(crate) async fn commit(bucket: &kv::Store, held: Vec<Held>) -> Result<(), StoreError> {
    for mut h in held {
        h.claim.committed = true;
        bucket
            .update(&h.key, encode(&h.claim)?, h.revision)
            .await
            .map_err(|e| nats_error("cannot commit a dedup claim", e))?;
    }
    Ok(())
}

/// Gives claims back after a failed accept, so the sender's retry is not
/// taken for a duplicate of an event that was never stored.
pub(crate) async fn release(bucket: &kv::Store, held: Vec<Held>) {
    for h in held {
        if let Err(e) = bucket.delete_expect_revision(&h.key, Some(h.revision)).await {
            tracing::warn!("cannot release a dedup claim ({e}); it is taken over after {ABANDONED_AFTER:?}");
        }
    }
}

/// The committed, live claim on (route, key), if any.
pub(crate) async fn holder(
    bucket: &kv::Store,
    route: &str,
    key: &str,
    now: SystemTime,
) -> Result<Option<String>, StoreError> {
    let value = bucket.get(key_of(route, key)).await.map_err(|e| nats_error("cannot read a dedup claim", e))?;
    let held: Option<Claim> = value.and_then(|v| serde_json::from_slice(&v).ok());
    Ok(held.filter(|c| c.committed && c.expires > unix_ms(now)).map(|c| c.event))
}

/// Removes expired claims; returns how many.
pub(crate) async fn prune(bucket: &kv::Store, now: SystemTime) -> Result<usize, StoreError> {
    let now_ms = unix_ms(now);
    let mut removed = 0;
    for (key, value, revision) in super::store::scan(bucket).await? {
        let expired = serde_json::from_slice::<Claim>(&value).map_or(true, |c| c.expires <= now_ms);
        if expired && super::store::remove_key(bucket, &key, revision).await {
            removed += 1;
        }
    }
    Ok(removed)
}
