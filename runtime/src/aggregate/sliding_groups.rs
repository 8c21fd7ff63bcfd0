//! The groups of a grouped query over a sliding window, each dropped once its last event has
//! left the window (docs/semantics.md#state-bounded-by-the-windows).

use std::fmt;

use hashbrown::HashTable;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::hashed::{hashed, Hashed};
use super::key::{KeyPart, Probe};
use super::total::{Total, TotalOrd};

/// One group: its key, its state and how many of the window's events belong to it (0: idle,
/// waiting to be swept or revived).
#[derive(Clone, Debug)]
struct Group<K, S> {
    key: K,
    state: S,
    /// Hash of `key` (to find the group's index entry when it is dropped).
    hash: u64,
    held: u32,
}

/// The per-group state of a grouped query over a sliding window, with stable slots.
///
/// Each event the window takes joins its group with [`SlidingGroups::slot_of`], which counts
/// it and returns the group's slot; the window keeps the slot in the event and reaches the
/// group again with [`SlidingGroups::entry_at`] when the event leaves, without hashing. Once
/// the event has left, [`SlidingGroups::release`] uncounts it. A group whose last event has
/// left is idle: a key that comes back to it starts again from empty aggregates (its state is
/// reset), and once the idle groups outnumber the live ones (plus a margin) a sweep drops
/// them all, freeing their keys and states and their slots for new groups. Memory therefore
/// follows the window's contents (at most about twice its live groups), not the number of keys
/// ever seen, while a key that leaves and returns often (few keys, a short window) keeps its
/// group instead of being dropped and rebuilt each time.
///
/// Slots of live groups never move. A lookup by a short key (one whose hash is exact, see
/// [`hashed`]) compares hashes only, as [`crate::aggregate::GroupMap`] does.
///
/// ```
/// use eventflux_runtime::aggregate::{Aggregator, SlidingGroups, SumAggregator, Total};
/// let mut groups: SlidingGroups<Total<(Option<i32>,)>, SumAggregator<i64>> = SlidingGroups::new();
/// let a = groups.slot_of(&(Some(1),));
/// groups.entry_at(a).unwrap().1.add(Some(5));
/// assert_eq!(groups.len(), 1);
/// groups.release(a); // the event left the window: its group is idle
/// assert!(groups.is_empty());
/// ```
#[derive(Clone)]
pub struct SlidingGroups<K, S> {
    /// Groups by slot; `None` for a free slot.
    slots: Vec<Option<Group<K, S>>>,
    /// Free slots, reused last freed first.
    free: Vec<usize>,
    /// `(hash, slot)` of every group (live or idle).
    index: HashTable<(u64, usize)>,
    /// Number of idle groups (no event in the window).
    idle: usize,
    /// Whether a live or former key's hash is not exact (hashes alone no longer tell keys
    /// apart).
    long_keys: bool,
}

impl<K, S> Default for SlidingGroups<K, S> {
    fn default() -> Self {
        SlidingGroups {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            idle: 0,
            long_keys: false,
        }
    }
}

/// Idle groups are swept once there are more of them than live ones plus this margin (so a
/// small map is not swept over and over).
const SWEEP_MARGIN: usize = 64;

impl<K: fmt::Debug, S: fmt::Debug> fmt::Debug for SlidingGroups<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.slots.iter().flatten().map(|g| (&g.key, &g.state)))
            .finish()
    }
}

impl<K, S> SlidingGroups<K, S> {
    /// An empty set of groups.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live groups (with an event in the window).
    pub fn len(&self) -> usize {
        self.index.len() - self.idle
    }

    /// Whether there is no live group.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of groups kept, live or idle (what memory follows).
    pub fn kept(&self) -> usize {
        self.index.len()
    }

    /// The key and state of the group in `slot`; `None` when the slot is free.
    #[inline]
    pub fn entry_at(&mut self, slot: usize) -> Option<(&K, &mut S)> {
        match self.slots.get_mut(slot) {
            Some(Some(g)) => Some((&g.key, &mut g.state)),
            _ => None,
        }
    }

