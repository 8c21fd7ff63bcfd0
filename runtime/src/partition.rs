//! Per-key state of partitions (`PARTITION WITH (key OF Stream) BEGIN ... END`).
//!
//! A [`PartitionMap`] keeps one state per key, in the order keys first appeared, and hands
//! out dense slot numbers: an event looks its key up once (by reference, so an `Arc<str>`
//! key is cloned only when the key is new) and then addresses the key's state by slot.
//! [`StrKey`] is the borrowed form of a STRING key.
//!
//! ```
//! use std::sync::Arc;
//! use eventflux_runtime::aggregate::Total;
//! use eventflux_runtime::partition::{PartitionMap, StrKey};
//!
//! let mut keys: PartitionMap<Total<Option<Arc<str>>>, u32> = PartitionMap::new();
//! let symbol: Option<Arc<str>> = Some(Arc::from("IBM"));
//! let ibm = keys.slot(&StrKey(symbol.as_deref()), StrKey::to_key, || 0);
//! *keys.state(ibm) += 1;
//! let again = keys.slot(&StrKey(Some("IBM")), StrKey::to_key, || 0);
//! assert_eq!((ibm, *keys.state(again)), (again, 1));
//! ```

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::{Equivalent, IndexMap};
use serde::{Deserialize, Serialize};

use crate::aggregate::{FxBuildHasher, Total};

/// One state per partition key, in first-appearance order, addressed by slot number.
///
/// Slots are stable while keys are only added; [`PartitionMap::retain`] (purging idle keys)
/// renumbers them, so a slot must not be kept across a purge. Serializes as a list of
/// `(key, state)` pairs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, S: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, S: Deserialize<'de>"
))]
pub struct PartitionMap<K, S> {
    #[serde(with = "crate::aggregate::pairs")]
    map: IndexMap<K, S, FxBuildHasher>,
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

    /// The slot of `key`, created on first sight with the key `owned(key)` and the state
    /// `init()`. One hash lookup; nothing is cloned for a known key.
    #[inline]
    pub fn slot<Q>(
        &mut self,
        key: &Q,
        owned: impl FnOnce(&Q) -> K,
        init: impl FnOnce() -> S,
    ) -> usize
    where
        Q: ?Sized + Hash + Equivalent<K>,
    {
        match self.map.get_index_of(key) {
            Some(i) => i,
            None => self.map.insert_full(owned(key), init()).0,
        }
    }

    /// The state in slot `slot` (a slot [`PartitionMap::slot`] returned since the last purge).
    ///
    /// # Panics
    /// When `slot` is not a slot of the map: a bug of the caller, never caused by input.
    #[inline]
    pub fn state(&mut self, slot: usize) -> &mut S {
        &mut self.map[slot]
    }

    /// The key in slot `slot`, if any.
    pub fn key(&self, slot: usize) -> Option<&K> {
        self.map.get_index(slot).map(|(k, _)| k)
    }

    /// Keeps only the keys for which `keep` returns true, in order (renumbers the slots).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut S) -> bool) {
        self.map.retain(|k, s| keep(k, s))
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
        self.map.iter()
    }
}

/// A borrowed STRING partition key: looks up a `Total<Option<Arc<str>>>` key from an
/// `Option<&str>`, with the same hash, without cloning or allocating.
#[derive(Clone, Copy, Debug)]
pub struct StrKey<'a>(pub Option<&'a str>);

impl<'a> StrKey<'a> {
    /// The key of a STRING value (any `AsRef<str>`, NULL as `None`).
    #[inline]
    pub fn of<S: AsRef<str>>(value: &'a Option<S>) -> Self {
        StrKey(value.as_ref().map(AsRef::as_ref))
    }

    /// The owned key, for a key seen for the first time.
    pub fn to_key(&self) -> Total<Option<Arc<str>>> {
        Total(self.0.map(Arc::from))
    }
}

impl Hash for StrKey<'_> {
    /// Feeds the hasher exactly what `Total<Option<Arc<str>>>` does (`TotalOrd` of an
    /// `Option`, then `Hash` of `str`), written out so that it inlines into the lookup.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.0 {
            None => state.write_u8(0),
            Some(s) => {
                state.write_u8(1);
                s.hash(state);
            }
        }
    }
}

impl Equivalent<Total<Option<Arc<str>>>> for StrKey<'_> {
    #[inline]
    fn equivalent(&self, key: &Total<Option<Arc<str>>>) -> bool {
        self.0 == key.0.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn str_keys_hash_like_owned_keys() {
        let h = FxBuildHasher::default();
        for s in [None, Some(""), Some("IBM"), Some("a longer symbol name")] {
            let owned = Total(s.map(Arc::<str>::from));
            assert_eq!(h.hash_one(StrKey(s)), h.hash_one(&owned), "{s:?}");
            let sip = std::collections::hash_map::RandomState::new();
            assert_eq!(sip.hash_one(StrKey(s)), sip.hash_one(&owned), "{s:?}");
            assert!(StrKey(s).equivalent(&owned));
        }
        assert!(!StrKey(None).equivalent(&Total(Some(Arc::from("")))));
    }

    #[test]
    fn slots_follow_first_appearance_and_survive_growth() {
        let mut m: PartitionMap<Total<Option<Arc<str>>>, Vec<i32>> = PartitionMap::new();
        let a = m.slot(&StrKey(Some("a")), StrKey::to_key, Vec::new);
        m.state(a).push(1);
        for k in 0..100 {
            let name = format!("k{k}");
            let s = m.slot(&StrKey(Some(&name)), StrKey::to_key, Vec::new);
            m.state(s).push(k);
        }
        let again = m.slot(&StrKey(Some("a")), StrKey::to_key, Vec::new);
        assert_eq!((a, again, m.len()), (0, 0, 101));
        assert_eq!(m.state(a), &vec![1]);
        assert_eq!(m.key(1).and_then(|k| k.0.as_deref()), Some("k0"));
    }

    #[test]
    fn value_keys_look_up_by_themselves_and_retain_renumbers() {
        let mut m: PartitionMap<Total<Option<i64>>, i64> = PartitionMap::new();
        for v in [5, 3, 5, 7, 3] {
            let s = m.slot(&Total(Some(v)), |k| *k, || 0);
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
