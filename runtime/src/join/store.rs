//! [`JoinStore`]: the events of a join side kept once, with the side's window holding only
//! [`JoinHandle`]s to them.

use std::collections::VecDeque;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

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

/// The events of one key, oldest first: `(seq, ts, event)`.
type Events<E> = VecDeque<(u64, i64, E)>;

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
#[serde(
    bound(serialize = "E: Serialize", deserialize = "E: Deserialize<'de>"),
    from = "Stored<E>"
)]
pub struct JoinStore<E> {
    /// Each bucket's key hash and events (`None`: a recycled bucket).
    buckets: Vec<(Option<u64>, Events<E>)>,
    /// The events with a NULL key part.
    unkeyed: Events<E>,
    next: u64,
    len: usize,
    /// `(key hash, bucket)` of every bucket in use.
    #[serde(skip)]
    index: HashTable<(u64, u32)>,
    /// Buckets in use without events.
    #[serde(skip)]
    idle: usize,
    /// Recycled buckets.
    #[serde(skip)]
    free: Vec<u32>,
}

/// The serialized form of a [`JoinStore`]: the buckets (their places are in the handles the
/// windows hold), the rest rebuilt.
#[derive(Deserialize)]
struct Stored<E> {
    buckets: Vec<(Option<u64>, Events<E>)>,
    unkeyed: Events<E>,
    next: u64,
    len: usize,
}

impl<E> From<Stored<E>> for JoinStore<E> {
    fn from(stored: Stored<E>) -> Self {
        let mut store = JoinStore {
            buckets: stored.buckets,
            unkeyed: stored.unkeyed,
            next: stored.next,
            len: stored.len,
            index: HashTable::new(),
            idle: 0,
            free: Vec::new(),
        };
        for (at, (key, events)) in store.buckets.iter().enumerate() {
            let at = at as u32;
            match key {
                Some(k) => {
                    store.index.insert_unique(*k, (*k, at), |&(k, _)| k);
                    store.idle += usize::from(events.is_empty());
                }
                None => store.free.push(at),
            }
        }
        store
    }
}

impl<E> Default for JoinStore<E> {
    fn default() -> Self {
        JoinStore {
            buckets: Vec::new(),
            unkeyed: VecDeque::new(),
            next: 0,
            len: 0,
            index: HashTable::new(),
            idle: 0,
            free: Vec::new(),
        }
    }
}

/// The bucket place of the handles of events with a NULL key part (kept in `unkeyed`).
const UNKEYED: u32 = u32::MAX;

impl<E> JoinStore<E> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bucket of key hash `key`, made (or recycled) when the key has none.
    #[inline]
    fn bucket_of(&mut self, key: u64) -> u32 {
        if let Some(&(_, at)) = self.index.find(key, |&(k, _)| k == key) {
            return at;
        }
        self.new_bucket(key)
    }

    /// A bucket for key hash `key`, which has none.
    #[inline(never)]
    fn new_bucket(&mut self, key: u64) -> u32 {
        let at = match self.free.pop() {
            Some(at) => {
                self.buckets[at as usize].0 = Some(key);
                at
            }
            None => {
                // More than 2^32 - 1 keys in a window's events do not fit in memory.
                let at = u32::try_from(self.buckets.len()).unwrap_or(UNKEYED - 1);
                self.buckets.push((Some(key), VecDeque::new()));
                at
            }
        };
        self.index.insert_unique(key, (key, at), |&(k, _)| k);
        self.idle += 1;
        at
    }

    /// The events of `handle`'s key.
    #[inline]
    fn events_of(&self, handle: JoinHandle) -> Option<&Events<E>> {
        match handle.bucket {
            UNKEYED => Some(&self.unkeyed),
            at => self.buckets.get(at as usize).map(|(_, events)| events),
        }
    }

    /// Keeps `event` (timestamp `ts`, key hash `key`), which is entering the side's window;
    /// the window is to hold the handle returned.
    #[inline]
    pub fn add(&mut self, key: Option<u64>, ts: i64, event: E) -> JoinHandle {
        let seq = self.next;
        self.next += 1;
        self.len += 1;
        let bucket = match key {
            Some(k) => {
                let at = self.bucket_of(k);
                let events = &mut self.buckets[at as usize].1;
                if events.is_empty() {
                    self.idle -= 1;
                }
                events.push_back((seq, ts, event));
                at
            }
            None => {
                self.unkeyed.push_back((seq, ts, event));
                UNKEYED
            }
        };
        JoinHandle { seq, key, bucket }
    }

    /// The event of `handle` (searched newest first: the window emits an event as current
    /// right after it was added).
    #[inline]
    pub fn event(&self, handle: JoinHandle) -> Option<&E> {
        self.events_of(handle)?
            .iter()
            .rev()
            .find(|(seq, _, _)| *seq == handle.seq)
            .map(|(_, _, e)| e)
    }

    /// Removes the event of `handle`, which left the side's window, returning it with its
    /// timestamp (normally its key's oldest).
    #[inline]
    pub fn take(&mut self, handle: JoinHandle) -> Option<(i64, E)> {
        let events = match handle.bucket {
            UNKEYED => &mut self.unkeyed,
            at => &mut self.buckets.get_mut(at as usize)?.1,
        };
        let (_, ts, event) = if events.front().is_some_and(|(seq, _, _)| *seq == handle.seq) {
            events.pop_front()?
        } else {
            let at = events.iter().position(|(seq, _, _)| *seq == handle.seq)?;
            events.remove(at)?
        };
        self.len -= 1;
        if handle.bucket != UNKEYED && events.is_empty() {
            self.idle += 1;
            if self.idle > 64 && self.idle * 2 > self.index.len() {
                self.recycle();
            }
        }
        Some((ts, event))
    }

    /// Hands the buckets without events back for other keys.
    #[inline(never)]
    fn recycle(&mut self) {
        let buckets = &mut self.buckets;
        let free = &mut self.free;
        self.index.retain(|&mut (_, at)| {
            let bucket = &mut buckets[at as usize];
            if bucket.1.is_empty() {
                bucket.0 = None;
                free.push(at);
                false
            } else {
                true
            }
        });
        self.idle = 0;
    }

    /// The events with key hash `key`, oldest first, with their timestamps.
    #[inline]
    pub fn get(&self, key: u64) -> impl Iterator<Item = (i64, &E)> {
        self.index
            .find(key, |&(k, _)| k == key)
            .map(|&(_, at)| &self.buckets[at as usize].1)
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
