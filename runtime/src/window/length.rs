//! `WINDOW('length', n)`.

use std::mem;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Insert, Window, WindowEvent};

/// `length(n)`: a sliding window over the last `n` events.
///
/// Siddhi (`LengthWindowProcessor`): while fewer than `n` events are held, an arrival is
/// emitted as current; once full, an arrival first expires the oldest event — emitted as
/// expired, stamped with the arrival's timestamp — then is emitted as current. Nothing
/// happens on time. `n = 0` passes every event through as current then expired at once.
///
/// The events are a ring in one allocation: once full, an arrival takes the place of the
/// oldest event (one slot written, no length to update, no wrap-around of both ends).
/// Serializes as `{ capacity, events }` with the events oldest first (as when the window was a
/// `VecDeque`, so snapshots of earlier builds restore).
#[derive(Clone, Debug)]
pub struct LengthWindow<E> {
    capacity: usize,
    /// The events; in arrival order while filling, then a ring whose oldest is at `oldest`.
    events: Vec<(i64, E)>,
    /// Position of the oldest event once full (0 while filling).
    oldest: usize,
}

impl<E> LengthWindow<E> {
    /// A window keeping the last `n` events.
    pub fn new(n: usize) -> Self {
        LengthWindow {
            capacity: n,
            events: Vec::with_capacity(n.min(1 << 16)),
            oldest: 0,
        }
    }

    /// `event` arrives at `ts`: emits `Expired` for the oldest event when full, then `Current`.
    ///
    /// The hot path calls `out` from two places only (one per kind), so that the compiler
    /// inlines the caller's callback into each and drops the arms that cannot happen there.
    #[inline]
    pub fn insert(&mut self, ts: i64, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        let at = if self.events.len() < self.capacity {
            self.events.push((ts, event));
            self.events.len() - 1
        } else {
            let at = self.oldest;
            let Some(slot) = self.events.get_mut(at) else {
                return Self::pass_through(ts, event, &mut out);
            };
            self.oldest = if at + 1 == self.capacity { 0 } else { at + 1 };
            let (_, old) = mem::replace(slot, (ts, event));
            out(WindowEvent::Expired { ts, event: &old });
            at
        };
        if let Some((t, e)) = self.events.get(at) {
            out(WindowEvent::Current { ts: *t, event: e });
        }
    }

    /// `length(0)`: the event enters and leaves at once.
    #[cold]
    #[inline(never)]
    fn pass_through(ts: i64, event: E, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        out(WindowEvent::Current { ts, event: &event });
        out(WindowEvent::Expired { ts, event: &event });
    }

    /// The events oldest first.
    fn ordered(&self) -> impl Iterator<Item = &(i64, E)> {
        let (newer, older) = self.events.split_at(self.oldest.min(self.events.len()));
        older.iter().chain(newer)
    }
}

impl<E: Serialize> Serialize for LengthWindow<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The events oldest first, as a sequence.
        struct Ordered<'a, E>(&'a LengthWindow<E>);
        impl<E: Serialize> Serialize for Ordered<'_, E> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.ordered())
            }
        }
        let mut s = serializer.serialize_struct("LengthWindow", 2)?;
        s.serialize_field("capacity", &self.capacity)?;
        s.serialize_field("events", &Ordered(self))?;
        s.end()
    }
}

impl<'de, E: Deserialize<'de>> Deserialize<'de> for LengthWindow<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The serialized form: the events oldest first.
        #[derive(Deserialize)]
        #[serde(rename = "LengthWindow")]
        struct Stored<E> {
            capacity: usize,
            events: Vec<(i64, E)>,
        }
        let Stored { capacity, events } = Stored::deserialize(deserializer)?;
        if events.len() > capacity {
            return Err(serde::de::Error::custom(
                "length window holds more events than its capacity",
            ));
        }
        Ok(LengthWindow {
            capacity,
            events,
            oldest: 0,
        })
    }
}

impl<E: crate::state::persist::Save> crate::state::persist::Save for LengthWindow<E> {
    /// As the serde form: the capacity, then the events oldest first.
    fn save(&self, w: &mut crate::state::persist::Writer) {
        w.put_len(self.capacity);
        w.put_len(self.events.len());
        for e in self.ordered() {
            e.save(w);
        }
    }
}

impl<E: crate::state::persist::Load> crate::state::persist::Load for LengthWindow<E> {
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        let capacity: usize = crate::state::persist::Load::load(r)?;
        let events: Vec<(i64, E)> = crate::state::persist::Load::load(r)?;
        if events.len() > capacity {
            return Err(r.error("length window holds more events than its capacity"));
        }
        Ok(LengthWindow {
            capacity,
            events,
            oldest: 0,
        })
    }
}

