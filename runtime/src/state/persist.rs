//! State that writes itself: a byte [`Writer`] and [`Reader`] compiled once in the runtime,
//! and the [`Save`]/[`Load`] traits state types implement over them (issue 12: the serde +
//! bincode code of every state type, instantiated and optimised in each app, is about half of
//! an app's build; code over these non-generic calls is a fraction of it).
//!
//! The encoding is little-endian and self-checking only as far as a reader can tell: integers
//! and floats in 1, 4 or 8 bytes, lengths as `u64`, strings as a length and UTF-8 bytes,
//! `Option` as a tag byte (0 or 1) and the value, `()` as one zero byte (so every value takes
//! at least one byte and a length larger than the bytes left is corrupt, never a long loop).
//! A reader never panics and never allocates more than its input: truncated or corrupt bytes
//! give [`StateError::Decode`] naming the byte offset.
//!
//! [`Persist`] is the object-safe face of `Save + Load` (implemented for every such type), so
//! [`SnapshotBuilder::put`](super::SnapshotBuilder::put) and
//! [`Snapshot::load_into`](super::Snapshot::load_into) are compiled once.
//!
//! ```
//! use eventflux_runtime::state::persist::{Load, Reader, Save, Writer};
//! let state: (i64, Option<String>, Vec<f64>) = (7, Some("IBM".into()), vec![1.5, 2.5]);
//! let mut w = Writer::new();
//! state.save(&mut w);
//! let bytes = w.into_bytes();
//! let mut r = Reader::new(&bytes);
//! let back = <(i64, Option<String>, Vec<f64>)>::load(&mut r).unwrap();
//! r.finish().unwrap();
//! assert_eq!(back, state);
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::StateError;

/// A growing byte buffer state is written into.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Writer::default()
    }

    /// One byte.
    pub fn put_u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A flag as one byte, 0 or 1.
    pub fn put_bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    /// Four bytes, little-endian.
    pub fn put_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Eight bytes, little-endian.
    pub fn put_u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Eight bytes, little-endian, two's complement.
    pub fn put_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// The IEEE 754 bits, eight bytes little-endian (NaNs and signed zeros kept).
    pub fn put_f64(&mut self, v: f64) {
        self.put_u64(v.to_bits());
    }

    /// A length or count, as eight bytes.
    pub fn put_len(&mut self, v: usize) {
        self.put_u64(v as u64);
    }

    /// A string: its length, then its UTF-8 bytes.
    pub fn put_str(&mut self, v: &str) {
        self.put_len(v.len());
        self.buf.extend_from_slice(v.as_bytes());
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads what a [`Writer`] wrote, checking every step.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// A decoding error at the current offset.
    pub fn error(&self, what: &str) -> StateError {
        StateError::Decode(format!("{what} at byte {}", self.at))
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], StateError> {
        let Some(chunk) = self.bytes.get(self.at..self.at + N) else {
            return Err(self.error("truncated state"));
        };
        let mut out = [0u8; N];
        out.copy_from_slice(chunk);
        self.at += N;
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, StateError> {
        Ok(self.take::<1>()?[0])
    }

    /// A flag: 0 or 1, anything else is corrupt.
    pub fn bool(&mut self) -> Result<bool, StateError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => {
                self.at -= 1;
                Err(self.error("bad flag byte"))
            }
        }
    }

    /// Four bytes, little-endian.
    pub fn u32(&mut self) -> Result<u32, StateError> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self) -> Result<u64, StateError> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    /// Eight bytes, little-endian, two's complement.
    pub fn i64(&mut self) -> Result<i64, StateError> {
        Ok(i64::from_le_bytes(self.take()?))
    }

    /// An `f64` from its bits.
    pub fn f64(&mut self) -> Result<f64, StateError> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// A length of a sequence whose every element takes at least one byte: one larger than
    /// the bytes left is corrupt (so a corrupt length never drives a long loop or a large
    /// allocation).
    pub fn seq_len(&mut self) -> Result<usize, StateError> {
        let n = self.u64()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => {
                self.at -= 8;
                Err(self.error(&format!("length {n} beyond the end of the state")))
            }
        }
    }

    /// A string written by [`Writer::put_str`].
    pub fn str(&mut self) -> Result<&'a str, StateError> {
        let n = self.seq_len()?;
        let bytes = &self.bytes[self.at..self.at + n];
        let s = std::str::from_utf8(bytes).map_err(|_| self.error("string is not UTF-8"))?;
        self.at += n;
        Ok(s)
    }

    /// Checks that everything was read: bytes left over mean a layout mismatch.
    pub fn finish(&self) -> Result<(), StateError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.error(&format!("{} bytes left over", self.remaining())))
        }
    }
}

