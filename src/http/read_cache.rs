//! A short-lived cache for the hot reads that do not depend on who asks
//! (a question page seen anonymously, a list, a search, similar questions).
//!
//! An entry is served only while nothing it could show has changed since it
//! was made, and never after the time to live. "Changed" is a stamp: the
//! writes this node has handled (counted by the request middleware) plus
//! the search-index commits (the indexer applies every node's writes,
//! through the outbox, and commits). An entry made from data older than a
//! write carries the stamp from before that write, so it is never served
//! after it. What neither counter sees (a view count, another node's
//! comment, a command run beside the server) shows within the time to live.
//!
//! Entries that can no longer be served are dropped: on a lookup that finds
//! one, and by a sweep at most once per time to live. Without the sweep a
//! busy node (a write every few milliseconds makes nearly every entry stale
//! at once) filled the whole capacity with dead entries for keys never
//! asked again, and its heap grew for as long as that took.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::service::search::indexer::IndexerStatus;

/// Bytes of cached values (and keys) a node keeps.
const CAPACITY_BYTES: u64 = 16 * 1024 * 1024;
/// A rough count of entries for the cache's sizing.
const EXPECTED_ENTRIES: usize = 4096;

pub struct ReadCache<V> {
    entries: Cache<String, Entry<V>, ByWeight>,
    time_to_live: Duration,
    local_writes: AtomicU64,
    index: Arc<IndexerStatus>,
    /// When the cache was made: the clock of `last_sweep_ms`.
    born: Instant,
    /// Milliseconds after `born` of the last sweep.
    last_sweep_ms: AtomicU64,
}

/// `V` is cloned out on every hit: make it cheap to clone (`Bytes`).
#[derive(Clone)]
struct Entry<V> {
    stamp: u64,
    made: Instant,
    weight: u64,
    value: V,
}

#[derive(Clone)]
struct ByWeight;

impl<V> Weighter<String, Entry<V>> for ByWeight {
    fn weight(&self, key: &String, entry: &Entry<V>) -> u64 {
        key.len() as u64 + entry.weight
    }
}

impl<V: Clone> ReadCache<V> {
    /// A cache that follows this node's writes and `index`'s commits.
    /// A zero time to live turns it off.
    pub fn new(time_to_live: Duration, index: Arc<IndexerStatus>) -> ReadCache<V> {
        ReadCache {
            entries: Cache::with_weighter(EXPECTED_ENTRIES, CAPACITY_BYTES, ByWeight),
            time_to_live,
            local_writes: AtomicU64::new(0),
            index,
            born: Instant::now(),
            last_sweep_ms: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.time_to_live.is_zero()
    }

    /// The current stamp: take it *before* reading what will be cached.
    pub fn stamp(&self) -> u64 {
        self.local_writes.load(Ordering::SeqCst).wrapping_add(self.index.commits.load(Ordering::SeqCst))
    }

    /// This node handled a write that may change what reads show; called
    /// after the write committed.
    pub fn note_write(&self) {
        self.local_writes.fetch_add(1, Ordering::SeqCst);
    }

    /// The cached value, if it is still current.
    pub fn get(&self, key: &str) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        let entry = self.entries.get(key)?;
        let stamp = self.stamp();
        if self.servable(&entry, stamp) {
            return Some(entry.value);
        }
        self.entries.remove_if(key, |e| !self.servable(e, stamp));
        None
    }

    /// Stamps only grow, so an entry of another stamp is stale for good.
    fn servable(&self, entry: &Entry<V>, stamp: u64) -> bool {
        entry.stamp == stamp && entry.made.elapsed() < self.time_to_live
    }

    /// Keeps `value`, made from data read after `stamp` was taken;
    /// `weight` is its size in bytes.
    pub fn insert(&self, key: String, stamp: u64, value: V, weight: usize) {
        if self.enabled() && stamp == self.stamp() {
            self.sweep_when_due();
            self.entries.insert(key, Entry { stamp, made: Instant::now(), weight: weight as u64, value });
        }
    }

    /// Drops every entry that can no longer be served, once per time to
    /// live (the one caller that wins the swap does it).
    fn sweep_when_due(&self) {
        let now_ms = self.born.elapsed().as_millis() as u64;
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let due = now_ms.saturating_sub(last) >= self.time_to_live.as_millis() as u64;
        if due && self.last_sweep_ms.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let stamp = self.stamp();
            self.entries.retain(|_, e| self.servable(e, stamp));
        }
    }

    /// Bytes of keys and values held, and the number of entries: for /metrics.
    pub fn size(&self) -> (u64, usize) {
        (self.entries.weight(), self.entries.len())
    }

    /// Drops one entry (its data changed in a way the stamp does not see).
    pub fn remove(&self, key: &str) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(ttl_ms: u64) -> (ReadCache<String>, Arc<IndexerStatus>) {
        let status = Arc::new(IndexerStatus::default());
        (ReadCache::new(Duration::from_millis(ttl_ms), status.clone()), status)
    }

    #[test]
    fn an_entry_is_served_until_a_write_or_an_index_commit() {
        let (cache, status) = cache(60_000);
        let stamp = cache.stamp();
        cache.insert("k".into(), stamp, "v".to_owned(), 1);
        assert_eq!(cache.get("k").as_deref(), Some("v"));
        cache.note_write();
        assert!(cache.get("k").is_none(), "a local write makes it stale");
        cache.insert("k".into(), cache.stamp(), "w".to_owned(), 1);
        status.commits.fetch_add(1, Ordering::SeqCst);
        assert!(cache.get("k").is_none(), "an index commit makes it stale");
    }

    #[test]
    fn data_read_before_a_write_is_not_kept() {
        let (cache, _) = cache(60_000);
        let stamp = cache.stamp();
        cache.note_write();
        cache.insert("k".into(), stamp, "old".to_owned(), 1);
        assert!(cache.get("k").is_none());
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_turns_it_off() {
        let (cache, _) = cache(30);
        cache.insert("k".into(), cache.stamp(), "v".to_owned(), 1);
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("k").is_none());
        let (off, _) = super::tests::cache(0);
        off.insert("k".into(), off.stamp(), "v".to_owned(), 1);
        assert!(off.get("k").is_none());
    }

    #[test]
    fn entries_that_can_no_longer_be_served_are_dropped() {
        let (cache, _) = cache(30);
        cache.insert("read-again".into(), cache.stamp(), "v".to_owned(), 100);
        cache.insert("never-read-again".into(), cache.stamp(), "v".to_owned(), 100);
        cache.note_write();
        assert!(cache.get("read-again").is_none());
        assert_eq!(cache.size().1, 1, "a stale entry found by a lookup is dropped");
        std::thread::sleep(Duration::from_millis(40));
        cache.insert("new".into(), cache.stamp(), "v".to_owned(), 100);
        assert_eq!(cache.size().1, 1, "the sweep dropped the entry no lookup found");
        assert_eq!(cache.get("new").as_deref(), Some("v"));
    }

    #[test]
    fn the_cache_holds_no_more_than_its_capacity() {
        let (cache, _) = cache(60_000);
        let big = 1024 * 1024;
        for i in 0..64 {
            cache.insert(format!("k{i}"), cache.stamp(), String::new(), big);
        }
        assert!(cache.entries.weight() <= CAPACITY_BYTES);
    }
}
