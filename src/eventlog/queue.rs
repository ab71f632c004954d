//! The bounded queue between requests and the log's writer.
//!
//! A request only pushes (a short lock, no await); when the queue is full
//! the oldest pending record makes room, because under a flood the newest
//! events are the ones an operator looks for, and the sender's answer must
//! never wait for the log. Sequence numbers let a reader wait until what
//! was recorded before it asked is written ([`Queue::flushed`]).

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::{watch, Notify};

use super::EventRecord;

/// Records held before the writer takes them. At ~1–2 KiB a record (64 KiB
/// at most with a whole body), this bounds the log's memory.
pub(super) const CAPACITY: usize = 8192;

/// Records taken per write transaction, at most.
pub(super) const BATCH: usize = 1024;

pub(super) struct Queue {
    inner: Mutex<Inner>,
    wake: Notify,
    /// The sequence number of the last record handled (written or dropped).
    done: watch::Sender<u64>,
    capacity: usize,
}

struct Inner {
    records: VecDeque<(u64, EventRecord)>,
    /// Records ever pushed: the next one's sequence number is this + 1.
    pushed: u64,
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Queue {
        Queue {
            inner: Mutex::new(Inner { records: VecDeque::with_capacity(capacity.min(1024)), pushed: 0 }),
            wake: Notify::new(),
            done: watch::Sender::new(0),
            capacity: capacity.max(1),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.inner.lock().map(|i| i.records.len()).unwrap_or(0)
    }

    /// Adds a record, dropping the oldest pending one when full.
    pub(super) fn push(&self, record: EventRecord) {
        let dropped = {
            let Ok(mut inner) = self.inner.lock() else { return };
            inner.pushed += 1;
            let seq = inner.pushed;
            let dropped =
                if inner.records.len() >= self.capacity { inner.records.pop_front().is_some() } else { false };
            inner.records.push_back((seq, record));
            dropped
        };
        if dropped {
            metrics::counter!(crate::metrics::EVENT_LOG_DROPPED).increment(1);
        }
        self.wake.notify_one();
    }

    /// Waits for records and takes up to `max` of them, oldest first, with
    /// the sequence number of the last one taken.
    pub(super) async fn take(&self, max: usize) -> (Vec<EventRecord>, u64) {
        loop {
            // Registered before looking, so a push in between is not missed.
            let notified = self.wake.notified();
            if let Ok(mut inner) = self.inner.lock() {
                if !inner.records.is_empty() {
                    let n = inner.records.len().min(max);
                    let mut last = 0;
                    let batch = inner
                        .records
                        .drain(..n)
                        .map(|(seq, r)| {
                            last = seq;
                            r
                        })
                        .collect();
                    return (batch, last);
                }
            }
            notified.await;
        }
    }

    /// Marks every record up to `seq` handled.
    pub(super) fn handled(&self, seq: u64) {
        self.done.send_if_modified(|done| {
            let moved = seq > *done;
            *done = (*done).max(seq);
            moved
        });
    }

    /// Returns once every record pushed before the call is handled.
    pub(super) async fn flushed(&self) {
        let target = {
            let Ok(inner) = self.inner.lock() else { return };
            // Dropped records are older than any still queued: what is
            // pending is exactly the records after the last handled one.
            if inner.records.is_empty() && *self.done.borrow() >= inner.pushed {
                return;
            }
            inner.pushed
        };
        let mut rx = self.done.subscribe();
        let _ = rx.wait_for(|done| *done >= target).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventlog::Outcome;

    fn record(id: &str) -> EventRecord {
        EventRecord {
            id: id.into(),
            time: String::new(),
            time_ms: 0,
            request_id: None,
            client: None,
            method: "POST".into(),
            path: "/".into(),
            query: None,
            headers: Vec::new(),
            content_type: None,
            body: None,
            outcome: Outcome::Ignored,
            status: 202,
            routes: Vec::new(),
            decision: Vec::new(),
            actions: Vec::new(),
            replay_of: None,
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_records() {
        let q = Queue::new(2);
        for id in ["a", "b", "c"] {
            q.push(record(id));
        }
        let (batch, last) = q.take(10).await;
        assert_eq!(batch.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(last, 3);
        q.handled(last);
        q.flushed().await;
    }
}
