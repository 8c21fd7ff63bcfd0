//! `WINDOW('externalTimeBatch', ts_attr, d [, start] [, timeout])`.

use serde::{Deserialize, Serialize};

use super::batch::emit_chunk;
use super::{next_grid_point, Window, WindowEvent};

/// `externalTimeBatch(attr, d [, start] [, timeout])`: tumbling windows of `d` ms on an
/// event-time attribute.
///
/// Siddhi (`ExternalTimeBatchWindowProcessor`): batch ends lie on `origin + k*d`, the origin
/// being `start` or the first event's attribute. Batches close on arrivals, not on the
/// clock: an arrival whose attribute reaches the open batch's end closes it — emitting the
/// previous batch as expired, `Reset`, the batch as current, `Flush`, all stamped with the
/// largest attribute seen — and opens the batch containing it (empty batches are skipped).
///
/// With a `timeout` (on the app clock, the `ts` of `insert`/`advance`): when no batch has
/// closed for `timeout` ms, the open batch is flushed early (previous batch as expired,
/// `Reset`, the events so far as current); later events of the same batch re-emit it whole at
/// the next timeout or at its close (its earlier part as expired, `Reset`, every event of the
/// batch as current). The timer repeats every `timeout` ms and restarts at each close.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExternalTimeBatchWindow<E> {
    duration: i64,
    start: Option<i64>,
    timeout: Option<i64>,
    /// `(origin, end of the open batch)` once the first event arrived.
    bounds: Option<(i64, i64)>,
    last_event_time: i64,
    /// Open batch events not emitted yet.
    current: Vec<(i64, E)>,
    /// Open batch events already emitted by a timeout flush.
    sent: Vec<(i64, E)>,
    flushed: bool,
    previous: Vec<(i64, E)>,
    timer: Option<i64>,
    keep_expired: bool,
}

impl<E> ExternalTimeBatchWindow<E> {
    /// Batches of `duration_ms` (at least 1) on the attribute, aligned on the first event.
    pub fn new(duration_ms: i64) -> Self {
        ExternalTimeBatchWindow {
            duration: duration_ms.max(1),
            start: None,
            timeout: None,
            bounds: None,
            last_event_time: i64::MIN,
            current: Vec::new(),
            sent: Vec::new(),
            flushed: false,
            previous: Vec::new(),
            timer: None,
            keep_expired: true,
        }
    }

    /// Aligns batches on `start + k*d`.
    pub fn with_start(mut self, start: i64) -> Self {
        self.start = Some(start);
        self
    }

    /// Flushes the open batch when no batch closed for `timeout_ms` of app time (> 0).
    pub fn with_timeout(mut self, timeout_ms: i64) -> Self {
        self.timeout = (timeout_ms > 0).then_some(timeout_ms);
        self
    }

    /// Whether closed batches are kept to be emitted as expired at the next close (default
    /// true). Turn off when the query emits no expired events and nothing joins the window.
    pub fn with_expired(mut self, keep: bool) -> Self {
        self.keep_expired = keep;
        if !keep {
            self.previous.clear();
        }
        self
    }

    /// `event` arrives at app time `ts` with attribute value `event_time`.
    pub fn insert(
        &mut self,
        ts: i64,
        event_time: i64,
        event: E,
        mut out: impl FnMut(WindowEvent<'_, E>),
    ) {
        self.fire(ts, &mut out);
        let (origin, end) = *self.bounds.get_or_insert_with(|| {
            let origin = self.start.unwrap_or(event_time);
            (origin, next_grid_point(origin, self.duration, event_time))
        });
        if self.timer.is_none() {
            self.timer = self.timeout.map(|t| ts + t);
        }
        self.last_event_time = self.last_event_time.max(event_time);
        if event_time >= end {
            self.close(self.last_event_time, &mut out);
            let end = next_grid_point(origin, self.duration, self.last_event_time);
            self.bounds = Some((origin, end));
            self.timer = self.timeout.map(|t| ts + t);
        }
        self.current.push((ts, event));
    }

    /// Closes the open batch at attribute time `at`.
    fn close(&mut self, at: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        if self.flushed {
            if !self.current.is_empty() {
                let expired: &[(i64, E)] = if self.keep_expired { &self.sent } else { &[] };
                emit_chunk(at, expired, &self.sent, &self.current, out);
            }
            self.sent.append(&mut self.current);
            self.previous.clear();
            if self.keep_expired {
                std::mem::swap(&mut self.previous, &mut self.sent);
            }
            self.sent.clear();
            self.flushed = false;
        } else {
            emit_chunk(at, &self.previous, &[], &self.current, out);
            self.previous.clear();
            if self.keep_expired {
                std::mem::swap(&mut self.previous, &mut self.current);
            }
            self.current.clear();
        }
    }

    /// Whether a timeout now would emit anything.
    fn timeout_pending(&self) -> bool {
        !self.current.is_empty() || (!self.flushed && !self.previous.is_empty())
    }

    /// The timeout fires: flush (or re-emit) the open batch.
    fn flush(&mut self, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        let at = self.last_event_time;
        if self.flushed {
            let expired: &[(i64, E)] = if self.keep_expired { &self.sent } else { &[] };
            emit_chunk(at, expired, &self.sent, &self.current, out);
        } else {
            emit_chunk(at, &self.previous, &[], &self.current, out);
            self.previous.clear();
            self.flushed = true;
        }
        self.sent.append(&mut self.current);
    }

    fn fire(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        let Some(timeout) = self.timeout else { return };
        while let Some(due) = self.timer {
            if due > now {
                break;
            }
            if self.timeout_pending() {
                self.flush(out);
                self.timer = Some(due + timeout);
            } else {
                self.timer = Some(next_grid_point(due, timeout, now));
            }
        }
    }
}

impl<E> Window<E> for ExternalTimeBatchWindow<E> {
    const IS_BATCH: bool = true;

