//! Key hashes that are exact for short keys.
//!
//! A key whose [`TotalOrd::hash_total`](super::TotalOrd::hash_total) writes at most 8 bytes
//! (a string of up to 6 bytes, say: its `Some` tag, the bytes and their terminator; an
//! `INT`; a `BOOL`) is packed whole into one word, and its hash is a bijection of that word:
//! two such keys have equal hashes exactly when they are equal. A lookup by such a key needs
//! no compare with the key it reaches, so it never reads that key (for a string, a load
//! that depends on the entry's and, on a large table, a second cache miss). Longer keys get
//! the [`FxHasher`] hash, and are compared as usual.
//!
//! Packing is exact because, for one key type, what `hash_total` writes is prefix-free
//! (fixed-width numbers, an `Option` tag before its value, strings terminated by `0xff`,
//! which UTF-8 never holds): two different keys never write streams of which one is the
//! other followed by zeros. A map keeps exact and inexact hashes apart by comparing keys
//! again as soon as it holds one inexact key.

use std::hash::{Hash, Hasher};

use super::FxHasher;

/// The hash of a key, and whether it identifies the key (see the module docs): keys with
/// equal exact hashes are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hashed {
    /// The hash.
    pub hash: u64,
    /// Whether the key was packed whole into the hash.
    pub exact: bool,
}

/// The hash of an owned or borrowed key (a [`Total`] or a type whose `Hash` writes what
/// `hash_total` does).
#[inline]
pub fn hashed<K: Hash + ?Sized>(key: &K) -> Hashed {
    let mut packer = Packer::default();
    key.hash(&mut packer);
    if packer.len <= 8 {
        Hashed {
            hash: spread(packer.word),
            exact: true,
        }
    } else {
        fx_hashed(key)
    }
}

/// The hash of a key too long to be packed: out of line, so that [`hashed`] stays small
/// enough to inline into every lookup.
#[inline(never)]
fn fx_hashed<K: Hash + ?Sized>(key: &K) -> Hashed {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    Hashed {
        hash: h.finish(),
        exact: false,
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

/// The little-endian word of `bytes` (1 to 8 of them), zero-padded: two overlapping
/// fixed-size loads (the bytes they share are the same), no loop and no copy (a
/// variable-length copy into a buffer costs a `memcpy` call and a store-forwarding stall per
/// key). Also the tail of [`FxHasher`]'s words.
#[inline]
pub(super) fn short_word(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (Some(lo), Some(hi)) => {
            u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << (8 * (n - 4))
        }
        _ => match (bytes.first_chunk::<2>(), bytes.last_chunk::<2>()) {
            (Some(lo), Some(hi)) => {
                u64::from(u16::from_le_bytes(*lo))
                    | u64::from(u16::from_le_bytes(*hi)) << (8 * (n - 2))
            }
            _ => bytes.first().map_or(0, |&b| u64::from(b)),
        },
    }
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
            self.word |= short_word(bytes) << (8 * self.len);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Total;
    use std::collections::HashMap;

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

    #[test]
    fn short_words_are_the_bytes() {
        let bytes = [1u8, 2, 3, 4, 5, 6, 7, 8];
        for n in 1..=8 {
            let mut want = [0u8; 8];
            want[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(
                short_word(&bytes[..n]),
                u64::from_le_bytes(want),
                "{n} bytes"
            );
        }
    }

    #[test]
    fn short_keys_are_exact() {
        for (s, exact) in [
            (None, true),
            (Some(""), true),
            (Some("S95431"), true),
            (Some("S954312"), false),
        ] {
            assert_eq!(hashed(&Total(&(s,))).exact, exact, "{s:?}");
        }
        assert!(hashed(&Total(&(Some(7i32),))).exact);
        assert!(!hashed(&Total(&(Some(7i64),))).exact);
        assert!(hashed(&Total(&())).exact);
    }
}
