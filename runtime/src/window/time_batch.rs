//! `WINDOW('timeBatch', d [, start])`, also `WINDOW TUMBLING(d)`.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use super::batch::{BatchBuffer, BatchStore};
use super::{next_grid_point, Insert, Window, WindowEvent};

/// `timeBatch(d [, start])` / `tumbling(d [, start])`: tumbling windows of `d` ms.
///
/// Batch boundaries lie on the grid `origin + k*d`. Without a start offset the origin is the
/// first event's time (docs/windows.md#timebatch-tumbling: a first event at 50 closes batches at 1050, 2050, ...);
/// with one, the origin is the offset (Siddhi: `start + k*d`, the batch containing the
/// first event closes first). A batch `[b, b + d)` closes when the clock reaches `b + d`
/// (an event at exactly `b + d` belongs to the next batch): the previous batch is emitted as
/// expired (stamped `b + d`), then `Reset`, the batch's events as current, `Flush`. A batch
/// without events emits nothing of its own, but the batch before it still expires then, as
/// in Siddhi (only when expired events are kept). After idle periods the grid continues.
///
/// `B` keeps the batches: their events ([`BatchBuffer`]), or only their count
/// ([`super::BatchCount`]: closes emit `Reset` and `Flush` alone, for queries that aggregate
/// on arrival).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimeBatchWindow<E, B = BatchBuffer<E>> {
    duration: i64,
    start: Option<i64>,
    next_close: Option<i64>,
    batch: B,
    #[serde(skip)]
    events: PhantomData<fn(E)>,
}

/// `WINDOW TUMBLING(d)`: the same window as [`TimeBatchWindow`].
pub type TumblingWindow<E> = TimeBatchWindow<E>;

impl<E> TimeBatchWindow<E> {
    /// Batches of `duration_ms` (at least 1), aligned on the first event, keeping their events.
    pub fn new(duration_ms: i64) -> Self {
        Self::with_store(duration_ms)
    }
}

impl<E, B: BatchStore<E>> TimeBatchWindow<E, B> {
    /// Batches of `duration_ms` (at least 1), aligned on the first event, kept by a `B`.
    pub fn with_store(duration_ms: i64) -> Self {
        TimeBatchWindow {
            duration: duration_ms.max(1),
            start: None,
            next_close: None,
            batch: B::default(),
            events: PhantomData,
        }
    }

    /// Aligns batches on `start + k*d` instead of on the first event.
    pub fn with_start(mut self, start: i64) -> Self {
        self.start = Some(start);
        self
    }

    /// Whether closed batches are kept to be emitted as expired at the next close (default
    /// true). Turn off when the query emits no expired events and nothing joins the window.
    pub fn with_expired(mut self, keep: bool) -> Self {
        self.batch.set_keep_expired(keep);
        self
    }

    /// `event` arrives at `ts`: batches closing at or before `ts` close first, then the event
    /// joins the open batch.
    #[inline]
    pub fn insert(&mut self, ts: i64, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(ts, &mut out);
        if self.next_close.is_none() {
            let origin = self.start.unwrap_or(ts);
            self.next_close = Some(next_grid_point(origin, self.duration, ts));
        }
        self.batch.push(ts, event);
    }

    /// Closes every batch due at or before `now`; checking that none is due costs a compare
    /// (this runs for every event).
    #[inline]
    fn fire(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        if self.next_close.is_some_and(|close| close <= now) {
            self.fire_due(now, out);
        }
    }

    fn fire_due(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        while let Some(close) = self.next_close {
            if close > now {
                break;
            }
            if self.batch.has_pending() {
                self.batch.close(close, out);
                self.next_close = Some(close + self.duration);
            } else {
                self.next_close = Some(next_grid_point(close, self.duration, now));
            }
        }
    }
}

impl<E, B: BatchStore<E>> Window<E> for TimeBatchWindow<E, B> {
    const IS_BATCH: bool = true;

    #[inline]
    fn advance(&mut self, now: i64, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(now, &mut out);
    }

