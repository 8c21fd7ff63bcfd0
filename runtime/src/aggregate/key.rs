//! Borrowed group keys: look a group up from the attributes of an event without building
//! (cloning) the owned key first.
//!
//! A group key is a [`Total`] of a tuple of `Option` values (`Total<(Option<Arc<str>>,
//! Option<f64>)>`). Its borrowed form is the same tuple with `Option<&str>` for strings and
//! the values themselves for everything else; [`KeyPart`] compares a borrowed key with an
//! owned one and builds the owned key when a group is new. Both forms hash alike (through
//! [`TotalOrd::hash_total`]), so a map keyed by the owned form can be probed with the
//! borrowed one (see [`crate::aggregate::GroupMap::slot_of`]).
//!
//! ```
//! use std::sync::Arc;
//! use eventflux_runtime::aggregate::KeyPart;
//! let owned: (Option<Arc<str>>, Option<i64>) = (Some(Arc::from("IBM")), Some(3));
//! let borrowed: (Option<&str>, Option<i64>) = (Some("IBM"), Some(3));
//! assert!(borrowed.matches(&owned));
//! assert_eq!(borrowed.to_owned_part(), owned);
//! ```

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::total::{Total, TotalOrd};

/// The borrowed form of (a part of) a group key.
pub trait KeyPart: TotalOrd {
    /// The owned form stored in the group map.
    type Owned;

    /// Whether `owned` is this key (in the total order of [`TotalOrd`]).
    fn matches(&self, owned: &Self::Owned) -> bool;

    /// The owned key, built once per new group.
    fn to_owned_part(&self) -> Self::Owned;
}

impl KeyPart for Option<&str> {
    type Owned = Option<Arc<str>>;

    #[inline]
    fn matches(&self, owned: &Self::Owned) -> bool {
        match (self, owned) {
            (Some(probe), Some(key)) => str_eq(probe.as_bytes(), key.as_bytes()),
            (None, None) => true,
            _ => false,
        }
    }

    fn to_owned_part(&self) -> Self::Owned {
        self.map(Arc::from)
    }
}

/// `a == b`, comparing strings of 4 to 16 bytes (symbols, codes, short names: most string
/// keys) with two overlapping fixed-size loads per side instead of a `memcmp` call.
#[inline]
fn str_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        4..=8 => {
            a.first_chunk::<4>() == b.first_chunk::<4>()
                && a.last_chunk::<4>() == b.last_chunk::<4>()
        }
        9..=16 => {
            a.first_chunk::<8>() == b.first_chunk::<8>()
                && a.last_chunk::<8>() == b.last_chunk::<8>()
        }
        _ => a == b,
    }
}

macro_rules! key_part_by_value {
    ($($t:ty),*) => {$(
        impl KeyPart for Option<$t> {
            type Owned = Option<$t>;

            #[inline]
            fn matches(&self, owned: &Self::Owned) -> bool {
                self.eq_total(owned)
            }

            fn to_owned_part(&self) -> Self::Owned {
                *self
            }
        }
    )*};
}

key_part_by_value!(i32, i64, f32, f64, bool);

impl KeyPart for () {
    type Owned = ();

    #[inline]
    fn matches(&self, _: &()) -> bool {
        true
    }

    fn to_owned_part(&self) {}
}

macro_rules! key_part_tuple {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: KeyPart),+> KeyPart for ($($name,)+) {
            type Owned = ($($name::Owned,)+);

            #[inline]
            fn matches(&self, owned: &Self::Owned) -> bool {
                true $(&& self.$idx.matches(&owned.$idx))+
            }

            fn to_owned_part(&self) -> Self::Owned {
                ($(self.$idx.to_owned_part(),)+)
            }
        }
    };
}

crate::aggregate::for_key_tuples!(key_part_tuple);

/// A borrowed key as a probe for a map keyed by `Total<R::Owned>`: hashes like the owned key
/// and is [`indexmap::Equivalent`] to it.
pub(crate) struct Probe<'a, R>(pub &'a R);

impl<R: KeyPart> Hash for Probe<'_, R> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash_total(state)
    }
}

impl<R: KeyPart> indexmap::Equivalent<Total<R::Owned>> for Probe<'_, R> {
    #[inline]
    fn equivalent(&self, key: &Total<R::Owned>) -> bool {
        self.0.matches(&key.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::FxBuildHasher;
    use proptest::prelude::*;
    use std::hash::BuildHasher;

    proptest! {
        /// The short-string compare agrees with `==` at every length, for equal strings and
        /// strings differing in any one byte.
        #[test]
        fn str_eq_is_equality(a in proptest::collection::vec(any::<u8>(), 0..40), at in any::<usize>(), flip in 1u8..) {
            prop_assert!(str_eq(&a, &a.clone()));
            if !a.is_empty() {
                let mut b = a.clone();
                let i = at % a.len();
                b[i] ^= flip;
                prop_assert!(!str_eq(&a, &b));
                prop_assert!(!str_eq(&a, &a[..a.len() - 1]));
            }
        }
    }

    fn hashes_alike<R: KeyPart>(r: &R, owned: Total<R::Owned>) -> bool
    where
        R::Owned: TotalOrd,
    {
        let h = FxBuildHasher::default();
        h.hash_one(Probe(r)) == h.hash_one(&owned)
    }

    proptest! {
        #[test]
        fn borrowed_and_owned_keys_agree(
            s in proptest::option::of("[a-c]{0,3}"),
            x in proptest::option::of(-3i64..3),
            f in proptest::option::of(prop_oneof![Just(f64::NAN), Just(-0.0), Just(0.0), -2.0f64..2.0]),
            t in proptest::option::of("[a-c]{0,3}"),
        ) {
            let r = (s.as_deref(), x, f);
            let owned = r.to_owned_part();
            prop_assert!(r.matches(&owned));
            prop_assert!(hashes_alike(&r, Total(owned.clone())));
            let other = (t.as_deref(), x, f).to_owned_part();
            prop_assert_eq!(r.matches(&other), s == t);
        }
    }

    #[test]
    fn unit_key_is_one_group() {
        assert!(().matches(&()));
        assert!(hashes_alike(&(), Total(())));
    }
}
