//! [`JoinStore`]: the events of a join side kept once, with the side's window holding only
//! [`JoinHandle`]s to them.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::buckets::{take_seq, Buckets, Events, UNKEYED};

/// What the window of a side with a [`JoinStore`] holds for each of its events: the event's
/// number in the store, its key hash (`None`: a key with a NULL part, matching nothing) and
/// the place of its key's events in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinHandle {
    seq: u64,
    key: Option<u64>,
    bucket: u32,
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
/// The events of each key are a bucket in a `Vec`, found by key hash through a hash table;
/// a handle names its bucket, so reading or taking the event of a handle hashes nothing.
/// A key whose events all left keeps its bucket (a window often holds a key's events one at
/// a time); idle buckets are recycled once they are more than half of them.
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
    buckets: Buckets<Events<E>>,
    /// The events with a NULL key part.
    unkeyed: Events<E>,
    next: u64,
    len: usize,
}

impl<E> Default for JoinStore<E> {
    fn default() -> Self {
        JoinStore {
            buckets: Buckets::default(),
            unkeyed: VecDeque::new(),
            next: 0,
            len: 0,
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
        self.len += 1;
        let entry = (seq, ts, event);
        // A NULL key (or, never, a place not from `place`): kept apart, never probed.
        let at = key.map_or(UNKEYED, |k| self.buckets.place(k));
        let kept = (at != UNKEYED).then(|| self.buckets.filling(at)).flatten();
        let bucket = match kept {
            Some(events) => {
                events.push_back(entry);
                at
            }
            None => {
                self.unkeyed.push_back(entry);
                UNKEYED
            }
        };
        JoinHandle { seq, key, bucket }
    }

    /// The event of `handle` (searched newest first: the window emits an event as current
    /// right after it was added).
    #[inline]
    pub fn event(&self, handle: JoinHandle) -> Option<&E> {
        let events = match handle.bucket {
            UNKEYED => &self.unkeyed,
            at => self.buckets.get(at)?,
        };
        events
            .iter()
            .rev()
            .find(|(seq, _, _)| *seq == handle.seq)
            .map(|(_, _, e)| e)
    }

    /// Removes the event of `handle`, which left the side's window, returning it with its
    /// timestamp (normally its key's oldest).
    #[inline]
    pub fn take(&mut self, handle: JoinHandle) -> Option<(i64, E)> {
        let taken = match handle.bucket {
            UNKEYED => take_seq(&mut self.unkeyed, handle.seq),
            at => {
                let taken = take_seq(self.buckets.get_mut(at)?, handle.seq);
                self.buckets.settle(at);
                taken
            }
        };
        if taken.is_some() {
            self.len -= 1;
        }
        taken
    }

    /// The events with key hash `key`, oldest first, with their timestamps.
    #[inline]
    pub fn get(&self, key: u64) -> impl Iterator<Item = (i64, &E)> {
        self.buckets
            .find(key)
            .and_then(|at| self.buckets.get(at))
            .into_iter()
            .flat_map(|events| events.iter().map(|(_, t, e)| (*t, e)))
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
        *self = JoinStore {
            next: self.next,
            ..JoinStore::default()
        };
    }
}

crate::state::persist::persist_fields!(JoinHandle { seq, key, bucket });
crate::state::persist::persist_fields!(JoinStore<E> { buckets, unkeyed, next, len });
