//! The groups of a batch that is aggregated as its events arrive.

use serde::{Deserialize, Serialize};

use super::group::GroupMap;
use super::key::KeyPart;
use super::total::{Total, TotalOrd};

/// One group of a [`BatchGroups`]: its state and whether it has an event in the open batch.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Member<S> {
    open: bool,
    state: S,
}

/// Idle groups kept beyond twice the size of the last batch before they are dropped.
const SPARE_GROUPS: usize = 64;

/// The groups of the open batch of a batch window aggregated on arrival (time and length
/// batches), in the order they first appeared in the batch (docs/semantics.md#sliding-and-batch-windows).
///
/// Unlike a [`GroupMap`] cleared at each batch close, groups are kept across batches: a
/// group's first event of a batch finds it (one lookup by borrowed key, as in
/// [`GroupMap::slot_of`]) and resets its state, instead of allocating its key again. Groups
/// idle in a batch are dropped at its close once they outnumber the batch's groups (twice
/// over, plus a few), so memory follows the batches' sizes.
///
/// ```
/// use std::sync::Arc;
/// use eventflux_runtime::aggregate::{BatchGroups, Total};
/// let mut groups: BatchGroups<Total<(Option<Arc<str>>,)>, i64> = BatchGroups::new();
/// *groups.state_of(&(Some("b"),)) += 1;
/// *groups.state_of(&(Some("a"),)) += 2;
/// *groups.state_of(&(Some("b"),)) += 3;
/// let rows: Vec<_> = groups.iter().map(|(k, s)| (k.0 .0.as_deref(), *s)).collect();
/// assert_eq!(rows, [(Some("b"), 4), (Some("a"), 2)]);
/// groups.clear(); // the batch closes
/// *groups.state_of(&(Some("a"),)) += 5; // a new batch: the group starts afresh
/// let rows: Vec<_> = groups.iter().map(|(k, s)| (k.0 .0.as_deref(), *s)).collect();
/// assert_eq!(rows, [(Some("a"), 5)]);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + std::hash::Hash + Eq, S: Serialize",
    deserialize = "K: Deserialize<'de> + std::hash::Hash + Eq, S: Deserialize<'de>"
))]
pub struct BatchGroups<K, S> {
    groups: GroupMap<K, Member<S>>,
    /// Positions of the open batch's groups, in first-appearance order.
    open: Vec<u32>,
}

impl<K, S> Default for BatchGroups<K, S> {
    fn default() -> Self {
        BatchGroups {
            groups: GroupMap::default(),
            open: Vec::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq, S> BatchGroups<K, S> {
    /// No group.
    pub fn new() -> Self {
        Self::default()
    }

    /// The groups of the open batch with their states, in first-appearance order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &S)> {
        self.open
            .iter()
            .filter_map(|&slot| self.groups.get_at(slot as usize))
            .map(|(k, m)| (k, &m.state))
    }

    /// Number of groups in the open batch.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether the open batch has no group.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Closes the batch: no group is open afterwards. Drops the groups idle in the closing
    /// batch when they outnumber its groups (see the type's doc).
    pub fn clear(&mut self) {
        if self.groups.len() > 2 * self.open.len() + SPARE_GROUPS {
            self.groups.retain(|_, m| m.open);
            for (_, m) in self.groups.iter_mut() {
                m.open = false;
            }
        } else {
            for &slot in &self.open {
                if let Some((_, m)) = self.groups.entry_at(slot as usize) {
                    m.open = false;
                }
            }
        }
        self.open.clear();
    }
}

impl<T: TotalOrd, S: Default> BatchGroups<Total<T>, S> {
    /// The state of the group whose key `probe` borrows (see [`KeyPart`]): on the group's
    /// first event of the batch it is reset to `S::default()` and the group joins the
    /// batch's order (the owned key is built only for a group never seen or dropped).
    #[inline(always)]
    pub fn state_of<R>(&mut self, probe: &R) -> &mut S
    where
        R: KeyPart<Owned = T>,
    {
        let slot = self.groups.slot_of(probe);
        if !self.groups.state_at(slot).open {
            self.open_group(slot);
        }
        &mut self.groups.state_at(slot).state
    }

    /// The group at `slot` gets its first event of the batch: its state starts afresh and
    /// it joins the batch's order. Out of line (once per group and batch), so that
    /// [`BatchGroups::state_of`] stays small enough to inline.
    #[inline(never)]
    fn open_group(&mut self, slot: usize) {
        let member = self.groups.state_at(slot);
        member.open = true;
        member.state = S::default();
        // Positions fit in u32: a batch of more than 2^32 groups does not fit in memory.
        self.open.push(slot as u32);
    }
}

crate::state::persist::persist_fields!(Member<S> { open, state });

impl<K: crate::state::persist::Save, S: crate::state::persist::Save> crate::state::persist::Save
    for BatchGroups<K, S>
{
    fn save(&self, w: &mut crate::state::persist::Writer) {
        self.groups.save(w);
        self.open.save(w);
    }
}

impl<K, S> crate::state::persist::Load for BatchGroups<K, S>
where
    K: std::hash::Hash + Eq + crate::state::persist::Load,
    S: crate::state::persist::Load,
{
    /// The groups and the open batch's positions, each of which must name a group.
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        let groups: GroupMap<K, Member<S>> = crate::state::persist::Load::load(r)?;
        let open: Vec<u32> = crate::state::persist::Load::load(r)?;
        if open.iter().any(|&at| at as usize >= groups.len()) {
            return Err(r.error("an open batch group beyond the groups"));
        }
        Ok(BatchGroups { groups, open })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Groups = BatchGroups<Total<(Option<i64>,)>, (i64, i64)>;

    proptest! {
        /// Against a map cleared at each close: same groups, order and states per batch.
        #[test]
        fn matches_a_map_cleared_per_batch(
            batches in proptest::collection::vec(
                proptest::collection::vec((proptest::option::of(0i64..200), -5i64..5), 0..120),
                1..12,
            ),
        ) {
            let mut groups = Groups::new();
            for batch in &batches {
                let mut naive: GroupMap<Option<i64>, (i64, i64)> = GroupMap::new();
                for &(k, v) in batch {
                    let s = groups.state_of(&(k,));
                    s.0 += v;
                    s.1 += 1;
                    let n = naive.get_or_default(k);
                    n.0 += v;
                    n.1 += 1;
                }
                let got: Vec<_> = groups.iter().map(|(k, s)| (k.0 .0, *s)).collect();
                let want: Vec<_> = naive.iter().map(|(k, s)| (*k, *s)).collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(groups.len(), naive.len());
                groups.clear();
                prop_assert!(groups.is_empty());
                prop_assert!(groups.groups.len() <= 2 * naive.len() + SPARE_GROUPS);
            }
        }
    }

    #[test]
    fn round_trips_with_the_open_batch() {
        let mut groups = Groups::new();
        groups.state_of(&(Some(1i64),)).0 = 10;
        groups.clear();
        groups.state_of(&(Some(2i64),)).0 = 20;
        groups.state_of(&(Some(1i64),)).0 += 1;
        let bytes = bincode::serialize(&groups).unwrap();
        let back: Groups = bincode::deserialize(&bytes).unwrap();
        let rows: Vec<_> = back.iter().map(|(k, s)| (k.0 .0, s.0)).collect();
        assert_eq!(rows, [(Some(2), 20), (Some(1), 1)]);
    }
}
