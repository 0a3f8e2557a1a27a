//! A least-recently-used cache with `u64` keys and a fixed capacity.
//!
//! Entries live in a slab linked most- to least-recently used; a hash map finds them. `get`
//! and `put` are O(1) and, once the slab is full, `put` reuses the evicted entry's slot.

use std::collections::HashMap;

const NIL: usize = usize::MAX;

struct Slot<V> {
    key: u64,
    value: V,
    newer: usize,
    older: usize,
}

/// An LRU cache; see the module doc.
pub struct LruCache<V> {
    index: HashMap<u64, usize>,
    slots: Vec<Slot<V>>,
    newest: usize,
    oldest: usize,
    capacity: usize,
}

impl<V> LruCache<V> {
    /// An empty cache holding at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> LruCache<V> {
        let capacity = capacity.max(1);
        LruCache {
            index: HashMap::with_capacity(capacity),
            slots: Vec::with_capacity(capacity),
            newest: NIL,
            oldest: NIL,
            capacity,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The value for `key`, marking it most recently used.
    pub fn get(&mut self, key: u64) -> Option<&V> {
        let slot = *self.index.get(&key)?;
        self.unlink(slot);
        self.push_newest(slot);
        Some(&self.slots[slot].value)
    }

    /// Stores `value` under `key` as the most recently used entry, evicting the least
    /// recently used one when full.
    pub fn put(&mut self, key: u64, value: V) {
        if let Some(&slot) = self.index.get(&key) {
            self.slots[slot].value = value;
            self.unlink(slot);
            self.push_newest(slot);
            return;
        }
        let slot = if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                key,
                value,
                newer: NIL,
                older: NIL,
            });
            self.slots.len() - 1
        } else {
            let slot = self.oldest;
            self.unlink(slot);
            self.index.remove(&self.slots[slot].key);
            self.slots[slot].key = key;
            self.slots[slot].value = value;
            slot
        };
        self.index.insert(key, slot);
        self.push_newest(slot);
    }

    fn unlink(&mut self, slot: usize) {
        let (newer, older) = (self.slots[slot].newer, self.slots[slot].older);
        match newer {
            NIL => self.newest = older,
            n => self.slots[n].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o].newer = newer,
        }
    }

    fn push_newest(&mut self, slot: usize) {
        self.slots[slot].newer = NIL;
        self.slots[slot].older = self.newest;
        if self.newest != NIL {
            self.slots[self.newest].newer = slot;
        }
        self.newest = slot;
        if self.oldest == NIL {
            self.oldest = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_and_eviction_of_the_least_recently_used() {
        let mut cache = LruCache::new(2);
        cache.put(1, "a");
        cache.put(2, "b");
        assert_eq!(cache.get(1), Some(&"a"));
        // 2 is now the least recently used and goes first.
        cache.put(3, "c");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(2), None);
        assert_eq!(cache.get(1), Some(&"a"));
        assert_eq!(cache.get(3), Some(&"c"));
        cache.put(3, "c2");
        cache.put(4, "d");
        assert_eq!(cache.get(1), None);
        assert_eq!(cache.get(3), Some(&"c2"));
    }

    #[test]
    fn a_long_random_walk_matches_a_reference() {
        let mut cache = LruCache::new(8);
        let mut reference: Vec<(u64, u64)> = Vec::new(); // most recent last
        let mut state = 12345u64;
        for step in 0..10_000u64 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            let key = (state >> 33) % 20;
            if step % 2 == 0 {
                cache.put(key, step);
                reference.retain(|&(k, _)| k != key);
                reference.push((key, step));
                if reference.len() > 8 {
                    reference.remove(0);
                }
            } else {
                let expected = reference.iter().position(|&(k, _)| k == key);
                let got = cache.get(key).copied();
                match expected {
                    Some(i) => {
                        let entry = reference.remove(i);
                        assert_eq!(got, Some(entry.1));
                        reference.push(entry);
                    }
                    None => assert_eq!(got, None),
                }
            }
        }
    }
}