impl<E> Window<E> for LengthWindow<E> {
    const IS_BATCH: bool = false;

    fn advance(&mut self, _now: i64, _out: impl FnMut(WindowEvent<'_, E>)) {}

    fn next_deadline(&self) -> Option<i64> {
        None
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.ordered().map(|(t, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.events.len()
    }
}

impl<E> Insert<E> for LengthWindow<E> {
    #[inline]
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        LengthWindow::insert(self, ts, event, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Aggregator, MinAggregator};
    use crate::window::testkit::{check_restore, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn expires_oldest_before_current() {
        let mut w = LengthWindow::new(2);
        let mut log = Vec::new();
        for (ts, v) in [(1, 'a'), (5, 'b'), (7, 'c')] {
            w.insert(ts, v, rec(&mut log));
        }
        use Rec::*;
        assert_eq!(
            log,
            vec![Cur(1, 'a'), Cur(5, 'b'), Exp(7, 'a'), Cur(7, 'c')]
        );
        assert_eq!(w.iter().collect::<Vec<_>>(), vec![(5, &'b'), (7, &'c')]);
        assert!(!w.is_batch() && w.next_deadline().is_none());
    }

    /// The layout of the window before it became a ring: snapshots must not change.
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Deque {
        capacity: usize,
        events: std::collections::VecDeque<(i64, char)>,
    }

    #[test]
    fn serializes_oldest_first_as_before_the_ring() {
        let mut w = LengthWindow::new(3);
        for (ts, v) in [(1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')] {
            w.insert(ts, v, |_| {});
        }
        let deque = Deque {
            capacity: 3,
            events: [(3, 'c'), (4, 'd'), (5, 'e')].into(),
        };
        let bytes = bincode::serialize(&w).unwrap();
        assert_eq!(bytes, bincode::serialize(&deque).unwrap());
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            serde_json::to_string(&deque).unwrap()
        );
        let mut back: LengthWindow<char> = bincode::deserialize(&bytes).unwrap();
        let mut log = Vec::new();
        back.insert(6, 'f', rec(&mut log));
        assert_eq!(log, vec![Rec::Exp(6, 'c'), Rec::Cur(6, 'f')]);
        let held: Vec<_> = back.iter().collect();
        assert_eq!(held, vec![(4, &'d'), (5, &'e'), (6, &'f')]);
        let over = Deque {
            capacity: 1,
            events: [(1, 'a'), (2, 'b')].into(),
        };
        let bad = bincode::serialize(&over).unwrap();
        assert!(bincode::deserialize::<LengthWindow<char>>(&bad).is_err());
    }

    #[test]
    fn zero_length_passes_through() {
        let mut w = LengthWindow::new(0);
        let mut log = Vec::new();
        w.insert(1, 'a', rec(&mut log));
        assert_eq!(log, vec![Rec::Cur(1, 'a'), Rec::Exp(1, 'a')]);
        assert_eq!(w.len(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Sliding min over the window's emissions equals the min of the last n values.
        #[test]
        fn sliding_min_matches_naive(
            ts in timestamps(3000, 5, 0),
            vals in proptest::collection::vec(proptest::option::of(-40i32..40), 3000),
            n in 1usize..30,
        ) {
            let steps: Vec<(i64, Option<i32>)> = ts.iter().copied().zip(vals.iter().copied()).collect();
            let log = check_restore(
                || LengthWindow::new(n),
                &steps,
                |w, (t, v), log| w.insert(*t, *v, rec(log)),
                |_, _| {},
            );
            let mut min = MinAggregator::<i32>::default();
            let mut arrivals = 0;
            for r in &log {
                match r {
                    Rec::Exp(t, v) => {
                        prop_assert_eq!(*t, steps[arrivals].0);
                        min.remove(*v);
                    }
                    Rec::Cur(t, v) => {
                        prop_assert_eq!((*t, *v), steps[arrivals]);
                        min.add(*v);
                        arrivals += 1;
                        let lo = arrivals.saturating_sub(n);
                        let naive = steps[lo..arrivals].iter().filter_map(|s| s.1).min();
                        prop_assert_eq!(min.value(), naive);
                    }
                    _ => prop_assert!(false, "no batch markers"),
                }
            }
            prop_assert_eq!(arrivals, steps.len());
        }
    }
}