    /// The key and state of the group in `slot`, read-only.
    #[inline]
    pub fn get_at(&self, slot: usize) -> Option<(&K, &S)> {
        match self.slots.get(slot) {
            Some(Some(g)) => Some((&g.key, &g.state)),
            _ => None,
        }
    }

    /// Uncounts one event of the group in `slot` (it has left the window); the group is
    /// idle when that was its last event (see the type's docs). A free or idle slot is left
    /// alone.
    #[inline]
    pub fn release(&mut self, slot: usize) {
        if let Some(Some(g)) = self.slots.get_mut(slot) {
            // Branch-free: whether a group goes idle is as likely as not with few keys.
            let was = g.held;
            g.held = was.saturating_sub(1);
            self.idle += usize::from(was == 1);
            // A sweep when the idle groups outnumber the live ones (plus a margin):
            // amortized O(1) per event.
            if self.idle > self.len() + SWEEP_MARGIN {
                self.sweep();
            }
        }
    }

    /// Drops every idle group: frees its key, state and slot.
    #[cold]
    #[inline(never)]
    fn sweep(&mut self) {
        for (at, slot) in self.slots.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|g| g.held == 0) {
                if let Some(g) = slot.take() {
                    if let Ok(entry) = self.index.find_entry(g.hash, |&(_, s)| s == at) {
                        entry.remove();
                    }
                    self.free.push(at);
                }
            }
        }
        self.idle = 0;
        if self.index.is_empty() {
            // Every long key is gone: lookups may compare hashes alone again.
            self.clear();
        }
    }

    /// Drops every group (a reset; slots held by events are then free).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.index.clear();
        self.idle = 0;
        self.long_keys = false;
    }

    /// Live groups with their slots, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &K, &S)> {
        self.slots.iter().enumerate().filter_map(|(at, g)| {
            g.as_ref()
                .filter(|g| g.held > 0)
                .map(|g| (at, &g.key, &g.state))
        })
    }

    /// Places a new group in a free slot (or a new one), returning the slot.
    fn place(&mut self, key: Hashed, group: K, state: S) -> usize {
        let g = Some(Group {
            key: group,
            state,
            hash: key.hash,
            held: 1,
        });
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at] = g;
                at
            }
            None => {
                self.slots.push(g);
                self.slots.len() - 1
            }
        };
        self.index
            .insert_unique(key.hash, (key.hash, at), |&(h, _)| h);
        self.long_keys |= !key.exact;
        at
    }
}

impl<K, S> SlidingGroups<K, S> {
    /// Counts one more event (or row) of the group in `slot`; an idle group comes back to
    /// life. Its aggregates are empty already: every aggregator is back at its empty value
    /// once its last value is removed (sums and averages reset, counts reach 0, the
    /// min/max/distinct multisets and first/last queues empty), as its tests against a
    /// naive recomputation check.
    #[inline(always)]
    fn count_in(&mut self, slot: usize) {
        if let Some(Some(g)) = self.slots.get_mut(slot) {
            // Branch-free, as in `release`.
            self.idle = self.idle.saturating_sub(usize::from(g.held == 0));
            g.held = g.held.wrapping_add(1);
        }
    }
}

impl<T: TotalOrd, S: Default> SlidingGroups<Total<T>, S> {
    /// The slot of the group whose key `probe` borrows, created (with `S::default()`) on
    /// first sight; counts one more event of the group. The owned key is built only for a new
    /// group.
    #[inline(always)]
    pub fn slot_of<R>(&mut self, probe: &R) -> usize
    where
        R: KeyPart<Owned = T>,
    {
        let h = hashed(&Probe(probe));
        let found = if h.exact && !self.long_keys {
            let hash = h.hash;
            self.index
                .find(hash, |&(k, _)| k == hash)
                .map(|&(_, at)| at)
        } else {
            self.compared_slot(h.hash, probe)
        };
        match found {
            Some(at) => {
                self.count_in(at);
                at
            }
            None => self.insert_new(h, probe),
        }
    }

