//! `WINDOW('firstUnique', key_attr)`.

use std::hash::Hash;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::FxBuildHasher;

use super::{Window, WindowEvent};

/// `firstUnique(key)`: keeps the first event of each key.
///
/// Siddhi (`FirstUniqueWindowProcessor`): the first event of a key is held and emitted as
/// current; later events of a held key are dropped (nothing emitted). Nothing ever expires.
/// [`Window::iter`] lists the held events in arrival order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, E: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, E: Deserialize<'de>"
))]
pub struct FirstUniqueWindow<K, E> {
    #[serde(with = "crate::aggregate::pairs")]
    events: IndexMap<K, (i64, E), FxBuildHasher>,
}

impl<K, E> Default for FirstUniqueWindow<K, E> {
    fn default() -> Self {
        FirstUniqueWindow {
            events: IndexMap::default(),
        }
    }
}

impl<K: Hash + Eq, E> FirstUniqueWindow<K, E> {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// `event` with key `key` arrives at `ts`: `Current` if the key is new, else nothing.
    #[inline]
    pub fn insert(&mut self, ts: i64, key: K, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        if let indexmap::map::Entry::Vacant(v) = self.events.entry(key) {
            let (t, e) = v.insert((ts, event));
            out(WindowEvent::Current { ts: *t, event: e });
        }
    }
}

impl<K: Hash + Eq, E> Window<E> for FirstUniqueWindow<K, E> {
    const IS_BATCH: bool = false;

    fn advance(&mut self, _now: i64, _out: impl FnMut(WindowEvent<'_, E>)) {}

    fn next_deadline(&self) -> Option<i64> {
        None
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.events.values().map(|(t, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.events.len()
    }
}

crate::state::persist::persist_fields!(FirstUniqueWindow<K, E> { events } where K: Hash + Eq);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, Rec};
    use proptest::prelude::*;

    #[test]
    fn keeps_first_per_key() {
        let mut w = FirstUniqueWindow::new();
        let mut log = Vec::new();
        w.insert(1, "ibm", 'a', rec(&mut log));
        w.insert(2, "ibm", 'b', rec(&mut log));
        w.insert(3, "msft", 'c', rec(&mut log));
        assert_eq!(log, vec![Rec::Cur(1, 'a'), Rec::Cur(3, 'c')]);
        assert_eq!(w.len(), 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn emits_first_occurrences(keys in proptest::collection::vec(0u8..50, 1..3000)) {
            let steps: Vec<(i64, u8)> = keys.iter().enumerate().map(|(i, k)| (i as i64, *k)).collect();
            let log = check_restore(
                FirstUniqueWindow::new,
                &steps,
                |w, (t, k), log| w.insert(*t, *k, *t, rec(log)),
                |_, _| {},
            );
            let want: Vec<Rec<i64>> = steps
                .iter()
                .filter(|(t, k)| !keys[..*t as usize].contains(k))
                .map(|(t, _)| Rec::Cur(*t, *t))
                .collect();
            prop_assert_eq!(log, want);
        }
    }
}
