//! Per-key state of partitions (`PARTITION WITH (key OF Stream) BEGIN ... END`).
//!
//! A [`PartitionMap`] keeps one state per key, in the order keys first appeared, and hands
//! out dense slot numbers: an event looks its key up once, by its borrowed form (a
//! [`KeyPart`], as group keys are looked up: an `Arc<str>` key is cloned only when the key is
//! new), and then addresses the key's state by slot. [`str_probe`] borrows a STRING key.
//!
//! ```
//! use std::sync::Arc;
//! use eventflux_runtime::aggregate::Total;
//! use eventflux_runtime::partition::{str_probe, PartitionMap};
//!
//! let mut keys: PartitionMap<Total<Option<Arc<str>>>, u32> = PartitionMap::new();
//! let symbol: Option<Arc<str>> = Some(Arc::from("IBM"));
//! let ibm = keys.slot_of(&str_probe(&symbol), || 0);
//! *keys.state(ibm) += 1;
//! let again = keys.slot_of(&Some("IBM"), || 0);
//! assert_eq!((ibm, *keys.state(again)), (again, 1));
//! ```

use std::hash::Hash;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::{FxBuildHasher, KeyPart, Probe, Total, TotalOrd};

/// One state per partition key, in first-appearance order, addressed by slot number.
///
/// Slots are stable while keys are only added; [`PartitionMap::retain`] (purging idle keys)
/// renumbers them, so a slot must not be kept across a purge. Each state is boxed, so that a
/// caller holding an active state of its own can trade it for a key's in two pointer moves
/// ([`PartitionMap::exchange`]). Serializes as a list of `(key, state)` pairs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, S: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, S: Deserialize<'de>"
))]
pub struct PartitionMap<K, S> {
    #[serde(with = "crate::aggregate::pairs")]
    map: IndexMap<K, Box<S>, FxBuildHasher>,
}

impl<K, S> Default for PartitionMap<K, S> {
    fn default() -> Self {
        PartitionMap {
            map: IndexMap::default(),
        }
    }
}

impl<K: Hash + Eq, S> PartitionMap<K, S> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state in slot `slot` (a slot [`PartitionMap::slot_of`] returned since the last purge).
    ///
    /// # Panics
    /// When `slot` is not a slot of the map: a bug of the caller, never caused by input.
    #[inline]
    pub fn state(&mut self, slot: usize) -> &mut S {
        &mut self.map[slot]
    }

    /// Swaps the state in slot `slot` with `active` (a slot [`PartitionMap::slot_of`]
    /// returned since the last purge): moves two pointers, whatever the states hold.
    ///
    /// # Panics
    /// When `slot` is not a slot of the map: a bug of the caller, never caused by input.
    #[inline]
    pub fn exchange(&mut self, slot: usize, active: &mut Box<S>) {
        std::mem::swap(&mut self.map[slot], active);
    }

    /// The key in slot `slot`, if any.
    pub fn key(&self, slot: usize) -> Option<&K> {
        self.map.get_index(slot).map(|(k, _)| k)
    }

    /// Keeps only the keys for which `keep` returns true, in order (renumbers the slots).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut S) -> bool) {
        self.map.retain(|k, s| keep(k, s))
    }

    /// Drops the key in slot `slot` with its state; the last key takes its slot (the other
    /// slots are unchanged). A slot past the end is ignored.
    pub fn remove_slot(&mut self, slot: usize) {
        self.map.swap_remove_index(slot);
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys and states in first-appearance order (the index is the slot).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &S)> {
        self.map.iter().map(|(k, s)| (k, &**s))
    }

    /// Keys and states in first-appearance order, by value (to move keys between maps when
    /// a checkpoint of several workers is restored on another number of them).
    pub fn into_pairs(self) -> impl Iterator<Item = (K, S)> {
        self.map.into_iter().map(|(k, s)| (k, *s))
    }

    /// Adds `key` with `state` at the end (or replaces the state of `key`, in its slot).
    pub fn insert(&mut self, key: K, state: S) {
        self.map.insert(key, Box::new(state));
    }
}

impl<T: TotalOrd, S> PartitionMap<Total<T>, S> {
    /// The slot of the key that `probe` borrows (see [`KeyPart`]), created on first sight
    /// with the state `init()`. One hash lookup; the owned key is built only for a new key.
    #[inline]
    pub fn slot_of<R>(&mut self, probe: &R, init: impl FnOnce() -> S) -> usize
    where
        R: KeyPart<Owned = T>,
    {
        match self.map.get_index_of(&Probe(probe)) {
            Some(i) => i,
            None => self.insert_new(probe, init),
        }
    }

