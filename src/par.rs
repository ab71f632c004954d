//! An ordered parallel map for the per-route work of a reload.
//!
//! Each route of routes.yaml decodes and compiles on its own, and a
//! 10,000-route file spends most of its reload time doing that one route
//! after another. [`map`] spreads such work over the machine's cores and
//! hands the results back in input order, so everything downstream (error
//! order, route order, "first route wins") reads exactly as a sequential
//! loop would have produced it. Reload runs on a blocking thread
//! (`spawn_blocking`), so borrowing a few more threads for it is fine.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Items handed out at a time by [`map`]: large enough that claiming a
/// chunk costs nothing next to the work in it, small enough that a thread
/// slowed by another process on a shared core does not hold back the rest.
const CHUNK: usize = 64;

/// `items.map(f)` with the calls spread over the available cores; the
/// result is in input order whatever order the calls ran in. `f` gets each
/// item's index.
pub(crate) fn map<T, R, F>(items: Vec<T>, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, T) -> R + Sync,
{
    map_in(CHUNK, items, f)
}

/// [`map`], handing out `chunk` items at a time (1 for items that are each
/// a lot of work). Under two chunks of items, everything runs on the calling
/// thread: threads would cost more than they save.
pub(crate) fn map_in<T, R, F>(chunk: usize, items: Vec<T>, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(usize, T) -> R + Sync,
{
    let chunk = chunk.max(1);
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    if threads < 2 || items.len() < 2 * chunk {
        return items.into_iter().enumerate().map(|(i, item)| f(i, item)).collect();
    }
    let len = items.len();
    let mut chunks: Vec<Mutex<Vec<T>>> = Vec::with_capacity(len.div_ceil(chunk));
    let mut rest = items.into_iter();
    loop {
        let claim: Vec<T> = rest.by_ref().take(chunk).collect();
        if claim.is_empty() {
            break;
        }
        chunks.push(Mutex::new(claim));
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = chunks.get(c) else { break };
            let claim = std::mem::take(&mut *slot.lock().unwrap_or_else(|p| p.into_inner()));
            let base = c * chunk;
            done.push((c, claim.into_iter().enumerate().map(|(i, item)| f(base + i, item)).collect()));
        }
        done
    };
    let mut done = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(chunks.len())).map(|_| scope.spawn(work)).collect();
        let mut done = work();
        for helper in helpers {
            // A panic in `f` is a bug; re-raise it here as a sequential loop would.
            match helper.join() {
                Ok(more) => done.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_unstable_by_key(|(c, _)| *c);
    let mut out = Vec::with_capacity(len);
    for (_, results) in done {
        out.extend(results);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_input_order_and_indices() {
        for n in [0, 1, 5, 2 * super::CHUNK - 1, 2 * super::CHUNK, 1000] {
            let items: Vec<usize> = (0..n).map(|i| i * 3).collect();
            let out = super::map(items, |i, item| (i, item + 1));
            assert_eq!(out, (0..n).map(|i| (i, i * 3 + 1)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn moves_items_that_are_not_clone() {
        let items: Vec<Box<str>> = (0..300).map(|i| i.to_string().into_boxed_str()).collect();
        let out = super::map(items, |_, s| s.len());
        assert_eq!(out.iter().sum::<usize>(), (0..300).map(|i: usize| i.to_string().len()).sum::<usize>());
    }

    #[test]
    fn one_item_at_a_time() {
        let out = super::map_in(1, (0..7).collect(), |i, item: usize| i * 10 + item);
        assert_eq!(out, (0..7).map(|i| i * 11).collect::<Vec<_>>());
    }
}
