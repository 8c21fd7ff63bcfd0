//! `WINDOW('unique', key_attr)`.

use std::hash::Hash;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::FxBuildHasher;

use super::{Window, WindowEvent};

/// `unique(key)`: keeps the latest event of each key.
///
/// Siddhi (`UniqueWindowProcessor`): an arrival whose key is already held replaces the held
/// event, which is emitted as expired (stamped with the arrival's time) before the arrival
/// is emitted as current. Events never expire otherwise. [`Window::iter`] lists the held
/// events in the order their keys first appeared. The generated code passes the key value.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, E: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, E: Deserialize<'de>"
))]
pub struct UniqueWindow<K, E> {
    #[serde(with = "crate::aggregate::pairs")]
    events: IndexMap<K, (i64, E), FxBuildHasher>,
}

impl<K, E> Default for UniqueWindow<K, E> {
    fn default() -> Self {
        UniqueWindow {
            events: IndexMap::default(),
        }
    }
}

impl<K: Hash + Eq, E> UniqueWindow<K, E> {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// `event` with key `key` arrives at `ts`: the replaced event (if any) as expired, then
    /// `Current`.
    #[inline]
    pub fn insert(&mut self, ts: i64, key: K, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        let slot = match self.events.entry(key) {
            indexmap::map::Entry::Occupied(o) => {
                let slot = o.into_mut();
                let (_, old) = std::mem::replace(slot, (ts, event));
                out(WindowEvent::Expired { ts, event: &old });
                slot
            }
            indexmap::map::Entry::Vacant(v) => v.insert((ts, event)),
        };
        out(WindowEvent::Current { ts, event: &slot.1 });
    }
}

impl<K: Hash + Eq, E> Window<E> for UniqueWindow<K, E> {
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

crate::state::persist::persist_fields!(UniqueWindow<K, E> { events } where K: Hash + Eq);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, Rec};
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn replaces_per_key() {
        let mut w = UniqueWindow::new();
        let mut log = Vec::new();
        w.insert(1, "ibm", 'a', rec(&mut log));
        w.insert(2, "msft", 'b', rec(&mut log));
        w.insert(3, "ibm", 'c', rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![Cur(1, 'a'), Cur(2, 'b'), Exp(3, 'a'), Cur(3, 'c')]
        );
        assert_eq!(w.iter().map(|(_, e)| *e).collect::<String>(), "cb");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn holds_latest_per_key(keys in proptest::collection::vec(proptest::option::of(0u8..20), 1..3000)) {
            let steps: Vec<(i64, Option<u8>)> = keys.iter().enumerate().map(|(i, k)| (i as i64, *k)).collect();
            let log = check_restore(
                UniqueWindow::new,
                &steps,
                |w, (t, k), log| w.insert(*t, *k, (*t, *k), rec(log)),
                |_, _| {},
            );
            let mut latest: HashMap<Option<u8>, i64> = HashMap::new();
            let mut want = Vec::new();
            for (t, k) in &steps {
                if let Some(prev) = latest.insert(*k, *t) {
                    want.push(Rec::Exp(*t, (prev, *k)));
                }
                want.push(Rec::Cur(*t, (*t, *k)));
            }
            prop_assert_eq!(log, want);
        }
    }
}
