//! `first(x)` and `last(x)`: the oldest / newest non-NULL value currently in the window.

use std::collections::VecDeque;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Aggregator, TotalOrd};

/// Non-NULL values in arrival order.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Arrivals<T> {
    values: VecDeque<T>,
}

impl<T> Default for Arrivals<T> {
    fn default() -> Self {
        Arrivals {
            values: VecDeque::new(),
        }
    }
}

impl<T: TotalOrd> Arrivals<T> {
    /// Retracts the oldest occurrence of `v`: O(1) when values leave in arrival order (length,
    /// time, batch windows); a search otherwise (unique, sort, frequent windows).
    #[inline]
    fn remove(&mut self, v: &T) {
        if self.values.front().is_some_and(|f| f.eq_total(v)) {
            self.values.pop_front();
        } else if let Some(i) = self.values.iter().position(|x| x.eq_total(v)) {
            self.values.remove(i);
        }
    }
}

crate::state::persist::persist_fields!(Arrivals<T> { values });

macro_rules! positional {
    ($(#[$doc:meta])* $name:ident, $end:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Serialize, Deserialize)]
        pub struct $name<T> {
            arrivals: Arrivals<T>,
        }

        crate::state::persist::persist_fields!($name<T> { arrivals });

        impl<T> Default for $name<T> {
            fn default() -> Self {
                $name { arrivals: Arrivals::default() }
            }
        }

        impl<T> Aggregator<T> for $name<T>
        where
            T: TotalOrd + Clone + Serialize + DeserializeOwned,
        {
            type Output = T;

            #[inline]
            fn add(&mut self, value: Option<T>) {
                if let Some(v) = value {
                    self.arrivals.values.push_back(v);
                }
            }

            #[inline]
            fn remove(&mut self, value: Option<T>) {
                if let Some(v) = value {
                    self.arrivals.remove(&v);
                }
            }

            fn reset(&mut self) {
                self.arrivals.values.clear();
            }

            #[inline]
            fn value(&self) -> Option<T> {
                self.arrivals.values.$end().cloned()
            }
        }
    };
}

positional!(
    /// `first(x)`: the oldest non-NULL value still in the window, NULL when none. Keeps the
    /// window's non-NULL values in arrival order; a removal retracts the oldest equal value,
    /// which is exact when events expire oldest first (every window but unique, sort and the
    /// frequent ones, where an equal value may stand at another place).
    FirstAggregator,
    front
);

positional!(
    /// `last(x)`: the newest non-NULL value still in the window, NULL when none; see
    /// [`FirstAggregator`] for how removal works.
    LastAggregator,
    back
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testkit::{check_against_naive, ops};
    use proptest::prelude::*;
    use std::sync::Arc;

    #[test]
    fn follows_the_window() {
        let mut f = FirstAggregator::<Arc<str>>::default();
        let mut l = LastAggregator::<Arc<str>>::default();
        for s in [Some("a"), None, Some("b"), Some("c")] {
            f.add(s.map(Arc::from));
            l.add(s.map(Arc::from));
        }
        assert_eq!(
            (f.value().as_deref(), l.value().as_deref()),
            (Some("a"), Some("c"))
        );
        f.remove(Some(Arc::from("a")));
        assert_eq!(f.value().as_deref(), Some("b"));
        l.remove(Some(Arc::from("c")));
        assert_eq!(l.value().as_deref(), Some("b"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn first_matches_naive(script in ops(-5i32..5, true)) {
            check_against_naive::<i32, FirstAggregator<i32>, i32>(&script, |vals| {
                vals.iter().flatten().next().copied()
            }, |a, b| a == b);
        }

        #[test]
        fn last_matches_naive(script in ops(-5i32..5, true)) {
            check_against_naive::<i32, LastAggregator<i32>, i32>(&script, |vals| {
                vals.iter().flatten().last().copied()
            }, |a, b| a == b);
        }
    }
}
