//! `count()` and `count(x)`.

use serde::{Deserialize, Serialize};

use super::Aggregator;

/// `count()` (rows: pass `Some(())` for each row) and `count(x)` (non-NULL values of `x`).
/// The value is never NULL: an empty window counts 0, as in Siddhi.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountAggregator {
    count: i64,
}

impl CountAggregator {
    /// The current count.
    pub fn count(&self) -> i64 {
        self.count
    }

    /// The aggregate value (never NULL); the same as [`Aggregator::value`], callable without
    /// naming the input type.
    #[inline]
    pub fn value(&self) -> Option<i64> {
        Some(self.count)
    }

    /// Back to 0; the same as [`Aggregator::reset`].
    pub fn reset(&mut self) {
        self.count = 0;
    }
}

impl<T> Aggregator<T> for CountAggregator {
    type Output = i64;

    #[inline]
    fn add(&mut self, value: Option<T>) {
        if value.is_some() {
            self.count += 1;
        }
    }

    #[inline]
    fn remove(&mut self, value: Option<T>) {
        if value.is_some() {
            self.count -= 1;
        }
    }

    fn reset(&mut self) {
        Self::reset(self)
    }

    #[inline]
    fn value(&self) -> Option<i64> {
        Self::value(self)
    }
}

crate::state::persist::persist_fields!(CountAggregator { count });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testkit::{check_against_naive, ops};
    use proptest::prelude::*;

    #[test]
    fn counts_rows_and_non_nulls() {
        let mut rows = CountAggregator::default();
        let mut xs = CountAggregator::default();
        assert_eq!(rows.value(), Some(0));
        for x in [Some(1), None, Some(3)] {
            rows.add(Some(()));
            xs.add(x);
        }
        assert_eq!((rows.count(), xs.count()), (3, 2));
        xs.remove(None::<i32>);
        xs.remove(Some(1));
        assert_eq!(xs.count(), 1);
        xs.reset();
        assert_eq!(xs.count(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive(script in ops(-20i32..20, false)) {
            check_against_naive::<i32, CountAggregator, i64>(&script, |vals| {
                Some(vals.iter().filter(|v| v.is_some()).count() as i64)
            }, |a, b| a == b);
        }
    }
}
