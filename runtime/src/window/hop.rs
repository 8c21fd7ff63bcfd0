//! `WINDOW('sliding', size, slide)` / `WINDOW HOP(size, slide)`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::batch::emit_chunk;
use super::{next_grid_point, Insert, Window, WindowEvent};

/// `sliding(size, slide [, start])` / `hop(size, slide [, start])`: hopping time windows of
/// `size` ms starting every `slide` ms (tumbling when `slide == size`; with `slide > size`
/// events between windows belong to none and are dropped).
///
/// Siddhi has no such window; it is defined here as the batch counterpart of `timeBatch`.
/// Window starts lie on the grid `origin + k*slide`, the origin being the first event's time
/// (the first window opens with it, as `timeBatch`'s first batch does) or the start offset
/// (then every window containing the first event counts, including ones opened before it).
/// The window `[s, s + size)` closes when the clock reaches `s + size`: the previously closed
/// window's events are emitted as expired (stamped `s + size`), then `Reset`, this window's
/// events as current (own timestamps), then `Flush`. Empty windows emit nothing of their own.
/// An event belongs to every window containing it, so it is held until its last window
/// closes; timestamps are expected nondecreasing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HopWindow<E> {
    size: i64,
    slide: i64,
    start: Option<i64>,
    /// Start of the next window to close.
    next_start: Option<i64>,
    events: VecDeque<(i64, E)>,
    previous: Vec<(i64, E)>,
    keep_expired: bool,
}

impl<E: Clone> HopWindow<E> {
    /// Windows of `size_ms` every `slide_ms` (both at least 1).
    pub fn new(size_ms: i64, slide_ms: i64) -> Self {
        HopWindow {
            size: size_ms.max(1),
            slide: slide_ms.max(1),
            start: None,
            next_start: None,
            events: VecDeque::new(),
            previous: Vec::new(),
            keep_expired: true,
        }
    }

    /// Aligns window starts on `start + k*slide` instead of on the first event.
    pub fn with_start(mut self, start: i64) -> Self {
        self.start = Some(start);
        self
    }

    /// Whether closed windows are kept to be emitted as expired at the next close (default
    /// true). Turn off when the query emits no expired events and nothing joins the window.
    pub fn with_expired(mut self, keep: bool) -> Self {
        self.keep_expired = keep;
        if !keep {
            self.previous.clear();
        }
        self
    }

    /// `event` arrives at `ts`: windows closing at or before `ts` close first; the event joins
    /// the open windows containing it.
    pub fn insert(&mut self, ts: i64, event: E, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(ts, &mut out);
        let first = *self.next_start.get_or_insert_with(|| match self.start {
            None => ts,
            Some(s) => next_grid_point(s, self.slide, ts - self.size),
        });
        if ts >= first {
            self.events.push_back((ts, event));
        }
    }

    fn has_pending(&self) -> bool {
        !self.events.is_empty() || !self.previous.is_empty()
    }

    fn fire(&mut self, now: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        while let Some(start) = self.next_start {
            let end = start + self.size;
            if end > now {
                break;
            }
            if !self.has_pending() {
                self.next_start = Some(next_grid_point(start, self.slide, now - self.size));
                continue;
            }
            self.close(start, end, out);
            let next = start + self.slide;
            self.next_start = Some(next);
            while self.events.front().is_some_and(|(t, _)| *t < next) {
                self.events.pop_front();
            }
        }
    }

    fn close(&mut self, start: i64, end: i64, out: &mut impl FnMut(WindowEvent<'_, E>)) {
        let all = self.events.make_contiguous();
        let lo = all.partition_point(|(t, _)| *t < start);
        let hi = lo + all[lo..].partition_point(|(t, _)| *t < end);
        let window = &all[lo..hi];
        emit_chunk(end, &self.previous, &[], window, out);
        self.previous.clear();
        if self.keep_expired {
            self.previous.extend_from_slice(window);
        }
    }
}

impl<E: Clone> Window<E> for HopWindow<E> {
    const IS_BATCH: bool = true;

    fn advance(&mut self, now: i64, mut out: impl FnMut(WindowEvent<'_, E>)) {
        self.fire(now, &mut out);
    }

    fn next_deadline(&self) -> Option<i64> {
        self.next_start
            .filter(|_| self.has_pending())
            .map(|s| s + self.size)
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

impl<E: Clone> Insert<E> for HopWindow<E> {
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>)) {
        HopWindow::insert(self, ts, event, out)
    }
}

crate::state::persist::persist_fields!(HopWindow<E> { size, slide, start, next_start, events, previous, keep_expired });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, chunks, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn overlapping_windows() {
        let mut w = HopWindow::new(100, 50).with_expired(false);
        let mut log = Vec::new();
        for (t, c) in [(0, 'a'), (60, 'b'), (120, 'c')] {
            w.insert(t, c, rec(&mut log));
        }
        w.advance(1000, rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Reset(100),
                Cur(0, 'a'),
                Cur(60, 'b'),
                Flush(100, true),
                Reset(150),
                Cur(60, 'b'),
                Cur(120, 'c'),
                Flush(150, true),
                Reset(200),
                Cur(120, 'c'),
                Flush(200, true),
            ]
        );
        assert_eq!(w.next_deadline(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive_windows(
            ts in timestamps(1500, 40, 0),
            size in 1i64..300,
            slide in 1i64..300,
            start in proptest::option::of(-500i64..500),
        ) {
            let steps: Vec<(i64, usize)> = ts.iter().copied().zip(0..).collect();
            let make = || {
                let w = HopWindow::new(size, slide);
                match start { Some(s) => w.with_start(s), None => w }
            };
            let log = check_restore(
                make,
                &steps,
                |w, (t, i), log| w.insert(*t, *i, rec(log)),
                |w, log| w.advance(i64::MAX / 2, rec(log)),
            );
            let got: Vec<_> = chunks(&log).into_iter().filter(|c| !c.current.is_empty()).collect();
            // Naive: every grid window from the first one containing the first event.
            let first = match start {
                None => ts[0],
                Some(s) => s + ((ts[0] - size - s).div_euclid(slide) + 1) * slide,
            };
            let mut naive = Vec::new();
            let mut s = first;
            while s <= *ts.last().unwrap() {
                let evs: Vec<(i64, usize)> = steps.iter().copied().filter(|(t, _)| *t >= s && *t < s + size).collect();
                if !evs.is_empty() {
                    naive.push((s + size, evs));
                }
                s += slide;
            }
            prop_assert_eq!(got.len(), naive.len());
            for (c, (end, evs)) in got.iter().zip(&naive) {
                prop_assert_eq!(c.at, *end);
                prop_assert_eq!(&c.current, evs);
            }
        }
    }
}
