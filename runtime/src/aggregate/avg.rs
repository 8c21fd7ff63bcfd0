//! `avg(x)`.

use serde::{Deserialize, Serialize};

use super::{Aggregator, Numeric};

/// `avg(x)` over INT, LONG, FLOAT or DOUBLE values: a DOUBLE, NULL when no non-NULL value is
/// in. Keeps a double sum and a count, as Siddhi does; the sum restarts from zero when the
/// last value leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AvgAggregator {
    sum: f64,
    count: i64,
}

impl AvgAggregator {
    /// The aggregate value, NULL when empty; the same as [`Aggregator::value`], callable
    /// without naming the input type.
    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Back to the empty aggregate; the same as [`Aggregator::reset`].
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

impl<T: Numeric> Aggregator<T> for AvgAggregator {
    type Output = f64;

    #[inline]
    fn add(&mut self, value: Option<T>) {
        if let Some(v) = value {
            self.sum += v.to_f64();
            self.count += 1;
        }
    }

    #[inline]
    fn remove(&mut self, value: Option<T>) {
        if let Some(v) = value {
            self.count -= 1;
            if self.count == 0 {
                self.sum = 0.0;
            } else {
                self.sum -= v.to_f64();
            }
        }
    }

    fn reset(&mut self) {
        Self::reset(self)
    }

    #[inline]
    fn value(&self) -> Option<f64> {
        Self::value(self)
    }
}

crate::state::persist::persist_fields!(AvgAggregator { sum, count });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testkit::{check_against_naive, close, ops};
    use proptest::prelude::*;

    #[test]
    fn averages_non_nulls() {
        let mut a = AvgAggregator::default();
        assert_eq!(Aggregator::<i32>::value(&a), None);
        for v in [Some(1), None, Some(4)] {
            a.add(v);
        }
        assert_eq!(Aggregator::<i32>::value(&a), Some(2.5));
        a.remove(Some(1));
        a.remove(Some(4));
        assert_eq!(Aggregator::<i32>::value(&a), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive(script in ops(-1_000_000i64..1_000_000, false)) {
            check_against_naive::<i64, AvgAggregator, f64>(&script, |vals| {
                let xs: Vec<f64> = vals.iter().flatten().map(|v| *v as f64).collect();
                (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
            }, close);
        }
    }
}
