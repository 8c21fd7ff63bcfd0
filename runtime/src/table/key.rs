//! Primary keys as a table files them: the key's hash and, for a short key, the words it was
//! hashed from.
//!
//! The words a key is cut into for hashing ([`crate::aggregate::FxHasher`]) encode it
//! exactly: integers are one word each, a string is its 8-byte chunks, its tail tagged with
//! its length and a `0xff` terminator word (a byte no UTF-8 text contains), an `Option` a tag
//! word before its value. Two keys of one type are equal exactly when their words are. A
//! table keeps the words of each row's key when they fit in [`SHORT_WORDS`], so a probe by a
//! short key compares words in the row's slot and never reads the row's strings (a cache
//! miss each on a large table).

use std::hash::Hash;

use crate::aggregate::{FxHasher, TotalOrd, WordSink};

/// The most words a short key has.
pub const SHORT_WORDS: usize = 4;

/// The words of a short key, or a mark that the key is longer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Short {
    words: [u64; SHORT_WORDS],
    /// How many words; more than [`SHORT_WORDS`] for a long key.
    len: u8,
}

impl Short {
    /// No short key (a long key, or none).
    pub(super) const LONG: Short = Short {
        words: [0; SHORT_WORDS],
        len: u8::MAX,
    };

    /// Whether the key fitted.
    #[inline]
    pub(super) fn exact(&self) -> bool {
        usize::from(self.len) <= SHORT_WORDS
    }
}

/// A primary key as a [`super::Table`] looks it up: its hash (the hash
/// [`crate::join::key_hash`] gives) and its words when short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyCode {
    pub(super) hash: u64,
    pub(super) short: Short,
}

/// Hashes like [`FxHasher`] and keeps the words.
#[derive(Default)]
struct Recorder {
    fx: FxHasher,
    short: Short,
}

impl WordSink for Recorder {
    #[inline]
    fn add(&mut self, word: u64) {
        self.fx.add(word);
        if let Some(w) = self.short.words.get_mut(usize::from(self.short.len)) {
            *w = word;
        }
        self.short.len = self.short.len.saturating_add(1);
    }
    #[inline]
    fn hash(&self) -> u64 {
        self.fx.hash()
    }
}

crate::aggregate::word_hasher!(Recorder);

impl KeyCode {
    /// The code of `key` as `Hash` feeds it (a table row's primary key).
    #[inline]
    pub(super) fn of_hash<K: Hash + ?Sized>(key: &K) -> KeyCode {
        let mut r = Recorder::default();
        key.hash(&mut r);
        KeyCode {
            hash: WordSink::hash(&r),
            short: r.short,
        }
    }

    /// The key's hash.
    #[inline]
    pub fn hash(&self) -> u64 {
        self.hash
    }
}

/// The code of the key with values `key` (a tuple of the key columns' values, borrowed:
/// `key_code(&(Some("IBM"),))` for a key `Total((Some(ibm),))`), or `None` when SQL's `=`
/// cannot hold for it (a value is NULL or NaN): no row's key equals it.
#[inline]
pub fn key_code<K: TotalOrd + ?Sized>(key: &K) -> Option<KeyCode> {
    if !key.comparable() {
        return None;
    }
    let mut r = Recorder::default();
    key.hash_total(&mut r);
    Some(KeyCode {
        hash: WordSink::hash(&r),
        short: r.short,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Total;
    use std::sync::Arc;

    #[test]
    fn codes_match_the_key_hash_and_tell_keys_apart() {
        let ibm: Arc<str> = Arc::from("IBM");
        let code = key_code(&(Some(&ibm),)).unwrap();
        assert_eq!(code.hash, crate::join::key_hash(&(Some("IBM"),)));
        assert_eq!(code, KeyCode::of_hash(&Total((Some(ibm.clone()),))));
        assert!(code.short.exact());
        // Prefixes, lengths around the 8-byte chunks and the terminator differ.
        let texts = [
            "",
            "I",
            "IB",
            "IBM",
            "IBMX",
            "ABCDEFGH",
            "ABCDEFGHI",
            "ABCDEFG",
        ];
        for a in texts {
            for b in texts {
                let (ca, cb) = (key_code(&(Some(a),)), key_code(&(Some(b),)));
                assert_eq!(ca == cb, a == b, "{a:?} {b:?}");
            }
        }
        // Two columns (a tag and a value word each); a key of more than four words is long.
        let two = key_code(&(Some(7i64), Some(true))).unwrap();
        assert!(two.short.exact());
        assert_ne!(Some(two), key_code(&(Some(7i64), Some(false))));
        assert!(!key_code(&(Some("AB"), Some(7i64))).unwrap().short.exact());
        let long = key_code(&(Some("a string of more than sixteen bytes"),)).unwrap();
        assert!(!long.short.exact());
        // NULL and NaN keys equal nothing.
        assert!(key_code(&(None::<&str>,)).is_none());
        assert!(key_code(&(Some("x"), Some(f64::NAN))).is_none());
        assert!(key_code(&(Some("x"), Some(0.5f64))).is_some());
    }
}
