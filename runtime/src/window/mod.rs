//! Windows: the generic state machines behind `WINDOW('<name>', ...)` (docs/windows.md, docs/semantics.md#windows).
//!
//! A window is a struct generic over the stream's event type `E` (the generated per-stream
//! struct). It owns clones of the events it holds and reports what happens through a callback
//! receiving [`WindowEvent`]s, which borrow the events (no clone per emission):
//!
//! - `Current` — the event enters downstream (aggregators `add`, rows for `INSERT INTO`);
//! - `Expired` — it leaves (aggregators `remove`, rows for `INSERT EXPIRED EVENTS`), stamped
//!   with the time it expired (Siddhi gives expired events the expiry time);
//! - `Reset` — batch windows only: aggregators `reset` (a new batch starts);
//! - `Flush` — batch windows only: the chunk is complete; when it had current events
//!   (`has_current`), the selector now emits one row per batch (per group).
//!
//! A selector over a batch window: at `Reset` clear the [`crate::aggregate::GroupMap`] (so
//! groups come out in their order of first appearance in the batch), at `Current` add to the
//! event's group, at `Flush { has_current: true, .. }` emit a row per group.
//!
//! Every window implements [`Window`] (`advance`, `next_deadline`, contents for joins,
//! [`Window::IS_BATCH`]); windows whose insert needs nothing but the event also implement
//! [`Insert`]. Windows that need more (a key, an event-time attribute, a comparator) take it
//! as an argument of their inherent `insert`, because window state must serialize and so
//! stores no closures. `insert(ts, ..)` first fires everything due at or before `ts` (timers
//! fire before the event that crosses them), so calling `advance` first is optional.
//!
//! Emission order per arrival (docs/semantics.md#expiry):
//!
//! | window | on arrival | on time |
//! |---|---|---|
//! | [`LengthWindow`], [`TimeWindow`], [`TimeLengthWindow`], [`ExternalTimeWindow`], [`UniqueWindow`], [`ExpressionWindow`] | expired*, current | expired* (time-based ones) |
//! | [`SessionWindow`] | expired* (sessions closed at or before the arrival), current | expired* (a closing session's events) |
//! | [`SortWindow`], [`FrequentWindow`], [`LossyFrequentWindow`] | current, expired* | — |
//! | [`FirstUniqueWindow`] | current (first event of its key only) | — |
//! | [`DelayWindow`] | — | current (released) |
//! | batch: [`LengthBatchWindow`], [`TimeBatchWindow`], [`HopWindow`], [`ExternalTimeBatchWindow`], [`CronWindow`] | per closed batch: expired* (previous batch), `Reset`, current* (this batch), `Flush` | same |
//!
//! ```
//! use eventflux_runtime::window::{LengthWindow, WindowEvent};
//! let mut w = LengthWindow::new(2);
//! let mut seen = Vec::new();
//! for (ts, price) in [(1, 10.0), (2, 20.0), (3, 30.0)] {
//!     w.insert(ts, price, |e| match e {
//!         WindowEvent::Current { event, .. } => seen.push(format!("+{event}")),
//!         WindowEvent::Expired { event, .. } => seen.push(format!("-{event}")),
//!         WindowEvent::Reset { .. } | WindowEvent::Flush { .. } => {}
//!     });
//! }
//! assert_eq!(seen, ["+10", "+20", "-10", "+30"]);
//! ```

use crate::app::EventKind;

mod batch;
mod cron;
mod cron_schedule;
mod delay;
mod expression;
mod external_time;
mod external_time_batch;
mod first_unique;
mod frequent;
mod hop;
mod length;
mod length_batch;
mod lossy_frequent;
mod session;
mod sort;
mod time;
mod time_batch;
mod time_length;
mod timed_queue;
mod unique;

#[cfg(test)]
pub(crate) mod testkit;

pub use batch::{BatchBuffer, BatchCount, BatchStore};
pub use cron::CronWindow;
pub use cron_schedule::{CronError, CronSchedule};
pub use delay::DelayWindow;
pub use expression::{ExpressionView, ExpressionWindow, MaxCount, RetentionPolicy};
pub use external_time::ExternalTimeWindow;
pub use external_time_batch::ExternalTimeBatchWindow;
pub use first_unique::FirstUniqueWindow;
pub use frequent::FrequentWindow;
pub use hop::HopWindow;
pub use length::LengthWindow;
pub use length_batch::LengthBatchWindow;
pub use lossy_frequent::LossyFrequentWindow;
pub use session::SessionWindow;
pub use sort::SortWindow;
pub use time::TimeWindow;
pub use time_batch::{TimeBatchWindow, TumblingWindow};
pub use time_length::TimeLengthWindow;
pub use unique::UniqueWindow;