    /// Appends the key `probe` borrows (not in the map) with the state `init()`, returning
    /// its slot: out of line, so that [`PartitionMap::slot_of`] inlines into its callers.
    #[cold]
    #[inline(never)]
    fn insert_new<R>(&mut self, probe: &R, init: impl FnOnce() -> S) -> usize
    where
        R: KeyPart<Owned = T>,
    {
        self.map
            .insert_full(Total(probe.to_owned_part()), Box::new(init()))
            .0
    }
}

/// The borrowed form of a STRING key (any `AsRef<str>`, NULL as `None`), to look it up with
/// [`PartitionMap::slot_of`].
#[inline]
pub fn str_probe<S: AsRef<str>>(value: &Option<S>) -> Option<&str> {
    value.as_ref().map(AsRef::as_ref)
}

crate::state::persist::persist_fields!(PartitionMap<K, S> { map } where K: Hash + Eq);

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;
    use std::sync::Arc;

    #[test]
    fn str_probes_hash_like_owned_keys() {
        let h = FxBuildHasher::default();
        for s in [None, Some(""), Some("IBM"), Some("a longer symbol name")] {
            let owned = Total(s.map(Arc::<str>::from));
            assert_eq!(h.hash_one(Probe(&s)), h.hash_one(&owned), "{s:?}");
            assert_eq!(str_probe(&owned.0), s);
        }
    }

    #[test]
    fn slots_follow_first_appearance_and_survive_growth() {
        let mut m: PartitionMap<Total<Option<Arc<str>>>, Vec<i32>> = PartitionMap::new();
        let a = m.slot_of(&Some("a"), Vec::new);
        m.state(a).push(1);
        for k in 0..100 {
            let name = format!("k{k}");
            let s = m.slot_of(&Some(name.as_str()), Vec::new);
            m.state(s).push(k);
        }
        let again = m.slot_of(&Some("a"), Vec::new);
        assert_eq!((a, again, m.len()), (0, 0, 101));
        assert_eq!(m.state(a), &vec![1]);
        assert_eq!(m.key(1).and_then(|k| k.0.as_deref()), Some("k0"));
        // After a round trip (keys rehashed from their owned form) probes still find them.
        let bytes = bincode::serialize(&m).unwrap();
        let mut back: PartitionMap<Total<Option<Arc<str>>>, Vec<i32>> =
            bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.slot_of(&Some("k7"), Vec::new), 8);
        assert_eq!(back.slot_of(&None::<&str>, Vec::new), 101);
    }

    #[test]
    fn exchange_trades_the_active_state_and_keeps_the_layout() {
        let mut m: PartitionMap<Total<Option<i64>>, Vec<i32>> = PartitionMap::new();
        let a = m.slot_of(&Some(1i64), || vec![1]);
        let b = m.slot_of(&Some(2i64), || vec![2]);
        let mut active = Box::new(Vec::new());
        m.exchange(b, &mut active);
        active.push(3);
        m.exchange(b, &mut active);
        assert!(active.is_empty());
        assert_eq!(
            (m.state(a).clone(), m.state(b).clone()),
            (vec![1], vec![2, 3])
        );
        // Boxed states serialize as the states themselves.
        let plain: Vec<(Total<Option<i64>>, Vec<i32>)> =
            m.iter().map(|(k, s)| (*k, s.clone())).collect();
        assert_eq!(
            bincode::serialize(&m).unwrap(),
            bincode::serialize(&plain).unwrap()
        );
    }

    #[test]
    fn value_keys_look_up_by_themselves_and_retain_renumbers() {
        let mut m: PartitionMap<Total<Option<i64>>, i64> = PartitionMap::new();
        for v in [5, 3, 5, 7, 3] {
            let s = m.slot_of(&Some(v), || 0);
            *m.state(s) += v;
        }
        m.retain(|k, _| k.0 != Some(5));
        let rows: Vec<_> = m.iter().map(|(k, s)| (k.0, *s)).collect();
        assert_eq!(rows, vec![(Some(3), 6), (Some(7), 7)]);
        let bytes = bincode::serialize(&m).unwrap();
        let back: PartitionMap<Total<Option<i64>>, i64> = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.iter().count(), 2);
    }
}
