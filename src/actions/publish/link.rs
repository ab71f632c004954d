//! The one live connection a broker connector keeps, made on first use and
//! remade after a failure, with a backoff between failed attempts.
//!
//! Every connector (Redis, MQTT, AMQP) needs the same bookkeeping: connect
//! lazily (a broker that is down must not fail a load), let concurrent
//! publishes share one connection instead of each dialling its own, notice
//! a broken connection and dial again, and not hammer a broker that is
//! down. Written once here so the three connectors only say how to dial
//! and whether a connection still works.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::connector::PublishError;

/// First pause after a failed connection attempt; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest pause between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A connection a [`Link`] can hold: cheap to clone (a handle), and able to
/// say when it is known to be broken so the next publish dials again.
pub(super) trait Handle: Clone + Send + Sync + 'static {
    /// False once the connection is known to be closed or broken.
    fn is_open(&self) -> bool {
        true
    }
}

/// The shared connection of one named broker, with its reconnect state.
#[derive(Debug)]
pub(super) struct Link<C> {
    /// The current connection and its generation (bumped on each dial), so
    /// a publish that saw an old connection fail cannot drop a newer one.
    slot: tokio::sync::Mutex<Option<(C, u64)>>,
    backoff: Mutex<Backoff>,
}

#[derive(Debug, Default)]
struct Backoff {
    generation: u64,
    failures: u32,
    retry_at: Option<Instant>,
    /// Why the last attempt failed, for publishes refused during the pause.
    last_error: String,
}

impl<C: Handle> Link<C> {
    pub(super) fn new() -> Self {
        Link { slot: tokio::sync::Mutex::new(None), backoff: Mutex::new(Backoff::default()) }
    }

    /// The open connection, dialling with `connect` when there is none.
    /// After failed attempts the next one waits out the backoff; when that
    /// pause would end after `deadline`, answers `Unavailable` with the
    /// last failure at once rather than a bare timeout.
    pub(super) async fn get<F, Fut>(
        &self,
        broker: &str,
        deadline: Instant,
        connect: F,
    ) -> Result<(C, u64), PublishError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, String>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((conn, generation)) = slot.as_ref() {
            if conn.is_open() {
                return Ok((conn.clone(), *generation));
            }
            *slot = None;
        }
        let wait_until = self.lock_backoff().retry_at;
        if let Some(at) = wait_until {
            if at > deadline {
                let detail = self.lock_backoff().last_error.clone();
                return Err(PublishError::Unavailable { broker: broker.to_string(), detail });
            }
            tokio::time::sleep_until(at).await;
        }
        match connect().await {
            Ok(conn) => {
                let generation = {
                    let mut backoff = self.lock_backoff();
                    backoff.generation += 1;
                    backoff.failures = 0;
                    backoff.retry_at = None;
                    backoff.generation
                };
                *slot = Some((conn.clone(), generation));
                Ok((conn, generation))
            }
            Err(detail) => {
                self.lock_backoff().failed(&detail);
                Err(PublishError::Unavailable { broker: broker.to_string(), detail })
            }
        }
    }

    /// Forgets connection `generation` after it failed a publish, so the
    /// next publish dials again (at once: one broken connection is not yet
    /// a broker that is down).
    pub(super) async fn broken(&self, generation: u64) -> Option<C> {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|(_, g)| *g == generation) {
            return slot.take().map(|(conn, _)| conn);
        }
        None
    }

    /// Takes the connection out, for `close`.
    pub(super) async fn take(&self) -> Option<C> {
        self.slot.lock().await.take().map(|(conn, _)| conn)
    }

    fn lock_backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        // A panic while holding this lock leaves plain numbers behind; keep using them.
        self.backoff.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Backoff {
    fn failed(&mut self, detail: &str) {
        self.failures = self.failures.saturating_add(1);
        let exp = FIRST_BACKOFF.saturating_mul(1 << self.failures.saturating_sub(1).min(16)).min(MAX_BACKOFF);
        // ±20% so several hookroute replicas do not redial in lockstep.
        let jitter = exp.mul_f64(0.8 + fastrand::f64() * 0.4);
        self.retry_at = Some(Instant::now() + jitter);
        self.last_error = detail.to_string();
    }
}

/// Runs one publish bounded by `timeout` in all; past it, `Timeout`.
pub(super) async fn bounded<F>(broker: &str, timeout: Duration, publish: F) -> Result<(), PublishError>
where
    F: Future<Output = Result<(), PublishError>>,
{
    tokio::time::timeout(timeout, publish)
        .await
        .unwrap_or_else(|_| Err(PublishError::Timeout { broker: broker.to_string(), after: timeout }))
}

/// The value of header `name` (ASCII case-insensitive), if the message has it.
pub(super) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Fake(bool);
    impl Handle for Fake {
        fn is_open(&self) -> bool {
            self.0
        }
    }

    #[tokio::test]
    async fn a_failed_dial_is_unavailable_and_the_pause_past_the_deadline_answers_at_once() {
        let link: Link<Fake> = Link::new();
        let far = Instant::now() + Duration::from_secs(60);
        let err = link.get("b", far, || async { Err("refused".to_string()) }).await.err();
        assert_eq!(err, Some(PublishError::Unavailable { broker: "b".into(), detail: "refused".into() }));
        // The pause (≥ 80 ms) ends after a deadline that is now: no dial, the last error.
        let err = link.get("b", Instant::now(), || async { Ok(Fake(true)) }).await.err();
        assert_eq!(err, Some(PublishError::Unavailable { broker: "b".into(), detail: "refused".into() }));
        // Within the deadline, the next dial happens after the pause and succeeds.
        let (_, generation) = link.get("b", far, || async { Ok(Fake(true)) }).await.expect("dialled");
        assert_eq!(generation, 1);
    }

    #[tokio::test]
    async fn a_broken_or_closed_connection_is_replaced_and_an_old_generation_cannot_drop_a_new_one() {
        let link: Link<Fake> = Link::new();
        let far = Instant::now() + Duration::from_secs(60);
        let (_, first) = link.get("b", far, || async { Ok(Fake(false)) }).await.expect("dialled");
        // Not open: dialled again.
        let (_, second) = link.get("b", far, || async { Ok(Fake(true)) }).await.expect("dialled");
        assert_ne!(first, second);
        assert!(link.broken(first).await.is_none(), "a stale generation leaves the new connection alone");
        assert!(link.broken(second).await.is_some());
        let (_, third) = link.get("b", far, || async { Ok(Fake(true)) }).await.expect("dialled");
        assert_eq!(third, second + 1);
    }
}