    #[inline]
    fn next_deadline(&self) -> Option<i64> {
        self.next_close.filter(|_| self.batch.has_pending())
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.batch.previous().iter().map(|(t, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.batch.previous().len()
    }
}

impl<E, B: BatchStore<E>> Insert<E> for TimeBatchWindow<E, B> {
    #[inline]
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        TimeBatchWindow::insert(self, ts, event, out)
    }
}

crate::state::persist::persist_fields!(TimeBatchWindow<E, B> { duration, start, next_close, batch }; events);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, chunks, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn first_batch_opens_at_first_event() {
        let mut w = TimeBatchWindow::new(1000);
        let mut log = Vec::new();
        w.insert(50, 'a', rec(&mut log));
        w.insert(1049, 'b', rec(&mut log));
        assert_eq!(w.next_deadline(), Some(1050));
        w.insert(1050, 'c', rec(&mut log)); // closes [50, 1050) first
        w.advance(2050, rec(&mut log));
        w.advance(3050, rec(&mut log)); // empty batch: only the previous one expires
        assert_eq!(w.next_deadline(), None);
        w.insert(7000, 'd', rec(&mut log)); // grid continues: closes at 7050
        w.advance(7050, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Reset(1050),
                Cur(50, 'a'),
                Cur(1049, 'b'),
                Flush(1050, true),
                Exp(2050, 'a'),
                Exp(2050, 'b'),
                Reset(2050),
                Cur(1050, 'c'),
                Flush(2050, true),
                Exp(3050, 'c'),
                Flush(3050, false),
                Reset(7050),
                Cur(7000, 'd'),
                Flush(7050, true),
            ]
        );
    }

    #[test]
    fn start_offset_aligns_batches() {
        let mut w = TumblingWindow::new(100).with_start(30).with_expired(false);
        let mut log = Vec::new();
        w.insert(250, 'a', rec(&mut log));
        assert_eq!(w.next_deadline(), Some(330));
        w.insert(330, 'b', rec(&mut log));
        w.advance(1000, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Reset(330),
                Cur(250, 'a'),
                Flush(330, true),
                Reset(430),
                Cur(330, 'b'),
                Flush(430, true)
            ]
        );
    }

    /// The selector recipe: clear groups at `Reset`, add at `Current`, emit rows at `Flush`.
    #[test]
    fn grouped_sum_per_batch_in_first_appearance_order() {
        use crate::aggregate::{Aggregator, GroupMap, SumAggregator};
        let mut w = TimeBatchWindow::new(10);
        let mut groups: GroupMap<&str, SumAggregator<i64>> = GroupMap::new();
        let mut rows = Vec::new();
        let mut selector = |e: WindowEvent<'_, (&'static str, i64)>| match e {
            WindowEvent::Reset { .. } => groups.clear(),
            WindowEvent::Current { event, .. } => groups.get_or_default(event.0).add(Some(event.1)),
            WindowEvent::Expired { .. } => {}
            WindowEvent::Flush {
                has_current: false, ..
            } => {}
            WindowEvent::Flush { ts, .. } => {
                rows.extend(groups.iter().map(|(k, s)| (ts, *k, s.value())));
            }
        };
        for (t, ev) in [
            (0, ("b", 1)),
            (3, ("a", 2)),
            (5, ("b", 3)),
            (12, ("a", 4)),
            (14, ("c", 5)),
        ] {
            w.insert(t, ev, &mut selector);
        }
        w.advance(100, &mut selector);
        assert_eq!(
            rows,
            vec![
                (10, "b", Some(4)),
                (10, "a", Some(2)),
                (20, "a", Some(4)),
                (20, "c", Some(5))
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive_chunking(
            ts in timestamps(3000, 60, 1000),
            d in 1i64..500,
            start in proptest::option::of(-1000i64..1000),
            advance_every in 1usize..30,
        ) {
            let steps: Vec<(i64, usize, bool)> =
                ts.iter().enumerate().map(|(i, t)| (*t, i, i % advance_every == 0)).collect();
            let make = || {
                let w = TimeBatchWindow::new(d);
                match start { Some(s) => w.with_start(s), None => w }
            };
            let log = check_restore(
                make,
                &steps,
                |w, (t, i, adv), log| {
                    if *adv {
                        w.advance(*t, rec(log));
                    }
                    w.insert(*t, *i, rec(log))
                },
                |w, log| w.advance(i64::MAX / 2, rec(log)),
            );
            // Naive: bucket every event by its batch, in order.
            let origin = start.unwrap_or(ts[0]);
            let mut naive: Vec<(i64, Vec<(i64, usize)>)> = Vec::new();
            for (i, t) in ts.iter().enumerate() {
                let close = origin + ((t - origin).div_euclid(d) + 1) * d;
                match naive.last_mut() {
                    Some((c, evs)) if *c == close => evs.push((*t, i)),
                    _ => naive.push((close, vec![(*t, i)])),
                }
            }
            let got: Vec<_> = chunks(&log).into_iter().filter(|c| !c.current.is_empty()).collect();
            prop_assert_eq!(got.len(), naive.len());
            let mut prev: Option<Vec<usize>> = None;
            for (c, (close, evs)) in got.iter().zip(&naive) {
                prop_assert_eq!(c.at, *close);
                prop_assert_eq!(&c.current, evs);
                // The previous batch expires here unless an empty close already expired it.
                if let Some(p) = prev.take() {
                    prop_assert!(c.expired.is_empty() || c.expired == p);
                }
                prev = Some(evs.iter().map(|e| e.1).collect());
            }
        }

        /// A counting store closes the same batches at the same times as the event buffer
        /// (without expired events), emitting only their `Reset` and `Flush`; its state
        /// survives snapshot/restore.
        #[test]
        fn counting_store_closes_like_the_buffer(
            ts in timestamps(2000, 60, 1000),
            d in 1i64..500,
            start in proptest::option::of(-1000i64..1000),
            advance_every in 1usize..30,
        ) {
            let steps: Vec<(i64, usize, bool)> =
                ts.iter().enumerate().map(|(i, t)| (*t, i, i % advance_every == 0)).collect();
            let apply = |w: &mut TimeBatchWindow<usize, crate::window::BatchCount>,
                         (t, i, adv): &(i64, usize, bool),
                         log: &mut Vec<Rec<usize>>| {
                if *adv {
                    w.advance(*t, rec(log));
                }
                w.insert(*t, *i, rec(log))
            };
            let counted = check_restore(
                || {
                    let w = TimeBatchWindow::<usize, crate::window::BatchCount>::with_store(d);
                    match start { Some(s) => w.with_start(s), None => w }
                },
                &steps,
                apply,
                |w, log| w.advance(i64::MAX / 2, rec(log)),
            );
            let mut buffered = Vec::new();
            let mut w = TimeBatchWindow::new(d).with_expired(false);
            if let Some(s) = start {
                w = w.with_start(s);
            }
            for (t, i, adv) in &steps {
                if *adv {
                    w.advance(*t, rec(&mut buffered));
                }
                w.insert(*t, *i, rec(&mut buffered));
            }
            w.advance(i64::MAX / 2, rec(&mut buffered));
            buffered.retain(|r| !matches!(r, Rec::Cur(..)));
            prop_assert_eq!(counted, buffered);
            prop_assert!(w.next_deadline().is_none());
        }
    }
}
