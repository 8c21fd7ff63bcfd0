//! Serde helpers that write maps as sequences of `(key, value)` pairs, so map keys need not be
//! strings (tuples, floats and `Option`s are common keys here, and JSON only has string keys).
//! Use with `#[serde(with = "crate::aggregate::pairs")]`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A map that can be listed as pairs and rebuilt from them.
pub(crate) trait PairMap: Sized {
    /// The key type.
    type K;
    /// The value type.
    type V;
    /// The entries, in the map's iteration order.
    fn pairs(&self) -> impl Iterator<Item = (&Self::K, &Self::V)>;
    /// Rebuilds the map; later duplicates win.
    fn from_pairs(pairs: Vec<(Self::K, Self::V)>) -> Self;
}

impl<K: Ord, V> PairMap for BTreeMap<K, V> {
    type K = K;
    type V = V;
    fn pairs(&self) -> impl Iterator<Item = (&K, &V)> {
        self.iter()
    }
    fn from_pairs(pairs: Vec<(K, V)>) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K: Hash + Eq, V, S: BuildHasher + Default> PairMap for IndexMap<K, V, S> {
    type K = K;
    type V = V;
    fn pairs(&self) -> impl Iterator<Item = (&K, &V)> {
        self.iter()
    }
    fn from_pairs(pairs: Vec<(K, V)>) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K: Hash + Eq, V, S: BuildHasher + Default> PairMap for HashMap<K, V, S> {
    type K = K;
    type V = V;
    fn pairs(&self) -> impl Iterator<Item = (&K, &V)> {
        self.iter()
    }
    fn from_pairs(pairs: Vec<(K, V)>) -> Self {
        pairs.into_iter().collect()
    }
}

/// Serializes `map` as a sequence of `[key, value]` pairs.
pub(crate) fn serialize<M, S>(map: &M, serializer: S) -> Result<S::Ok, S::Error>
where
    M: PairMap,
    M::K: Serialize,
    M::V: Serialize,
    S: Serializer,
{
    serializer.collect_seq(map.pairs())
}

/// Reads a sequence of `[key, value]` pairs back into a map.
pub(crate) fn deserialize<'de, M, D>(deserializer: D) -> Result<M, D::Error>
where
    M: PairMap,
    M::K: Deserialize<'de>,
    M::V: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Vec::<(M::K, M::V)>::deserialize(deserializer).map(M::from_pairs)
}
