//! `benches/apps/length_group_sum.eventflux`:
//! `INSERT INTO Sums SELECT symbol, sum(price) AS total FROM Trades WINDOW('length', 100)
//! GROUP BY symbol`.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use super::{Groups, SumCount};
use crate::{Query, Sink, Trades};

/// An event of the output stream `Sums`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sums {
    /// `symbol`.
    pub symbol: Option<Arc<str>>,
    /// `sum(price)` over the group's events in the window.
    pub total: Option<f64>,
}

/// Window length of `benches/apps/length_group_sum.eventflux`.
pub const LENGTH: usize = 100;

/// The grouped sliding sum, by hand: the window is a ring of `(group index, price)` (only
/// what the query reads), so an expiry needs no hash lookup and no string.
pub struct LengthGroupSum<S> {
    sink: S,
    window: VecDeque<(u32, Option<f64>)>,
    groups: Groups<SumCount>,
}

impl<S: Sink> Query<S> for LengthGroupSum<S> {
    const OUTPUT: &'static str = "Sums";

    fn new(sink: S) -> Self {
        LengthGroupSum {
            sink,
            window: VecDeque::with_capacity(LENGTH),
            groups: Groups::default(),
        }
    }

    /// The oldest event leaves its group, then this one joins its group and the group's
    /// new sum is emitted.
    #[inline]
    fn send_trades(&mut self, ts: i64, event: Trades) {
        let g = self.groups.intern(&event.symbol);
        if self.window.len() == LENGTH {
            if let Some((old, price)) = self.window.pop_front() {
                self.groups.entries[old as usize].1.remove(price);
            }
        }
        self.window.push_back((g, event.price));
        let state = &mut self.groups.entries[g as usize].1;
        state.add(event.price);
        let row = Sums {
            symbol: event.symbol,
            total: state.sum(),
        };
        self.sink.emit("Sums", ts, &row);
    }

    /// No timers.
    fn advance_time(&mut self, _ts: i64) {}

    fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    fn into_sink(self) -> S {
        self.sink
    }
}
