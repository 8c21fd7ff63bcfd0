//! [`JoinPair`]: the events of both sides of a two-stream equi-join, kept once and found by
//! key once per arrival.

use std::collections::VecDeque;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

/// What a side's window holds for each of its events in a [`JoinPair`]: the event's number
/// and the place of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairHandle {
    seq: u64,
    bucket: u32,
}

/// The events of one side with one key, oldest first: `(seq, ts, event)`.
type Events<E> = VecDeque<(u64, i64, E)>;

/// The events of both sides with one key (`key`: `None` for a recycled bucket).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Bucket<A, B> {
    key: Option<u64>,
    left: Events<A>,
    right: Events<B>,
}

impl<A, B> Bucket<A, B> {
    fn is_idle(&self) -> bool {
        self.left.is_empty() && self.right.is_empty()
    }
}

/// The place of the events whose key has a NULL part: kept, never probed.
const UNKEYED: u32 = u32::MAX;

/// The events of both sides of a two-stream equi-join whose windows emit them
/// first-in-first-out (`length`, `time`), each side's by value, as a [`super::JoinStore`]
/// keeps one side's. Both sides' events with one key share a bucket, so an arrival finds
/// its key once ([`JoinPair::bucket`]): the same place gives the other side's events to
/// probe and takes the arriving one; the windows hold [`PairHandle`]s, with which a leaving
/// event is taken without hashing. Idle buckets are recycled once they are more than half.
///
/// ```
/// use eventflux_runtime::join::{key_hash, JoinPair};
/// let mut pair: JoinPair<(&str, i32), (&str, f64)> = JoinPair::new();
/// let ibm = pair.bucket(Some(key_hash(&("IBM",))));
/// let t = pair.add_left(ibm, 1, ("IBM", 10));
/// let q = pair.bucket(Some(key_hash(&("IBM",))));
/// let seen: Vec<_> = pair.left().get(q).map(|(ts, e)| (ts, e.1)).collect();
/// assert_eq!(seen, [(1, 10)]);
/// pair.add_right(q, 2, ("IBM", 9.5));
/// assert_eq!(pair.take_left(t), Some((1, ("IBM", 10))));
/// assert_eq!(pair.right().get(ibm).count(), 1);
/// let null = pair.bucket(None); // a NULL key: kept, matching nothing
/// pair.add_left(null, 3, ("?", 0));
/// assert_eq!(pair.left().get(null).count(), 0);
/// assert_eq!(pair.len(), 2);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(
    bound(
        serialize = "A: Serialize, B: Serialize",
        deserialize = "A: Deserialize<'de>, B: Deserialize<'de>"
    ),
    from = "Stored<A, B>"
)]
pub struct JoinPair<A, B> {
    buckets: Vec<Bucket<A, B>>,
    /// The events with a NULL key part, per side.
    unkeyed: Bucket<A, B>,
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

/// The serialized form of a [`JoinPair`] (the buckets' places are in the windows' handles).
#[derive(Deserialize)]
struct Stored<A, B> {
    buckets: Vec<Bucket<A, B>>,
    unkeyed: Bucket<A, B>,
    next: u64,
    len: usize,
}

impl<A, B> From<Stored<A, B>> for JoinPair<A, B> {
    fn from(stored: Stored<A, B>) -> Self {
        let mut pair = JoinPair {
            buckets: stored.buckets,
            unkeyed: stored.unkeyed,
            next: stored.next,
            len: stored.len,
            index: HashTable::new(),
            idle: 0,
            free: Vec::new(),
        };
        for (at, bucket) in pair.buckets.iter().enumerate() {
            let at = at as u32;
            match bucket.key {
                Some(k) => {
                    pair.index.insert_unique(k, (k, at), |&(k, _)| k);
                    pair.idle += usize::from(bucket.is_idle());
                }
                None => pair.free.push(at),
            }
        }
        pair
    }
}

impl<A, B> Default for JoinPair<A, B> {
    fn default() -> Self {
        JoinPair {
            buckets: Vec::new(),
            unkeyed: Bucket {
                key: None,
                left: VecDeque::new(),
                right: VecDeque::new(),
            },
            next: 0,
            len: 0,
            index: HashTable::new(),
            idle: 0,
            free: Vec::new(),
        }
    }
}

/// One side of a [`JoinPair`], read-only: its events by bucket.
pub struct PairSide<'a, A, B, E> {
    pair: &'a JoinPair<A, B>,
    events: fn(&Bucket<A, B>) -> &Events<E>,
}

