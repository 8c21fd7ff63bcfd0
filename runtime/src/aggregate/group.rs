//! The group-by building block: per-group state kept in the order groups first appeared.

use std::hash::{BuildHasherDefault, Hash, Hasher};

use indexmap::IndexMap;

use super::key::{KeyPart, Probe};
use super::total::{Total, TotalOrd};
use serde::{Deserialize, Serialize};

/// A fast, deterministic (unseeded) hasher for group keys and window keys: the Fx hash used
/// by rustc. Deterministic hashing keeps snapshots and runs reproducible; keys come from the
/// app's own events, where hash flooding is not a concern worth SipHash's cost per event.
#[derive(Clone, Copy, Debug, Default)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

/// The little-endian word of `bytes` (at most 8), zero-padded, read with fixed-size loads: a
/// variable-length copy into a buffer costs a `memcpy` call and a store-forwarding stall per
/// key (about 30 ns for a short symbol).
#[inline]
pub(crate) fn tail_word(bytes: &[u8]) -> u64 {
    let mut word = 0u64;
    let mut shift = 0;
    let mut rest = bytes;
    if let Some((four, tail)) = rest.split_first_chunk::<4>() {
        word = u64::from(u32::from_le_bytes(*four));
        shift = 32;
        rest = tail;
    }
    if let Some((two, tail)) = rest.split_first_chunk::<2>() {
        word |= u64::from(u16::from_le_bytes(*two)) << shift;
        shift += 16;
        rest = tail;
    }
    if let Some(&b) = rest.first() {
        word |= u64::from(b) << shift;
    }
    word
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(tail_word(rest) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits depending on the low bits of the input only (keys
        // like "S0001", "S0002" share them), while hash tables pick buckets by the low bits:
        // rotate the well-mixed high bits down (as rustc-hash 2 does).
        self.hash.rotate_left(26)
    }
}

/// `BuildHasher` for [`FxHasher`].
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;

/// An insertion-ordered map from group key to per-group state (aggregators, last row, ...).
///
/// Iteration follows the order in which groups first appeared (DESIGN §4: rows of one batch
/// come out in the order the groups first appeared in it). For a batch window, call
/// [`GroupMap::clear`] at the window's `Reset` so the order is that of the closing batch.
/// Float keys go through [`crate::aggregate::Total`]. Serializes as a list of pairs.
///
/// ```
/// use eventflux_runtime::aggregate::{Aggregator, GroupMap, SumAggregator};
/// let mut groups: GroupMap<&str, SumAggregator<i64>> = GroupMap::new();
/// groups.get_or_default("b").add(Some(1i64));
/// groups.get_or_default("a").add(Some(2i64));
/// groups.get_or_default("b").add(Some(3i64));
/// let rows: Vec<_> = groups.iter().map(|(k, s)| (*k, s.value())).collect();
/// assert_eq!(rows, vec![("b", Some(4)), ("a", Some(2))]);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, S: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, S: Deserialize<'de>"
))]
pub struct GroupMap<K, S> {
    #[serde(with = "crate::aggregate::pairs")]
    map: IndexMap<K, S, FxBuildHasher>,
}

impl<K, S> Default for GroupMap<K, S> {
    fn default() -> Self {
        GroupMap {
            map: IndexMap::default(),
        }
    }
}

impl<K: Hash + Eq, S> GroupMap<K, S> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of `key`, created with `S::default()` on first sight (appended last).
    #[inline]
    pub fn get_or_default(&mut self, key: K) -> &mut S
    where
        S: Default,
    {
        self.map.entry(key).or_default()
    }

    /// The state of `key`, created with `S::default()` on first sight (appended last); looks
    /// the key up by reference and clones it only when the group is new, which saves a
    /// clone (e.g. an `Arc<str>` count update) per event on the hot path.
    #[inline]
    pub fn get_or_default_ref(&mut self, key: &K) -> &mut S
    where
        K: Clone,
        S: Default,
    {
        let i = match self.map.get_index_of(key) {
            Some(i) => i,
            None => self.map.insert_full(key.clone(), S::default()).0,
        };
        &mut self.map[i]
    }

    /// The key and state of the group at position `slot` (from [`GroupMap::slot_of`]);
    /// `None` when there is no such group.
    #[inline]
    pub fn entry_at(&mut self, slot: usize) -> Option<(&K, &mut S)> {
        self.map.get_index_mut(slot)
    }

    /// The key and state of the group at position `slot`, read-only; `None` when there is
    /// no such group.
    #[inline]
    pub fn get_at(&self, slot: usize) -> Option<(&K, &S)> {
        self.map.get_index(slot)
    }

    /// The state of `key`, created with `init` on first sight (appended last).
    #[inline]
    pub fn get_or_insert_with(&mut self, key: K, init: impl FnOnce() -> S) -> &mut S {
        self.map.entry(key).or_insert_with(init)
    }

    /// The state of `key`, if the group exists.
    #[inline]
    pub fn get(&self, key: &K) -> Option<&S> {
        self.map.get(key)
    }

    /// The state of `key` for update, if the group exists.
    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut S> {
        self.map.get_mut(key)
    }

    /// Whether the group exists.
    pub fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Position of the group in first-appearance order.
    pub fn index_of(&self, key: &K) -> Option<usize> {
        self.map.get_index_of(key)
    }

    /// Removes a group, keeping the order of the others (O(number of groups)).
    pub fn remove(&mut self, key: &K) -> Option<S> {
        self.map.shift_remove(key)
    }

    /// Keeps only the groups for which `keep` returns true, in order (e.g. to purge groups whose
    /// window count fell to zero).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut S) -> bool) {
        self.map.retain(|k, s| keep(k, s))
    }

    /// Drops every group (keeps the allocation).
    pub fn clear(&mut self) {
        self.map.clear()
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no group.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Groups in first-appearance order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &S)> {
        self.map.iter()
    }

    /// Groups in first-appearance order, states mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut S)> {
        self.map.iter_mut()
    }

    /// Group states in first-appearance order, mutable (e.g. to reset all of them).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut S> {
        self.map.values_mut()
    }
}

