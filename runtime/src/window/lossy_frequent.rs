//! `WINDOW('lossyFrequent', support, error [, attr ...])`.

use std::hash::Hash;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::aggregate::FxBuildHasher;

use super::{Window, WindowEvent};

/// Per key: count, bucket id at admission, and the latest event.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry<E> {
    count: u64,
    bucket: u64,
    ts: i64,
    event: E,
}

/// `lossyFrequent(support, error [, attrs])`: events whose key occurs with a frequency of at
/// least `support - error`, by the Lossy Counting algorithm (Manku & Motwani). The generated
/// code passes the key (the listed attributes, all attributes by default).
///
/// Siddhi (`LossyFrequentWindowProcessor`), with bucket width `w = ceil(1 / error)` and `N`
/// events seen so far (this one included), the current bucket being `ceil(N / w)`:
/// - the arrival's key count goes up (a new key is held with count 1 and bucket
///   `current - 1`), and the arrival replaces the held event of its key (the replaced event is
///   not emitted as expired);
/// - the arrival is emitted as current when its key's count is `>= (support - error) * N`;
/// - every `w` events, keys with `count + bucket <= current` are dropped and their held
///   events emitted as expired (stamped with the arrival's time), after the current event.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize + Hash + Eq, E: Serialize",
    deserialize = "K: Deserialize<'de> + Hash + Eq, E: Deserialize<'de>"
))]
pub struct LossyFrequentWindow<K, E> {
    support: f64,
    error: f64,
    width: u64,
    total: u64,
    #[serde(with = "crate::aggregate::pairs")]
    entries: IndexMap<K, Entry<E>, FxBuildHasher>,
}

impl<K: Hash + Eq, E> LossyFrequentWindow<K, E> {
    /// Keys of frequency at least `support`, counted with tolerance `error` (`0 < error`;
    /// Siddhi's one-argument form uses `error = support / 10`).
    pub fn new(support: f64, error: f64) -> Self {
        let error = if error > 0.0 { error } else { support / 10.0 };
        LossyFrequentWindow {
            support,
            error,
            width: (1.0 / error).ceil().max(1.0) as u64,
            total: 0,
            entries: IndexMap::default(),
        }
    }

    /// `event` with key `key` arrives at `ts`: `Current` if its key is frequent enough, then
    /// `Expired` for pruned keys (every `ceil(1/error)` events).
    pub fn insert(&mut self, ts: i64, key: K, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.total += 1;
        let bucket = self.total.div_ceil(self.width);
        let entry = match self.entries.entry(key) {
            indexmap::map::Entry::Occupied(o) => {
                let held = o.into_mut();
                held.ts = ts;
                held.event = event;
                held
            }
            indexmap::map::Entry::Vacant(v) => v.insert(Entry {
                count: 0,
                bucket: bucket - 1,
                ts,
                event,
            }),
        };
        entry.count += 1;
        if (entry.count as f64) >= (self.support - self.error) * self.total as f64 {
            out(WindowEvent::Current {
                ts,
                event: &entry.event,
            });
        }
        if self.total.is_multiple_of(self.width) {
            let old = std::mem::take(&mut self.entries);
            let mut dropped = Vec::new();
            for (k, e) in old {
                if e.count + e.bucket <= bucket {
                    dropped.push(e.event);
                } else {
                    self.entries.insert(k, e);
                }
            }
            for e in &dropped {
                out(WindowEvent::Expired { ts, event: e });
            }
        }
    }
}

impl<K: Hash + Eq, E> Window<E> for LossyFrequentWindow<K, E> {
    const IS_BATCH: bool = false;

    fn advance(&mut self, _now: i64, _out: impl FnMut(WindowEvent<'_, E>)) {}

    fn next_deadline(&self) -> Option<i64> {
        None
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.entries.values().map(|e| (e.ts, &e.event))
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

crate::state::persist::persist_fields!(Entry<E> { count, bucket, ts, event });
crate::state::persist::persist_fields!(LossyFrequentWindow<K, E> { support, error, width, total, entries } where K: Hash + Eq);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, Rec};
    use proptest::prelude::*;

    #[test]
    fn emits_frequent_and_prunes() {
        // error 0.25 -> buckets of 4 events; support 0.5 -> threshold 0.25 * N.
        let mut w = LossyFrequentWindow::new(0.5, 0.25);
        let mut log = Vec::new();
        for (t, k) in [(1, 'a'), (2, 'b'), (3, 'a'), (4, 'c'), (5, 'a')] {
            w.insert(t, k, (t, k), rec(&mut log));
        }
        use Rec::*;
        // N=4 prunes keys with count + bucket(0) <= 1: b and c.
        assert_eq!(
            log,
            vec![
                Cur(1, (1, 'a')),
                Cur(2, (2, 'b')),
                Cur(3, (3, 'a')),
                Cur(4, (4, 'c')),
                Exp(4, (2, 'b')),
                Exp(4, (4, 'c')),
                Cur(5, (5, 'a')),
            ]
        );
        assert_eq!(w.len(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Lossy Counting guarantees: no key with true frequency >= support is missed, and
        /// held counts underestimate true counts by at most error * N.
        #[test]
        fn lossy_counting_guarantees(keys in proptest::collection::vec(0u8..30, 1..2000), s in 5u32..50) {
            let support = f64::from(s) / 100.0;
            let error = support / 5.0;
            let steps: Vec<(i64, u8)> = keys.iter().enumerate().map(|(i, x)| (i as i64, *x)).collect();
            let mut w = LossyFrequentWindow::new(support, error);
            let log = check_restore(
                || LossyFrequentWindow::new(support, error),
                &steps,
                |w, (t, x), log| w.insert(*t, *x, *x, rec(log)),
                |_, _| {},
            );
            for (t, x) in &steps {
                w.insert(*t, *x, *x, |_| {});
            }
            let n = keys.len() as f64;
            for x in 0u8..30 {
                let truth = keys.iter().filter(|y| **y == x).count() as f64;
                let held = w.entries.get(&x).map(|e| e.count as f64);
                if truth >= support * n {
                    prop_assert!(held.is_some(), "frequent key {} lost", x);
                }
                if let Some(c) = held {
                    prop_assert!(c <= truth && truth - c <= error * n + 1.0);
                }
            }
            // Every current event satisfied the threshold at its arrival.
            let cur = log.iter().filter(|r| matches!(r, Rec::Cur(..))).count();
            prop_assert!(cur <= steps.len());
        }
    }
}
