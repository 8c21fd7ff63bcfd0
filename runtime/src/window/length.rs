//! `WINDOW('length', n)`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Insert, Window, WindowEvent};

/// `length(n)`: a sliding window over the last `n` events.
///
/// Siddhi (`LengthWindowProcessor`): while fewer than `n` events are held, an arrival is
/// emitted as current; once full, an arrival first expires the oldest event — emitted as
/// expired, stamped with the arrival's timestamp — then is emitted as current. Nothing
/// happens on time. `n = 0` passes every event through as current then expired at once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LengthWindow<E> {
    capacity: usize,
    events: VecDeque<(i64, E)>,
}

impl<E> LengthWindow<E> {
    /// A window keeping the last `n` events.
    pub fn new(n: usize) -> Self {
        LengthWindow {
            capacity: n,
            events: VecDeque::with_capacity(n.min(1 << 16)),
        }
    }

    /// `event` arrives at `ts`: emits `Expired` for the oldest event when full, then `Current`.
    ///
    /// The hot path calls `out` from two places only (one per kind), so that the compiler
    /// inlines the caller's callback into each and drops the arms that cannot happen there.
    #[inline]
    pub fn insert(&mut self, ts: i64, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        if self.capacity == 0 {
            return Self::pass_through(ts, event, &mut out);
        }
        if self.events.len() == self.capacity {
            if let Some((_, old)) = self.events.pop_front() {
                out(WindowEvent::Expired { ts, event: &old });
            }
        }
        self.events.push_back((ts, event));
        if let Some((t, e)) = self.events.back() {
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
        self.events.iter().map(|(t, e)| (*t, e))
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