    /// [`SlidingGroups::slot_of`]'s lookup comparing keys: out of line, so that the lookup by
    /// a short key stays small enough to inline.
    #[inline(never)]
    fn compared_slot<R>(&self, hash: u64, probe: &R) -> Option<usize>
    where
        R: KeyPart<Owned = T>,
    {
        let slots = &self.slots;
        self.index
            .find(hash, |&(h, at)| {
                h == hash && matches!(slots.get(at), Some(Some(g)) if probe.matches(&g.key.0))
            })
            .map(|&(_, at)| at)
    }

    /// Adds the group `probe` borrows (not live, hash `h`) with one event.
    #[cold]
    #[inline(never)]
    fn insert_new<R>(&mut self, h: Hashed, probe: &R) -> usize
    where
        R: KeyPart<Owned = T>,
    {
        self.place(h, Total(probe.to_owned_part()), S::default())
    }
}

impl<K: std::hash::Hash + Eq + Clone, S: Default> SlidingGroups<K, S> {
    /// The slot of the live group `key`, if any.
    #[inline]
    fn slot_by_key(&self, key: &K) -> Option<usize> {
        let h = hashed(key);
        let slots = &self.slots;
        self.index
            .find(h.hash, |&(hash, at)| {
                hash == h.hash
                    && ((h.exact && !self.long_keys)
                        || matches!(slots.get(at), Some(Some(g)) if g.key == *key))
            })
            .map(|&(_, at)| at)
    }

    /// The state of group `key`, created on first sight; counts one more row of it (for
    /// rows that come and go by key, as a join's do, rather than events holding a slot).
    #[inline]
    pub fn hold(&mut self, key: &K) -> &mut S {
        let at = match self.slot_by_key(key) {
            Some(at) => {
                self.count_in(at);
                at
            }
            None => self.place(hashed(key), key.clone(), S::default()),
        };
        let Some(Some(g)) = self.slots.get_mut(at) else {
            unreachable!("a group was just found or placed in this slot")
        };
        &mut g.state
    }

    /// The state of group `key` (created, uncounted, when it is not live): the group a
    /// leaving row updates before [`SlidingGroups::release_key`].
    #[inline]
    pub fn group(&mut self, key: &K) -> &mut S {
        let at = match self.slot_by_key(key) {
            Some(at) => at,
            None => {
                let at = self.place(hashed(key), key.clone(), S::default());
                if let Some(Some(g)) = self.slots.get_mut(at) {
                    g.held = 0;
                }
                // Idle from the start (no sweep here: the caller is about to use it).
                self.idle += 1;
                at
            }
        };
        let Some(Some(g)) = self.slots.get_mut(at) else {
            unreachable!("a group was just found or placed in this slot")
        };
        &mut g.state
    }

    /// Uncounts one row of group `key` (it has left); the group goes idle with its last.
    #[inline]
    pub fn release_key(&mut self, key: &K) {
        if let Some(at) = self.slot_by_key(key) {
            self.release(at);
        }
    }
}

impl<K: std::hash::Hash + Serialize, S: Serialize> Serialize for SlidingGroups<K, S> {
    /// As the list of slots (`None` for a free one) with each group's key, state and event
    /// count: slots are kept, since the window's events name them.
    fn serialize<Z: Serializer>(&self, serializer: Z) -> Result<Z::Ok, Z::Error> {
        let slots: Vec<Option<(&K, &S, u32)>> = self
            .slots
            .iter()
            .map(|g| g.as_ref().map(|g| (&g.key, &g.state, g.held)))
            .collect();
        slots.serialize(serializer)
    }
}

impl<'de, K, S> Deserialize<'de> for SlidingGroups<K, S>
where
    K: std::hash::Hash + Eq + Deserialize<'de>,
    S: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let slots: Vec<Option<(K, S, u32)>> = Vec::deserialize(deserializer)?;
        Self::from_slots(slots).map_err(D::Error::custom)
    }
}

