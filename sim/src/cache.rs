//! A process-wide map from a string key to a value computed once: what a pure function of the
//! key returned (a compiled pattern, a compiled template, a commit's message), kept so that the
//! next caller with the same key does not compute it again. Bounded: past its limit it starts
//! empty again, so a stream of distinct keys cannot grow it without end.
//!
//! It must only hold values that depend on nothing but their key; the computation runs outside
//! the lock, so two callers may both compute a value the first time.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// See the module documentation. Made in a `static`: `static C: Cache<T> = Cache::new(256);`.
pub struct Cache<V> {
    limit: usize,
    map: LazyLock<Mutex<HashMap<String, V>>>,
}

impl<V: Clone> Cache<V> {
    pub const fn new(limit: usize) -> Self {
        Cache { limit, map: LazyLock::new(Default::default) }
    }

    /// The value kept for `key`, or `make()`'s, then kept.
    pub fn get_or_insert_with(&self, key: &str, make: impl FnOnce() -> V) -> V {
        match self.get_or_try_insert_with(key, || Ok::<V, std::convert::Infallible>(make())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// The value kept for `key`, or `make()`'s when it succeeds, then kept; a failure is
    /// returned and not kept (the next caller tries again).
    pub fn get_or_try_insert_with<E>(&self, key: &str, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let lock = || self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = lock().get(key) {
            return Ok(hit.clone());
        }
        let value = make()?;
        let mut map = lock();
        if map.len() >= self.limit {
            map.clear();
        }
        map.insert(key.to_string(), value.clone());
        Ok(value)
    }

    /// Entries kept now.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Cache;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_value_is_made_once_per_key_and_the_map_starts_again_past_its_limit() {
        static C: Cache<String> = Cache::new(2);
        let made = AtomicUsize::new(0);
        let get = |k: &str| {
            C.get_or_insert_with(k, || {
                made.fetch_add(1, Ordering::SeqCst);
                k.to_uppercase()
            })
        };
        assert_eq!(get("a"), "A");
        assert_eq!(get("a"), "A");
        assert_eq!(made.load(Ordering::SeqCst), 1, "the second call is answered from the map");
        assert_eq!(get("b"), "B");
        assert_eq!(C.len(), 2);
        assert_eq!(get("c"), "C");
        assert_eq!(C.len(), 1, "full: it started again with the new entry");
        assert_eq!(get("a"), "A");
        assert_eq!(made.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_failure_is_returned_and_not_kept() {
        static C: Cache<u32> = Cache::new(8);
        assert_eq!(C.get_or_try_insert_with("k", || Err::<u32, &str>("no")), Err("no"));
        assert!(C.is_empty());
        assert_eq!(C.get_or_try_insert_with("k", || Ok::<u32, &str>(7)), Ok(7));
        assert_eq!(C.get_or_try_insert_with("k", || Err::<u32, &str>("not called")), Ok(7));
    }
}
