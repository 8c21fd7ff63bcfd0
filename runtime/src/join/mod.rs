//! Joins: the hash index that turns an equi-join probe into a lookup (DESIGN §4, issue 4).
//!
//! A stream-stream join matches an arriving event against the current contents of the other
//! side's window. When the join condition has equality conjuncts `a.x = b.y`, the generated
//! code keeps, next to each side's window, a [`JoinIndex`] from the side's key (`b.y`) to the
//! events the window holds, maintained from the window's emissions: `Current` adds the event,
//! `Expired` removes it. A probe with the arriving event's key (`a.x`) then visits only the
//! events that can match, in the order they entered the window, instead of every event of
//! the window. The generated code still checks the whole condition on each candidate.
//!
//! Keys are whatever the generated code computes (a [`crate::aggregate::Total`] tuple of the
//! key values); an event whose key has a NULL part never equals anything and is not indexed.
//!
//! ```
//! use eventflux_runtime::join::JoinIndex;
//! let mut index: JoinIndex<&str, (&str, i32)> = JoinIndex::new();
//! index.insert("IBM", 1, ("IBM", 10));
//! index.insert("MSFT", 2, ("MSFT", 20));
//! index.insert("IBM", 3, ("IBM", 30));
//! let hits: Vec<_> = index.get(&"IBM").map(|(_, e)| e.1).collect();
//! assert_eq!(hits, [10, 30]);
//! index.remove(&"IBM", &("IBM", 10));
//! assert_eq!(index.get(&"IBM").count(), 1);
//! assert_eq!(index.len(), 2);
//! ```

use std::collections::VecDeque;
use std::hash::Hash;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::FxBuildHasher;

/// A multimap from join key to the events of one join side with that key, each key's events
/// in insertion order (the order they entered the window).
///
/// Removal takes the first event equal to the leaving one, or, when none compares equal (an
/// event with a NaN attribute is not equal to itself), the oldest event of the key: for the
/// first-in-first-out windows the index is used with, the leaving event of a key is always
/// its oldest. Serializes as a list of `(key, events)` pairs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, E: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, E: Deserialize<'de>"
))]
pub struct JoinIndex<K, E> {
    #[serde(with = "crate::aggregate::pairs")]
    buckets: IndexMap<K, VecDeque<(i64, E)>, FxBuildHasher>,
    len: usize,
}

impl<K, E> Default for JoinIndex<K, E> {
    fn default() -> Self {
        JoinIndex {
            buckets: IndexMap::default(),
            len: 0,
        }
    }
}

impl<K: Hash + Eq, E> JoinIndex<K, E> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// `event` (timestamp `ts`) with key `key` entered the side's window.
    #[inline]
    pub fn insert(&mut self, key: K, ts: i64, event: E) {
        self.buckets.entry(key).or_default().push_back((ts, event));
        self.len += 1;
    }

    /// `event` with key `key` left the side's window; returns the entry removed, if the key
    /// had any.
    #[inline]
    pub fn remove(&mut self, key: &K, event: &E) -> Option<(i64, E)>
    where
        E: PartialEq,
    {
        let i = self.buckets.get_index_of(key)?;
        let bucket = &mut self.buckets[i];
        let at = bucket.iter().position(|(_, e)| e == event).unwrap_or(0);
        let removed = bucket.remove(at);
        if bucket.is_empty() {
            // The order of keys does not matter (lookups are by key): O(1) removal.
            self.buckets.swap_remove_index(i);
        }
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// The events with key `key`, oldest first, with their timestamps.
    #[inline]
    pub fn get<'a>(&'a self, key: &K) -> impl Iterator<Item = (i64, &'a E)> + 'a {
        self.buckets
            .get(key)
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

    /// Number of distinct keys.
    pub fn keys(&self) -> usize {
        self.buckets.len()
    }

    /// Drops every event.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests;
