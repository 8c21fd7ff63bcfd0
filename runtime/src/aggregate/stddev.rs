//! `stdDev(x)`.

use serde::{Deserialize, Serialize};

use super::{Aggregator, Numeric};

/// `stdDev(x)`: the population standard deviation (divides by n) of the non-NULL values, a
/// DOUBLE; NULL when empty and exactly 0.0 for one value, as in Siddhi. Maintained with
/// Welford's update and its inverse for removal, so expiry costs O(1); the running sum of
/// squared deviations is clamped at 0 against rounding and restarts from 0 at one value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StdDevAggregator {
    count: i64,
    mean: f64,
    m2: f64,
}

impl StdDevAggregator {
    /// The aggregate value, NULL when empty; the same as [`Aggregator::value`], callable
    /// without naming the input type.
    #[inline]
    pub fn value(&self) -> Option<f64> {
        match self.count {
            0 => None,
            1 => Some(0.0),
            n => Some((self.m2 / n as f64).sqrt()),
        }
    }

    /// Back to the empty aggregate; the same as [`Aggregator::reset`].
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

impl<T: Numeric> Aggregator<T> for StdDevAggregator {
    type Output = f64;

    #[inline]
    fn add(&mut self, value: Option<T>) {
        if let Some(v) = value {
            let x = v.to_f64();
            self.count += 1;
            let delta = x - self.mean;
            self.mean += delta / self.count as f64;
            self.m2 += delta * (x - self.mean);
        }
    }

    #[inline]
    fn remove(&mut self, value: Option<T>) {
        if let Some(v) = value {
            if self.count <= 1 {
                *self = Self::default();
                return;
            }
            let x = v.to_f64();
            self.count -= 1;
            let delta = x - self.mean;
            self.mean -= delta / self.count as f64;
            self.m2 = if self.count == 1 {
                0.0
            } else {
                (self.m2 - delta * (x - self.mean)).max(0.0)
            };
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

crate::state::persist::persist_fields!(StdDevAggregator { count, mean, m2 });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testkit::{check_against_naive, ops};
    use proptest::prelude::*;

    #[test]
    fn population_std_dev() {
        let mut s = StdDevAggregator::default();
        assert_eq!(Aggregator::<f64>::value(&s), None);
        s.add(Some(5.0));
        assert_eq!(Aggregator::<f64>::value(&s), Some(0.0));
        for v in [2.0, 4.0, 4.0, 4.0, 5.0, 7.0, 9.0] {
            s.add(Some(v));
        }
        assert_eq!(Aggregator::<f64>::value(&s), Some(2.0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive(script in ops(-1000i32..1000, false)) {
            check_against_naive::<i32, StdDevAggregator, f64>(&script, |vals| {
                let xs: Vec<f64> = vals.iter().flatten().map(|v| *v as f64).collect();
                if xs.is_empty() {
                    return None;
                }
                let n = xs.len() as f64;
                let mean = xs.iter().sum::<f64>() / n;
                Some((xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt())
            }, |a, b| match (a, b) {
                // Compare variances: the square root magnifies rounding near zero.
                (Some(x), Some(y)) => (x * x - y * y).abs() < 1e-6 * (1.0 + y * y),
                _ => a == b,
            });
        }
    }
}
