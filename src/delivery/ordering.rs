//! Ordering keys: one job at a time per key, in acceptance order.
//!
//! A forward with `ordering_key: $.data.id` gets, per event, the key's value
//! (scoped by route and URL, so two forwards never block each other). The
//! first job of a key is its *head* and is scheduled; the others wait here,
//! unscheduled, in the order they were accepted. A head that fails and is
//! retried stays the head — it blocks its key and nothing else. Once the
//! head finishes (delivered, or dead after its retries) the next job of the
//! key becomes the head. A dead head does not stop the key for good: the
//! failure is in the dead letters for an operator, and later updates flow.

use std::collections::{HashMap, VecDeque};

/// The waiting followers of every key that has a head.
#[derive(Debug)]
pub(crate) struct KeyQueues<T> {
    keys: HashMap<String, VecDeque<T>>,
}

impl<T> Default for KeyQueues<T> {
    fn default() -> Self {
        KeyQueues { keys: HashMap::new() }
    }
}

impl<T> KeyQueues<T> {
    /// Offers a job with `key`: returns it back if it is the new head (to be
    /// scheduled), or keeps it behind the current head.
    pub(crate) fn offer(&mut self, key: &str, job: T) -> Option<T> {
        match self.keys.get_mut(key) {
            Some(waiting) => {
                waiting.push_back(job);
                None
            }
            None => {
                self.keys.insert(key.to_string(), VecDeque::new());
                Some(job)
            }
        }
    }

    /// The head of `key` finished: returns the next head, if any.
    pub(crate) fn advance(&mut self, key: &str) -> Option<T> {
        let waiting = self.keys.get_mut(key)?;
        match waiting.pop_front() {
            Some(next) => Some(next),
            None => {
                self.keys.remove(key);
                None
            }
        }
    }

    /// Jobs waiting behind heads.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.keys.values().map(VecDeque::len).sum()
    }

    /// Takes every waiting job (at shutdown).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.keys.drain().flat_map(|(_, q)| q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_followers() {
        let mut q = KeyQueues::default();
        assert_eq!(q.offer("a", 1), Some(1));
        assert_eq!(q.offer("a", 2), None);
        assert_eq!(q.offer("b", 3), Some(3));
        assert_eq!(q.offer("a", 4), None);
        assert_eq!(q.waiting(), 2);
        assert_eq!(q.advance("a"), Some(2));
        assert_eq!(q.advance("a"), Some(4));
        assert_eq!(q.advance("a"), None);
        // The key is free again.
        assert_eq!(q.offer("a", 5), Some(5));
        assert_eq!(q.advance("b"), None);
    }
}