/// A state type that writes itself into a [`Writer`].
pub trait Save {
    /// Writes `self`.
    fn save(&self, w: &mut Writer);
}

/// A state type that reads itself back from what [`Save::save`] wrote.
pub trait Load: Sized {
    /// Reads a value; corrupt or truncated input is an error, never a panic.
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError>;
}

/// The object-safe face of `Save + Load`: what a snapshot record holds.
pub trait Persist {
    /// Writes the state.
    fn save_state(&self, w: &mut Writer);
    /// Replaces the state with what `r` holds (unchanged on error).
    fn load_state(&mut self, r: &mut Reader<'_>) -> Result<(), StateError>;
}

impl<T: Save + Load> Persist for T {
    fn save_state(&self, w: &mut Writer) {
        self.save(w);
    }

    fn load_state(&mut self, r: &mut Reader<'_>) -> Result<(), StateError> {
        *self = T::load(r)?;
        Ok(())
    }
}

macro_rules! plain {
    ($($t:ty: $put:ident, $get:ident;)*) => {$(
        impl Save for $t {
            fn save(&self, w: &mut Writer) {
                w.$put(*self);
            }
        }
        impl Load for $t {
            fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
                r.$get()
            }
        }
    )*};
}

plain! {
    u8: put_u8, u8;
    bool: put_bool, bool;
    u32: put_u32, u32;
    u64: put_u64, u64;
    i64: put_i64, i64;
    f64: put_f64, f64;
}

impl Save for i32 {
    fn save(&self, w: &mut Writer) {
        w.put_u32(*self as u32);
    }
}

impl Load for i32 {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        Ok(r.u32()? as i32)
    }
}

impl Save for f32 {
    fn save(&self, w: &mut Writer) {
        w.put_u32(self.to_bits());
    }
}

impl Load for f32 {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        Ok(f32::from_bits(r.u32()?))
    }
}

impl Save for usize {
    fn save(&self, w: &mut Writer) {
        w.put_len(*self);
    }
}

impl Load for usize {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        let v = r.u64()?;
        usize::try_from(v).map_err(|_| r.error("count too large for this machine"))
    }
}

impl Save for () {
    fn save(&self, w: &mut Writer) {
        w.put_u8(0);
    }
}

impl Load for () {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        match r.u8()? {
            0 => Ok(()),
            _ => Err(r.error("bad unit byte")),
        }
    }
}

impl Save for str {
    fn save(&self, w: &mut Writer) {
        w.put_str(self);
    }
}

impl Save for String {
    fn save(&self, w: &mut Writer) {
        w.put_str(self);
    }
}

impl Load for String {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        r.str().map(str::to_owned)
    }
}

impl Save for Arc<str> {
    fn save(&self, w: &mut Writer) {
        w.put_str(self);
    }
}

impl Load for Arc<str> {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        r.str().map(Arc::from)
    }
}

impl<T: Save + ?Sized> Save for Box<T> {
    fn save(&self, w: &mut Writer) {
        (**self).save(w);
    }
}

impl<T: Load> Load for Box<T> {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        T::load(r).map(Box::new)
    }
}

impl<T: Save> Save for Option<T> {
    fn save(&self, w: &mut Writer) {
        match self {
            None => w.put_u8(0),
            Some(v) => {
                w.put_u8(1);
                v.save(w);
            }
        }
    }
}

impl<T: Load> Load for Option<T> {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        match r.bool().map_err(|_| r.error("bad option tag"))? {
            false => Ok(None),
            true => T::load(r).map(Some),
        }
    }
}

impl<T: Save> Save for [T] {
    fn save(&self, w: &mut Writer) {
        w.put_len(self.len());
        for v in self {
            v.save(w);
        }
    }
}

impl<T: Save> Save for Vec<T> {
    fn save(&self, w: &mut Writer) {
        self.as_slice().save(w);
    }
}

impl<T: Load> Load for Vec<T> {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        let n = r.seq_len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(T::load(r)?);
        }
        Ok(out)
    }
}

impl<T: Save> Save for VecDeque<T> {
    fn save(&self, w: &mut Writer) {
        w.put_len(self.len());
        for v in self {
            v.save(w);
        }
    }
}

