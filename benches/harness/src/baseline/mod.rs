//! The benchmark queries of `benches/apps/`, written by hand.
//!
//! Each is what a Rust programmer would write for that one query, given the same typed
//! events and the same output contract as generated code (one owned output row per output
//! event, handed to a [`Sink`](crate::Sink); the same NULL rules; the same emission order and
//! timestamps, so `eventflux run` and the baseline print identical lines). They are
//! deliberately specialised: a window keeps only the columns the query reads, a group is
//! looked up once per event and then addressed by index, a batch aggregates on arrival.
//! Those are the liberties the compiler could take too; see `BENCHMARKS.md`.

mod filter_projection;
mod length_group_sum;
mod time_avg;
mod time_batch_group;

pub use filter_projection::{Big, FilterProjection};
pub use length_group_sum::{LengthGroupSum, Sums};
pub use time_avg::{Averages, TimeAvg};
pub use time_batch_group::{Stats, TimeBatchGroup};

use std::sync::Arc;

use crate::fx::FxHashMap;

/// Group keys interned to dense indexes: one hash lookup per event, then plain indexing
/// (e.g. for the group of an event leaving a window, whose index the window stores).
#[derive(Default)]
struct Groups<T> {
    index: FxHashMap<Option<Arc<str>>, u32>,
    entries: Vec<(Option<Arc<str>>, T)>,
}

impl<T: Default> Groups<T> {
    /// The index of `key`'s group, created (with `T::default()`) on first sight.
    #[inline]
    fn intern(&mut self, key: &Option<Arc<str>>) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = u32::try_from(self.entries.len()).expect("fewer than 2^32 groups");
        self.index.insert(key.clone(), i);
        self.entries.push((key.clone(), T::default()));
        i
    }
}

/// `sum`/`avg` state over a retracting window, with the NULL rules and float handling of
/// the EventFlux aggregators (an emptied sum restarts from exactly 0.0), so that results
/// are bit-identical to the generated app's.
#[derive(Clone, Copy, Default)]
struct SumCount {
    sum: f64,
    count: i64,
}

impl SumCount {
    #[inline]
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.sum += v;
            self.count += 1;
        }
    }

    #[inline]
    fn remove(&mut self, v: Option<f64>) {
        if let Some(v) = v {
            self.count -= 1;
            if self.count == 0 {
                self.sum = 0.0;
            } else {
                self.sum -= v;
            }
        }
    }

    #[inline]
    fn sum(&self) -> Option<f64> {
        (self.count > 0).then_some(self.sum)
    }

    #[inline]
    fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}
