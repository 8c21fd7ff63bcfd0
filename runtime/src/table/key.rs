//! Table keys' hashes: those of [`crate::aggregate::hashed`], exact for short keys, so a
//! probe by a short key needs no compare with the row it reaches and never reads the row's
//! string (a second cache miss on a large table).

use std::sync::Arc;

use crate::aggregate::{hashed, Hashed, Total, TotalOrd};

/// The hash of a table key given as borrowed values (e.g. `key_hash(&(Some("IBM"),))` for
/// a key `Total((Some(ibm),))`), as `Table::find_by_hash` takes it. Clones nothing.
#[inline]
pub fn key_hash<K: TotalOrd + ?Sized>(key: &K) -> u64 {
    hashed(&Total(key)).hash
}

/// The hash of a key by which `=` can find a row ([`Comparable`]: no NULL or NaN part), for
/// `Table::get_by_key` and `Table::replace_or_insert`; `None` for a key that equals no other.
#[inline]
pub fn probe<K: TotalOrd + Comparable + ?Sized>(key: &K) -> Option<Hashed> {
    key.comparable().then(|| hashed(&Total(key)))
}

/// Values `=` can hold for: no part NULL or NaN. A key with such a part equals no other.
pub trait Comparable {
    /// Whether no part of `self` is NULL or NaN.
    fn comparable(&self) -> bool;
}

macro_rules! always_comparable {
    ($($t:ty),*) => {$(
        impl Comparable for $t {
            #[inline]
            fn comparable(&self) -> bool {
                true
            }
        }
    )*};
}

always_comparable!(bool, i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, str, String);

impl Comparable for f32 {
    #[inline]
    fn comparable(&self) -> bool {
        !self.is_nan()
    }
}

impl Comparable for f64 {
    #[inline]
    fn comparable(&self) -> bool {
        !self.is_nan()
    }
}

impl<T: Comparable + ?Sized> Comparable for &T {
    #[inline]
    fn comparable(&self) -> bool {
        (**self).comparable()
    }
}

impl<T: Comparable + ?Sized> Comparable for Arc<T> {
    #[inline]
    fn comparable(&self) -> bool {
        (**self).comparable()
    }
}

impl<T: Comparable> Comparable for Option<T> {
    #[inline]
    fn comparable(&self) -> bool {
        self.as_ref().is_some_and(Comparable::comparable)
    }
}

macro_rules! comparable_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Comparable),+> Comparable for ($($name,)+) {
            #[inline]
            fn comparable(&self) -> bool {
                $(self.$idx.comparable())&&+
            }
        }
    };
}

crate::aggregate::for_key_tuples!(comparable_tuple);

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(s: Option<&str>) -> Total<(Option<Arc<str>>,)> {
        Total((s.map(Arc::from),))
    }

    #[test]
    fn borrowed_and_owned_keys_hash_alike() {
        for s in [
            None,
            Some(""),
            Some("S1"),
            Some("S95431"),
            Some("S954312"),
            Some("a long key"),
        ] {
            let h = hashed(&owned(s));
            assert_eq!(key_hash(&(s,)), h.hash, "{s:?}");
            assert_eq!(h.exact, s.map_or(0, str::len) <= 6, "{s:?}");
        }
        let k = Total((Some(7i64), Some(1.5f64)));
        assert_eq!(hashed(&k).hash, key_hash(&(Some(7i64), Some(1.5f64))));
        assert!(!hashed(&k).exact);
        assert!(hashed(&Total((Some(7i32),))).exact);
    }

    #[test]
    fn probes_skip_null_and_nan() {
        assert_eq!(probe(&(None::<&str>,)), None);
        assert_eq!(probe(&(Some("a"), Some(f64::NAN))), None);
        assert_eq!(probe(&(Some("a"), None::<i64>)), None);
        let p = probe(&(Some("a"), Some(0.5f64)));
        assert_eq!(
            p.map(|p| p.hash),
            Some(key_hash(&(Some("a"), Some(0.5f64))))
        );
    }
}