impl<T: Load> Load for VecDeque<T> {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        Vec::load(r).map(VecDeque::from)
    }
}

impl<K: Save, V: Save, S> Save for HashMap<K, V, S> {
    fn save(&self, w: &mut Writer) {
        w.put_len(self.len());
        for (k, v) in self {
            k.save(w);
            v.save(w);
        }
    }
}

impl<K: Load + Eq + Hash, V: Load, S: BuildHasher + Default> Load for HashMap<K, V, S> {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        let n = r.seq_len()?;
        let mut out = HashMap::with_capacity_and_hasher(n, S::default());
        for _ in 0..n {
            let k = K::load(r)?;
            let v = V::load(r)?;
            out.insert(k, v);
        }
        Ok(out)
    }
}

impl<K: Save, V: Save> Save for BTreeMap<K, V> {
    fn save(&self, w: &mut Writer) {
        w.put_len(self.len());
        for (k, v) in self {
            k.save(w);
            v.save(w);
        }
    }
}

impl<K: Load + Ord, V: Load> Load for BTreeMap<K, V> {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        let n = r.seq_len()?;
        let mut out = BTreeMap::new();
        for _ in 0..n {
            let k = K::load(r)?;
            let v = V::load(r)?;
            out.insert(k, v);
        }
        Ok(out)
    }
}

macro_rules! tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Save),+> Save for ($($t,)+) {
            fn save(&self, w: &mut Writer) {
                $(self.$i.save(w);)+
            }
        }
        impl<$($t: Load),+> Load for ($($t,)+) {
            fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
                Ok(($($t::load(r)?,)+))
            }
        }
    };
}

tuple!(A 0);
tuple!(A 0, B 1);
tuple!(A 0, B 1, C 2);
tuple!(A 0, B 1, C 2, D 3);
tuple!(A 0, B 1, C 2, D 3, E 4);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14);
tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);

/// A fixed-size array: its elements, no length (the serde form of an array).
impl<T: Save, const N: usize> Save for [T; N] {
    fn save(&self, w: &mut Writer) {
        for v in self {
            v.save(w);
        }
    }
}

impl<T: Load, const N: usize> Load for [T; N] {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        let mut out = Vec::with_capacity(N);
        for _ in 0..N {
            out.push(T::load(r)?);
        }
        out.try_into()
            .map_err(|_| StateError::Decode("array of the wrong length".into()))
    }
}

/// An `IndexMap` as its `(key, value)` pairs in order (later duplicates win, keeping the
/// first one's place).
impl<K: Save, V: Save, S> Save for indexmap::IndexMap<K, V, S> {
    fn save(&self, w: &mut Writer) {
        w.put_len(self.len());
        for (k, v) in self {
            k.save(w);
            v.save(w);
        }
    }
}

impl<K: Load + Eq + Hash, V: Load, S: BuildHasher + Default> Load for indexmap::IndexMap<K, V, S> {
    fn load(r: &mut Reader<'_>) -> Result<Self, StateError> {
        let n = r.seq_len()?;
        let mut out = indexmap::IndexMap::with_capacity_and_hasher(n, S::default());
        for _ in 0..n {
            let k = K::load(r)?;
            let v = V::load(r)?;
            out.insert(k, v);
        }
        Ok(out)
    }
}

/// `PhantomData`: nothing written (a skipped field).
impl<T: ?Sized> Save for std::marker::PhantomData<T> {
    fn save(&self, _w: &mut Writer) {}
}

/// `Save` and `Load` of a struct as its fields in order (what `#[derive(Serialize,
/// Deserialize)]` gives with bincode): `persist_fields!(Name<T> { a, b })` (every type
/// parameter bound by `Save`/`Load`); fields after `;` are not kept and load as
/// `Default::default()`; a final `where ...` adds bounds to both impls.
macro_rules! persist_fields {
    ($ty:ident $(<$($g:ident),*>)? { $($f:tt),* $(,)? } $(; $($skip:ident),*)?
        $(where $($w:tt)+)?) => {
        impl$(<$($g: $crate::state::persist::Save),*>)? $crate::state::persist::Save
            for $ty$(<$($g),*>)?
        $(where $($w)+)?
        {
            fn save(&self, _w: &mut $crate::state::persist::Writer) {
                $($crate::state::persist::Save::save(&self.$f, _w);)*
            }
        }
        impl$(<$($g: $crate::state::persist::Load),*>)? $crate::state::persist::Load
            for $ty$(<$($g),*>)?
        $(where $($w)+)?
        {
            fn load(
                _r: &mut $crate::state::persist::Reader<'_>,
            ) -> ::core::result::Result<Self, $crate::state::StateError> {
                ::core::result::Result::Ok($ty {
                    $($f: $crate::state::persist::Load::load(_r)?,)*
                    $($($skip: ::core::default::Default::default(),)*)?
                })
            }
        }
    };
}
pub(crate) use persist_fields;

