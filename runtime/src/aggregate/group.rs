//! The group-by building block: per-group state kept in the order groups first appeared.

use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::hashed::{hashed, short_word, Hashed};
use super::key::{KeyPart, Probe};
use super::pairs::{self, PairMap};
use super::total::{Total, TotalOrd};

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
            self.add(short_word(rest) ^ ((rest.len() as u64) << 56));
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
/// Iteration follows the order in which groups first appeared (docs/semantics.md#sliding-and-batch-windows: rows of one batch
/// come out in the order the groups first appeared in it). For a batch window, call
/// [`GroupMap::clear`] at the window's `Reset` so the order is that of the closing batch.
/// Float keys go through [`crate::aggregate::Total`]. Serializes as a list of pairs.
///
/// The groups are a `Vec` in that order; a hash table holds each group's [`hashed`] key
/// hash and position. A lookup by a short key (exact hash) compares hashes only and never
/// reads a key, while every key of the map is short; after that, keys are compared.
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
#[derive(Clone)]
pub struct GroupMap<K, S> {
    entries: Vec<(K, S)>,
    /// `(hash, position)` of every group.
    index: HashTable<(u64, usize)>,
    /// Whether a key's hash is not exact (so hashes alone no longer tell keys apart).
    long_keys: bool,
}

impl<K, S> Default for GroupMap<K, S> {
    fn default() -> Self {
        GroupMap {
            entries: Vec::new(),
            index: HashTable::new(),
            long_keys: false,
        }
    }
}

impl<K: fmt::Debug, S: fmt::Debug> fmt::Debug for GroupMap<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, s)| (k, s)))
            .finish()
    }
}

impl<K, S> GroupMap<K, S> {
    /// The position of the group whose key hashes to `key` and satisfies `same` (called
    /// only when the hash alone does not tell).
    #[inline]
    fn position(&self, key: Hashed, same: impl Fn(&K) -> bool) -> Option<usize> {
        let hash = key.hash;
        if key.exact && !self.long_keys {
            self.index
                .find(hash, |&(h, _)| h == hash)
                .map(|&(_, at)| at)
        } else {
            self.compared_position(hash, same)
        }
    }

    /// [`GroupMap::position`] comparing keys: out of line, so that the lookup by a short
    /// key stays small enough to inline.
    #[inline(never)]
    fn compared_position(&self, hash: u64, same: impl Fn(&K) -> bool) -> Option<usize> {
        self.index
            .find(hash, |&(h, at)| h == hash && same(&self.entries[at].0))
            .map(|&(_, at)| at)
    }

    /// Appends a group (whose key is not in the map) with hash `key`, returning its position.
    fn push(&mut self, key: Hashed, group: K, state: S) -> usize {
        let at = self.entries.len();
        self.entries.push((group, state));
        self.index
            .insert_unique(key.hash, (key.hash, at), |&(h, _)| h);
        self.long_keys |= !key.exact;
        at
    }

    /// The key and state of the group at position `slot` (from [`GroupMap::slot_of`]);
    /// `None` when there is no such group.
    #[inline]
    pub fn entry_at(&mut self, slot: usize) -> Option<(&K, &mut S)> {
        self.entries.get_mut(slot).map(|(k, s)| (&*k, s))
    }

    /// The key and state of the group at position `slot`, read-only; `None` when there is
    /// no such group.
    #[inline]
    pub fn get_at(&self, slot: usize) -> Option<(&K, &S)> {
        self.entries.get(slot).map(|(k, s)| (k, s))
    }

