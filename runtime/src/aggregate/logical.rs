//! `and(b)` and `or(b)` over BOOL values.

use serde::{Deserialize, Serialize};

use super::Aggregator;

/// Counts of true and false values in the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Truths {
    trues: i64,
    falses: i64,
}

crate::state::persist::persist_fields!(Truths { trues, falses });

impl Truths {
    #[inline]
    fn apply(&mut self, value: Option<bool>, delta: i64) {
        match value {
            Some(true) => self.trues += delta,
            Some(false) => self.falses += delta,
            None => {}
        }
    }
}

macro_rules! logical {
    ($(#[$doc:meta])* $name:ident, |$t:ident| $value:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            counts: Truths,
        }

        crate::state::persist::persist_fields!($name { counts });

        impl Aggregator<bool> for $name {
            type Output = bool;

            #[inline]
            fn add(&mut self, value: Option<bool>) {
                self.counts.apply(value, 1);
            }

            #[inline]
            fn remove(&mut self, value: Option<bool>) {
                self.counts.apply(value, -1);
            }

            fn reset(&mut self) {
                self.counts = Truths::default();
            }

            #[inline]
            fn value(&self) -> Option<bool> {
                let $t = &self.counts;
                Some($value)
            }
        }
    };
}

logical!(
    /// `and(b)`: true when the window holds at least one true and no false value (NULLs
    /// skipped); false when empty, as in Siddhi.
    AndAggregator,
    |t| t.trues > 0 && t.falses == 0
);

logical!(
    /// `or(b)`: true when the window holds at least one true value; false when empty.
    OrAggregator,
    |t| t.trues > 0
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testkit::{check_against_naive, ops};
    use proptest::prelude::*;

    #[test]
    fn empty_is_false() {
        assert_eq!(AndAggregator::default().value(), Some(false));
        assert_eq!(OrAggregator::default().value(), Some(false));
        let mut a = AndAggregator::default();
        a.add(Some(true));
        a.add(None);
        assert_eq!(a.value(), Some(true));
        a.add(Some(false));
        assert_eq!(a.value(), Some(false));
        a.remove(Some(false));
        assert_eq!(a.value(), Some(true));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn and_matches_naive(script in ops(any::<bool>(), false)) {
            check_against_naive::<bool, AndAggregator, bool>(&script, |vals| {
                let xs: Vec<bool> = vals.iter().flatten().copied().collect();
                Some(!xs.is_empty() && xs.iter().all(|b| *b))
            }, |a, b| a == b);
        }

        #[test]
        fn or_matches_naive(script in ops(any::<bool>(), false)) {
            check_against_naive::<bool, OrAggregator, bool>(&script, |vals| {
                Some(vals.iter().flatten().any(|b| *b))
            }, |a, b| a == b);
        }
    }
}