/// Checks for the `Save`/`Load` impls of runtime state types.
#[cfg(test)]
pub(crate) mod testkit {
    use super::*;

    /// A runtime state type persists as its serde form says: the state loaded back is what
    /// a bincode round trip gives (both serialize to the same bytes; the persist bytes are
    /// bincode's but for `()`, one byte here, none there), and every truncation of its
    /// bytes is an error. Returns the loaded state.
    pub(crate) fn same_after_persist<T>(state: &T) -> T
    where
        T: Save + Load + serde::Serialize + serde::de::DeserializeOwned,
    {
        let mut w = Writer::new();
        state.save(&mut w);
        let bytes = w.into_bytes();
        let serde_back: T =
            bincode::deserialize(&bincode::serialize(state).expect("serde")).expect("serde");
        let back: T = load_all(&bytes).expect("loads");
        assert_eq!(
            bincode::serialize(&back).expect("serde"),
            bincode::serialize(&serde_back).expect("serde")
        );
        for cut in 0..bytes.len() {
            assert!(load_all::<T>(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        back
    }

    /// `T` from exactly `bytes`.
    pub(crate) fn load_all<T: Load>(bytes: &[u8]) -> Result<T, StateError> {
        let mut r = Reader::new(bytes);
        let v = T::load(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T: Save + ?Sized>(v: &T) -> Vec<u8> {
        let mut w = Writer::new();
        v.save(&mut w);
        w.into_bytes()
    }

    fn back<T: Load>(bytes: &[u8]) -> Result<T, StateError> {
        let mut r = Reader::new(bytes);
        let v = T::load(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    type Nested = (
        Vec<(i64, Option<Arc<str>>)>,
        VecDeque<Option<f64>>,
        BTreeMap<String, (u32, bool)>,
        Option<Box<i32>>,
        (),
        usize,
    );

    fn sample() -> Nested {
        (
            vec![(-3, Some(Arc::from("IBM"))), (i64::MAX, None)],
            VecDeque::from([Some(-0.0), None, Some(f64::INFINITY)]),
            BTreeMap::from([("a".to_owned(), (7, true)), ("é".to_owned(), (0, false))]),
            Some(Box::new(-5)),
            (),
            42,
        )
    }

    #[test]
    fn values_round_trip() {
        let v = sample();
        let got: Nested = back(&bytes_of(&v)).expect("round trip");
        assert_eq!(got.0, v.0);
        assert_eq!(got.1.len(), 3);
        assert!(got.1[0].is_some_and(|z| z == 0.0 && z.is_sign_negative()));
        assert_eq!((&got.2, &got.3, got.5), (&v.2, &v.3, v.5));
        let nan: f64 = back(&bytes_of(&f64::NAN)).expect("nan");
        assert!(nan.is_nan());
        let m: HashMap<u64, String> = HashMap::from([(1, "x".into()), (2, String::new())]);
        assert_eq!(back::<HashMap<u64, String>>(&bytes_of(&m)).expect("map"), m);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = bytes_of(&sample());
        for cut in 0..bytes.len() {
            let e = back::<Nested>(&bytes[..cut]).expect_err("truncated");
            assert!(e.to_string().contains("at byte"), "{e}");
        }
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let bytes = bytes_of(&sample());
        // Every single-byte change decodes to an error or to some value; none panics,
        // and none allocates beyond the input (lengths are checked against it).
        for at in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[at] ^= flip;
                let _ = back::<Nested>(&b);
            }
        }
        let mut huge = Writer::new();
        huge.put_u64(u64::MAX);
        let e = back::<Vec<u8>>(&huge.into_bytes()).expect_err("huge length");
        assert!(e.to_string().contains("beyond the end"), "{e}");
        let e = back::<Option<u8>>(&[2]).expect_err("bad tag");
        assert!(e.to_string().contains("option tag"), "{e}");
        let e = back::<String>(&[1, 0, 0, 0, 0, 0, 0, 0, 0xff]).expect_err("not utf-8");
        assert!(e.to_string().contains("UTF-8"), "{e}");
        let e = back::<u8>(&[1, 2]).expect_err("left over");
        assert!(e.to_string().contains("left over"), "{e}");
    }

    #[test]
    fn persist_is_object_safe_and_leaves_state_on_error() {
        let mut state: (i64, String) = (1, "kept".into());
        let bytes = bytes_of(&(9i64, "new".to_owned()));
        let dynamic: &mut dyn Persist = &mut state;
        let mut w = Writer::new();
        dynamic.save_state(&mut w);
        assert_eq!(w.into_bytes(), bytes_of(&(1i64, "kept".to_owned())));
        assert!(dynamic.load_state(&mut Reader::new(&bytes[..5])).is_err());
        assert_eq!(state, (1, "kept".into()));
        let dynamic: &mut dyn Persist = &mut state;
        dynamic.load_state(&mut Reader::new(&bytes)).expect("loads");
        assert_eq!(state, (9, "new".into()));
    }

    use super::testkit::{load_all, same_after_persist};

    #[test]
    fn windows_groups_and_aggregators_persist_as_their_serde_form() {
        use crate::aggregate::{
            Aggregator, AvgAggregator, BatchGroup, BatchGroups, CountAggregator,
            MaxForeverAggregator, MinForeverAggregator, SlidingGroups, StdDevAggregator,
            SumAggregator, Total,
        };
        use crate::window::{
            BatchCount, LengthBatchWindow, LengthWindow, TimeBatchWindow, TimeWindow,
        };
        type Key = Total<(Option<Arc<str>>,)>;
        type Aggs = (SumAggregator<f64>, CountAggregator, AvgAggregator);
        let mut length = LengthWindow::new(3);
        let mut time = TimeWindow::new(50);
        let mut batch = TimeBatchWindow::<(), BatchCount>::with_store(20);
        let mut length_batch = LengthBatchWindow::new(4);
        let mut sliding: SlidingGroups<Key, Aggs> = SlidingGroups::new();
        let mut batch_groups: BatchGroups<Key, BatchGroup<StdDevAggregator, Option<f64>>> =
            BatchGroups::new();
        let mut forever = (
            MaxForeverAggregator::<f64>::default(),
            MinForeverAggregator::<i64>::default(),
        );
        for (n, sym) in ["a", "b", "a", "c", "b", "a", "d"].into_iter().enumerate() {
            let ts = 10 * n as i64;
            let price = n as f64 * 1.5;
            let slot = sliding.slot_of(&(Some(sym),));
            if let Some((_, aggs)) = sliding.entry_at(slot) {
                aggs.0.add(Some(price));
                aggs.1.add(Some(()));
                aggs.2.add(Some(price));
            }
            length.insert(ts, (Some(price), slot as u32), |_| {});
            time.insert(ts, Some(sym.to_owned()), |_| {});
            batch.insert(ts, (), |_| {});
            length_batch.insert(ts, price, |_| {});
            let group = batch_groups.state_of(&(Some(sym),));
            group.aggs.add(Some(price));
            group.last_ts = ts;
            group.last = Some(price);
            forever.0.add(Some(price));
            forever.1.add(Some(-(n as i64)));
        }
        sliding.release(0);
        same_after_persist(&length);
        same_after_persist(&time);
        same_after_persist(&batch);
        same_after_persist(&length_batch);
        same_after_persist(&sliding);
        same_after_persist(&batch_groups);
        same_after_persist(&forever);
        let mut extremes = (
            crate::aggregate::MinAggregator::<f64>::default(),
            crate::aggregate::MaxAggregator::<Arc<str>>::default(),
        );
        for v in [3.5, -1.0, 3.5, 7.25] {
            extremes.0.add(Some(v));
            extremes.1.add(Some(Arc::from(format!("s{v}"))));
        }
        extremes.0.remove(Some(-1.0));
        same_after_persist(&extremes);
        let mut positional = (
            crate::aggregate::FirstAggregator::<i64>::default(),
            crate::aggregate::LastAggregator::<Arc<str>>::default(),
            crate::aggregate::AndAggregator::default(),
            crate::aggregate::OrAggregator::default(),
        );
        for n in 0..5i64 {
            positional.0.add(Some(n));
            positional.1.add(Some(Arc::from(format!("v{n}"))));
            positional.2.add(Some(n % 2 == 0));
            positional.3.add(Some(n > 3));
        }
        positional.0.remove(Some(0));
        same_after_persist(&positional);
        let mut delay = crate::window::DelayWindow::new(15);
        let mut external = crate::window::ExternalTimeWindow::new(25);
        let mut external_batch = crate::window::ExternalTimeBatchWindow::new(25);
        let mut hop = crate::window::HopWindow::new(30, 10);
        let mut sort = crate::window::SortWindow::new(3);
        let mut time_length = crate::window::TimeLengthWindow::new(40, 3);
        for n in 0..9i64 {
            let (ts, v) = (7 * n, (n * 37) % 11);
            delay.insert(ts, v, |_| {});
            external.insert(ts, ts + 1, v, |_| {});
            external_batch.insert(ts, ts + 1, Some(v), |_| {});
            hop.insert(ts, v, |_| {});
            sort.insert(ts, v, |a: &i64, b: &i64| a.cmp(b), |_| {});
            time_length.insert(ts, v, |_| {});
        }
        same_after_persist(&delay);
        same_after_persist(&external);
        same_after_persist(&external_batch);
        same_after_persist(&hop);
        same_after_persist(&sort);
        same_after_persist(&time_length);
        // A length window full and wrapped: its events oldest first, as the serde form.
        let mut ring = LengthWindow::new(2);
        for ts in 0..5i64 {
            ring.insert(ts, ts * 10, |_| {});
        }
        same_after_persist(&ring);
        // Loaded states go on as the originals do.
        let mut restored: LengthWindow<i64> = back(&bytes_of(&ring)).expect("loads");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        ring.insert(9, 90, |e| a.push(format!("{e:?}")));
        restored.insert(9, 90, |e| b.push(format!("{e:?}")));
        assert_eq!(a, b);
        // Corrupt: more events than the capacity, a key twice, an open group beyond the map.
        let mut w = Writer::new();
        w.put_len(1);
        vec![(1i64, 2i64), (3, 4)].save(&mut w);
        let e = back::<LengthWindow<i64>>(&w.into_bytes()).expect_err("over capacity");
        assert!(e.to_string().contains("capacity"), "{e}");
        let mut w = Writer::new();
        let twice: Vec<Option<(Key, i64, u32)>> = vec![
            Some((Total((Some(Arc::from("a")),)), 1, 1)),
            Some((Total((Some(Arc::from("a")),)), 2, 1)),
        ];
        twice.save(&mut w);
        let e = back::<SlidingGroups<Key, i64>>(&w.into_bytes()).expect_err("key twice");
        assert!(e.to_string().contains("twice"), "{e}");
        let mut w = Writer::new();
        Vec::<(Key, (bool, i64))>::new().save(&mut w);
        vec![0u32].save(&mut w);
        let e = back::<BatchGroups<Key, i64>>(&w.into_bytes()).expect_err("open beyond");
        assert!(e.to_string().contains("beyond the groups"), "{e}");
    }

    #[test]
    fn joins_partitions_rates_and_the_other_windows_persist_as_their_serde_form() {
        use crate::aggregate::{Aggregator, DistinctCountAggregator, Total};
        use crate::join::{JoinIndex, JoinPair, JoinStore};
        use crate::rate::{RateEvery, RateLimiter, RateMode};
        use crate::window::{
            CronWindow, ExpressionWindow, FirstUniqueWindow, FrequentWindow, LossyFrequentWindow,
            MaxCount, SessionWindow, UniqueWindow,
        };
        use crate::EventKind;
        type Key = Total<(Option<Arc<str>>,)>;
        let key = |n: i64| Total((Some(Arc::<str>::from(format!("k{}", n % 3))),));
        let mut distinct = DistinctCountAggregator::<f64>::default();
        let mut index = JoinIndex::new();
        let mut store = JoinStore::new();
        let mut pair: JoinPair<i64, String> = JoinPair::new();
        let mut store_handles = Vec::new();
        let mut pair_handles = Vec::new();
        let mut cron = CronWindow::parse("*/5 * * * * ?").expect("cron");
        let mut lossy: LossyFrequentWindow<Key, i64> = LossyFrequentWindow::new(0.3, 0.1);
        let mut unique: UniqueWindow<Key, i64> = UniqueWindow::new();
        let mut first_unique: FirstUniqueWindow<Key, i64> = FirstUniqueWindow::new();
        let mut frequent: FrequentWindow<Key, i64> = FrequentWindow::new(2);
        let mut expression = ExpressionWindow::new();
        let mut session: SessionWindow<Key, (i64, EventKind)> =
            SessionWindow::new(15).with_latency(5);
        let mut partitions: crate::partition::PartitionMap<Key, (i64, Vec<String>)> =
            crate::partition::PartitionMap::new();
        let mut limiters = (
            RateLimiter::<Key, (EventKind, i64)>::new(RateMode::Last, RateEvery::Time(20)),
            RateLimiter::<(), i64>::new(RateMode::All, RateEvery::Events(4)),
            RateLimiter::<Key, i64>::new(RateMode::First, RateEvery::Events(3)),
            RateLimiter::<(), i64>::new(RateMode::Snapshot, RateEvery::Time(7)),
        );
        let mut out = Vec::new();
        for n in 0..12i64 {
            let ts = 1000 * n;
            distinct.add(Some((n % 4) as f64));
            index.insert((n % 3) as u64, ts, n);
            store_handles.push(store.add((n % 4 != 0).then_some((n % 3) as u64), ts, n));
            let bucket = pair.bucket((n % 5 != 0).then_some((n % 2) as u64));
            pair_handles.push(if n % 2 == 0 {
                pair.add_left(bucket, ts, n)
            } else {
                pair.add_right(bucket, ts, format!("r{n}"))
            });
            cron.insert(ts, n, |_| {});
            lossy.insert(ts, key(n), n, |_| {});
            unique.insert(ts, key(n), n, |_| {});
            first_unique.insert(ts, key(n), n, |_| {});
            frequent.insert(ts, key(n * n), n, |_| {});
            expression.insert(ts, n, &mut MaxCount(3), |_| {});
            session.insert(ts * 3 % 17, key(n), (n, EventKind::Expired), |_| {});
            partitions.insert(
                Total((Some(Arc::from(format!("p{n}"))),)),
                (n, vec![format!("e{n}")]),
            );
            let kind = if n % 2 == 0 {
                EventKind::Current
            } else {
                EventKind::Expired
            };
            limiters.2.observe(ts);
            limiters.2.offer(key(n), n, &mut out);
            limiters.0.observe(ts);
            limiters.0.offer(key(n), (kind, n), &mut Vec::new());
            limiters.1.offer((), n, &mut out);
            limiters.3.observe(ts);
            limiters.3.offer((), n, &mut out);
        }
        distinct.remove(Some(1.0));
        index.remove(1, &4);
        store.take(store_handles[3]);
        store.take(store_handles[5]);
        pair.take_left(pair_handles[0]);
        partitions.retain(|_, s| s.0 % 4 != 1);
        same_after_persist(&distinct);
        same_after_persist(&index);
        same_after_persist(&cron);
        same_after_persist(&lossy);
        same_after_persist(&unique);
        same_after_persist(&first_unique);
        same_after_persist(&frequent);
        same_after_persist(&expression);
        same_after_persist(&MaxCount(3));
        same_after_persist(&session);
        same_after_persist(&partitions);
        same_after_persist(&limiters);
        // Loaded join stores go on as the originals do: the same events under the handles,
        // the buckets found by key.
        let mut store_back = same_after_persist(&store);
        let mut pair_back = same_after_persist(&pair);
        for &h in &store_handles {
            assert_eq!(store_back.event(h), store.event(h));
            assert_eq!(store_back.take(h), store.take(h));
        }
        let got: Vec<i64> = store_back.get(2).map(|(_, e)| *e).collect();
        assert_eq!(got, store.get(2).map(|(_, e)| *e).collect::<Vec<_>>());
        assert_eq!(pair_back.bucket(Some(1)), pair.bucket(Some(1)));
        assert_eq!(
            pair_back.take_left(pair_handles[4]),
            pair.take_left(pair_handles[4])
        );
        // Corrupt: a bad enum variant, a wrong number of array elements is impossible but
        // a bad flag is an error.
        let e = load_all::<EventKind>(&[2, 0, 0, 0]).expect_err("variant");
        assert!(e.to_string().contains("event kind"), "{e}");
        let e = load_all::<RateEvery>(&[9, 0, 0, 0]).expect_err("variant");
        assert!(e.to_string().contains("rate limit period"), "{e}");
    }
}
