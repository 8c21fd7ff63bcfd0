//! The queue behind the windows whose events leave on time: each event is due a fixed delay
//! after its arrival, so arrival order is due order and the oldest event is always the next
//! one due.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Events in arrival order with their timestamps, each due `delay` ms after it arrived.
/// Used by [`super::TimeWindow`] and [`super::TimeLengthWindow`] (due events expire) and
/// [`super::DelayWindow`] (due events are released).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TimedQueue<E> {
    delay: i64,
    events: VecDeque<(i64, E)>,
}

impl<E> TimedQueue<E> {
    /// An empty queue whose events are due `delay_ms` after arriving.
    pub(crate) fn new(delay_ms: i64) -> Self {
        TimedQueue {
            delay: delay_ms,
            events: VecDeque::new(),
        }
    }

    /// When the oldest event is due.
    #[inline]
    pub(crate) fn next_due(&self) -> Option<i64> {
        self.events
            .front()
            .map(|(t, _)| t.saturating_add(self.delay))
    }

    /// Removes every event due at or before `now`, oldest first, passing each with its due
    /// time to `f`.
    #[inline]
    pub(crate) fn pop_due(&mut self, now: i64, mut f: impl FnMut(i64, E)) {
        while let Some(due) = self.next_due() {
            if due > now {
                break;
            }
            if let Some((_, e)) = self.events.pop_front() {
                f(due, e);
            }
        }
    }

    /// Appends `event`, arrived at `ts`; a late event (before the newest one) counts as
    /// arrived with the newest, so arrival order stays due order (docs/semantics.md#late-events: a late event
    /// is processed at the clock's time).
    #[inline]
    pub(crate) fn push(&mut self, ts: i64, event: E) {
        let at = self.events.back().map_or(ts, |(newest, _)| ts.max(*newest));
        self.events.push_back((at, event));
    }

    /// The newest event.
    #[inline]
    pub(crate) fn newest(&self) -> Option<(i64, &E)> {
        self.events.back().map(|(t, e)| (*t, e))
    }

    /// Removes the oldest event, whether due or not.
    #[inline]
    pub(crate) fn pop_oldest(&mut self) -> Option<E> {
        self.events.pop_front().map(|(_, e)| e)
    }

    /// The events with their arrival times, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, &E)> {
        self.events.iter().map(|(t, e)| (*t, e))
    }

    /// Number of events held.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

crate::state::persist::persist_fields!(TimedQueue<E> { delay, events });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_due_events_in_order_with_their_due_times() {
        let mut q = TimedQueue::new(10);
        for (t, e) in [(1, 'a'), (5, 'b'), (12, 'c')] {
            q.push(t, e);
        }
        assert_eq!(q.next_due(), Some(11));
        let mut out = Vec::new();
        q.pop_due(15, |due, e| out.push((due, e)));
        assert_eq!(out, [(11, 'a'), (15, 'b')]);
        assert_eq!(q.newest(), Some((12, &'c')));
        assert_eq!(q.pop_oldest(), Some('c'));
        assert_eq!((q.len(), q.next_due()), (0, None));
    }
}
