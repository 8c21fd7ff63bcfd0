//! `minForever(x)` and `maxForever(x)`.

use std::cmp::Ordering;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Aggregator, TotalOrd};

macro_rules! forever {
    ($(#[$doc:meta])* $name:ident, $better:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $name<T> {
            best: Option<T>,
        }

        crate::state::persist::persist_fields!($name<T> { best });

        impl<T> Default for $name<T> {
            fn default() -> Self {
                $name { best: None }
            }
        }

        impl<T> $name<T>
        where
            T: TotalOrd,
        {
            #[inline]
            fn offer(&mut self, value: Option<T>) {
                if let Some(v) = value {
                    match &self.best {
                        Some(b) if v.cmp_total(b) != $better => {}
                        _ => self.best = Some(v),
                    }
                }
            }
        }

        impl<T> Aggregator<T> for $name<T>
        where
            T: TotalOrd + Clone + Serialize + DeserializeOwned,
        {
            type Output = T;

            #[inline]
            fn add(&mut self, value: Option<T>) {
                self.offer(value);
            }

            /// Never retracts: the value is offered again, as Siddhi does.
            #[inline]
            fn remove(&mut self, value: Option<T>) {
                self.offer(value);
            }

            /// Keeps the value: a forever aggregate survives batch resets (Siddhi).
            fn reset(&mut self) {}

            #[inline]
            fn value(&self) -> Option<T> {
                self.best.clone()
            }
        }
    };
}

forever!(
    /// `minForever(x)`: the smallest non-NULL value ever seen. Expiry does not retract it and
    /// a batch `Reset` does not clear it (Siddhi: `processRemove` re-offers the value,
    /// `reset` keeps the state).
    MinForeverAggregator,
    Ordering::Less
);

forever!(
    /// `maxForever(x)`: the largest non-NULL value ever seen; never retracted nor reset.
    MaxForeverAggregator,
    Ordering::Greater
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn survives_removal_and_reset() {
        let mut m = MaxForeverAggregator::default();
        m.add(Some(3.5));
        m.add(None);
        m.add(Some(1.0));
        m.remove(Some(3.5));
        m.reset();
        assert_eq!(m.value(), Some(3.5));
        let mut n = MinForeverAggregator::<i32>::default();
        assert_eq!(n.value(), None);
        n.add(Some(4));
        n.add(Some(-2));
        assert_eq!(n.value(), Some(-2));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn is_the_extremum_of_everything_added(vals in proptest::collection::vec(proptest::option::of(-50i64..50), 1..2000)) {
            let mut lo = MinForeverAggregator::default();
            let mut hi = MaxForeverAggregator::default();
            for (i, v) in vals.iter().enumerate() {
                lo.add(*v);
                hi.add(*v);
                if i % 3 == 0 {
                    lo.remove(vals[i / 2]);
                    hi.reset();
                }
                if i % 97 == 0 {
                    lo = serde_json::from_str(&serde_json::to_string(&lo).unwrap()).unwrap();
                }
                let seen = vals[..=i].iter().flatten();
                prop_assert_eq!(lo.value(), seen.clone().min().copied());
                prop_assert_eq!(hi.value(), seen.max().copied());
            }
        }
    }
}
