//! Compiled regexes and JSONPaths, shared by pattern text.
//!
//! Large configs repeat the same patterns across many routes (the same
//! branch regex, the same `$.repository.full_name`), and a reload recompiles
//! a file that is mostly unchanged. Compiling each distinct text once per
//! process keeps a 10,000-route reload within budget. Compiled values are
//! immutable and cheap to clone (reference-counted), so sharing them is
//! safe, and routes with the same pattern share one copy. The cache is bounded: past its size it starts over, which
//! costs only time.

use std::collections::HashMap;
use std::sync::Mutex;

const CAPACITY: usize = 65_536;

pub(crate) struct CompileCache<T> {
    entries: Mutex<Option<HashMap<String, T>>>,
}

impl<T: Clone> Default for CompileCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone> CompileCache<T> {
    pub(crate) const fn new() -> Self {
        CompileCache { entries: Mutex::new(None) }
    }

    /// The compiled form of `text`, compiling it with `compile` on a miss.
    /// Failures are not cached (they are reported, then fixed).
    pub(crate) fn get_or_compile<E>(&self, text: &str, compile: impl FnOnce(&str) -> Result<T, E>) -> Result<T, E> {
        if let Some(hit) = self.lock().as_ref().and_then(|m| m.get(text)) {
            return Ok(hit.clone());
        }
        let compiled = compile(text)?;
        let mut guard = self.lock();
        let map = guard.get_or_insert_with(HashMap::new);
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(text.to_string(), compiled.clone());
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashMap<String, T>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_each_text_once_and_does_not_cache_failures() {
        let cache: CompileCache<usize> = CompileCache::new();
        let mut calls = 0;
        for _ in 0..3 {
            let v = cache.get_or_compile("abc", |t| {
                calls += 1;
                Ok::<_, ()>(t.len())
            });
            assert_eq!(v, Ok(3));
        }
        assert_eq!(calls, 1);
        assert_eq!(cache.get_or_compile("bad", |_| Err::<usize, _>("nope")), Err("nope"));
        assert_eq!(cache.get_or_compile("bad", |t| Ok::<_, &str>(t.len())), Ok(3));
    }
}
