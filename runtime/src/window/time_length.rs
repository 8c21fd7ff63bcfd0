//! `WINDOW('timeLength', d, n)`.

use serde::{Deserialize, Serialize};

use super::timed_queue::TimedQueue;
use super::{Insert, Window, WindowEvent};

/// `timeLength(d, n)`: a sliding window holding at most the last `n` events, none older
/// than `d` ms.
///
/// Siddhi (`TimeLengthWindowProcessor`): an event arriving at `t` expires at `t + d` (emitted
/// as expired stamped `t + d`, on time or before a later arrival); an arrival into a full
/// window first expires the oldest event (stamped with the arrival's time), then is emitted
/// as current.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimeLengthWindow<E> {
    capacity: usize,
    events: TimedQueue<E>,
}

impl<E> TimeLengthWindow<E> {
    /// At most `n` events (at least 1), each for at most `duration_ms`.
    pub fn new(duration_ms: i64, n: usize) -> Self {
        TimeLengthWindow {
            capacity: n.max(1),
            events: TimedQueue::new(duration_ms),
        }
    }

    /// `event` arrives at `ts`: time expiries, the overflow expiry, then `Current`.
    #[inline]
    pub fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        self.insert_at(ts, ts, event, out)
    }

    /// `event` of timestamp `ts` arrives when the clock is at `now` (`>= ts` for a late
    /// event): as [`TimeLengthWindow::insert`] at `now`, the current row stamped `ts` (see
    /// [`super::TimeWindow::insert_at`]).
    #[inline]
    pub fn insert_at(
        &mut self,
        now: i64,
        ts: i64,
        event: E,
        mut out: impl FnMut(WindowEvent<'_, E>),
    ) {
        self.expire(now, &mut out);
        if self.events.len() >= self.capacity {
            if let Some(old) = self.events.pop_oldest() {
                out(WindowEvent::Expired {
                    ts: now.max(ts),
                    event: &old,
                });
            }
        }
        self.events.push(ts.max(now), event);
        if let Some((_, e)) = self.events.newest() {
            out(WindowEvent::Current { ts, event: e });
        }
    }

    fn expire(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        self.events.pop_due(now, |due, e| {
            out(WindowEvent::Expired { ts: due, event: &e })
        });
    }
}

impl<E> Window<E> for TimeLengthWindow<E> {
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

impl<E> Insert<E> for TimeLengthWindow<E> {
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        TimeLengthWindow::insert(self, ts, event, out)
    }
}

crate::state::persist::persist_fields!(TimeLengthWindow<E> { capacity, events });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn both_bounds() {
        let mut w = TimeLengthWindow::new(100, 2);
        let mut log = Vec::new();
        w.insert(0, 'a', rec(&mut log));
        w.insert(10, 'b', rec(&mut log));
        w.insert(20, 'c', rec(&mut log)); // full: 'a' leaves at 20
        w.insert(115, 'd', rec(&mut log)); // 'b' timed out at 110, then 'c' still in
        w.advance(300, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(0, 'a'),
                Cur(10, 'b'),
                Exp(20, 'a'),
                Cur(20, 'c'),
                Exp(110, 'b'),
                Cur(115, 'd'),
                Exp(120, 'c'),
                Exp(215, 'd'),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn window_is_last_n_within_d(ts in timestamps(3000, 20, 0), d in 1i64..200, n in 1usize..30) {
            let steps: Vec<(i64, usize)> = ts.iter().copied().zip(0..).collect();
            let log = check_restore(
                || TimeLengthWindow::new(d, n),
                &steps,
                |w, (t, i), log| w.insert(*t, *i, rec(log)),
                |w, log| w.advance(i64::MAX, rec(log)),
            );
            let mut live: Vec<usize> = Vec::new();
            for r in &log {
                match r {
                    Rec::Exp(_, i) => {
                        prop_assert_eq!(live.first(), Some(i));
                        live.remove(0);
                    }
                    Rec::Cur(t, i) => {
                        live.push(*i);
                        let naive: Vec<usize> = (i.saturating_sub(n - 1)..=*i).filter(|j| ts[*j] + d > *t).collect();
                        prop_assert_eq!(&live, &naive);
                    }
                    _ => prop_assert!(false),
                }
            }
            prop_assert!(live.is_empty());
        }
    }
}