impl<'a, A: 'a, B: 'a, E: 'a> PairSide<'a, A, B, E> {
    /// The side's events in `bucket` (from [`JoinPair::bucket`]), oldest first, with their
    /// timestamps; none for the bucket of NULL keys, which match nothing.
    #[inline]
    pub fn get(&self, bucket: u32) -> impl Iterator<Item = (i64, &'a E)> + 'a {
        let events = self.events;
        self.pair
            .buckets
            .get(bucket as usize)
            .into_iter()
            .flat_map(move |b| events(b).iter().map(|(_, t, e)| (*t, e)))
    }
}

impl<A, B> JoinPair<A, B> {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bucket of key hash `key` (`None`: a key with a NULL part), made (or recycled)
    /// when the key has none: where an arriving event probes the other side and is kept.
    #[inline]
    pub fn bucket(&mut self, key: Option<u64>) -> u32 {
        let Some(key) = key else {
            return UNKEYED;
        };
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
                self.buckets[at as usize].key = Some(key);
                at
            }
            None => {
                // More than 2^32 - 1 keys in two windows do not fit in memory.
                let at = u32::try_from(self.buckets.len()).unwrap_or(UNKEYED - 1);
                self.buckets.push(Bucket {
                    key: Some(key),
                    left: VecDeque::new(),
                    right: VecDeque::new(),
                });
                at
            }
        };
        self.index.insert_unique(key, (key, at), |&(k, _)| k);
        self.idle += 1;
        at
    }

    /// The bucket at `at`, mutable; the unkeyed events for [`UNKEYED`].
    #[inline]
    fn at_mut(&mut self, at: u32) -> Option<&mut Bucket<A, B>> {
        match at {
            UNKEYED => Some(&mut self.unkeyed),
            at => self.buckets.get_mut(at as usize),
        }
    }

    /// The left side (side 0).
    #[inline]
    pub fn left(&self) -> PairSide<'_, A, B, A> {
        PairSide {
            pair: self,
            events: |b| &b.left,
        }
    }

    /// The right side (side 1).
    #[inline]
    pub fn right(&self) -> PairSide<'_, A, B, B> {
        PairSide {
            pair: self,
            events: |b| &b.right,
        }
    }

    /// Keeps `event` of the left side (at `ts`) in `bucket`; its window is to hold the
    /// handle returned.
    #[inline]
    pub fn add_left(&mut self, bucket: u32, ts: i64, event: A) -> PairHandle {
        self.add(bucket, |b| &mut b.left, ts, event)
    }

    /// Keeps `event` of the right side (at `ts`) in `bucket`.
    #[inline]
    pub fn add_right(&mut self, bucket: u32, ts: i64, event: B) -> PairHandle {
        self.add(bucket, |b| &mut b.right, ts, event)
    }

    /// Takes the left side's event of `handle`, which left its window, with its timestamp.
    #[inline]
    pub fn take_left(&mut self, handle: PairHandle) -> Option<(i64, A)> {
        self.take(handle, |b| &mut b.left)
    }

    /// Takes the right side's event of `handle`.
    #[inline]
    pub fn take_right(&mut self, handle: PairHandle) -> Option<(i64, B)> {
        self.take(handle, |b| &mut b.right)
    }

    #[inline]
    fn add<E>(
        &mut self,
        bucket: u32,
        side: fn(&mut Bucket<A, B>) -> &mut Events<E>,
        ts: i64,
        event: E,
    ) -> PairHandle {
        let seq = self.next;
        let Some(b) = self.at_mut(bucket) else {
            // Not a bucket of this pair: keep the event with the NULL keys (never probed).
            return self.add(UNKEYED, side, ts, event);
        };
        let was_idle = bucket != UNKEYED && b.is_idle();
        side(b).push_back((seq, ts, event));
        self.next += 1;
        self.len += 1;
        if was_idle {
            self.idle -= 1;
        }
        PairHandle { seq, bucket }
    }

    #[inline]
    fn take<E>(
        &mut self,
        handle: PairHandle,
        side: fn(&mut Bucket<A, B>) -> &mut Events<E>,
    ) -> Option<(i64, E)> {
        let b = self.at_mut(handle.bucket)?;
        let events = side(b);
        let (_, ts, event) = if events.front().is_some_and(|e| e.0 == handle.seq) {
            events.pop_front()?
        } else {
            let at = events.iter().position(|e| e.0 == handle.seq)?;
            events.remove(at)?
        };
        let idle = handle.bucket != UNKEYED && b.is_idle();
        self.len -= 1;
        if idle {
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
            if bucket.is_idle() {
                bucket.key = None;
                free.push(at);
                false
            } else {
                true
            }
        });
        self.idle = 0;
    }

    /// Number of events kept, both sides.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
