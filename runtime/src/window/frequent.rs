//! `WINDOW('frequent', k [, attr ...])`.

use std::hash::Hash;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::FxBuildHasher;

use super::{Window, WindowEvent};

/// `frequent(k [, attrs])`: the latest event of each of (at most) `k` frequent keys, found with
/// Siddhi's variant of the Misra-Gries algorithm. The key is the listed attributes (all attributes by default);
/// the generated code passes it.
///
/// Siddhi (`FrequentWindowProcessor`):
/// - a held key: its count goes up, the arrival replaces the held event (the replaced event
///   is *not* emitted as expired) and is emitted as current;
/// - a new key with fewer than `k` keys held: held with count 1, emitted as current;
/// - a new key with `k` keys held: every held count goes down by one; keys reaching 0 are
///   dropped and their events emitted as expired (stamped with the arrival's time); if that
///   made room the arrival is held with count 1, else it is dropped and emits nothing.
///   docs/semantics.md#expiry puts the arrival's current event first, then the expired ones (Siddhi emits
///   the expired ones first).
///
/// [`Window::iter`] lists the held events in the order their keys were admitted.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, E: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, E: Deserialize<'de>"
))]
pub struct FrequentWindow<K, E> {
    capacity: usize,
    /// key -> (count, timestamp, latest event).
    #[serde(with = "crate::aggregate::pairs")]
    entries: IndexMap<K, (u64, i64, E), FxBuildHasher>,
}

impl<K: Hash + Eq, E> FrequentWindow<K, E> {
    /// A window tracking up to `k` frequent keys (at least 1).
    pub fn new(k: usize) -> Self {
        FrequentWindow {
            capacity: k.max(1),
            entries: IndexMap::default(),
        }
    }

    /// `event` with key `key` arrives at `ts`: `Current` (unless dropped), then `Expired`
    /// for the keys whose count fell to zero.
    pub fn insert(&mut self, ts: i64, key: K, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        if let Some(slot) = self.entries.get_mut(&key) {
            slot.0 += 1;
            slot.1 = ts;
            slot.2 = event;
            out(WindowEvent::Current { ts, event: &slot.2 });
            return;
        }
        if self.entries.len() < self.capacity {
            self.admit(ts, key, event, &mut out);
            return;
        }
        let mut dropped = Vec::new();
        let old = std::mem::take(&mut self.entries);
        for (k, (count, t, e)) in old {
            if count > 1 {
                self.entries.insert(k, (count - 1, t, e));
            } else {
                dropped.push(e);
            }
        }
        if self.entries.len() < self.capacity {
            self.admit(ts, key, event, &mut out);
        }
        for e in &dropped {
            out(WindowEvent::Expired { ts, event: e });
        }
    }

    fn admit(&mut self, ts: i64, key: K, event: E, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        let (i, _) = self.entries.insert_full(key, (1, ts, event));
        out(WindowEvent::Current {
            ts,
            event: &self.entries[i].2,
        });
    }
}

impl<K: Hash + Eq, E> Window<E> for FrequentWindow<K, E> {
    const IS_BATCH: bool = false;

    fn advance(&mut self, _now: i64, _out: impl FnMut(WindowEvent<'_, E>)) {}

    fn next_deadline(&self) -> Option<i64> {
        None
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.entries.values().map(|(_, t, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

crate::state::persist::persist_fields!(FrequentWindow<K, E> { capacity, entries } where K: Hash + Eq);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, Rec};
    use proptest::prelude::*;

    #[test]
    fn misra_gries() {
        let mut w = FrequentWindow::new(2);
        let mut log = Vec::new();
        for (t, k) in [(1, 'a'), (2, 'b'), (3, 'a'), (4, 'c'), (5, 'd')] {
            w.insert(t, k, (t, k), rec(&mut log));
        }
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(1, (1, 'a')),
                Cur(2, (2, 'b')),
                Cur(3, (3, 'a')),
                // 'c' arrives with a:2, b:1 held -> b drops to 0 and leaves, c gets its place
                Cur(4, (4, 'c')),
                Exp(4, (2, 'b')),
                // 'd': a:1 c:1 both drop to 0 and leave, d admitted
                Cur(5, (5, 'd')),
                Exp(5, (3, 'a')),
                Exp(5, (4, 'c')),
            ]
        );
        let mut log = Vec::new();
        w.insert(6, 'd', (6, 'd'), rec(&mut log)); // d:2, replaced silently
        w.insert(7, 'e', (7, 'e'), rec(&mut log)); // room: e:1
        w.insert(8, 'f', (8, 'f'), rec(&mut log)); // d:1, e leaves, f in
        w.insert(9, 'g', (9, 'g'), rec(&mut log)); // d:0 f:0 leave, g in
        assert_eq!(
            log,
            vec![
                Cur(6, (6, 'd')),
                Cur(7, (7, 'e')),
                Cur(8, (8, 'f')),
                Exp(8, (7, 'e')),
                Cur(9, (9, 'g')),
                Exp(9, (6, 'd')),
                Exp(9, (8, 'f')),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Against a plain model of Siddhi's Misra-Gries variant over a Vec (a new key takes a
        /// freed place, so the textbook n/(k+1) guarantee does not hold).
        #[test]
        fn matches_naive_misra_gries(keys in proptest::collection::vec(0u8..12, 1..2000), k in 1usize..6) {
            let steps: Vec<(i64, u8)> = keys.iter().enumerate().map(|(i, x)| (i as i64, *x)).collect();
            let log = check_restore(
                || FrequentWindow::new(k),
                &steps,
                |w, (t, x), log| w.insert(*t, *x, (*t, *x), rec(log)),
                |_, _| {},
            );
            let mut held: Vec<(u8, u64, i64)> = Vec::new();
            let mut want = Vec::new();
            for (t, x) in &steps {
                if let Some(h) = held.iter_mut().find(|h| h.0 == *x) {
                    h.1 += 1;
                    h.2 = *t;
                    want.push(Rec::Cur(*t, (*t, *x)));
                    continue;
                }
                let mut gone = Vec::new();
                if held.len() == k {
                    for h in held.iter_mut() {
                        h.1 -= 1;
                    }
                    gone = held.iter().filter(|h| h.1 == 0).map(|h| Rec::Exp(*t, (h.2, h.0))).collect();
                    held.retain(|h| h.1 > 0);
                }
                if held.len() < k {
                    held.push((*x, 1, *t));
                    want.push(Rec::Cur(*t, (*t, *x)));
                }
                want.extend(gone);
            }
            prop_assert_eq!(&log, &want);
        }
    }
}
