//! [`JoinPair`]: the events of both sides of a two-stream equi-join, kept once and found by
//! key once per arrival.

use serde::{Deserialize, Serialize};

use super::buckets::{take_seq, Bucket, Buckets, Events, UNKEYED};

/// What a side's window holds for each of its events in a [`JoinPair`]: the event's number
/// and the place of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairHandle {
    seq: u64,
    bucket: u32,
}

/// The events of both sides with one key.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Sides<A, B> {
    left: Events<A>,
    right: Events<B>,
}

impl<A, B> Default for Sides<A, B> {
    fn default() -> Self {
        Sides {
            left: Events::new(),
            right: Events::new(),
        }
    }
}

impl<A, B> Bucket for Sides<A, B> {
    fn is_idle(&self) -> bool {
        self.left.is_empty() && self.right.is_empty()
    }
}

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
#[serde(bound(
    serialize = "A: Serialize, B: Serialize",
    deserialize = "A: Deserialize<'de>, B: Deserialize<'de>"
))]
pub struct JoinPair<A, B> {
    buckets: Buckets<Sides<A, B>>,
    /// The events with a NULL key part.
    unkeyed: Sides<A, B>,
    next: u64,
    len: usize,
}

impl<A, B> Default for JoinPair<A, B> {
    fn default() -> Self {
        JoinPair {
            buckets: Buckets::default(),
            unkeyed: Sides::default(),
            next: 0,
            len: 0,
        }
    }
}

/// One side of a [`JoinPair`], read-only: its events by bucket.
pub struct PairSide<'a, A, B, E> {
    buckets: &'a Buckets<Sides<A, B>>,
    events: fn(&Sides<A, B>) -> &Events<E>,
}

impl<'a, A: 'a, B: 'a, E: 'a> PairSide<'a, A, B, E> {
    /// The side's events in `bucket` (from [`JoinPair::bucket`]), oldest first, with their
    /// timestamps; none for the bucket of NULL keys, which match nothing.
    #[inline]
    pub fn get(&self, bucket: u32) -> impl Iterator<Item = (i64, &'a E)> + 'a {
        let events = self.events;
        self.buckets
            .get(bucket)
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
        key.map_or(UNKEYED, |k| self.buckets.place(k))
    }

    /// The left side (side 0).
    #[inline]
    pub fn left(&self) -> PairSide<'_, A, B, A> {
        PairSide {
            buckets: &self.buckets,
            events: |b| &b.left,
        }
    }

    /// The right side (side 1).
    #[inline]
    pub fn right(&self) -> PairSide<'_, A, B, B> {
        PairSide {
            buckets: &self.buckets,
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
        side: fn(&mut Sides<A, B>) -> &mut Events<E>,
        ts: i64,
        event: E,
    ) -> PairHandle {
        let seq = self.next;
        self.next += 1;
        self.len += 1;
        let entry = (seq, ts, event);
        // A NULL key (or, never, a place not from `bucket`): kept apart, never probed.
        let kept = (bucket != UNKEYED)
            .then(|| self.buckets.filling(bucket))
            .flatten();
        let bucket = match kept {
            Some(b) => {
                side(b).push_back(entry);
                bucket
            }
            None => {
                side(&mut self.unkeyed).push_back(entry);
                UNKEYED
            }
        };
        PairHandle { seq, bucket }
    }

    #[inline]
    fn take<E>(
        &mut self,
        handle: PairHandle,
        side: fn(&mut Sides<A, B>) -> &mut Events<E>,
    ) -> Option<(i64, E)> {
        let taken = match handle.bucket {
            UNKEYED => take_seq(side(&mut self.unkeyed), handle.seq),
            at => {
                let taken = take_seq(side(self.buckets.get_mut(at)?), handle.seq);
                self.buckets.settle(at);
                taken
            }
        };
        if taken.is_some() {
            self.len -= 1;
        }
        taken
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

crate::state::persist::persist_fields!(PairHandle { seq, bucket });
crate::state::persist::persist_fields!(Sides<A, B> { left, right });
crate::state::persist::persist_fields!(JoinPair<A, B> { buckets, unkeyed, next, len });
