//! `sum(x)`.

use serde::{Deserialize, Serialize};

use super::Aggregator;

/// `sum(x)`. The accumulator type picks the family: `SumAggregator<i64>` sums INT and LONG
/// values into a LONG (wrapping on overflow, like Java's `long`, so removal is exact);
/// `SumAggregator<f64>` sums FLOAT and DOUBLE values into a DOUBLE, adding in arrival order
/// as Siddhi does. The sum of no non-NULL value is NULL; when the last value is removed the
/// accumulator restarts from exactly zero, so float drift does not outlive the values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SumAggregator<A> {
    sum: A,
    count: i64,
}

macro_rules! inherent {
    ($acc:ty) => {
        impl SumAggregator<$acc> {
            /// The sum, NULL when empty; the same as [`Aggregator::value`], callable without
            /// naming the input type.
            #[inline]
            pub fn value(&self) -> Option<$acc> {
                (self.count > 0).then_some(self.sum)
            }

            /// Back to the empty sum; the same as [`Aggregator::reset`].
            pub fn reset(&mut self) {
                *self = Self::default();
            }
        }
    };
}

inherent!(i64);
inherent!(f64);

macro_rules! int_sum {
    ($($t:ty),*) => {$(
        impl Aggregator<$t> for SumAggregator<i64> {
            type Output = i64;

            #[inline]
            fn add(&mut self, value: Option<$t>) {
                if let Some(v) = value {
                    self.sum = self.sum.wrapping_add(v as i64);
                    self.count += 1;
                }
            }

            #[inline]
            fn remove(&mut self, value: Option<$t>) {
                if let Some(v) = value {
                    self.sum = self.sum.wrapping_sub(v as i64);
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
    )*};
}

int_sum!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! float_sum {
    ($($t:ty),*) => {$(
        impl Aggregator<$t> for SumAggregator<f64> {
            type Output = f64;

            #[inline]
            fn add(&mut self, value: Option<$t>) {
                if let Some(v) = value {
                    self.sum += f64::from(v);
                    self.count += 1;
                }
            }

            #[inline]
            fn remove(&mut self, value: Option<$t>) {
                if let Some(v) = value {
                    self.count -= 1;
                    if self.count == 0 {
                        self.sum = 0.0;
                    } else {
                        self.sum -= f64::from(v);
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
    )*};
}

float_sum!(f32, f64);

crate::state::persist::persist_fields!(SumAggregator<A> { sum, count });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testkit::{check_against_naive, close, ops};
    use proptest::prelude::*;

    #[test]
    fn null_when_empty_and_wraps() {
        let mut s = SumAggregator::<i64>::default();
        assert_eq!(Aggregator::<i32>::value(&s), None);
        s.add(None::<i32>);
        assert_eq!(Aggregator::<i32>::value(&s), None);
        s.add(Some(i32::MAX));
        s.add(Some(1i32));
        assert_eq!(Aggregator::<i32>::value(&s), Some(i32::MAX as i64 + 1));
        s.add(Some(i64::MAX));
        s.remove(Some(i64::MAX));
        assert_eq!(Aggregator::<i64>::value(&s), Some(i32::MAX as i64 + 1));
        let mut f = SumAggregator::<f64>::default();
        f.add(Some(0.1f32));
        f.add(Some(0.2f64));
        f.remove(Some(0.1f32));
        f.remove(Some(0.2f64));
        assert_eq!(Aggregator::<f64>::value(&f), None);
        f.add(Some(1.5f64));
        assert_eq!(Aggregator::<f64>::value(&f), Some(1.5));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn int_sum_matches_naive(script in ops(any::<i64>(), false)) {
            check_against_naive::<i64, SumAggregator<i64>, i64>(&script, |vals| {
                let xs: Vec<i64> = vals.iter().flatten().copied().collect();
                (!xs.is_empty()).then(|| xs.iter().fold(0i64, |a, b| a.wrapping_add(*b)))
            }, |a, b| a == b);
        }

        #[test]
        fn float_sum_matches_naive(script in ops(-1e6f64..1e6, false)) {
            check_against_naive::<f64, SumAggregator<f64>, f64>(&script, |vals| {
                let xs: Vec<f64> = vals.iter().flatten().copied().collect();
                (!xs.is_empty()).then(|| xs.iter().sum())
            }, |a, b| {
                // Drift is relative to the magnitude of what passed through, not of the sum.
                match (a, b) {
                    (Some(x), Some(y)) => (x - y).abs() < 1e-3,
                    _ => close(a, b),
                }
            });
        }
    }
}
