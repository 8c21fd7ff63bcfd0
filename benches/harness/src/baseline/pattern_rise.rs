//! `benches/apps/pattern_rise.eventflux`: `INSERT INTO Rises SELECT e1.symbol AS symbol,
//! e1.price AS before, e2.price AS after FROM PATTERN (EVERY e1=A -> e2=B[e2.price >
//! e1.price]) WITHIN 1 SECOND`.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use crate::{Query, Sink, Trades};

/// An event of the output stream `Rises`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rises {
    /// `e1.symbol`.
    pub symbol: Option<Arc<str>>,
    /// `e1.price`.
    pub before: Option<f64>,
    /// `e2.price`.
    pub after: Option<f64>,
}

/// `WITHIN 1 SECOND`, in ms: a match may span exactly this long.
pub const WITHIN: i64 = 1000;

/// A pending match: the `A` event that started it (what the row reads of it).
struct Pending {
    ts: i64,
    symbol: Option<Arc<str>>,
    price: Option<f64>,
}

/// The pattern, by hand: the pending matches in the order their `A` arrived (oldest first,
/// so the expired ones are at the front); a `B` completes, in that order, every pending
/// match priced below it.
pub struct PatternRise<S> {
    sink: S,
    pending: VecDeque<Pending>,
}

impl<S: Sink> PatternRise<S> {
    /// Drops the matches whose second ended before `ts`.
    #[inline]
    fn expire(&mut self, ts: i64) {
        while self.pending.front().is_some_and(|p| p.ts + WITHIN < ts) {
            self.pending.pop_front();
        }
    }
}

impl<S: Sink> Query<S> for PatternRise<S> {
    const OUTPUT: &'static str = "Rises";
    const INPUTS: &'static [&'static str] = &["A", "B"];

    fn new(sink: S) -> Self {
        PatternRise {
            sink,
            pending: VecDeque::new(),
        }
    }

    /// An `A` event starts a match.
    #[inline]
    fn send_trades(&mut self, ts: i64, event: Trades) {
        self.expire(ts);
        self.pending.push_back(Pending {
            ts,
            symbol: event.symbol,
            price: event.price,
        });
    }

    #[inline]
    fn send(&mut self, input: usize, ts: i64, event: Trades) {
        if input == 0 {
            return self.send_trades(ts, event);
        }
        self.expire(ts);
        let Some(after) = event.price else {
            return;
        };
        let sink = &mut self.sink;
        self.pending.retain_mut(|p| match p.price {
            Some(before) if after > before => {
                let row = Rises {
                    symbol: p.symbol.take(),
                    before: p.price,
                    after: Some(after),
                };
                sink.emit("Rises", ts, &row);
                false
            }
            _ => true,
        });
    }

    /// Expiry needs no timer of its own: a match that has expired is dropped before the
    /// next event looks at the pending ones.
    fn advance_time(&mut self, ts: i64) {
        self.expire(ts);
    }

    fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    fn into_sink(self) -> S {
        self.sink
    }
}
