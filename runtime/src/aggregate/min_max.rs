//! `min(x)` and `max(x)` over a window, with retraction.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Aggregator, Total, TotalOrd};

/// An ordered multiset: value -> how many times it is in the window.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: Serialize + TotalOrd",
    deserialize = "T: Deserialize<'de> + TotalOrd"
))]
struct Multiset<T> {
    #[serde(with = "crate::aggregate::pairs")]
    counts: BTreeMap<Total<T>, u64>,
}

impl<T> Default for Multiset<T> {
    fn default() -> Self {
        Multiset {
            counts: BTreeMap::new(),
        }
    }
}

impl<T: crate::state::persist::Save> crate::state::persist::Save for Multiset<T> {
    fn save(&self, w: &mut crate::state::persist::Writer) {
        self.counts.save(w);
    }
}

impl<T: crate::state::persist::Load + TotalOrd> crate::state::persist::Load for Multiset<T> {
    fn load(r: &mut crate::state::persist::Reader<'_>) -> Result<Self, crate::state::StateError> {
        Ok(Multiset {
            counts: crate::state::persist::Load::load(r)?,
        })
    }
}

impl<T: TotalOrd> Multiset<T> {
    #[inline]
    fn add(&mut self, v: T) {
        *self.counts.entry(Total(v)).or_insert(0) += 1;
    }

    #[inline]
    fn remove(&mut self, v: T) {
        let key = Total(v);
        if let Some(c) = self.counts.get_mut(&key) {
            *c -= 1;
            if *c == 0 {
                self.counts.remove(&key);
            }
        }
    }
}

macro_rules! extremum {
    ($(#[$doc:meta])* $name:ident, $pick:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(bound(
            serialize = "T: Serialize + TotalOrd",
            deserialize = "T: Deserialize<'de> + TotalOrd"
        ))]
        pub struct $name<T> {
            values: Multiset<T>,
        }

        impl<T> Default for $name<T> {
            fn default() -> Self {
                $name { values: Multiset::default() }
            }
        }

        impl<T: crate::state::persist::Save> crate::state::persist::Save for $name<T> {
            fn save(&self, w: &mut crate::state::persist::Writer) {
                self.values.save(w);
            }
        }

        impl<T: crate::state::persist::Load + TotalOrd> crate::state::persist::Load for $name<T> {
            fn load(
                r: &mut crate::state::persist::Reader<'_>,
            ) -> Result<Self, crate::state::StateError> {
                Ok($name {
                    values: crate::state::persist::Load::load(r)?,
                })
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
                    self.values.add(v);
                }
            }

            #[inline]
            fn remove(&mut self, value: Option<T>) {
                if let Some(v) = value {
                    self.values.remove(v);
                }
            }

            fn reset(&mut self) {
                self.values.counts.clear();
            }

            #[inline]
            fn value(&self) -> Option<T> {
                self.values.counts.$pick().map(|(k, _)| k.0.clone())
            }
        }
    };
}

extremum!(
    /// `min(x)`: the smallest non-NULL value in the window, NULL when none. Values live in an
    /// ordered multiset (`BTreeMap<value, count>`), so adding, retracting and reading are
    /// O(log n) in the number of distinct values, whatever order values leave in. Works for
    /// numbers (floats in [`TotalOrd`] order), booleans and strings.
    MinAggregator,
    first_key_value
);

extremum!(
    /// `max(x)`: the largest non-NULL value in the window, NULL when none; see
    /// [`MinAggregator`] for the data structure.
    MaxAggregator,
    last_key_value
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testkit::{check_against_naive, ops};
    use proptest::prelude::*;
    use std::sync::Arc;

    #[test]
    fn strings_and_retraction() {
        let mut m = MaxAggregator::<Arc<str>>::default();
        let mut n = MinAggregator::<Arc<str>>::default();
        for s in ["pear", "apple", "zoo", "apple"] {
            m.add(Some(Arc::from(s)));
            n.add(Some(Arc::from(s)));
        }
        assert_eq!(m.value().as_deref(), Some("zoo"));
        assert_eq!(n.value().as_deref(), Some("apple"));
        m.remove(Some(Arc::from("zoo")));
        n.remove(Some(Arc::from("apple")));
        assert_eq!(m.value().as_deref(), Some("pear"));
        assert_eq!(n.value().as_deref(), Some("apple"));
        let json = serde_json::to_string(&n).unwrap();
        let back: MinAggregator<Arc<str>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.value().as_deref(), Some("apple"));
        m.reset();
        assert_eq!(m.value(), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn min_matches_naive(script in ops(-30i32..30, false)) {
            check_against_naive::<i32, MinAggregator<i32>, i32>(&script, |vals| {
                vals.iter().flatten().min().copied()
            }, |a, b| a == b);
        }

        #[test]
        fn max_matches_naive_on_floats(script in ops((-30i32..30).prop_map(|v| v as f64 / 4.0), false)) {
            check_against_naive::<f64, MaxAggregator<f64>, f64>(&script, |vals| {
                vals.iter().flatten().copied().reduce(f64::max)
            }, |a, b| a == b);
        }
    }
}
