//! [`JoinStore`]: the events of a join side kept once, with the side's window holding only
//! [`JoinHandle`]s to them.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;

use serde::{Deserialize, Serialize};

use super::KeyHasher;

/// What the window of a side with a [`JoinStore`] holds for each of its events: the event's
/// number in the store and its key hash (`None`: a key with a NULL part, matching nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinHandle {
    seq: u64,
    key: Option<u64>,
}

impl JoinHandle {
    /// The key hash of the event (what a probe of the other side uses).
    #[inline]
    pub fn key(&self) -> Option<u64> {
        self.key
    }
}

/// The events of a join side whose window emits them first-in-first-out, each kept once
/// and found by the hash of its key: the window holds [`JoinHandle`]s, so an arriving event
/// is copied once (into the store, not also into the window) and a leaving one is handed
/// back by value, without comparing events. A probe visits the events of one key oldest
/// first, like [`super::JoinIndex::get`].
///
/// ```
/// use eventflux_runtime::join::{key_hash, JoinStore};
/// let mut store: JoinStore<(&str, i32)> = JoinStore::new();
/// let ibm = key_hash(&("IBM",));
/// let a = store.add(Some(ibm), 1, ("IBM", 10));
/// let b = store.add(None, 2, ("?", 0)); // a NULL key: kept, never probed
/// store.add(Some(ibm), 3, ("IBM", 30));
/// assert_eq!(store.event(b), Some(&("?", 0)));
/// assert_eq!(store.take(a), Some((1, ("IBM", 10))));
/// let hits: Vec<_> = store.get(ibm).map(|(ts, e)| (ts, e.1)).collect();
/// assert_eq!(hits, [(3, 30)]);
/// assert_eq!(store.len(), 2);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: Deserialize<'de>"))]
pub struct JoinStore<E> {
    #[serde(with = "crate::aggregate::pairs")]
    buckets: HashMap<u64, VecDeque<(u64, i64, E)>, BuildHasherDefault<KeyHasher>>,
    unkeyed: VecDeque<(u64, i64, E)>,
    next: u64,
    len: usize,
    #[serde(skip)]
    empty: usize,
}

impl<E> Default for JoinStore<E> {
    fn default() -> Self {
        JoinStore {
            buckets: HashMap::default(),
            unkeyed: VecDeque::new(),
            next: 0,
            len: 0,
            empty: 0,
        }
    }
}

impl<E> JoinStore<E> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `event` (timestamp `ts`, key hash `key`), which is entering the side's window;
    /// the window is to hold the handle returned.
    #[inline]
    pub fn add(&mut self, key: Option<u64>, ts: i64, event: E) -> JoinHandle {
        let seq = self.next;
        self.next += 1;
        let bucket = match key {
            Some(k) => {
                let bucket = self.buckets.entry(k).or_default();
                if bucket.is_empty() && bucket.capacity() > 0 {
                    self.empty = self.empty.saturating_sub(1);
                }
                bucket
            }
            None => &mut self.unkeyed,
        };
        bucket.push_back((seq, ts, event));
        self.len += 1;
        JoinHandle { seq, key }
    }

    /// The event of `handle` (searched newest first: the window emits an event as current
    /// right after it was added).
    #[inline]
    pub fn event(&self, handle: JoinHandle) -> Option<&E> {
        let bucket = match handle.key {
            Some(k) => self.buckets.get(&k)?,
            None => &self.unkeyed,
        };
        bucket
            .iter()
            .rev()
            .find(|(seq, _, _)| *seq == handle.seq)
            .map(|(_, _, e)| e)
    }

    /// Removes the event of `handle`, which left the side's window, returning it with its
    /// timestamp (searched oldest first: it is normally its key's oldest).
    #[inline]
    pub fn take(&mut self, handle: JoinHandle) -> Option<(i64, E)> {
        let bucket = match handle.key {
            Some(k) => self.buckets.get_mut(&k)?,
            None => &mut self.unkeyed,
        };
        let at = bucket.iter().position(|(seq, _, _)| *seq == handle.seq)?;
        let (_, ts, event) = bucket.remove(at)?;
        self.len -= 1;
        if handle.key.is_some() && bucket.is_empty() {
            self.empty += 1;
            if self.empty > 64 && self.empty * 2 > self.buckets.len() {
                self.buckets.retain(|_, b| !b.is_empty());
                self.empty = 0;
            }
        }
        Some((ts, event))
    }

    /// The events with key hash `key`, oldest first, with their timestamps.
    #[inline]
    pub fn get(&self, key: u64) -> impl Iterator<Item = (i64, &E)> {
        self.buckets
            .get(&key)
            .into_iter()
            .flat_map(|bucket| bucket.iter().map(|(_, t, e)| (*t, e)))
    }

    /// Number of events kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every event.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.unkeyed.clear();
        self.len = 0;
        self.empty = 0;
    }
}
