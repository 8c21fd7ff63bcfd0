//! `benches/apps/time_batch_group.eventflux`:
//! `INSERT INTO Stats SELECT symbol, sum(price) AS total, avg(price) AS mean, max(price) AS
//! top FROM Trades WINDOW('timeBatch', 1 sec) GROUP BY symbol`.

use std::sync::Arc;

use serde::Serialize;

use super::Groups;
use crate::{Query, Sink, Trades};

/// An event of the output stream `Stats`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// `symbol`.
    pub symbol: Option<Arc<str>>,
    /// `sum(price)` over the group's events in the batch.
    pub total: Option<f64>,
    /// `avg(price)`.
    pub mean: Option<f64>,
    /// `max(price)`.
    pub top: Option<f64>,
}

/// Batch duration (ms) of `benches/apps/time_batch_group.eventflux`.
pub const DURATION_MS: i64 = 1000;

/// One group's aggregates in the open batch. A batch never retracts, so `max` is a running
/// maximum.
#[derive(Default)]
struct BatchState {
    /// Whether the group has an event in the open batch.
    open: bool,
    sum: f64,
    count: i64,
    max: Option<f64>,
    /// Time of the group's last event in the batch (the row's timestamp).
    last_ts: i64,
}

/// The grouped tumbling batch, by hand: events are aggregated as they arrive (nothing is
/// buffered), and the batch's groups are remembered in order of first appearance.
pub struct TimeBatchGroup<S> {
    sink: S,
    /// When the open batch closes; `None` before the first event (which starts the grid).
    next_close: Option<i64>,
    groups: Groups<BatchState>,
    /// Indexes of the groups of the open batch, in order of first appearance.
    open: Vec<u32>,
}

impl<S: Sink> Query<S> for TimeBatchGroup<S> {
    const OUTPUT: &'static str = "Stats";

    fn new(sink: S) -> Self {
        TimeBatchGroup {
            sink,
            next_close: None,
            groups: Groups::default(),
            open: Vec::new(),
        }
    }

    /// Batches closing at or before `ts` close first; then the event joins its group.
    #[inline]
    fn send_trades(&mut self, ts: i64, event: Trades) {
        self.advance_time(ts);
        if self.next_close.is_none() {
            self.next_close = Some(ts + DURATION_MS);
        }
        let g = self.groups.intern(&event.symbol);
        let state = &mut self.groups.entries[g as usize].1;
        if !state.open {
            *state = BatchState {
                open: true,
                ..BatchState::default()
            };
            self.open.push(g);
        }
        if let Some(p) = event.price {
            state.sum += p;
            state.count += 1;
            state.max = Some(state.max.map_or(p, |m| m.max(p)));
        }
        state.last_ts = ts;
    }

    /// Closes every batch due at or before `now`: one row per group of the batch, in order
    /// of first appearance, stamped with the group's last event time.
    fn advance_time(&mut self, now: i64) {
        while let Some(close) = self.next_close {
            if close > now {
                break;
            }
            if self.open.is_empty() {
                // An empty batch emits nothing; the grid continues after `now`.
                let k = (now - close).div_euclid(DURATION_MS) + 1;
                self.next_close = Some(close + k * DURATION_MS);
                continue;
            }
            for &g in &self.open {
                let (key, state) = &mut self.groups.entries[g as usize];
                state.open = false;
                let some = state.count > 0;
                let row = Stats {
                    symbol: key.clone(),
                    total: some.then_some(state.sum),
                    mean: some.then(|| state.sum / state.count as f64),
                    top: state.max,
                };
                self.sink.emit("Stats", state.last_ts, &row);
            }
            self.open.clear();
            self.next_close = Some(close + DURATION_MS);
        }
    }

    fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    fn into_sink(self) -> S {
        self.sink
    }
}
