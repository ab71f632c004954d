//! `max_concurrent`: how many runs of one `exec` action go at once; the
//! others wait their turn (never dropped).
//!
//! One process-wide registry of semaphores, keyed by route name and the
//! action's place in it, so the limit holds across a reload that leaves the
//! action where it was, and is shared by the queued runs (delivery) and
//! the ones a `respond: {from: exec}` route runs at once. An entry lives as
//! long as a run holds or awaits its semaphore; when none does, a fresh one
//! is the same thing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Registry = Mutex<HashMap<String, (u32, Weak<Semaphore>)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The limit key of the action at `at` (`actions[1]`) of `route`.
pub(crate) fn key(route: &str, at: &str) -> String {
    format!("{route}/{at}")
}

/// Waits until a run under `key` may start, at most `limit` at once. A
/// changed limit (a reload) starts a new count: runs already started under
/// the old one finish under it. None only if the semaphore were closed,
/// which nothing does.
pub(crate) async fn acquire(key: &str, limit: u32) -> Option<OwnedSemaphorePermit> {
    semaphore(key, limit.max(1)).acquire_owned().await.ok()
}

fn semaphore(key: &str, limit: u32) -> Arc<Semaphore> {
    // A poisoned lock only means a panic elsewhere mid-insert; the map is
    // still usable.
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(existing) = map.get(key).filter(|(l, _)| *l == limit).and_then(|(_, weak)| weak.upgrade()) {
        return existing;
    }
    map.retain(|_, (_, weak)| weak.strong_count() > 0);
    let fresh = Arc::new(Semaphore::new(limit as usize));
    map.insert(key.to_string(), (limit, Arc::downgrade(&fresh)));
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_key_one_count() {
        let first = acquire("limits-test/actions[0]", 1).await;
        let waiting = tokio::spawn(async { acquire("limits-test/actions[0]", 1).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let other = acquire("limits-test/actions[1]", 1).await;
        drop(first);
        let _second = waiting.await.unwrap();
        drop(other);
    }
}
