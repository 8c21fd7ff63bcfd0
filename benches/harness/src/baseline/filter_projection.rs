//! `benches/apps/filter_projection.eventflux`:
//! `INSERT INTO Big SELECT symbol, price * volume AS notional FROM Trades
//! WHERE volume >= 100 AND symbol != 'XYZ'`.

use std::sync::Arc;

use serde::Serialize;

use crate::{Query, Sink, Trades};

/// An event of the output stream `Big`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Big {
    /// `symbol`.
    pub symbol: Option<Arc<str>>,
    /// `price * volume`.
    pub notional: Option<f64>,
}

/// The filter + projection, by hand: the event is owned, so its symbol moves into the row.
pub struct FilterProjection<S> {
    sink: S,
}

impl<S: Sink> Query<S> for FilterProjection<S> {
    const OUTPUT: &'static str = "Big";

    fn new(sink: S) -> Self {
        FilterProjection { sink }
    }

    #[inline]
    fn send_trades(&mut self, ts: i64, event: Trades) {
        // `symbol != 'XYZ'` is false for a NULL symbol.
        if event.volume < 100 || !matches!(event.symbol.as_deref(), Some(s) if s != "XYZ") {
            return;
        }
        let row = Big {
            notional: event.price.map(|p| p * event.volume as f64),
            symbol: event.symbol,
        };
        self.sink.emit("Big", ts, &row);
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
