//! `benches/apps/join_length.eventflux`:
//! `INSERT INTO Matched SELECT t.symbol AS symbol, t.price AS price, q.price AS bid
//! FROM Trades WINDOW('length', 100) AS t JOIN Quotes WINDOW('length', 100) AS q
//! ON t.symbol = q.symbol`.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;

use crate::fx::FxHashMap;
use crate::{Query, Sink, Trades};

/// An event of the output stream `Matched`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Matched {
    /// `t.symbol`.
    pub symbol: Option<Arc<str>>,
    /// `t.price`.
    pub price: Option<f64>,
    /// `q.price`.
    pub bid: Option<f64>,
}

/// Window length of each side.
pub const LENGTH: usize = 100;

/// The key index of an event with a NULL symbol (it matches nothing).
const NULL_KEY: u32 = u32::MAX;

/// One side of the join: its window as a ring of key indexes (what an expiry needs), and
/// per key the prices of that key's events in the window, oldest first (what a probe reads).
#[derive(Default)]
struct Side {
    window: VecDeque<u32>,
    prices: Vec<VecDeque<Option<f64>>>,
}

/// The two-window equi-join, by hand: symbols are interned once per event; each side keeps
/// per key the prices of its window's events (the only column the other side's rows read),
/// so a probe is one hash lookup and an expiry none.
pub struct JoinLength<S> {
    sink: S,
    keys: FxHashMap<Arc<str>, u32>,
    sides: [Side; 2],
}

impl<S: Sink> JoinLength<S> {
    /// The key index of `symbol`, interned on first sight.
    #[inline]
    fn intern(&mut self, symbol: &Option<Arc<str>>) -> u32 {
        let Some(s) = symbol else {
            return NULL_KEY;
        };
        if let Some(&k) = self.keys.get(&**s) {
            return k;
        }
        let k = u32::try_from(self.keys.len()).expect("fewer than 2^32 keys");
        self.keys.insert(s.clone(), k);
        for side in &mut self.sides {
            side.prices.push(VecDeque::new());
        }
        k
    }

    /// An event of side `s` (0: `Trades`, 1: `Quotes`): the side's oldest event leaves its
    /// window, the event is matched against the other window (rows in its arrival order)
    /// and enters its own.
    #[inline]
    fn arrive(&mut self, s: usize, ts: i64, event: Trades) {
        let k = self.intern(&event.symbol);
        let side = &mut self.sides[s];
        if side.window.len() == LENGTH {
            if let Some(old) = side.window.pop_front() {
                if old != NULL_KEY {
                    side.prices[old as usize].pop_front();
                }
            }
        }
        side.window.push_back(k);
        if k == NULL_KEY {
            return;
        }
        side.prices[k as usize].push_back(event.price);
        for &other in &self.sides[1 - s].prices[k as usize] {
            let (price, bid) = if s == 0 {
                (event.price, other)
            } else {
                (other, event.price)
            };
            let row = Matched {
                symbol: event.symbol.clone(),
                price,
                bid,
            };
            self.sink.emit("Matched", ts, &row);
        }
    }
}

impl<S: Sink> Query<S> for JoinLength<S> {
    const OUTPUT: &'static str = "Matched";
    const INPUTS: &'static [&'static str] = &["Trades", "Quotes"];

    fn new(sink: S) -> Self {
        JoinLength {
            sink,
            keys: FxHashMap::default(),
            sides: [Side::default(), Side::default()],
        }
    }

    #[inline]
    fn send_trades(&mut self, ts: i64, event: Trades) {
        self.arrive(0, ts, event);
    }

    #[inline]
    fn send(&mut self, input: usize, ts: i64, event: Trades) {
        self.arrive(input.min(1), ts, event);
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
