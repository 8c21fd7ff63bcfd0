//! `benches/apps/table_enrich.eventflux`: table `Stock (symbol STRING PRIMARY KEY, price
//! DOUBLE, volume LONG)` filled by `UPSERT INTO Stock SELECT symbol, price, volume FROM
//! StockIn ON Stock.symbol = StockIn.symbol`, read by `INSERT INTO Enriched SELECT t.symbol
//! AS symbol, t.price AS price, s.price AS ref_price, s.volume AS lot FROM Trades AS t JOIN
//! Stock AS s ON t.symbol = s.symbol`.

use std::sync::Arc;

use serde::Serialize;

use super::StockTable;
use crate::{Query, Sink, Trades};

/// An event of the output stream `Enriched`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Enriched {
    /// `t.symbol`.
    pub symbol: Option<Arc<str>>,
    /// `t.price`.
    pub price: Option<f64>,
    /// `s.price`.
    pub ref_price: Option<f64>,
    /// `s.volume`.
    pub lot: Option<i64>,
}

/// The enrichment join, by hand: the table is a hash map from symbol to the columns the
/// query reads; a probe is one lookup by the borrowed symbol.
pub struct TableEnrich<S> {
    sink: S,
    stock: StockTable,
}

impl<S: Sink> Query<S> for TableEnrich<S> {
    const OUTPUT: &'static str = "Enriched";
    const INPUTS: &'static [&'static str] = &["StockIn", "Trades"];

    fn new(sink: S) -> Self {
        TableEnrich {
            sink,
            stock: StockTable::default(),
        }
    }

    /// A probe (an event of `Trades`).
    #[inline]
    fn send_trades(&mut self, ts: i64, event: Trades) {
        let Some(row) = event.symbol.as_deref().and_then(|s| self.stock.get(s)) else {
            return;
        };
        let row = Enriched {
            price: event.price,
            ref_price: row.price,
            lot: row.volume,
            symbol: event.symbol,
        };
        self.sink.emit("Enriched", ts, &row);
    }

    #[inline]
    fn send(&mut self, input: usize, ts: i64, event: Trades) {
        match input {
            0 => self.stock.upsert(event),
            _ => self.send_trades(ts, event),
        }
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
