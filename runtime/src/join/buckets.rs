//! [`Buckets`]: per-key places found by key hash, kept by the join stores.

use std::collections::VecDeque;

use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a bucket holds: idle when it has no event.
pub(crate) trait Bucket: Default {
    /// Whether the bucket holds no event.
    fn is_idle(&self) -> bool;
}

/// The events of one side with one key, oldest first: `(seq, ts, event)`.
pub(crate) type Events<E> = VecDeque<(u64, i64, E)>;

impl<E> Bucket for Events<E> {
    fn is_idle(&self) -> bool {
        self.is_empty()
    }
}

/// The place of the events whose key has a NULL part (kept apart, never probed).
pub(crate) const UNKEYED: u32 = u32::MAX;

/// Takes event `seq` out of `events`, with its timestamp: normally the oldest, which leaves
/// first.
#[inline]
pub(crate) fn take_seq<E>(events: &mut Events<E>, seq: u64) -> Option<(i64, E)> {
    let (_, ts, event) = if events.front().is_some_and(|e| e.0 == seq) {
        events.pop_front()?
    } else {
        let at = events.iter().position(|e| e.0 == seq)?;
        events.remove(at)?
    };
    Some((ts, event))
}

/// Buckets of `T`, one per key hash, found through a hash table; a bucket's place (`u32`)
/// stays valid while it holds events, so a window's handle can name it and reach it without
/// hashing. A key whose bucket went idle keeps it (a window often holds a key's events one
/// at a time); idle buckets are recycled for other keys once they are more than half of
/// them. Serializes as its buckets with their keys (the places are in the handles).
#[derive(Clone, Debug)]
pub(crate) struct Buckets<T> {
    /// Each bucket with its key hash (`None`: recycled).
    slots: Vec<(Option<u64>, T)>,
    /// `(key hash, place)` of every bucket in use.
    index: HashTable<(u64, u32)>,
    /// Buckets in use that are idle.
    idle: usize,
    /// Recycled places.
    free: Vec<u32>,
}

impl<T> Default for Buckets<T> {
    fn default() -> Self {
        Buckets {
            slots: Vec::new(),
            index: HashTable::new(),
            idle: 0,
            free: Vec::new(),
        }
    }
}

impl<T: Bucket> Buckets<T> {
    /// The place of key hash `key`'s bucket, if it has one.
    #[inline]
    pub fn find(&self, key: u64) -> Option<u32> {
        self.index.find(key, |&(k, _)| k == key).map(|&(_, at)| at)
    }

    /// The place of key hash `key`'s bucket, made (or recycled) when it has none.
    #[inline]
    pub fn place(&mut self, key: u64) -> u32 {
        match self.find(key) {
            Some(at) => at,
            None => self.make(key),
        }
    }

    /// A bucket for key hash `key`, which has none.
    #[inline(never)]
    fn make(&mut self, key: u64) -> u32 {
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize].0 = Some(key);
                at
            }
            None => {
                // More than 2^32 - 1 keys in a join's windows do not fit in memory.
                let at = u32::try_from(self.slots.len()).unwrap_or(u32::MAX - 1);
                self.slots.push((Some(key), T::default()));
                at
            }
        };
        self.index.insert_unique(key, (key, at), |&(k, _)| k);
        self.idle += 1;
        at
    }

    /// The bucket at `at`.
    #[inline]
    pub fn get(&self, at: u32) -> Option<&T> {
        self.slots.get(at as usize).map(|(_, b)| b)
    }

    /// The bucket at `at`, to add an event to (so it is no longer idle).
    #[inline]
    pub fn filling(&mut self, at: u32) -> Option<&mut T> {
        let (_, bucket) = self.slots.get_mut(at as usize)?;
        if bucket.is_idle() {
            self.idle -= 1;
        }
        Some(bucket)
    }

    /// The bucket at `at`, to take an event from; [`Buckets::settle`] it after.
    #[inline]
    pub fn get_mut(&mut self, at: u32) -> Option<&mut T> {
        self.slots.get_mut(at as usize).map(|(_, b)| b)
    }

    /// Counts the bucket at `at` idle if an event taken from it left it so (recycling the
    /// idle buckets once they are more than half).
    #[inline]
    pub fn settle(&mut self, at: u32) {
        if self.get(at).is_some_and(Bucket::is_idle) {
            self.idle += 1;
            if self.idle > 64 && self.idle * 2 > self.index.len() {
                self.recycle();
            }
        }
    }

    /// Hands the idle buckets back for other keys.
    #[inline(never)]
    fn recycle(&mut self) {
        let slots = &mut self.slots;
        let free = &mut self.free;
        self.index.retain(|&mut (_, at)| {
            let (key, bucket) = &mut slots[at as usize];
            if bucket.is_idle() {
                *key = None;
                free.push(at);
                false
            } else {
                true
            }
        });
        self.idle = 0;
    }
}

impl<T: Serialize> Serialize for Buckets<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.slots.serialize(serializer)
    }
}

impl<'de, T: Bucket + Deserialize<'de>> Deserialize<'de> for Buckets<T> {
    /// The buckets in their places; the hash table and counts rebuilt.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let slots = Vec::<(Option<u64>, T)>::deserialize(deserializer)?;
        Ok(Buckets::from_slots(slots))
    }
}

impl<T: Bucket> Buckets<T> {
    /// The buckets in their places, with the hash table and counts rebuilt.
    fn from_slots(slots: Vec<(Option<u64>, T)>) -> Self {
        let mut buckets = Buckets {
            slots,
            ..Buckets::default()
        };
        for (at, (key, bucket)) in buckets.slots.iter().enumerate() {
            let at = at as u32;
            match key {
                Some(k) => {
                    buckets.index.insert_unique(*k, (*k, at), |&(k, _)| k);
                    buckets.idle += usize::from(bucket.is_idle());
                }
                None => buckets.free.push(at),
            }
        }
        buckets
    }
}

impl<T: crate::state::persist::Save> crate::state::persist::Save for Buckets<T> {
    /// As its serde form: the buckets with their key hashes, in their places.
    fn save(&self, w: &mut crate::state::persist::Writer) {
        crate::state::persist::Save::save(&self.slots, w);
    }
}

impl<T: Bucket + crate::state::persist::Load> crate::state::persist::Load for Buckets<T> {
    /// The buckets in their places; the hash table and counts rebuilt.
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        let slots: Vec<(Option<u64>, T)> = crate::state::persist::Load::load(r)?;
        Ok(Buckets::from_slots(slots))
    }
}
