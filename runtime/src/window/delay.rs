//! `WINDOW('delay', d)`.

use serde::{Deserialize, Serialize};

use super::timed_queue::TimedQueue;
use super::{Insert, Window, WindowEvent};

/// `delay(d)`: holds each event for `d` ms, then releases it.
///
/// Siddhi (`DelayWindowProcessor`): an arrival emits nothing; the event arriving at `t` is
/// emitted as *current* when the clock reaches `t + d`, stamped `t + d` (releases due at or
/// before an arrival come before it). There are no expired events, so aggregates over a
/// delay window accumulate every released event. [`Window::iter`] lists the events still
/// held (what a join with the window sees).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DelayWindow<E> {
    events: TimedQueue<E>,
}

impl<E> DelayWindow<E> {
    /// A window delaying events by `delay_ms`.
    pub fn new(delay_ms: i64) -> Self {
        DelayWindow {
            events: TimedQueue::new(delay_ms),
        }
    }

    /// `event` arrives at `ts`: releases due at or before `ts` are emitted; the event is held.
    #[inline]
    pub fn insert(&mut self, ts: i64, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.release(ts, &mut out);
        self.events.push(ts, event);
    }

    fn release(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        self.events.pop_due(now, |due, e| {
            out(WindowEvent::Current { ts: due, event: &e })
        });
    }
}

impl<E> Window<E> for DelayWindow<E> {
    const IS_BATCH: bool = false;

    fn advance(&mut self, now: i64, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.release(now, &mut out);
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

impl<E> Insert<E> for DelayWindow<E> {
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        DelayWindow::insert(self, ts, event, out)
    }
}

crate::state::persist::persist_fields!(DelayWindow<E> { events });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn releases_after_delay_as_current() {
        let mut w = DelayWindow::new(100);
        let mut log = Vec::new();
        w.insert(0, 'a', rec(&mut log));
        w.insert(50, 'b', rec(&mut log));
        assert_eq!(w.next_deadline(), Some(100));
        w.insert(100, 'c', rec(&mut log));
        w.advance(160, rec(&mut log));
        assert_eq!(log, vec![Rec::Cur(100, 'a'), Rec::Cur(150, 'b')]);
        assert_eq!(w.iter().collect::<Vec<_>>(), vec![(100, &'c')]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_event_released_once_at_t_plus_d(ts in timestamps(3000, 20, 0), d in 0i64..200, every in 1usize..10) {
            let steps: Vec<(i64, usize)> = ts.iter().copied().zip(0..).collect();
            let log = check_restore(
                || DelayWindow::new(d),
                &steps,
                |w, (t, i), log| {
                    if i % every == 0 {
                        w.advance(*t, rec(log));
                    }
                    w.insert(*t, *i, rec(log))
                },
                |w, log| w.advance(i64::MAX, rec(log)),
            );
            let want: Vec<Rec<usize>> = steps.iter().map(|(t, i)| Rec::Cur(t + d, *i)).collect();
            prop_assert_eq!(log, want);
        }
    }
}
