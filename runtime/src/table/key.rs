//! The hashes tables file their rows under, exact for short keys.
//!
//! A key whose [`TotalOrd::hash_total`] writes at most 8 bytes (a string of up to 6 bytes,
//! say: its `Some` tag, the bytes and their terminator) is packed whole into one word, and
//! its hash is a bijection of that word: two such keys have equal hashes exactly when they
//! are equal. A probe by such a key needs no compare with the row it reaches, so it never
//! reads the row's string (a second cache miss on a large table). Longer keys get the
//! group maps' Fx hash, and rows with them are compared as usual.
//!
//! Packing is exact because, for one key type, what `hash_total` writes is prefix-free
//! (fixed-width numbers, an `Option` tag before its value, strings terminated by `0xff`,
//! which UTF-8 never holds): two different keys never write streams of which one is the
//! other followed by zeros.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::aggregate::{Total, TotalOrd};
use crate::join::KeyHash;

/// The hash a primary key is filed under, and whether it identifies the key (see the
/// module docs): rows with equal exact hashes have equal keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hashed {
    /// The hash.
    pub hash: u64,
    /// Whether the key was packed whole into the hash.
    pub exact: bool,
}

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

/// The hash of an owned or borrowed key (a [`Total`] or a type whose `Hash` writes what
/// `hash_total` does).
#[inline]
pub(super) fn hashed<K: Hash + ?Sized>(key: &K) -> Hashed {
    let mut packer = Packer::default();
    key.hash(&mut packer);
    if packer.len <= 8 {
        Hashed {
            hash: spread(packer.word),
            exact: true,
        }
    } else {
        let mut h = KeyHash::default();
        key.hash(&mut h);
        Hashed {
            hash: h.finish(),
            exact: false,
        }
    }
}

/// A bijection of `u64` that spreads every input bit over the whole word (the splitmix64
/// finalizer), so packed keys sharing their first bytes land in different buckets.
#[inline]
fn spread(word: u64) -> u64 {
    let mut z = word;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Packs what a key writes into one little-endian word while it fits; `len` counts every
/// byte written (more than 8: it did not fit).
#[derive(Default)]
struct Packer {
    word: u64,
    len: usize,
}

impl Hasher for Packer {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if end <= 8 && !bytes.is_empty() {
            let part = match bytes.first_chunk::<8>() {
                Some(whole) => u64::from_le_bytes(*whole),
                None => crate::aggregate::tail_word(bytes),
            };
            self.word |= part << (8 * self.len);
        }
        self.len = end;
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        if self.len < 8 {
            self.word |= u64::from(b) << (8 * self.len);
        }
        self.len += 1;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.word
    }
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

comparable_tuple!(A 0);
comparable_tuple!(A 0, B 1);
comparable_tuple!(A 0, B 1, C 2);
comparable_tuple!(A 0, B 1, C 2, D 3);
comparable_tuple!(A 0, B 1, C 2, D 3, F 4);
comparable_tuple!(A 0, B 1, C 2, D 3, F 4, G 5);
comparable_tuple!(A 0, B 1, C 2, D 3, F 4, G 5, H 6);
comparable_tuple!(A 0, B 1, C 2, D 3, F 4, G 5, H 6, I 7);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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

    proptest::proptest! {
        /// Exact hashes never collide: for one key type, equal exact hashes mean equal keys.
        #[test]
        fn exact_hashes_identify_keys(keys in proptest::collection::vec(
            (proptest::option::of("[a-c]{0,7}"), proptest::option::of(0u8..4)), 1..300)) {
            let mut singles: HashMap<u64, Option<String>> = HashMap::new();
            let mut pairs: HashMap<u64, (Option<String>, Option<u8>)> = HashMap::new();
            for (s, n) in keys {
                let h = hashed(&Total(&(s.as_deref(),)));
                if h.exact {
                    let prev = singles.insert(h.hash, s.clone());
                    proptest::prop_assert!(prev.is_none_or(|p| p == s));
                }
                let h = hashed(&Total(&(s.as_deref(), n)));
                if h.exact {
                    let prev = pairs.insert(h.hash, (s.clone(), n));
                    proptest::prop_assert!(prev.is_none_or(|p| p == (s, n)));
                }
            }
        }
    }
}
