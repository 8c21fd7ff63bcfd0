//! Joins: the hash index that turns an equi-join probe into a lookup (docs/semantics.md#joins, issue 4).
//!
//! A stream-stream join matches an arriving event against the current contents of the other
//! side's window. When the join condition has equality conjuncts `a.x = b.y`, the generated
//! code keeps, next to each side's window, a [`JoinIndex`] from the side's key (`b.y`) to the
//! events the window holds, maintained from the window's emissions: `Current` adds the event,
//! `Expired` removes it. A probe with the arriving event's key (`a.x`) then visits only the
//! events that can match, in the order they entered the window, instead of every event of
//! the window. The generated code still checks the whole condition on each candidate.
//!
//! For the windows that emit each event as current when it arrives and as expired when it
//! leaves, oldest first (`length`, `time`), a [`JoinStore`] holds the side's events once and
//! the window only [`JoinHandle`]s: no second copy of each event, and no comparison of
//! events to find the leaving one.
//!
//! The index is keyed by the [`key_hash`] of the key values (borrowed: computing a key
//! clones nothing); an event whose key has a NULL part never equals anything and is not
//! indexed.
//!
//! ```
//! use eventflux_runtime::join::{key_hash, JoinIndex};
//! use std::sync::Arc;
//! let mut index: JoinIndex<(Arc<str>, i32)> = JoinIndex::new();
//! for (ts, (sym, v)) in [(1, ("IBM", 10)), (2, ("MSFT", 20)), (3, ("IBM", 30))] {
//!     index.insert(key_hash(&(sym,)), ts, (Arc::from(sym), v));
//! }
//! // A probe hashes its own representation of the key.
//! let probe: Arc<str> = Arc::from("IBM");
//! let hits: Vec<_> = index.get(key_hash(&(&probe,))).map(|(_, e)| e.1).collect();
//! assert_eq!(hits, [10, 30]);
//! index.remove(key_hash(&("IBM",)), &(Arc::from("IBM"), 10));
//! assert_eq!(index.get(key_hash(&("IBM",))).count(), 1);
//! assert_eq!((index.len(), index.keys()), (2, 2));
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::aggregate::TotalOrd;

mod buckets;
mod pair;
mod store;
pub use pair::{JoinPair, PairHandle, PairSide};
pub use store::{JoinHandle, JoinStore};

/// The hash of a join key: equal keys hash equal whatever their representation (a `&str`
/// and an `Arc<str>`, a borrowed and an owned tuple), since [`TotalOrd::hash_total`] hashes
/// the values. Deterministic across runs and builds, so an index restored from a snapshot
/// finds its keys. Floats should be normalized first (`x + 0.0` turns `-0.0` into `0.0`).
#[inline]
pub fn key_hash<K: TotalOrd + ?Sized>(key: &K) -> u64 {
    let mut h = KeyHash::default();
    key.hash_total(&mut h);
    h.finish()
}

/// The hasher of [`key_hash`], also the `BuildHasher` state of table keys: the group maps'
/// Fx hasher (string tails read in place, high bits rotated into the low bits that hash
/// tables index by), so join, table and group keys hash alike.
pub type KeyHash = crate::aggregate::FxHasher;

/// Passes a precomputed [`key_hash`] through.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A multimap from join-key hash to the events of one join side with that key, each key's
/// events in insertion order (the order they entered the window).
///
/// The index is keyed by [`key_hash`] alone: two keys whose hashes collide share a bucket,
/// which is harmless because the generated code checks the whole join condition on every
/// candidate. Removal takes the first event equal to the leaving one, or, when none
/// compares equal (an event with a NaN attribute is not equal to itself), the oldest event
/// of the key: for the first-in-first-out windows the index is used with, the leaving event
/// of a key is always its oldest. Buckets emptied by removals are kept for reuse (no
/// allocation per event when keys come and go) and swept once they outnumber the others.
/// Serializes as a list of `(hash, events)` pairs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: Deserialize<'de>"))]
pub struct JoinIndex<E> {
    #[serde(with = "crate::aggregate::pairs")]
    buckets: HashMap<u64, VecDeque<(i64, E)>, BuildHasherDefault<KeyHasher>>,
    len: usize,
    #[serde(skip)]
    empty: usize,
}

impl<E> Default for JoinIndex<E> {
    fn default() -> Self {
        JoinIndex {
            buckets: HashMap::default(),
            len: 0,
            empty: 0,
        }
    }
}

impl<E> JoinIndex<E> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// `event` (timestamp `ts`) with key hash `key` entered the side's window.
    #[inline]
    pub fn insert(&mut self, key: u64, ts: i64, event: E) {
        let bucket = self.buckets.entry(key).or_default();
        if bucket.is_empty() && bucket.capacity() > 0 {
            self.empty = self.empty.saturating_sub(1);
        }
        bucket.push_back((ts, event));
        self.len += 1;
    }

    /// `event` with key hash `key` left the side's window; returns the entry removed, if the
    /// key had any.
    #[inline]
    pub fn remove(&mut self, key: u64, event: &E) -> Option<(i64, E)>
    where
        E: PartialEq,
    {
        let bucket = self.buckets.get_mut(&key)?;
        let at = bucket.iter().position(|(_, e)| e == event).unwrap_or(0);
        let removed = bucket.remove(at)?;
        self.len -= 1;
        if bucket.is_empty() {
            self.empty += 1;
            if self.empty > 64 && self.empty * 2 > self.buckets.len() {
                self.buckets.retain(|_, b| !b.is_empty());
                self.empty = 0;
            }
        }
        Some(removed)
    }

    /// The events with key hash `key`, oldest first, with their timestamps.
    #[inline]
    pub fn get(&self, key: u64) -> impl Iterator<Item = (i64, &E)> {
        self.buckets
            .get(&key)
            .into_iter()
            .flat_map(|bucket| bucket.iter().map(|(t, e)| (*t, e)))
    }

    /// Number of events indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of distinct keys with events.
    pub fn keys(&self) -> usize {
        self.buckets.values().filter(|b| !b.is_empty()).count()
    }

    /// Drops every event.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.len = 0;
        self.empty = 0;
    }
}

crate::state::persist::persist_fields!(JoinIndex<E> { buckets, len }; empty);

#[cfg(test)]
mod tests;
