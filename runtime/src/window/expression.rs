//! `WINDOW('expression', 'count() <= 20')` and any other retention condition.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Window, WindowEvent};

/// What a retention condition sees: the window after an arrival or a removal.
#[derive(Debug)]
pub struct ExpressionView<'a, E> {
    /// Number of events in the window (`count()`).
    pub count: usize,
    /// Timestamp of the oldest event (`eventTimestamp(first)`).
    pub first_ts: i64,
    /// The oldest event (`first`).
    pub first: &'a E,
    /// Timestamp of the newest event (`eventTimestamp(last)`).
    pub last_ts: i64,
    /// The arriving event (`last`).
    pub last: &'a E,
}

/// The condition of an [`ExpressionWindow`], with hooks to maintain its own aggregates (for
/// conditions such as `sum(price) < 100`). Closures `FnMut(&ExpressionView<E>) -> bool`
/// implement it with no-op hooks. The policy's state lives outside the window (it is passed
/// to every insert), so it serializes with the rest of the generated state.
pub trait RetentionPolicy<E> {
    /// `event` entered the window.
    fn added(&mut self, _event: &E) {}
    /// `event` left the window.
    fn removed(&mut self, _event: &E) {}
    /// Whether the window as seen by `view` satisfies the condition.
    fn holds(&mut self, view: &ExpressionView<'_, E>) -> bool;
}

impl<E, F: FnMut(&ExpressionView<'_, E>) -> bool> RetentionPolicy<E> for F {
    fn holds(&mut self, view: &ExpressionView<'_, E>) -> bool {
        self(view)
    }
}

/// `count() <= n`: the policy of `expression('count() <= n')`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxCount(pub usize);

impl<E> RetentionPolicy<E> for MaxCount {
    fn holds(&mut self, view: &ExpressionView<'_, E>) -> bool {
        view.count <= self.0
    }
}

/// `expression(condition)`: a sliding window that grows while the condition holds and
/// shrinks from the oldest end until it holds again.
///
/// Siddhi (`ExpressionWindowProcessor`): the arrival is added, then the condition is checked
/// with `first` = the oldest event and `last` = the arrival; while it fails, the oldest event
/// is removed (emitted as expired, stamped with the arrival's time) and the condition checked
/// again. The expired events older than the arrival come before its current event. When the
/// arrival itself has to go (the condition fails on it alone) it enters and leaves at once:
/// its current row, then its expired row, so aggregates over the window never count it
/// below zero (Siddhi emits its expired event first). The condition is only evaluated on
/// arrival; there are no timers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExpressionWindow<E> {
    events: VecDeque<(i64, E)>,
}

impl<E> Default for ExpressionWindow<E> {
    fn default() -> Self {
        ExpressionWindow {
            events: VecDeque::new(),
        }
    }
}

impl<E> ExpressionWindow<E> {
    /// An empty window.
    pub fn new() -> Self {
        Self::default()
    }

    /// `event` arrives at `ts`: expired events (oldest first) until `policy` holds, then
    /// `Current`.
    pub fn insert(
        &mut self,
        ts: i64,
        event: E,
        policy: &mut impl RetentionPolicy<E>,
        mut out: impl FnMut(WindowEvent<'_, E>),
    ) {
        policy.added(&event);
        self.events.push_back((ts, event));
        while !self.holds(policy) {
            if self.events.len() == 1 {
                // The arrival alone fails the condition: it enters and leaves at once.
                if let Some((_, gone)) = self.events.pop_front() {
                    out(WindowEvent::Current { ts, event: &gone });
                    policy.removed(&gone);
                    out(WindowEvent::Expired { ts, event: &gone });
                }
                return;
            }
            let Some((_, old)) = self.events.pop_front() else {
                break;
            };
            policy.removed(&old);
            out(WindowEvent::Expired { ts, event: &old });
        }
        if let Some((t, e)) = self.events.back() {
            out(WindowEvent::Current { ts: *t, event: e });
        }
    }

    /// Whether the (non-empty) window satisfies `policy`; an empty window does.
    fn holds(&self, policy: &mut impl RetentionPolicy<E>) -> bool {
        match (self.events.front(), self.events.back()) {
            (Some((first_ts, first)), Some((last_ts, last))) => policy.holds(&ExpressionView {
                count: self.events.len(),
                first_ts: *first_ts,
                first,
                last_ts: *last_ts,
                last,
            }),
            _ => true,
        }
    }
}

impl<E> Window<E> for ExpressionWindow<E> {
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

crate::state::persist::persist_fields!(MaxCount { 0 });
crate::state::persist::persist_fields!(ExpressionWindow<E> { events });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, timestamps, Rec};
    use proptest::prelude::*;

    /// `sum(v) < limit`, maintaining its own sum through the hooks.
    struct SumBelow {
        sum: i64,
        limit: i64,
    }

    impl RetentionPolicy<i64> for SumBelow {
        fn added(&mut self, v: &i64) {
            self.sum += v;
        }
        fn removed(&mut self, v: &i64) {
            self.sum -= v;
        }
        fn holds(&mut self, _: &ExpressionView<'_, i64>) -> bool {
            self.sum < self.limit
        }
    }

    #[test]
    fn count_and_aggregate_conditions() {
        let mut w = ExpressionWindow::new();
        let mut log = Vec::new();
        for t in 0..4 {
            w.insert(t, t, &mut MaxCount(2), rec(&mut log));
        }
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(0, 0),
                Cur(1, 1),
                Exp(2, 0),
                Cur(2, 2),
                Exp(3, 1),
                Cur(3, 3)
            ]
        );

        let mut w = ExpressionWindow::new();
        let mut p = SumBelow { sum: 0, limit: 10 };
        let mut log = Vec::new();
        for (t, v) in [(0, 4), (1, 5), (2, 3), (3, 20)] {
            w.insert(t, v, &mut p, rec(&mut log));
        }
        assert_eq!(
            log,
            vec![
                Cur(0, 4),
                Cur(1, 5),
                Exp(2, 4),
                Cur(2, 3),
                Exp(3, 5),
                Exp(3, 3),
                Cur(3, 20),
                Exp(3, 20)
            ]
        );
        assert!(w.is_empty() && p.sum == 0);

        // A time condition through a closure: eventTimestamp(last) - eventTimestamp(first) < 10.
        let mut w = ExpressionWindow::new();
        let mut span = |v: &ExpressionView<'_, char>| v.last_ts - v.first_ts < 10;
        let mut log = Vec::new();
        for (t, c) in [(0, 'a'), (5, 'b'), (12, 'c')] {
            w.insert(t, c, &mut span, rec(&mut log));
        }
        assert_eq!(
            log,
            vec![Cur(0, 'a'), Cur(5, 'b'), Exp(12, 'a'), Cur(12, 'c')]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn count_policy_is_a_length_window(ts in timestamps(2000, 5, 0), n in 1usize..30) {
            let steps: Vec<(i64, usize)> = ts.iter().copied().zip(0..).collect();
            let log = check_restore(
                ExpressionWindow::new,
                &steps,
                |w, (t, i), log| w.insert(*t, *i, &mut MaxCount(n), rec(log)),
                |_, _| {},
            );
            let mut want = Vec::new();
            for (t, i) in &steps {
                if *i >= n {
                    want.push(Rec::Exp(*t, i - n));
                }
                want.push(Rec::Cur(*t, *i));
            }
            prop_assert_eq!(log, want);
        }
    }
}
