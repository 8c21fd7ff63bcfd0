//! A total order (and matching hash) over every value type a stream attribute can have,
//! floats included, so values can be map keys, group keys and sort keys.
//!
//! Floats compare with [`f64::total_cmp`] after folding every NaN into one canonical NaN, so
//! `NaN == NaN` (sorted after `+inf`) and `-0.0 < 0.0` — the order of Java's
//! `Double.compareTo`, which Siddhi's maps and sorts use. `None` sorts before every value.

use std::cmp::{Ordering, Reverse};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A total order and a hash consistent with it (`a.cmp_total(b) == Equal` implies equal
/// hashes). Implemented for integers, floats, `bool`, strings, `Option`, `Reverse` and tuples.
pub trait TotalOrd {
    /// Compares `self` with `other` in the total order.
    fn cmp_total(&self, other: &Self) -> Ordering;
    /// Feeds `self` into `state`, consistently with [`TotalOrd::cmp_total`].
    fn hash_total<H: Hasher>(&self, state: &mut H);
    /// `self.cmp_total(other) == Ordering::Equal`.
    fn eq_total(&self, other: &Self) -> bool {
        self.cmp_total(other) == Ordering::Equal
    }
}

/// Wraps a [`TotalOrd`] value to give it `Eq`, `Ord` and `Hash`, e.g. a float group key
/// `Total<(Option<Arc<str>>, Option<f64>)>` or a sort key. Serializes as the inner value.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Total<T>(pub T);

impl<T: TotalOrd> PartialEq for Total<T> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_total(&other.0)
    }
}

impl<T: TotalOrd> Eq for Total<T> {}

impl<T: TotalOrd> PartialOrd for Total<T> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: TotalOrd> Ord for Total<T> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp_total(&other.0)
    }
}

impl<T: TotalOrd> Hash for Total<T> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash_total(state)
    }
}

macro_rules! total_ord_via_ord {
    ($($t:ty),*) => {$(
        impl TotalOrd for $t {
            #[inline]
            fn cmp_total(&self, other: &Self) -> Ordering {
                Ord::cmp(self, other)
            }
            #[inline]
            fn hash_total<H: Hasher>(&self, state: &mut H) {
                Hash::hash(self, state)
            }
        }
    )*};
}

total_ord_via_ord!(
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    bool,
    char,
    str,
    String,
    ()
);

macro_rules! total_ord_float {
    ($($t:ty),*) => {$(
        impl TotalOrd for $t {
            #[inline]
            fn cmp_total(&self, other: &Self) -> Ordering {
                // Numbers that differ compare as usual (one compare, the common case); equal
                // ones (`-0.0` against `0.0`) and NaNs take the total order.
                match self.partial_cmp(other) {
                    Some(Ordering::Less) => Ordering::Less,
                    Some(Ordering::Greater) => Ordering::Greater,
                    _ => {
                        let canon = |x: $t| if x.is_nan() { <$t>::NAN } else { x };
                        canon(*self).total_cmp(&canon(*other))
                    }
                }
            }
            #[inline]
            fn hash_total<H: Hasher>(&self, state: &mut H) {
                let x = if self.is_nan() { <$t>::NAN } else { *self };
                x.to_bits().hash(state)
            }
        }
    )*};
}

total_ord_float!(f32, f64);

macro_rules! total_ord_deref {
    ($($p:ident),*) => {$(
        impl<T: TotalOrd + ?Sized> TotalOrd for $p<T> {
            #[inline]
            fn cmp_total(&self, other: &Self) -> Ordering {
                (**self).cmp_total(&**other)
            }
            #[inline]
            fn hash_total<H: Hasher>(&self, state: &mut H) {
                (**self).hash_total(state)
            }
        }
    )*};
}

total_ord_deref!(Arc, Rc, Box);

impl<T: TotalOrd + ?Sized> TotalOrd for &T {
    #[inline]
    fn cmp_total(&self, other: &Self) -> Ordering {
        (**self).cmp_total(&**other)
    }
    #[inline]
    fn hash_total<H: Hasher>(&self, state: &mut H) {
        (**self).hash_total(state)
    }
}

impl<T: TotalOrd> TotalOrd for Option<T> {
    #[inline]
    fn cmp_total(&self, other: &Self) -> Ordering {
        match (self, other) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.cmp_total(b),
        }
    }
    #[inline]
    fn hash_total<H: Hasher>(&self, state: &mut H) {
        match self {
            None => state.write_u8(0),
            Some(v) => {
                state.write_u8(1);
                v.hash_total(state)
            }
        }
    }
}

