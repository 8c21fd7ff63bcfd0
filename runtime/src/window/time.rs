//! `WINDOW('time', d)`.

use serde::{Deserialize, Serialize};

use super::timed_queue::TimedQueue;
use super::{Insert, Window, WindowEvent};

/// `time(d)`: a sliding window over the events of the last `d` ms.
///
/// Siddhi (`TimeWindowProcessor`): an event arriving at `t` is emitted as current and expires
/// when the clock reaches `t + d` (it is in the window during `[t, t + d)`), emitted as
/// expired stamped `t + d`. Expiries due at or before an arrival are emitted before it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimeWindow<E> {
    events: TimedQueue<E>,
}

impl<E> TimeWindow<E> {
    /// A window keeping events for `duration_ms`.
    pub fn new(duration_ms: i64) -> Self {
        TimeWindow {
            events: TimedQueue::new(duration_ms),
        }
    }

    /// `event` arrives at `ts`: expiries due at or before `ts`, then `Current`.
    #[inline]
    pub fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        self.insert_at(ts, ts, event, out)
    }

    /// `event` of timestamp `ts` arrives when the clock is at `now` (`>= ts` for a late
    /// event): expiries due at or before `now`, then `Current` stamped `ts`. The event is in
    /// the window from `max(ts, now)` (docs/semantics.md#late-events: a late event is processed at the clock's
    /// time; its own `ts` stamps its current row).
    #[inline]
    pub fn insert_at(
        &mut self,
        now: i64,
        ts: i64,
        event: E,
        mut out: impl FnMut(WindowEvent<'_, E>),
    ) {
        self.expire(now, &mut out);
        self.events.push(ts.max(now), event);
        if let Some((_, e)) = self.events.newest() {
            out(WindowEvent::Current { ts, event: e });
        }
    }

    #[inline]
    fn expire(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        self.events.pop_due(now, |due, e| {
            out(WindowEvent::Expired { ts: due, event: &e })
        });
    }
}

impl<E> Window<E> for TimeWindow<E> {
    const IS_BATCH: bool = false;

    fn advance(&mut self, now: i64, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.expire(now, &mut out);
    }

    fn next_deadline(&self) -> Option<i64> {
        self.events.next_due()
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.events.iter()
    }

    fn len(&self) -> usize {
        self.events.len()
    }
}

impl<E> Insert<E> for TimeWindow<E> {
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        TimeWindow::insert(self, ts, event, out)
    }
}

crate::state::persist::persist_fields!(TimeWindow<E> { events });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Aggregator, SumAggregator};
    use crate::window::testkit::{check_restore, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn expires_at_t_plus_d_before_arrivals() {
        let mut w = TimeWindow::new(1000);
        let mut log = Vec::new();
        w.insert(0, 'a', rec(&mut log));
        w.insert(500, 'b', rec(&mut log));
        assert_eq!(w.next_deadline(), Some(1000));
        w.insert(1000, 'c', rec(&mut log)); // 'a' leaves at exactly 1000, before 'c'
        w.advance(1499, rec(&mut log));
        w.advance(2000, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(0, 'a'),
                Cur(500, 'b'),
                Exp(1000, 'a'),
                Cur(1000, 'c'),
                Exp(1500, 'b'),
                Exp(2000, 'c')
            ]
        );
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn a_late_event_enters_at_the_clock() {
        let mut w = TimeWindow::new(1000);
        let mut log = Vec::new();
        w.insert(1000, 'a', rec(&mut log));
        w.insert_at(3000, 1500, 'b', rec(&mut log)); // late: 'a' expires first (at 2000)
        w.insert(2800, 'c', rec(&mut log)); // late, not told the clock: enters with 'b'
        w.advance(10_000, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(1000, 'a'),
                Exp(2000, 'a'),
                Cur(1500, 'b'),
                Cur(2800, 'c'),
                Exp(4000, 'b'),
                Exp(4000, 'c')
            ]
        );
    }

    #[derive(Clone, Debug)]
    enum Step {
        Insert(i64, Option<i64>),
        Advance(i64),
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A running sum over the emissions equals the sum of values with ts in (now - d, now].
        #[test]
        fn sliding_sum_matches_naive(
            ts in timestamps(3000, 40, 0),
            vals in proptest::collection::vec(proptest::option::of(-100i64..100), 3000),
            advance_every in 2usize..20,
            d in 1i64..300,
        ) {
            let mut steps = Vec::new();
            for (i, t) in ts.iter().enumerate() {
                if i % advance_every == 0 {
                    steps.push(Step::Advance(*t));
                }
                steps.push(Step::Insert(*t, vals[i]));
            }
            let log = check_restore(
                || TimeWindow::new(d),
                &steps,
                |w, s, log| match s {
                    Step::Insert(t, v) => w.insert(*t, *v, rec(log)),
                    Step::Advance(t) => w.advance(*t, rec(log)),
                },
                |w, log| w.advance(i64::MAX, rec(log)),
            );
            let mut sum = SumAggregator::<i64>::default();
            let mut arrivals = 0;
            let mut last_exp = i64::MIN;
            for r in &log {
                match r {
                    Rec::Exp(t, v) => {
                        prop_assert!(*t >= last_exp);
                        last_exp = *t;
                        Aggregator::<i64>::remove(&mut sum, *v);
                    }
                    Rec::Cur(t, v) => {
                        prop_assert_eq!(*t, ts[arrivals]);
                        prop_assert!(last_exp <= *t);
                        Aggregator::<i64>::add(&mut sum, *v);
                        arrivals += 1;
                        let live: Vec<i64> = (0..arrivals)
                            .filter(|&j| ts[j] + d > *t)
                            .filter_map(|j| vals[j])
                            .collect();
                        let naive = (!live.is_empty()).then(|| live.iter().sum::<i64>());
                        prop_assert_eq!(Aggregator::<i64>::value(&sum), naive);
                    }
                    _ => prop_assert!(false),
                }
            }
            prop_assert_eq!(Aggregator::<i64>::value(&sum), None);
        }
    }
}
