//! `benches/apps/table_upsert.eventflux`: `UPSERT INTO Stock SELECT symbol, price, volume
//! FROM Trades ON Stock.symbol = Trades.symbol` into table `Stock (symbol STRING PRIMARY
//! KEY, price DOUBLE, volume LONG)`, read back by `INSERT INTO Rows SELECT p.symbol AS
//! symbol, s.price AS price, s.volume AS volume FROM Probe AS p JOIN Stock AS s ON s.symbol
//! = p.symbol`.

use std::sync::Arc;

use serde::Serialize;

use super::StockTable;
use crate::{Query, Sink, Trades};

/// An event of the output stream `Rows`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rows {
    /// `p.symbol`.
    pub symbol: Option<Arc<str>>,
    /// `s.price`.
    pub price: Option<f64>,
    /// `s.volume`.
    pub volume: Option<i64>,
}

/// The upsert, by hand: the table is a hash map from symbol to the other columns; an upsert
/// is one lookup by the borrowed symbol (plus an insert for a new key).
pub struct TableUpsert<S> {
    sink: S,
    stock: StockTable,
}

impl<S: Sink> Query<S> for TableUpsert<S> {
    const OUTPUT: &'static str = "Rows";
    const INPUTS: &'static [&'static str] = &["Trades", "Probe"];

    fn new(sink: S) -> Self {
        TableUpsert {
            sink,
            stock: StockTable::default(),
        }
    }

    #[inline]
    fn send_trades(&mut self, _ts: i64, event: Trades) {
        self.stock.upsert(event);
    }

    #[inline]
    fn send(&mut self, input: usize, ts: i64, event: Trades) {
        if input == 0 {
            return self.send_trades(ts, event);
        }
        let Some(row) = event.symbol.as_deref().and_then(|s| self.stock.get(s)) else {
            return;
        };
        let row = Rows {
            price: row.price,
            volume: row.volume,
            symbol: event.symbol,
        };
        self.sink.emit("Rows", ts, &row);
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
