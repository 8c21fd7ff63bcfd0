//! `benches/apps/time_avg.eventflux`:
//! `INSERT INTO Averages SELECT avg(price) AS mean FROM Trades WINDOW('time', 1 sec)`.

use std::collections::VecDeque;

use serde::Serialize;

use super::SumCount;
use crate::{Query, Sink, Trades};

/// An event of the output stream `Averages`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Averages {
    /// `avg(price)` over the window.
    pub mean: Option<f64>,
}

/// Window duration (ms) of `benches/apps/time_avg.eventflux`.
pub const DURATION_MS: i64 = 1000;

/// The sliding time-window average, by hand: the window is a ring of `(ts, price)`.
pub struct TimeAvg<S> {
    sink: S,
    window: VecDeque<(i64, Option<f64>)>,
    state: SumCount,
}

impl<S: Sink> Query<S> for TimeAvg<S> {
    const OUTPUT: &'static str = "Averages";

    fn new(sink: S) -> Self {
        TimeAvg {
            sink,
            window: VecDeque::new(),
            state: SumCount::default(),
        }
    }

    /// Events whose time in the window `[t, t + d)` is over leave, then this one enters and
    /// the average is emitted.
    #[inline]
    fn send_trades(&mut self, ts: i64, event: Trades) {
        self.advance_time(ts);
        self.window.push_back((ts, event.price));
        self.state.add(event.price);
        let row = Averages {
            mean: self.state.avg(),
        };
        self.sink.emit("Averages", ts, &row);
    }

    /// Expires the events due at or before `now` (they produce no output row).
    #[inline]
    fn advance_time(&mut self, now: i64) {
        while let Some(&(t, price)) = self.window.front() {
            if t.saturating_add(DURATION_MS) > now {
                break;
            }
            self.window.pop_front();
            self.state.remove(price);
        }
    }

    fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    fn into_sink(self) -> S {
        self.sink
    }
}