    /// Drops every group (keeps the allocation).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
        self.long_keys = false;
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no group.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Groups in first-appearance order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &S)> {
        self.entries.iter().map(|(k, s)| (k, s))
    }

    /// Groups in first-appearance order, states mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut S)> {
        self.entries.iter_mut().map(|(k, s)| (&*k, s))
    }

    /// Group states in first-appearance order, mutable (e.g. to reset all of them).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut S> {
        self.entries.iter_mut().map(|(_, s)| s)
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
        self.get_or_insert_with(key, S::default)
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
        let h = hashed(key);
        let at = match self.position(h, |k| k == key) {
            Some(at) => at,
            None => self.push(h, key.clone(), S::default()),
        };
        &mut self.entries[at].1
    }

    /// The state of `key`, created with `init` on first sight (appended last).
    #[inline]
    pub fn get_or_insert_with(&mut self, key: K, init: impl FnOnce() -> S) -> &mut S {
        let h = hashed(&key);
        let at = match self.position(h, |k| *k == key) {
            Some(at) => at,
            None => self.push(h, key, init()),
        };
        &mut self.entries[at].1
    }

    /// The state of `key`, if the group exists.
    #[inline]
    pub fn get(&self, key: &K) -> Option<&S> {
        self.index_of(key).map(|at| &self.entries[at].1)
    }

    /// The state of `key` for update, if the group exists.
    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut S> {
        self.index_of(key).map(|at| &mut self.entries[at].1)
    }

    /// Whether the group exists.
    pub fn contains_key(&self, key: &K) -> bool {
        self.index_of(key).is_some()
    }

    /// Position of the group in first-appearance order.
    pub fn index_of(&self, key: &K) -> Option<usize> {
        self.position(hashed(key), |k| k == key)
    }

    /// Removes a group, keeping the order of the others (O(number of groups)).
    pub fn remove(&mut self, key: &K) -> Option<S> {
        let at = self.index_of(key)?;
        let (_, state) = self.entries.remove(at);
        self.reindex();
        Some(state)
    }

    /// Keeps only the groups for which `keep` returns true, in order (e.g. to purge groups whose
    /// window count fell to zero).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut S) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(k, s)| keep(k, s));
        if self.entries.len() != before {
            self.reindex();
        }
    }

    /// Rebuilds the hash table from the groups (after positions changed).
    fn reindex(&mut self) {
        self.index.clear();
        self.long_keys = false;
        for (at, (k, _)) in self.entries.iter().enumerate() {
            let h = hashed(k);
            self.index.insert_unique(h.hash, (h.hash, at), |&(h, _)| h);
            self.long_keys |= !h.exact;
        }
    }
}

impl<T: TotalOrd, S> GroupMap<Total<T>, S> {
    /// The position of the group whose key `probe` borrows (see [`KeyPart`]), created with
    /// `S::default()` on first sight (appended last). The owned key is built only for a new
    /// group. Positions are stable until [`GroupMap::clear`], [`GroupMap::remove`] or
    /// [`GroupMap::retain`], so a window can keep an event's group position and reach the
    /// group again without hashing when the event leaves ([`GroupMap::entry_at`]).
    #[inline(always)]
    pub fn slot_of<R>(&mut self, probe: &R) -> usize
    where
        R: KeyPart<Owned = T>,
        S: Default,
    {
        let h = hashed(&Probe(probe));
        match self.position(h, |k| probe.matches(&k.0)) {
            Some(at) => at,
            None => self.insert_new(h, probe),
        }
    }

    /// Appends the group `probe` borrows (not in the map, hash `h`), returning its position:
    /// out of line, so that [`GroupMap::slot_of`] is small enough to inline into every caller.
    #[cold]
    #[inline(never)]
    fn insert_new<R>(&mut self, h: Hashed, probe: &R) -> usize
    where
        R: KeyPart<Owned = T>,
        S: Default,
    {
        self.push(h, Total(probe.to_owned_part()), S::default())
    }

    /// The state of the group at position `slot` (from [`GroupMap::slot_of`]).
    ///
    /// # Panics
    /// When there is no such group: a bug of the caller, never caused by input.
    #[inline]
    pub(crate) fn state_at(&mut self, slot: usize) -> &mut S {
        &mut self.entries[slot].1
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
        &mut self.entries[slot].1
    }
}

impl<K: Hash + Eq, S> PairMap for GroupMap<K, S> {
    type K = K;
    type V = S;
    fn pairs(&self) -> impl Iterator<Item = (&K, &S)> {
        self.iter()
    }
    fn from_pairs(pairs: Vec<(K, S)>) -> Self {
        let mut map = GroupMap::new();
        for (k, s) in pairs {
            let h = hashed(&k);
            match map.position(h, |g| *g == k) {
                Some(at) => map.entries[at].1 = s,
                None => {
                    map.push(h, k, s);
                }
            }
        }
        map
    }
}