impl<K: std::hash::Hash + Eq, S> SlidingGroups<K, S> {
    /// The groups from their slots as [`Serialize`] writes them (an error when a key
    /// appears twice).
    fn from_slots(slots: Vec<Option<(K, S, u32)>>) -> Result<Self, &'static str> {
        let mut groups = SlidingGroups::default();
        for (at, slot) in slots.into_iter().enumerate() {
            match slot {
                Some((key, state, held)) => {
                    let h = hashed(&key);
                    let same = |&(hash, other): &(u64, usize)| {
                        hash == h.hash && matches!(&groups.slots[other], Some(g) if g.key == key)
                    };
                    if groups.index.find(h.hash, same).is_some() {
                        return Err("a group key appears twice");
                    }
                    groups.idle += usize::from(held == 0);
                    groups.slots.push(Some(Group {
                        key,
                        state,
                        hash: h.hash,
                        held,
                    }));
                    groups
                        .index
                        .insert_unique(h.hash, (h.hash, at), |&(hash, _)| hash);
                    groups.long_keys |= !h.exact;
                }
                None => {
                    groups.slots.push(None);
                    groups.free.push(at);
                }
            }
        }
        Ok(groups)
    }
}

impl<K: crate::state::persist::Save, S: crate::state::persist::Save> crate::state::persist::Save
    for SlidingGroups<K, S>
{
    /// As the serde form: the slots, each `None` or its key, state and event count.
    fn save(&self, w: &mut crate::state::persist::Writer) {
        w.put_len(self.slots.len());
        for slot in &self.slots {
            match slot {
                None => w.put_u8(0),
                Some(g) => {
                    w.put_u8(1);
                    g.key.save(w);
                    g.state.save(w);
                    w.put_u32(g.held);
                }
            }
        }
    }
}

