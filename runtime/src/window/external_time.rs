//! `WINDOW('externalTime', ts_attr, d)`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Window, WindowEvent};

/// `externalTime(attr, d)`: a sliding window of `d` ms on an event-time attribute.
///
/// Siddhi (`ExternalTimeWindowProcessor`): purely arrival-driven (no timers). An arrival
/// whose attribute is `x` first expires, oldest first, the held events whose attribute `y`
/// has `y + d <= x` — emitted as expired, stamped `x` (the arrival's attribute value, as in
/// Siddhi) — then is emitted as current with its own timestamp. Expiry stops at the first
/// event still in range, so the attribute is expected to be nondecreasing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExternalTimeWindow<E> {
    duration: i64,
    /// `(ts, attribute, event)`.
    events: VecDeque<(i64, i64, E)>,
}

impl<E> ExternalTimeWindow<E> {
    /// A window of `duration_ms` on the attribute.
    pub fn new(duration_ms: i64) -> Self {
        ExternalTimeWindow {
            duration: duration_ms,
            events: VecDeque::new(),
        }
    }

    /// `event` arrives at `ts` with attribute value `event_time`: expired events, then current.
    #[inline]
    pub fn insert(
        &mut self,
        ts: i64,
        event_time: i64,
        event: E,
        mut out: impl FnMut(WindowEvent<'_, E>),
    ) {
        while let Some((_, y, _)) = self.events.front() {
            if y.saturating_add(self.duration) > event_time {
                break;
            }
            if let Some((_, _, e)) = self.events.pop_front() {
                out(WindowEvent::Expired {
                    ts: event_time,
                    event: &e,
                });
            }
        }
        self.events.push_back((ts, event_time, event));
        if let Some((t, _, e)) = self.events.back() {
            out(WindowEvent::Current { ts: *t, event: e });
        }
    }
}

impl<E> Window<E> for ExternalTimeWindow<E> {
    const IS_BATCH: bool = false;

    fn advance(&mut self, _now: i64, _out: impl FnMut(WindowEvent<'_, E>)) {}

    fn next_deadline(&self) -> Option<i64> {
        None
    }

    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a,
    {
        self.events.iter().map(|(t, _, e)| (*t, e))
    }

    fn len(&self) -> usize {
        self.events.len()
    }
}

crate::state::persist::persist_fields!(ExternalTimeWindow<E> { duration, events });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::testkit::{check_restore, rec, timestamps, Rec};
    use proptest::prelude::*;

    #[test]
    fn expires_on_attribute_time() {
        let mut w = ExternalTimeWindow::new(100);
        let mut log = Vec::new();
        w.insert(1, 1000, 'a', rec(&mut log));
        w.insert(2, 1050, 'b', rec(&mut log));
        w.insert(3, 1100, 'c', rec(&mut log)); // 1000 + 100 <= 1100: 'a' leaves
        w.insert(4, 1300, 'd', rec(&mut log));
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(1, 'a'),
                Cur(2, 'b'),
                Exp(1100, 'a'),
                Cur(3, 'c'),
                Exp(1300, 'b'),
                Exp(1300, 'c'),
                Cur(4, 'd')
            ]
        );
        assert_eq!(w.len(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn window_is_the_last_d_of_event_time(ext in timestamps(3000, 30, 0), d in 1i64..200) {
            let steps: Vec<(i64, i64)> = ext.iter().enumerate().map(|(i, x)| (i as i64, *x)).collect();
            let log = check_restore(
                || ExternalTimeWindow::new(d),
                &steps,
                |w, (t, x), log| w.insert(*t, *x, *t, rec(log)),
                |_, _| {},
            );
            let mut live: Vec<i64> = Vec::new();
            for r in &log {
                match r {
                    Rec::Exp(x, id) => {
                        prop_assert_eq!(live.first(), Some(id));
                        prop_assert!(ext[*id as usize] + d <= *x);
                        live.remove(0);
                    }
                    Rec::Cur(t, id) => {
                        prop_assert_eq!(t, id);
                        live.push(*id);
                        let now = ext[*id as usize];
                        let naive: Vec<i64> = (0..=*id).filter(|j| ext[*j as usize] + d > now).collect();
                        prop_assert_eq!(&live, &naive);
                    }
                    _ => prop_assert!(false),
                }
            }
        }
    }
}