impl<K: Hash + Eq + Serialize, S: Serialize> Serialize for GroupMap<K, S> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        pairs::serialize(self, serializer)
    }
}

impl<'de, K: Hash + Eq + Deserialize<'de>, S: Deserialize<'de>> Deserialize<'de>
    for GroupMap<K, S>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        pairs::deserialize(deserializer)
    }
}

impl<K: crate::state::persist::Save, S: crate::state::persist::Save> crate::state::persist::Save
    for GroupMap<K, S>
{
    /// The groups in order, as `(key, state)` pairs (the serde form).
    fn save(&self, w: &mut crate::state::persist::Writer) {
        w.put_len(self.entries.len());
        for (k, s) in &self.entries {
            k.save(w);
            s.save(w);
        }
    }
}

impl<K, S> crate::state::persist::Load for GroupMap<K, S>
where
    K: Hash + Eq + crate::state::persist::Load,
    S: crate::state::persist::Load,
{
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        let pairs: Vec<(K, S)> = crate::state::persist::Load::load(r)?;
        Ok(Self::from_pairs(pairs))
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

crate::state::persist::persist_fields!(BatchGroup<A, L> { aggs, last_ts, last });

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

    #[derive(Clone, Debug)]
    enum Op {
        /// `slot_of` a key, then add one to its count.
        Count(Option<String>),
        Remove(Option<String>),
        /// Keep the groups with an even count.
        RetainEven,
        Clear,
        Roundtrip,
    }

    use proptest::strategy::Strategy as _;

    fn key() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        use proptest::prelude::*;
        // Short keys (packed whole into their hash) and long ones, sharing prefixes.
        proptest::option::of(prop_oneof!["[ab]{0,3}", "[ab]{6,9}"])
    }

    proptest::proptest! {
        /// A map of string groups, short and long keys mixed, against a list in first-
        /// appearance order: every lookup finds its own group (by borrowed and owned key),
        /// in order, across removals, retains, clears and a snapshot round trip.
        #[test]
        fn matches_an_ordered_list(ops in proptest::collection::vec(
            proptest::prop_oneof![
                6 => key().prop_map(Op::Count),
                1 => key().prop_map(Op::Remove),
                1 => proptest::strategy::Just(Op::RetainEven),
                1 => proptest::strategy::Just(Op::Clear),
                1 => proptest::strategy::Just(Op::Roundtrip),
            ],
            1..200,
        )) {
            use std::sync::Arc;
            type Key = Total<(Option<Arc<str>>,)>;
            let owned = |k: &Option<String>| Total((k.as_deref().map(Arc::from),));
            let mut map: GroupMap<Key, i64> = GroupMap::new();
            let mut model: Vec<(Option<String>, i64)> = Vec::new();
            for op in ops {
                match op {
                    Op::Count(k) => {
                        let slot = map.slot_of(&(k.as_deref(),));
                        *map.state_at(slot) += 1;
                        match model.iter().position(|(m, _)| *m == k) {
                            Some(at) => {
                                proptest::prop_assert_eq!(slot, at);
                                model[at].1 += 1;
                            }
                            None => {
                                proptest::prop_assert_eq!(slot, model.len());
                                model.push((k, 1));
                            }
                        }
                    }
                    Op::Remove(k) => {
                        let want = model.iter().position(|(m, _)| *m == k).map(|at| model.remove(at).1);
                        proptest::prop_assert_eq!(map.remove(&owned(&k)), want);
                    }
                    Op::RetainEven => {
                        map.retain(|_, n| *n % 2 == 0);
                        model.retain(|(_, n)| n % 2 == 0);
                    }
                    Op::Clear => {
                        map.clear();
                        model.clear();
                    }
                    Op::Roundtrip => {
                        map = serde_json::from_str(&serde_json::to_string(&map).unwrap()).unwrap();
                    }
                }
                let got: Vec<(Option<String>, i64)> = map
                    .iter()
                    .map(|(k, n)| (k.0 .0.as_deref().map(String::from), *n))
                    .collect();
                proptest::prop_assert_eq!(&got, &model);
                for (k, n) in &model {
                    proptest::prop_assert_eq!(map.get(&owned(k)), Some(n));
                }
            }
        }
    }
}
