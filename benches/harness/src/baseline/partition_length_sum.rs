//! `benches/apps/partition_length_sum.eventflux`:
//! `PARTITION WITH (symbol OF Trades) BEGIN INSERT INTO Sums SELECT symbol, sum(price) AS
//! total FROM Trades WINDOW('length', 10); END`.

use super::{Groups, SumCount, Sums};
use crate::{Query, Sink, Trades};

/// Window length of `benches/apps/partition_length_sum.eventflux`.
pub const LENGTH: usize = 10;

/// One key's state: its own window of the last [`LENGTH`] prices (a fixed ring: only what
/// the query reads) and the sum over it.
#[derive(Clone, Copy, Default)]
pub struct KeyWindow {
    prices: [Option<f64>; LENGTH],
    next: usize,
    len: usize,
    sum: SumCount,
}

/// The partitioned sliding sum, by hand: keys interned to dense indexes (one hash lookup per
/// event), each with a fixed ring of prices.
pub struct PartitionLengthSum<S> {
    sink: S,
    keys: Groups<KeyWindow>,
}

impl<S: Sink> Query<S> for PartitionLengthSum<S> {
    const OUTPUT: &'static str = "Sums";

    fn new(sink: S) -> Self {
        PartitionLengthSum {
            sink,
            keys: Groups::default(),
        }
    }

    /// The key's oldest event leaves its window when it is full, then this one enters and
    /// the key's new sum is emitted.
    #[inline]
    fn send_trades(&mut self, ts: i64, event: Trades) {
        let k = self.keys.intern(&event.symbol);
        let w = &mut self.keys.entries[k as usize].1;
        if w.len == LENGTH {
            w.sum.remove(w.prices[w.next]);
        } else {
            w.len += 1;
        }
        w.prices[w.next] = event.price;
        w.next = (w.next + 1) % LENGTH;
        w.sum.add(event.price);
        let row = Sums {
            symbol: event.symbol,
            total: w.sum.sum(),
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
