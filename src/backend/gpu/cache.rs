//! The compiled kernels an engine keeps, by WGSL source: sweeps, benchmarks and repeated runs
//! compile once, and a long sweep or Python session of distinct kernels (custom WGSL,
//! dimensions, methods) does not hold every one (several MB each on lavapipe).

use std::sync::{Arc, Mutex};

/// Kernels by source, the most recently used last.
type Entries<T> = Vec<(String, Arc<T>)>;

/// Up to `capacity` values by source, the least recently used dropped first; shared by clones.
#[derive(Debug)]
pub struct KernelCache<T> {
    capacity: usize,
    entries: Arc<Mutex<Entries<T>>>,
}

impl<T> Clone for KernelCache<T> {
    fn clone(&self) -> Self {
        KernelCache { capacity: self.capacity, entries: self.entries.clone() }
    }
}

impl<T> KernelCache<T> {
    /// An empty cache holding at most `capacity` kernels.
    pub fn new(capacity: usize) -> Self {
        KernelCache { capacity: capacity.max(1), entries: Arc::default() }
    }

    /// The kernel compiled from `src`, marked as just used.
    pub fn get(&self, src: &str) -> Option<Arc<T>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let i = entries.iter().position(|(s, _)| s == src)?;
        let hit = entries.remove(i);
        let value = hit.1.clone();
        entries.push(hit);
        Some(value)
    }

    /// Keeps `value` as the kernel of `src`, dropping the least recently used beyond capacity.
    pub fn insert(&self, src: String, value: Arc<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(s, _)| *s != src);
        while entries.len() >= self.capacity {
            entries.remove(0);
        }
        entries.push((src, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_used() {
        let cache = KernelCache::new(2);
        cache.insert("a".into(), Arc::new(1));
        cache.insert("b".into(), Arc::new(2));
        assert_eq!(cache.get("a").as_deref(), Some(&1)); // a is now the most recent
        cache.insert("c".into(), Arc::new(3)); // drops b
        assert!(cache.get("b").is_none());
        assert_eq!(cache.clone().get("a").as_deref(), Some(&1)); // clones share entries
        assert_eq!(cache.get("c").as_deref(), Some(&3));
    }
}