impl<T: TotalOrd, S> GroupMap<Total<T>, S> {
    /// The position of the group whose key `probe` borrows (see [`KeyPart`]), created with
    /// `S::default()` on first sight (appended last). The owned key is built only for a new
    /// group. Positions are stable until [`GroupMap::clear`], [`GroupMap::remove`] or
    /// [`GroupMap::retain`], so a window can keep an event's group position and reach the
    /// group again without hashing when the event leaves ([`GroupMap::entry_at`]).
    #[inline]
    pub fn slot_of<R>(&mut self, probe: &R) -> usize
    where
        R: KeyPart<Owned = T>,
        S: Default,
    {
        match self.map.get_index_of(&Probe(probe)) {
            Some(i) => i,
            None => self.insert_new(probe),
        }
    }

    /// Appends the group `probe` borrows (not in the map), returning its position: out of
    /// line, so that [`GroupMap::slot_of`] is small enough to inline into every caller.
    #[cold]
    #[inline(never)]
    fn insert_new<R>(&mut self, probe: &R) -> usize
    where
        R: KeyPart<Owned = T>,
        S: Default,
    {
        self.map
            .insert_full(Total(probe.to_owned_part()), S::default())
            .0
    }

    /// The state of the group at position `slot` (from [`GroupMap::slot_of`]).
    ///
    /// # Panics
    /// When there is no such group: a bug of the caller, never caused by input.
    #[inline]
    pub(crate) fn state_at(&mut self, slot: usize) -> &mut S {
        &mut self.map[slot]
    }

    /// The state of the group whose key `probe` borrows, created with `S::default()` on
    /// first sight (appended last); [`GroupMap::slot_of`] without keeping the position.
    #[inline]
    pub fn state_of<R>(&mut self, probe: &R) -> &mut S
    where
        R: KeyPart<Owned = T>,
        S: Default,
    {
        let slot = self.slot_of(probe);
        &mut self.map[slot]
    }
}

/// One group of a batch that is aggregated as its events arrive (a batch never retracts, so
/// nothing is buffered): the group's aggregators, the time of its last event, and what the
/// output row reads of that last event (`()` when the row needs nothing of it). At the
/// batch's close each group gives one row, stamped `last_ts`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BatchGroup<A, L> {
    /// The aggregators (`()` without aggregates).
    pub aggs: A,
    /// Time of the group's last event in the batch.
    pub last_ts: i64,
    /// The attributes of the group's last event that the output row reads.
    pub last: L,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Aggregator, CountAggregator, Total};
    use std::hash::BuildHasher;

    #[test]
    fn keeps_first_appearance_order_and_round_trips() {
        let mut g: GroupMap<Total<(Option<f64>, i32)>, CountAggregator> = GroupMap::new();
        for k in [(Some(2.5), 1), (None, 0), (Some(2.5), 1), (Some(-1.0), 3)] {
            Aggregator::<()>::add(g.get_or_default(Total(k)), Some(()));
        }
        let order: Vec<_> = g.iter().map(|(k, c)| (k.0, c.count())).collect();
        assert_eq!(
            order,
            vec![((Some(2.5), 1), 2), ((None, 0), 1), ((Some(-1.0), 3), 1)]
        );
        let json = serde_json::to_string(&g).unwrap();
        let back: GroupMap<Total<(Option<f64>, i32)>, CountAggregator> =
            serde_json::from_str(&json).unwrap();
        let order2: Vec<_> = back.iter().map(|(k, c)| (k.0, c.count())).collect();
        assert_eq!(order, order2);
        g.get_or_default_ref(&Total((None, 0))).add(Some(1));
        assert_eq!(g.get(&Total((None, 0))).map(|c| c.count()), Some(2));
        assert_eq!(g.len(), 3);
        g.retain(|_, c| c.count() > 1);
        assert_eq!(g.len(), 2);
        g.remove(&Total((None, 0)));
        assert_eq!(g.len(), 1);
        assert!(g.remove(&Total((Some(2.5), 1))).is_some());
        assert!(g.is_empty());
    }

    #[test]
    fn slots_by_borrowed_key() {
        use std::sync::Arc;
        type Key = Total<(Option<Arc<str>>, Option<i64>)>;
        let mut g: GroupMap<Key, CountAggregator> = GroupMap::new();
        let a = g.slot_of(&(Some("a"), Some(1i64)));
        let b = g.slot_of(&(None::<&str>, Some(1i64)));
        assert_eq!((a, b), (0, 1));
        assert_eq!(g.slot_of(&(Some("a"), Some(1i64))), a);
        let (key, count) = g.entry_at(a).unwrap();
        assert_eq!(key.0 .0.as_deref(), Some("a"));
        Aggregator::<()>::add(count, Some(()));
        assert_eq!(
            g.get(&Total((Some(Arc::from("a")), Some(1))))
                .map(|c| c.count()),
            Some(1)
        );
        assert!(g.entry_at(2).is_none());
    }

    #[test]
    fn fx_hash_distinguishes_lengths() {
        let h = |s: &str| FxBuildHasher::default().hash_one(s);
        assert_ne!(h("a"), h("a\0"));
        assert_eq!(h("abc"), h("abc"));
    }
}
