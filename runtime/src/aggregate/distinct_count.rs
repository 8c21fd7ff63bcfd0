//! `distinctCount(x)` and `count(DISTINCT x)`.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Aggregator, FxBuildHasher, Total, TotalOrd};

/// `distinctCount(x)` / `count(DISTINCT x)`: how many distinct non-NULL values are in the
/// window (a LONG, 0 when empty). Keeps value -> multiplicity, so a value stops counting
/// only when its last occurrence leaves. Floats compare in [`TotalOrd`] order (all NaNs are
/// one value; `-0.0` and `0.0` are two, like Java's `Double.equals`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound(
    serialize = "T: Serialize + TotalOrd",
    deserialize = "T: Deserialize<'de> + TotalOrd"
))]
pub struct DistinctCountAggregator<T> {
    #[serde(with = "crate::aggregate::pairs")]
    counts: HashMap<Total<T>, u64, FxBuildHasher>,
}

impl<T> Default for DistinctCountAggregator<T> {
    fn default() -> Self {
        DistinctCountAggregator {
            counts: HashMap::default(),
        }
    }
}

impl<T> Aggregator<T> for DistinctCountAggregator<T>
where
    T: TotalOrd + Clone + Serialize + DeserializeOwned,
{
    type Output = i64;

    #[inline]
    fn add(&mut self, value: Option<T>) {
        if let Some(v) = value {
            *self.counts.entry(Total(v)).or_insert(0) += 1;
        }
    }

    #[inline]
    fn remove(&mut self, value: Option<T>) {
        if let Some(v) = value {
            let key = Total(v);
            if let Some(c) = self.counts.get_mut(&key) {
                *c -= 1;
                if *c == 0 {
                    self.counts.remove(&key);
                }
            }
        }
    }

    fn reset(&mut self) {
        self.counts.clear();
    }

    #[inline]
    fn value(&self) -> Option<i64> {
        Some(self.counts.len() as i64)
    }
}

crate::state::persist::persist_fields!(DistinctCountAggregator<T> { counts } where T: TotalOrd);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testkit::{check_against_naive, ops};
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    #[test]
    fn counts_distinct_strings() {
        let mut d = DistinctCountAggregator::<Arc<str>>::default();
        for s in ["a", "b", "a"] {
            d.add(Some(Arc::from(s)));
        }
        d.add(None);
        assert_eq!(d.value(), Some(2));
        d.remove(Some(Arc::from("a")));
        assert_eq!(d.value(), Some(2));
        d.remove(Some(Arc::from("a")));
        assert_eq!(d.value(), Some(1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn matches_naive(script in ops(-15i32..15, false)) {
            check_against_naive::<i32, DistinctCountAggregator<i32>, i64>(&script, |vals| {
                Some(vals.iter().flatten().collect::<HashSet<_>>().len() as i64)
            }, |a, b| a == b);
        }
    }
}
