//! A bounded in-memory map whose entries expire: the call state, the orders just found by
//! their PIN, the calls bridged to the fallback number.
//!
//! Built on `quick_cache` (its S3-FIFO eviction keeps at most the capacity given; a lookup
//! is a hash and a compare, with no background work). Keys (CallSids, order ids) come from
//! outside, so they are hashed with the standard library's SipHash under a per-process random
//! key, as `std::collections::HashMap` does, rather than quick_cache's faster default: no one
//! can choose keys that collide. Each value is stored with the instant
//! it was written and reads as absent once older than the map's time to live. An expired
//! entry is not removed when read: the next write of its key replaces it, eviction drops it
//! otherwise. `moka`, used before, kept its own access logs and ran their housekeeping inside
//! the requests that touched it: about 6 % of a PIN step's server time at maximum rate in
//! the load benchmark (`docs/performance-notes.md`).

use std::collections::hash_map::RandomState;
use std::time::{Duration, Instant};

use quick_cache::UnitWeighter;
use quick_cache::sync::{Cache, DefaultLifecycle};

/// Keys are `String`s, looked up by `&str`; values are cloned out (keep them cheap: an `Arc`
/// or `()`).
pub struct Expiring<V> {
    entries: Cache<String, (Instant, V), UnitWeighter, RandomState>,
    ttl: Duration,
}

impl<V: Clone> Expiring<V> {
    /// At most about `capacity` entries (fewer when they are evicted first), each readable for
    /// `ttl` after it was written.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: Cache::with(
                capacity,
                u64::try_from(capacity).unwrap_or(u64::MAX),
                UnitWeighter,
                RandomState::new(),
                DefaultLifecycle::default(),
            ),
            ttl,
        }
    }

    /// The value written for `key` less than the time to live ago.
    pub fn get(&self, key: &str) -> Option<V> {
        self.entries
            .get(key)
            .and_then(|(at, value)| (at.elapsed() < self.ttl).then_some(value))
    }

    /// True when [`Expiring::get`] would find `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Writes `value` for `key`, replacing what was there; its time to live starts now.
    pub fn insert(&self, key: String, value: V) {
        self.entries.insert(key, (Instant::now(), value));
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.clear();
    }
}

impl<V: Clone> std::fmt::Debug for Expiring<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expiring")
            .field("len", &self.entries.len())
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_reads_until_its_time_to_live_is_over() {
        let map = Expiring::new(10, Duration::from_millis(300));
        map.insert("CA1".to_owned(), 1);
        assert_eq!(map.get("CA1"), Some(1));
        assert!(map.contains_key("CA1"));
        assert_eq!(map.get("CA2"), None);
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(map.get("CA1"), None);
        assert!(!map.contains_key("CA1"));
    }

    #[test]
    fn a_new_write_starts_the_time_to_live_again_and_remove_forgets() {
        let map = Expiring::new(10, Duration::from_millis(300));
        map.insert("CA1".to_owned(), 1);
        std::thread::sleep(Duration::from_millis(350));
        map.insert("CA1".to_owned(), 2);
        assert_eq!(map.get("CA1"), Some(2));
        map.remove("CA1");
        assert_eq!(map.get("CA1"), None);
    }

    #[test]
    fn it_holds_no_more_than_its_capacity() {
        let map = Expiring::new(100, Duration::from_secs(60));
        for n in 0..1_000 {
            map.insert(format!("CA{n}"), n);
        }
        let kept = (0..1_000)
            .filter(|n| map.contains_key(&format!("CA{n}")))
            .count();
        assert!(kept <= 110, "{kept} kept");
        assert!(kept > 0);
    }
}
