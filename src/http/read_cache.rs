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
//! An entry is made again before its time to live runs out, by one request
//! while the others are still served the old one: at a moment drawn for
//! each entry between half and nine tenths of its life. Without that, the
//! entries made together (a cold start, the first requests after a write)
//! ran out together, and every request for them missed at once and queued
//! for the cores: similar questions at 100k, drafts repeating, had a p99 of
//! 23 ms against 2.5-5 ms for the same load with no entry running out
//! (bench/results/2026-12-07-profiles.md).
//!
//! Entries that can no longer be served are dropped: on a lookup that finds
//! one, and by a sweep at most once per time to live. Without the sweep a
//! busy node (a write every few milliseconds makes nearly every entry stale
//! at once) filled the whole capacity with dead entries for keys never
//! asked again, and its heap grew for as long as that took.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Entries made: what each one's moment of renewal is drawn from.
    made: AtomicU64,
}

/// `V` is cloned out on every hit: make it cheap to clone (`Bytes`).
#[derive(Clone)]
struct Entry<V> {
    stamp: u64,
    made: Instant,
    /// From this age on, the next request makes the entry again.
    renew_after: Duration,
    /// A request has been sent to make it again (shared by the copies
    /// that lookups clone out).
    renewing: Arc<AtomicBool>,
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
            made: AtomicU64::new(0),
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

    /// The cached value, if it is still current and this request is not
    /// the one to make it again (a miss: its caller reads and inserts).
    pub fn get(&self, key: &str) -> Option<V> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &str, now: Instant) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        let entry = self.entries.get(key)?;
        let stamp = self.stamp();
        if !self.servable(&entry, stamp, now) {
            self.entries.remove_if(key, |e| !self.servable(e, stamp, now));
            return None;
        }
        let age = now.saturating_duration_since(entry.made);
        if age >= entry.renew_after && !entry.renewing.swap(true, Ordering::Relaxed) {
            return None;
        }
        Some(entry.value)
    }

    /// Stamps only grow, so an entry of another stamp is stale for good.
    fn servable(&self, entry: &Entry<V>, stamp: u64, now: Instant) -> bool {
        entry.stamp == stamp && now.saturating_duration_since(entry.made) < self.time_to_live
    }

    /// Keeps `value`, made from data read after `stamp` was taken;
    /// `weight` is its size in bytes.
    pub fn insert(&self, key: String, stamp: u64, value: V, weight: usize) {
        if self.enabled() && stamp == self.stamp() {
            self.sweep_when_due();
            let entry = Entry {
                stamp,
                made: Instant::now(),
                renew_after: self.renewal_age(),
                renewing: Arc::default(),
                weight: weight as u64,
                value,
            };
            self.entries.insert(key, entry);
        }
    }

    /// An age between half and nine tenths of the time to live, spread
    /// evenly over the entries made (splitmix64 of their count: no two
    /// entries made together run out together).
    fn renewal_age(&self) -> Duration {
        let mut z = self.made.fetch_add(1, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let fraction = 0.5 + 0.4 * (z >> 11) as f64 / (1u64 << 53) as f64;
        self.time_to_live.mul_f64(fraction)
    }

    /// Drops every entry that can no longer be served, once per time to
    /// live (the one caller that wins the swap does it).
    fn sweep_when_due(&self) {
        let now_ms = self.born.elapsed().as_millis() as u64;
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        let due = now_ms.saturating_sub(last) >= self.time_to_live.as_millis() as u64;
        if due && self.last_sweep_ms.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let stamp = self.stamp();
            let now = Instant::now();
            self.entries.retain(|_, e| self.servable(e, stamp, now));
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
    fn one_request_makes_an_entry_again_before_it_runs_out_while_the_others_are_served() {
        let (cache, _) = cache(400);
        let ages: Vec<Duration> = (0..1000).map(|_| cache.renewal_age()).collect();
        assert!(ages.iter().all(|a| *a >= Duration::from_millis(200) && *a < Duration::from_millis(360)));
        let early = ages.iter().filter(|a| **a < Duration::from_millis(280)).count();
        assert!((400..600).contains(&early), "renewal ages bunch up: {early} of 1000 in the first half");

        let made = Instant::now();
        cache.insert("k".into(), cache.stamp(), "v".to_owned(), 1);
        let at = |ms: u64| made + Duration::from_millis(ms);
        assert_eq!(cache.get_at("k", at(190)).as_deref(), Some("v"), "young: served to all");
        assert!(cache.get_at("k", at(370)).is_none(), "the first request past the renewal age makes it again");
        for _ in 0..3 {
            assert_eq!(cache.get_at("k", at(380)).as_deref(), Some("v"), "the others are served meanwhile");
        }
        assert!(cache.get_at("k", at(420)).is_none(), "past the time to live: served to none");
        cache.insert("k".into(), cache.stamp(), "w".to_owned(), 1);
        assert_eq!(cache.get("k").as_deref(), Some("w"), "the new copy starts a new life");
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