/// What a window emits; events are borrowed from the window (or from a local that is dropped
/// right after the callback returns).
#[derive(Debug, PartialEq)]
pub enum WindowEvent<'a, E> {
    /// `event` enters downstream at `ts` (its own timestamp; the release time for `delay`).
    Current {
        /// Timestamp of the current event.
        ts: i64,
        /// The event.
        event: &'a E,
    },
    /// `event` leaves the window; `ts` is when it expired.
    Expired {
        /// Expiry time.
        ts: i64,
        /// The event.
        event: &'a E,
    },
    /// Batch windows: aggregators reset here; the closing batch's events follow.
    Reset {
        /// Time the batch closed.
        ts: i64,
    },
    /// Batch windows: the chunk closing at `ts` has been fully emitted. `has_current` is false
    /// for a chunk of expired events only (the previous batch expiring at an empty close):
    /// then there is no per-batch current row to emit.
    Flush {
        /// Time the batch closed.
        ts: i64,
        /// Whether the chunk had a `Reset` and current events.
        has_current: bool,
    },
}

impl<E> Clone for WindowEvent<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for WindowEvent<'_, E> {}

impl<'a, E> WindowEvent<'a, E> {
    /// The timestamp carried by the emission.
    pub fn ts(&self) -> i64 {
        match *self {
            WindowEvent::Current { ts, .. }
            | WindowEvent::Expired { ts, .. }
            | WindowEvent::Reset { ts }
            | WindowEvent::Flush { ts, .. } => ts,
        }
    }

    /// The event, for `Current` and `Expired`.
    pub fn event(&self) -> Option<&'a E> {
        match *self {
            WindowEvent::Current { event, .. } | WindowEvent::Expired { event, .. } => Some(event),
            WindowEvent::Reset { .. } | WindowEvent::Flush { .. } => None,
        }
    }

    /// `Current` or `Expired`, for `Current` and `Expired` emissions.
    pub fn kind(&self) -> Option<EventKind> {
        match self {
            WindowEvent::Current { .. } => Some(EventKind::Current),
            WindowEvent::Expired { .. } => Some(EventKind::Expired),
            WindowEvent::Reset { .. } | WindowEvent::Flush { .. } => None,
        }
    }
}

/// Operations every window has. Bring it into scope (`use ...::window::Window as _;`) or call
/// it by path.
pub trait Window<E> {
    /// True for batch windows: they emit `Reset ... Flush` chunks, and aggregation over them
    /// emits one row per batch (per group) at `Flush`, not one row per event.
    const IS_BATCH: bool;

    /// Fires everything due at or before `now` (expiries, batch closes, releases), in time
    /// order. Windows driven only by arrivals do nothing.
    fn advance(&mut self, now: i64, out: impl FnMut(WindowEvent<'_, E>));

    /// The earliest time at which `advance` would emit something, if any (the app's timer).
    fn next_deadline(&self) -> Option<i64>;

    /// The events the window holds for joins and snapshots, with their timestamps, oldest
    /// first. For batch windows: the last closed batch (Siddhi's findable contents), kept only
    /// while expired events are enabled.
    fn iter<'a>(&'a self) -> impl Iterator<Item = (i64, &'a E)>
    where
        E: 'a;

    /// Number of events [`Window::iter`] yields.
    fn len(&self) -> usize;

    /// Whether [`Window::iter`] yields nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`Window::IS_BATCH`] as a method.
    fn is_batch(&self) -> bool {
        Self::IS_BATCH
    }
}

/// Windows whose `insert` needs only the event and its timestamp.
pub trait Insert<E>: Window<E> {
    /// `event` arrives at `ts`; emissions go to `out` in the documented order.
    fn insert(&mut self, ts: i64, event: E, out: impl FnMut(WindowEvent<'_, E>));
}

/// The first point of the grid `origin + k * step` (any integer `k`) strictly after `t`.
pub(crate) fn next_grid_point(origin: i64, step: i64, t: i64) -> i64 {
    origin + ((t - origin).div_euclid(step) + 1) * step
}
