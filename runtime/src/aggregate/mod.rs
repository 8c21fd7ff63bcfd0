//! Incremental aggregators and the group-by map.
//!
//! Every aggregator implements [`Aggregator<T>`]: `add` when an event enters (a current
//! event), `remove` when it leaves (an expired event: retraction), `reset` at a batch
//! window's `Reset`, `value` for the output row. `None` inputs (SQL NULL) are skipped by all
//! of them. Adding and removing cost O(1) or O(log n); nothing rescans the window.
//!
//! | SQL | type | input `T` | output |
//! |---|---|---|---|
//! | `count()` | [`CountAggregator`] | `()` (pass `Some(())` per row) | `i64`, 0 when empty |
//! | `count(x)` | [`CountAggregator`] | any | `i64` (non-null values) |
//! | `count(DISTINCT x)`, `distinctCount(x)` | [`DistinctCountAggregator<T>`] | [`TotalOrd`] | `i64` |
//! | `sum(x)` INT/LONG | [`SumAggregator<i64>`] | `i32`, `i64` | `i64`, NULL when empty |
//! | `sum(x)` FLOAT/DOUBLE | [`SumAggregator<f64>`] | `f32`, `f64` | `f64`, NULL when empty |
//! | `avg(x)` | [`AvgAggregator`] | [`Numeric`] | `f64`, NULL when empty |
//! | `min(x)` / `max(x)` | [`MinAggregator<T>`] / [`MaxAggregator<T>`] | [`TotalOrd`] | `T` |
//! | `minForever(x)` / `maxForever(x)` | [`MinForeverAggregator<T>`] / [`MaxForeverAggregator<T>`] | [`TotalOrd`] | `T` |
//! | `stdDev(x)` | [`StdDevAggregator`] | [`Numeric`] | `f64` (population), 0.0 for one value |
//! | `first(x)` / `last(x)` | [`FirstAggregator<T>`] / [`LastAggregator<T>`] | [`TotalOrd`] | `T` |
//! | `and(b)` / `or(b)` | [`AndAggregator`] / [`OrAggregator`] | `bool` | `bool`, false when empty |
//!
//! ```
//! use eventflux_runtime::aggregate::{Aggregator, MaxAggregator, SumAggregator};
//! let mut sum = SumAggregator::<i64>::default();
//! let mut max = MaxAggregator::<f64>::default();
//! for (s, m) in [(Some(3i64), Some(1.5)), (None, None), (Some(4), Some(-2.0))] {
//!     sum.add(s);
//!     max.add(m);
//! }
//! assert_eq!((sum.value(), max.value()), (Some(7), Some(1.5)));
//! sum.remove(Some(3)); // the first event expired
//! max.remove(Some(1.5));
//! assert_eq!((sum.value(), max.value()), (Some(4), Some(-2.0)));
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

mod avg;
mod batch_groups;
mod count;
mod distinct_count;
mod first_last;
mod forever;
mod group;
mod hashed;
mod key;
mod logical;
mod min_max;
pub(crate) mod pairs;
mod sliding_groups;
mod stddev;
mod sum;
mod total;

pub use avg::AvgAggregator;
pub use batch_groups::BatchGroups;
pub use count::CountAggregator;
pub use distinct_count::DistinctCountAggregator;
pub use first_last::{FirstAggregator, LastAggregator};
pub use forever::{MaxForeverAggregator, MinForeverAggregator};
pub use group::{BatchGroup, FxBuildHasher, FxHasher, GroupMap};
pub use hashed::{hashed, Hashed};
pub use key::KeyPart;
pub(crate) use key::Probe;
pub use logical::{AndAggregator, OrAggregator};
pub use min_max::{MaxAggregator, MinAggregator};
pub use sliding_groups::SlidingGroups;
pub use stddev::StdDevAggregator;
pub use sum::SumAggregator;
pub(crate) use total::for_key_tuples;
pub use total::{Total, TotalOrd};

/// An incremental, retractable aggregate over values of type `T` (in the spirit of
/// differential dataflow's `Abelian` algebra: `remove` undoes an earlier `add` of the same
/// value). State is plain data: `Default` is the empty aggregate, and it serializes.
pub trait Aggregator<T>: Default + Clone + Serialize + DeserializeOwned {
    /// The type of the aggregate's value.
    type Output;
    /// A value entered the window (`None` = NULL, skipped).
    fn add(&mut self, value: Option<T>);
    /// A value that was added earlier left the window (`None` = NULL, skipped).
    fn remove(&mut self, value: Option<T>);
    /// Back to the empty aggregate (a batch window's `Reset`).
    fn reset(&mut self);
    /// The current value; `None` is SQL NULL.
    fn value(&self) -> Option<Self::Output>;
}

/// A numeric attribute type (INT, LONG, FLOAT, DOUBLE) seen as `f64` by `avg` and `stdDev`.
pub trait Numeric: Copy {
    /// The value as a double, as Java's widening conversion does.
    fn to_f64(self) -> f64;
}

macro_rules! numeric {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}

numeric!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

#[cfg(test)]
pub(crate) mod testkit;