impl<T: TotalOrd> TotalOrd for Reverse<T> {
    #[inline]
    fn cmp_total(&self, other: &Self) -> Ordering {
        other.0.cmp_total(&self.0)
    }
    #[inline]
    fn hash_total<H: Hasher>(&self, state: &mut H) {
        self.0.hash_total(state)
    }
}

impl<T: TotalOrd> TotalOrd for Total<T> {
    #[inline]
    fn cmp_total(&self, other: &Self) -> Ordering {
        self.0.cmp_total(&other.0)
    }
    #[inline]
    fn hash_total<H: Hasher>(&self, state: &mut H) {
        self.0.hash_total(state)
    }
}

/// Calls `$m!` with the type parameters and indexes of each tuple arity keys come in (1 to
/// 8 parts), e.g. `$m!(A 0, B 1)`: the impls for key tuples are written once per trait.
macro_rules! for_key_tuples {
    ($m:ident) => {
        $m!(A 0);
        $m!(A 0, B 1);
        $m!(A 0, B 1, C 2);
        $m!(A 0, B 1, C 2, D 3);
        $m!(A 0, B 1, C 2, D 3, F 4);
        $m!(A 0, B 1, C 2, D 3, F 4, G 5);
        $m!(A 0, B 1, C 2, D 3, F 4, G 5, H1 6);
        $m!(A 0, B 1, C 2, D 3, F 4, G 5, H1 6, I 7);
    };
}
pub(crate) use for_key_tuples;

macro_rules! total_ord_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: TotalOrd),+> TotalOrd for ($($name,)+) {
            #[inline]
            fn cmp_total(&self, other: &Self) -> Ordering {
                Ordering::Equal $(.then_with(|| self.$idx.cmp_total(&other.$idx)))+
            }
            #[inline]
            fn hash_total<H: Hasher>(&self, state: &mut H) {
                $(self.$idx.hash_total(state);)+
            }
        }
    };
}

crate::aggregate::for_key_tuples!(total_ord_tuple);

crate::state::persist::persist_fields!(Total<T> { 0 });

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn floats_are_totally_ordered() {
        let mut v = [
            Total(f64::NAN),
            Total(1.0),
            Total(f64::NEG_INFINITY),
            Total(-0.0),
            Total(0.0),
            Total(-f64::NAN),
        ];
        v.sort();
        let bits: Vec<f64> = v.iter().map(|t| t.0).collect();
        assert_eq!(bits[0], f64::NEG_INFINITY);
        assert!(bits[1] == 0.0 && bits[1].is_sign_negative());
        assert!(bits[2] == 0.0 && bits[2].is_sign_positive());
        assert_eq!(bits[3], 1.0);
        assert!(bits[4].is_nan() && bits[5].is_nan());
        assert_eq!(Total(f64::NAN), Total(-f64::NAN));
        let set: HashSet<Total<f64>> = [Total(f64::NAN), Total(-f64::NAN)].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    proptest::proptest! {
        /// The fast path agrees with the total order on every bit pattern.
        #[test]
        fn float_order_is_total_cmp_of_canonical_nans(a in proptest::num::f64::ANY, b in proptest::num::f64::ANY, x in proptest::num::f32::ANY) {
            let canon = |x: f64| if x.is_nan() { f64::NAN } else { x };
            let canon32 = |x: f32| if x.is_nan() { f32::NAN } else { x };
            for (p, q) in [(a, b), (a, a), (b, a), (a, -a), (a, 0.0), (-0.0, a)] {
                proptest::prop_assert_eq!(p.cmp_total(&q), canon(p).total_cmp(&canon(q)));
            }
            for (p, q) in [(x, 0.0f32), (x, -0.0), (x, f32::NAN), (x, x)] {
                proptest::prop_assert_eq!(p.cmp_total(&q), canon32(p).total_cmp(&canon32(q)));
            }
        }
    }

    #[test]
    fn options_tuples_strings_and_reverse() {
        assert!(Total(None::<i32>) < Total(Some(i32::MIN)));
        let a: Arc<str> = Arc::from("apple");
        let b: Arc<str> = Arc::from("banana");
        assert!(Total((Some(a.clone()), 2.0)) < Total((Some(b.clone()), 1.0)));
        assert!(Total((Some(a.clone()), 1.0)) < Total((Some(a), 2.0)));
        assert!(Total(Reverse(1)) > Total(Reverse(2)));
        assert_eq!(Total(b.clone()), Total(Arc::from("banana")));
    }
}
