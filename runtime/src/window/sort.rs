//! `WINDOW('sort', n, attr [ASC|DESC], ...)`.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{Window, WindowEvent};

/// `sort(n, attr [asc|desc], ...)`: keeps the `n` first events in sort order.
///
/// Siddhi (`SortWindowProcessor`): the arrival is added and emitted as current; if the window
/// then holds more than `n` events, the last one in sort order — possibly the arrival itself
/// — is removed and emitted as expired, stamped with the arrival's time (docs/semantics.md#expiry: insert,
/// then evict, current first). Ties keep arrival order, so among equal keys the newest is
/// evicted first. The generated code passes the comparator on every insert (state holds no
/// closure), e.g. `|a, b| a.price.cmp_total(&b.price).then_with(|| b.vol.cmp_total(&a.vol))`
/// with [`crate::aggregate::TotalOrd`] for `price ASC, vol DESC`. [`Window::iter`] lists
/// the events in sort order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SortWindow<E> {
    capacity: usize,
    /// Sorted by the comparator, stable in arrival order.
    events: Vec<(i64, E)>,
}

impl<E> SortWindow<E> {
    /// A window keeping the `n` first events in sort order.
    pub fn new(n: usize) -> Self {
        SortWindow {
            capacity: n,
            events: Vec::new(),
        }
    }

    /// `event` arrives at `ts`: `Current`, then `Expired` for the overflow (the last in
    /// `cmp` order). Inserting costs O(log n) comparisons plus an O(n) shift.
    #[inline]
    pub fn insert(
        &mut self,
        ts: i64,
        event: E,
        cmp: impl Fn(&E, &E) -> Ordering,
        mut out: impl FnMut(WindowEvent<'_, E>),
    ) {
        let pos = self
            .events
            .partition_point(|(_, x)| cmp(x, &event) != Ordering::Greater);
        self.events.insert(pos, (ts, event));
        out(WindowEvent::Current {
            ts,
            event: &self.events[pos].1,
        });
        if self.events.len() > self.capacity {
            if let Some((_, old)) = self.events.pop() {
                out(WindowEvent::Expired { ts, event: &old });
            }
        }
    }
}

impl<E> Window<E> for SortWindow<E> {
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

crate::state::persist::persist_fields!(SortWindow<E> { capacity, events });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::TotalOrd;
    use crate::window::testkit::{check_restore, rec, Rec};
    use proptest::prelude::*;

    fn by_value(a: &(u32, Option<f64>), b: &(u32, Option<f64>)) -> Ordering {
        a.1.cmp_total(&b.1)
    }

    #[test]
    fn keeps_n_smallest_current_first() {
        let mut w = SortWindow::new(2);
        let mut log = Vec::new();
        for (i, v) in [5.0, 3.0, 9.0, 1.0, 3.0].into_iter().enumerate() {
            w.insert(i as i64, (i as u32, Some(v)), by_value, rec(&mut log));
        }
        use Rec::*;
        assert_eq!(
            log,
            vec![
                Cur(0, (0, Some(5.0))),
                Cur(1, (1, Some(3.0))),
                Cur(2, (2, Some(9.0))),
                Exp(2, (2, Some(9.0))),
                Cur(3, (3, Some(1.0))),
                Exp(3, (0, Some(5.0))),
                Cur(4, (4, Some(3.0))),
                Exp(4, (4, Some(3.0))), // tie: the newest goes
            ]
        );
        let held: Vec<u32> = w.iter().map(|(_, e)| e.0).collect();
        assert_eq!(held, vec![3, 1]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn holds_the_n_first_of_everything(vals in proptest::collection::vec(proptest::option::of(-20i32..20), 1..2000), n in 0usize..25) {
            let steps: Vec<(i64, Option<f64>)> = vals.iter().enumerate().map(|(i, v)| (i as i64, v.map(f64::from))).collect();
            let log = check_restore(
                || SortWindow::new(n),
                &steps,
                |w, (t, v), log| w.insert(*t, (*t as u32, *v), by_value, rec(log)),
                |_, _| {},
            );
            let mut held: Vec<(u32, Option<f64>)> = Vec::new();
            let mut seen = 0;
            for r in &log {
                match r {
                    Rec::Cur(_, e) => {
                        held.push(*e);
                        seen += 1;
                    }
                    Rec::Exp(_, e) => held.retain(|x| x != e),
                    _ => prop_assert!(false),
                }
                if let Rec::Exp(..) = r {
                    // Naive: stable sort of all arrivals so far, keep the first n.
                    let mut all: Vec<(u32, Option<f64>)> = steps[..seen].iter().map(|(t, v)| (*t as u32, *v)).collect();
                    all.sort_by(by_value);
                    all.truncate(n);
                    let mut h = held.clone();
                    h.sort_by_key(|e| e.0);
                    all.sort_by_key(|e| e.0);
                    prop_assert_eq!(h, all);
                }
            }
            prop_assert_eq!(held.len(), n.min(steps.len()));
        }
    }
}