    fn advance(&mut self, now: i64, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(now, &mut out);
    }

    fn next_deadline(&self) -> Option<i64> {
        self.timer.filter(|_| self.timeout_pending())
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.previous.iter().map(|(t, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.previous.len()
    }
}

crate::state::persist::persist_fields!(ExternalTimeBatchWindow<E> { duration, start, timeout, bounds, last_event_time, current, sent, flushed, previous, timer, keep_expired });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, chunks, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn closes_on_attribute_time() {
        let mut w = ExternalTimeBatchWindow::new(100);
        let mut log = Vec::new();
        w.insert(1, 1000, 'a', rec(&mut log));
        w.insert(2, 1099, 'b', rec(&mut log));
        w.advance(10_000, rec(&mut log)); // no timer without a timeout
        w.insert(3, 1100, 'c', rec(&mut log));
        w.insert(4, 1350, 'd', rec(&mut log)); // skips the empty batches
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Reset(1100),
                Cur(1, 'a'),
                Cur(2, 'b'),
                Flush(1100, true),
                Exp(1350, 'a'),
                Exp(1350, 'b'),
                Reset(1350),
                Cur(3, 'c'),
                Flush(1350, true),
            ]
        );
    }

    #[test]
    fn timeout_flushes_then_re_emits() {
        let mut w = ExternalTimeBatchWindow::new(100).with_timeout(50);
        let mut log = Vec::new();
        w.insert(0, 1000, 'a', rec(&mut log));
        assert_eq!(w.next_deadline(), Some(50));
        w.advance(60, rec(&mut log)); // flush: a
        w.insert(70, 1010, 'b', rec(&mut log));
        w.advance(100, rec(&mut log)); // re-emit: a expired, a b current
        w.insert(120, 1100, 'c', rec(&mut log)); // close: nothing new since the timeout
        w.insert(130, 1200, 'd', rec(&mut log)); // close: [a b] expired, c current
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Reset(1000),
                Cur(0, 'a'),
                Flush(1000, true),
                Exp(1010, 'a'),
                Reset(1010),
                Cur(0, 'a'),
                Cur(70, 'b'),
                Flush(1010, true),
                Exp(1200, 'a'),
                Exp(1200, 'b'),
                Reset(1200),
                Cur(120, 'c'),
                Flush(1200, true),
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive_chunking(ext in timestamps(2000, 60, 0), d in 1i64..500, start in proptest::option::of(-300i64..300)) {
            let steps: Vec<(i64, usize)> = ext.iter().copied().zip(0..).collect();
            let make = || {
                let w = ExternalTimeBatchWindow::new(d);
                match start { Some(s) => w.with_start(s), None => w }
            };
            let log = check_restore(
                make,
                &steps,
                |w, (x, i), log| w.insert(*i as i64, *x, *i, rec(log)),
                |_, _| {},
            );
            let origin = start.unwrap_or(ext[0]);
            let mut naive: Vec<Vec<usize>> = Vec::new();
            let mut last_end = None;
            for (x, i) in &steps {
                let end = origin + ((x - origin).div_euclid(d) + 1) * d;
                if last_end == Some(end) {
                    naive.last_mut().unwrap().push(*i);
                } else {
                    naive.push(vec![*i]);
                    last_end = Some(end);
                }
            }
            naive.pop(); // the open batch never closes without a later event
            let got = chunks(&log);
            prop_assert_eq!(got.len(), naive.len());
            let mut prev: Vec<usize> = Vec::new();
            for (c, want) in got.iter().zip(&naive) {
                let cur: Vec<usize> = c.current.iter().map(|e| e.1).collect();
                prop_assert_eq!(&cur, want);
                prop_assert_eq!(&c.expired, &prev);
                prev = cur;
            }
        }
    }
}