impl<K, S> crate::state::persist::Load for SlidingGroups<K, S>
where
    K: std::hash::Hash + Eq + crate::state::persist::Load,
    S: crate::state::persist::Load,
{
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        let slots: Vec<Option<(K, S, u32)>> = crate::state::persist::Load::load(r)?;
        Self::from_slots(slots).map_err(|e| r.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Aggregator, SumAggregator};
    use proptest::prelude::*;
    use std::collections::{HashMap, VecDeque};
    use std::sync::Arc;

    type Groups = SlidingGroups<Total<(Option<Arc<str>>,)>, SumAggregator<i64>>;

    /// A length window of `n` over (key, value) events, grouped, against a naive recount of
    /// the window after every arrival; checks that exactly the keys in the window are live.
    fn run_length(n: usize, events: &[(String, i64)]) {
        let mut groups = Groups::new();
        let mut window: VecDeque<(usize, String, i64)> = VecDeque::new();
        for (key, v) in events {
            let slot = groups.slot_of(&(Some(key.as_str()),));
            window.push_back((slot, key.clone(), *v));
            if let Some((_, aggs)) = groups.entry_at(slot) {
                aggs.add(Some(*v));
            }
            if window.len() > n {
                let (slot, k, v) = window.pop_front().expect("window is not empty");
                let (key, aggs) = groups.entry_at(slot).expect("the slot is live");
                assert_eq!(key.0 .0.as_deref(), Some(k.as_str()));
                aggs.remove(Some(v));
                groups.release(slot);
            }
            let mut naive: HashMap<&str, i64> = HashMap::new();
            for (_, k, v) in &window {
                *naive.entry(k.as_str()).or_default() += v;
            }
            assert_eq!(groups.len(), naive.len());
            for (_, key, aggs) in groups.iter() {
                let k = key.0 .0.as_deref().expect("keys are not NULL");
                assert_eq!(aggs.value(), Some(naive[k]), "group {k}");
            }
            // A round trip keeps slots, keys, states and counts.
            let bytes = bincode::serialize(&groups).expect("serialize");
            let back: Groups = bincode::deserialize(&bytes).expect("deserialize");
            let a: Vec<_> = groups
                .iter()
                .map(|(s, k, g)| (s, k.clone(), g.value()))
                .collect();
            let b: Vec<_> = back
                .iter()
                .map(|(s, k, g)| (s, k.clone(), g.value()))
                .collect();
            assert_eq!(a, b);
        }
        // Memory follows the window: at most about twice the live groups (a group per event
        // held at most), plus the sweep's margin.
        assert!(groups.slots.len() <= 2 * (n + 1) + SWEEP_MARGIN + 1);
        assert!(groups.kept() <= 2 * n + SWEEP_MARGIN + 1);
    }

    #[test]
    fn drops_a_group_when_its_last_event_leaves() {
        let mut groups = Groups::new();
        let a = groups.slot_of(&(Some("a"),));
        let a2 = groups.slot_of(&(Some("a"),));
        assert_eq!(a, a2);
        groups.release(a);
        assert_eq!(groups.len(), 1, "one event of `a` is still in the window");
        groups.release(a);
        assert!(groups.is_empty());
        assert_eq!(groups.kept(), 1, "idle until a sweep");
        // Releasing an idle slot is harmless.
        groups.release(a);
        assert!(groups.is_empty());
        let b = groups.slot_of(&(Some("b"),));
        assert_eq!(
            groups.get_at(b).map(|(k, _)| k.0 .0.clone()),
            Some(Some("b".into()))
        );
    }

    #[test]
    fn returning_keys_start_empty_and_sweeps_free_slots() {
        let mut groups = Groups::new();
        let a = groups.slot_of(&(Some("a"),));
        groups.entry_at(a).expect("live").1.add(Some(5));
        // The event leaves: out of the aggregates, then uncounted.
        groups.entry_at(a).expect("live").1.remove(Some(5));
        groups.release(a);
        let again = groups.slot_of(&(Some("a"),));
        assert_eq!(again, a, "an idle group comes back to life in its slot");
        assert_eq!(groups.get_at(a).expect("live").1.value(), None);
        // Many keys come and go: idle groups are swept once they outnumber the live ones
        // (plus the margin), and their slots are reused.
        for i in 0..1000 {
            let key = format!("key-{i}");
            let s = groups.slot_of(&(Some(key.as_str()),));
            groups.release(s);
        }
        assert_eq!(groups.len(), 1, "only `a` has an event");
        assert!(groups.kept() <= 1 + SWEEP_MARGIN + 1);
        assert!(groups.slots.len() <= 2 * (1 + SWEEP_MARGIN) + 2);
        assert_eq!(
            groups.get_at(a).map(|(k, _)| k.0 .0.clone()),
            Some(Some("a".into()))
        );
    }

    #[test]
    fn rows_held_by_key_idle_their_group_with_the_last() {
        let mut groups = Groups::new();
        let (a, long) = (
            Total((Some(Arc::<str>::from("a")),)),
            Total((Some(Arc::<str>::from("a-long-key-over-eight-bytes")),)),
        );
        groups.hold(&a).add(Some(1));
        groups.hold(&a).add(Some(2));
        groups.hold(&long).add(Some(5));
        groups.group(&a).remove(Some(1));
        groups.release_key(&a);
        assert_eq!(groups.len(), 2);
        groups.group(&a).remove(Some(2));
        groups.release_key(&a);
        assert_eq!(groups.len(), 1, "`a` went with its last row");
        // Uncounting an idle group leaves it idle.
        groups.release_key(&a);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups.hold(&a).value(), None, "`a` starts again from empty");
        assert_eq!(groups.hold(&long).value(), Some(5));
    }

    #[test]
    fn short_and_long_keys_in_a_length_window() {
        let keys = [
            "a",
            "bb",
            "a-long-key-over-eight-bytes",
            "another-long-key",
            "c",
        ];
        let events: Vec<(String, i64)> = (0..200)
            .map(|i| (keys[(i * 7 + i / 3) % keys.len()].to_string(), i as i64))
            .collect();
        run_length(3, &events);
    }

    proptest! {
        #[test]
        fn matches_a_naive_recount(
            n in 1usize..6,
            events in proptest::collection::vec((0u8..12, -50i64..50), 0..120),
        ) {
            let events: Vec<(String, i64)> = events
                .into_iter()
                .map(|(k, v)| {
                    let key = if k % 3 == 0 { format!("long-key-number-{k}") } else { format!("k{k}") };
                    (key, v)
                })
                .collect();
            run_length(n, &events);
        }
    }
}
