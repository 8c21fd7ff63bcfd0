//! `WINDOW('cron', 'expr')`.

use serde::{Deserialize, Serialize};

use super::batch::BatchBuffer;
use super::{CronError, CronSchedule, Insert, Window, WindowEvent};

/// `cron('sec min hour dom month dow')`: tumbling batches closed at the schedule's fire times
/// (UTC, see [`CronSchedule`]).
///
/// Siddhi (`CronWindowProcessor`): events are held; at each fire time `f` the batch closes —
/// the previous batch is emitted as expired (stamped `f`), then `Reset`, the batch's events as
/// current, `Flush`. An event at exactly a fire time joins the next batch (timers first).
/// Fire times with nothing to emit pass silently.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CronWindow<E> {
    schedule: CronSchedule,
    next_close: Option<i64>,
    batch: BatchBuffer<E>,
}

impl<E> CronWindow<E> {
    /// Batches closed at `schedule`'s fire times.
    pub fn new(schedule: CronSchedule) -> Self {
        CronWindow {
            schedule,
            next_close: None,
            batch: BatchBuffer::new(),
        }
    }

    /// Parses `expr` and builds the window.
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        CronSchedule::parse(expr).map(Self::new)
    }

    /// Whether closed batches are kept to be emitted as expired at the next close (default
    /// true). Turn off when the query emits no expired events and nothing joins the window.
    pub fn with_expired(mut self, keep: bool) -> Self {
        self.batch.set_keep_expired(keep);
        self
    }

    /// `event` arrives at `ts`: batches closing at or before `ts` close first.
    pub fn insert(&mut self, ts: i64, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(ts, &mut out);
        if self.next_close.is_none() {
            self.next_close = self.schedule.next_after(ts);
        }
        self.batch.current.push((ts, event));
    }

    fn fire(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        while let Some(close) = self.next_close {
            if close > now {
                break;
            }
            if self.batch.has_pending() {
                self.batch.close(close, out);
                self.next_close = self.schedule.next_after(close);
            } else {
                self.next_close = None;
            }
        }
    }
}

impl<E> Window<E> for CronWindow<E> {
    const IS_BATCH: bool = true;

    fn advance(&mut self, now: i64, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(now, &mut out);
    }

    fn next_deadline(&self) -> Option<i64> {
        self.next_close.filter(|_| self.batch.has_pending())
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.batch.previous.iter().map(|(t, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.batch.previous.len()
    }
}

impl<E> Insert<E> for CronWindow<E> {
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        CronWindow::insert(self, ts, event, out)
    }
}

crate::state::persist::persist_fields!(CronWindow<E> { schedule, next_close, batch });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, chunks, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn closes_at_fire_times() {
        let mut w = CronWindow::parse("*/5 * * * * *").unwrap();
        let mut log = Vec::new();
        w.insert(1_000, 'a', rec(&mut log));
        w.insert(4_999, 'b', rec(&mut log));
        assert_eq!(w.next_deadline(), Some(5_000));
        w.insert(5_000, 'c', rec(&mut log));
        w.advance(10_000, rec(&mut log));
        w.advance(15_000, rec(&mut log));
        w.insert(31_000, 'd', rec(&mut log));
        w.advance(40_000, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Reset(5_000),
                Cur(1_000, 'a'),
                Cur(4_999, 'b'),
                Flush(5_000, true),
                Exp(10_000, 'a'),
                Exp(10_000, 'b'),
                Reset(10_000),
                Cur(5_000, 'c'),
                Flush(10_000, true),
                Exp(15_000, 'c'),
                Flush(15_000, false),
                Reset(35_000),
                Cur(31_000, 'd'),
                Flush(35_000, true),
                Exp(40_000, 'd'),
                Flush(40_000, false),
            ]
        );
        assert!(CronWindow::<u8>::parse("bad").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn matches_naive_bucketing(ts in timestamps(1500, 3000, 0), every in 1u32..30) {
            let steps: Vec<(i64, usize)> = ts.iter().copied().zip(0..).collect();
            let expr = format!("*/{every} * * * * *");
            let log = check_restore(
                || CronWindow::parse(&expr).unwrap().with_expired(false),
                &steps,
                |w, (t, i), log| w.insert(*t, *i, rec(log)),
                |w, log| w.advance(i64::MAX / 4, rec(log)),
            );
            let sched = CronSchedule::parse(&expr).unwrap();
            let mut naive: Vec<(i64, Vec<(i64, usize)>)> = Vec::new();
            for (t, i) in &steps {
                let close = sched.next_after(*t).unwrap();
                match naive.last_mut() {
                    Some((c, evs)) if *c == close => evs.push((*t, *i)),
                    _ => naive.push((close, vec![(*t, *i)])),
                }
            }
            let got = chunks(&log);
            prop_assert_eq!(got.len(), naive.len());
            for (c, (close, evs)) in got.iter().zip(&naive) {
                prop_assert_eq!(c.at, *close);
                prop_assert_eq!(&c.current, evs);
            }
        }
    }
}
