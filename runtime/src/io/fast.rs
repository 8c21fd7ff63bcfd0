//! One-pass, schema-driven reading of an event's `data` (docs/running.md#json-lines).
//!
//! Generated code implements [`FastDecode`] for the struct of every input stream: a small
//! match over the attribute names that reads each value straight into its typed field with
//! a [`Scanner`]. [`decode`] tries that first and, when it declines (any line it does not
//! read exactly as serde_json would: a malformed line, a wrong type, an unknown or
//! duplicate attribute, a missing one, an escape in a name, a number it cannot convert
//! exactly), decodes the text with serde_json instead. So what is accepted, the decoded
//! values and every error message are serde_json's; the scanner only makes the common line
//! cheaper.
//!
//! ```
//! use eventflux_runtime::io::fast::{decode, FastDecode, Scanner};
//!
//! #[derive(Debug, PartialEq, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Trade { symbol: std::sync::Arc<str>, #[serde(default)] price: Option<f64> }
//!
//! impl FastDecode for Trade {
//!     fn fast_decode(s: &mut Scanner<'_>) -> Option<Self> {
//!         if !s.open()? {
//!             s.element(0)?;
//!             let symbol = s.string()?;
//!             s.element(1)?;
//!             let price = if s.null() { None } else { Some(s.f64()?) };
//!             s.close_array()?;
//!             return Some(Trade { symbol, price });
//!         }
//!         let (mut symbol, mut price) = (None, None);
//!         while let Some(key) = s.key(&["symbol", "price"])? {
//!             match key {
//!                 0 if symbol.is_none() => symbol = Some(s.string()?),
//!                 1 if price.is_none() => price = Some(if s.null() { None } else { Some(s.f64()?) }),
//!                 _ => return None,
//!             }
//!         }
//!         Some(Trade { symbol: symbol?, price: price.unwrap_or(None) })
//!     }
//! }
//!
//! let t: Trade = decode("T", r#"{"price": 1.5, "symbol": "IBM"}"#).unwrap();
//! assert_eq!((&*t.symbol, t.price), ("IBM", Some(1.5)));
//! let t: Trade = decode("T", r#"["A\u0042", null]"#).unwrap();
//! assert_eq!((&*t.symbol, t.price), ("AB", None));
//! assert!(decode::<Trade>("T", r#"{"price": 1}"#).unwrap_err().to_string().contains("missing field"));
//! ```

use std::sync::Arc;

use crate::app::DecodeError;

/// A struct the [`Scanner`] can fill in one pass (implemented by generated code).
pub trait FastDecode: Sized {
    /// Reads one value (an object, or an array in attribute order) from `s`; `None` when the
    /// text is not read exactly as serde_json reads it (serde_json then decides).
    fn fast_decode(s: &mut Scanner<'_>) -> Option<Self>;
}

/// Decodes the JSON text of one event of `stream` into its generated struct: one pass with
/// [`FastDecode`], serde_json when that declines (same values, same errors).
#[inline]
pub fn decode<T>(stream: &str, data: &str) -> Result<T, DecodeError>
where
    T: FastDecode + serde::de::DeserializeOwned,
{
    let mut s = Scanner::new(data);
    if let Some(value) = T::fast_decode(&mut s) {
        if s.at_end() {
            return Ok(value);
        }
    }
    crate::app::decode(stream, data)
}

/// An event line read in one pass by [`decode_line`].
#[derive(Debug, Clone, PartialEq)]
pub struct FastLine<'a, E> {
    /// The stream the line names.
    pub stream: &'a str,
    /// The event time, when the line gives one.
    pub ts: Option<i64>,
    /// The decoded `data`.
    pub event: E,
}

/// Reads a whole event line, `{"stream": "S", "ts": N, "data": {...}}` (`ts` optional,
/// the members in any order as long as `stream` comes before `data`), in one pass: the
/// envelope here and `data` by `decode` (the app's [`FastDecode`] of the named stream),
/// straight from the line, without first finding where `data` ends. `text` is one line,
/// trimmed.
///
/// `None` for any line it does not read exactly as the general way does (serde_json's
/// envelope, then the app's decoder on `data`): other members, duplicates, escapes in the
/// stream's name, a `ts` that is not a plain integer, `data` before `stream`, anything
/// `decode` declines, anything after the closing brace. The caller then reads the line the
/// general way, which accepts it or reports what is wrong with it; so the fast path changes
/// neither the values nor the errors.
///
/// ```
/// use eventflux_runtime::io::fast::{decode_line, FastLine, Scanner};
///
/// let read = |text| decode_line(text, |stream, s: &mut Scanner<'_>| {
///     s.open()?;
///     let _ = s.key(&["v"])??;
///     let v = s.i64()?;
///     s.key(&["v"])?.is_none().then_some((stream.len(), v))
/// });
/// assert_eq!(
///     read(r#"{"stream": "In", "data": {"v": 7}, "ts": 5}"#),
///     Some(FastLine { stream: "In", ts: Some(5), event: (2, 7) })
/// );
/// assert_eq!(read(r#"{"data": {"v": 7}, "stream": "In"}"#), None);
/// assert_eq!(read(r#"{"stream": "In", "data": {"v": 7}} x"#), None);
/// ```
#[inline]
pub fn decode_line<'a, E>(
    text: &'a str,
    decode: impl FnOnce(&'a str, &mut Scanner<'a>) -> Option<E>,
) -> Option<FastLine<'a, E>> {
    envelope(text, None, decode)
}

/// [`decode_line`] for one message of a source bound to `stream` (DESIGN 8.1, as
/// `connect::source::split_message` reads it): the envelope `{"ts": N, "data": {...}}`
/// (a `stream` member, if any, naming `stream`), or the bare `data` object or array. Its
/// `ts` and event; `None` whenever it does not read the message exactly as the general
/// way does (which then decides, and reports what is wrong).
#[inline]
pub fn decode_message<'a, E>(
    stream: &'a str,
    text: &'a str,
    mut decode: impl FnMut(&'a str, &mut Scanner<'a>) -> Option<E>,
) -> Option<(Option<i64>, E)> {
    let text = text.trim();
    if let Some(line) = envelope(text, Some(stream), &mut decode) {
        return Some((line.ts, line.event));
    }
    // The bare data: every attribute is a scalar, so a message `decode` reads whole is
    // never an envelope (whose `data` is an object or an array).
    let mut s = Scanner::new(text);
    let event = decode(stream, &mut s)?;
    s.at_end().then_some((None, event))
}

/// [`decode_line`] and the envelope of [`decode_message`] (`bound`: the stream it feeds).
#[inline]
fn envelope<'a, E>(
    text: &'a str,
    bound: Option<&'a str>,
    decode: impl FnOnce(&'a str, &mut Scanner<'a>) -> Option<E>,
) -> Option<FastLine<'a, E>> {
    let mut s = Scanner::new(text);
    if !s.open()? {
        return None;
    }
    let (mut stream, mut ts, mut event) = (None, None, None);
    let mut decode = Some(decode);
    let member = |name: &[u8]| match name {
        b"stream" => Some(0),
        b"ts" => Some(1),
        b"data" => Some(2),
        _ => None,
    };
    while let Some(key) = s.key_by(member)? {
        match key {
            0 if stream.is_none() => {
                let named = s.plain_str()?;
                if bound.is_some_and(|b| b != named) {
                    return None;
                }
                stream = Some(named);
            }
            1 if ts.is_none() => ts = Some(s.integer()?),
            2 if event.is_none() => {
                let decode = decode.take()?;
                event = Some(decode(bound.or(stream)?, &mut s)?);
                // Back in the envelope, after its `data` member.
                s.more = true;
            }
            _ => return None,
        }
    }
    if !s.at_end() {
        return None;
    }
    Some(FastLine {
        stream: bound.or(stream)?,
        ts,
        event: event?,
    })
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A cursor over the JSON text of one event. Every method returns `None` (or `false`) when
/// the text does not continue as expected; the position is then unspecified.
#[derive(Debug)]
pub struct Scanner<'a> {
    text: &'a str,
    at: usize,
    /// Inside an object, after its first member.
    more: bool,
    /// The index of the attribute after the last one read: tried first, since members
    /// usually come in the schema's order.
    next: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Scanner {
            text,
            at: 0,
            more: false,
            next: 0,
        }
    }

    #[inline]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    /// Skips JSON whitespace.
    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.at += 1;
        }
    }

    /// Whether only whitespace is left.
    #[inline]
    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.at == self.text.len()
    }

    /// Opens the value: `Some(true)` for an object, `Some(false)` for an array.
    #[inline]
    pub fn open(&mut self) -> Option<bool> {
        self.ws();
        let object = match self.peek()? {
            b'{' => true,
            b'[' => false,
            _ => return None,
        };
        self.at += 1;
        self.more = false;
        self.next = 0;
        Some(object)
    }

    /// The next member's name, as its index in `names`, positioned at its value;
    /// `Some(None)` at the end of the object. `None` for a name not in `names` or written
    /// with escapes.
    #[inline]
    pub fn key(&mut self, names: &[&str]) -> Option<Option<usize>> {
        let next = self.next;
        let found = self.key_by(|name| match names.get(next) {
            Some(n) if n.as_bytes() == name => Some(next),
            _ => names.iter().position(|n| n.as_bytes() == name),
        })?;
        if let Some(index) = found {
            self.next = index + 1;
        }
        Some(found)
    }

    /// [`key`](Self::key) with the name looked up by `find` (generated code: a `match` over
    /// the names as byte strings, compared without a call): the member's index, positioned
    /// at its value; `Some(None)` at the end of the object; `None` for a name `find` does
    /// not know or written with escapes.
    #[inline]
    pub fn key_by(&mut self, find: impl FnOnce(&[u8]) -> Option<usize>) -> Option<Option<usize>> {
        self.ws();
        match self.peek()? {
            b'}' => {
                self.at += 1;
                return Some(None);
            }
            b',' if self.more => {
                self.at += 1;
                self.ws();
            }
            b'"' if !self.more => {}
            _ => return None,
        }
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at + 1;
        let len = plain_string_len(self.bytes().get(start..)?)?;
        let name = &self.bytes()[start..start + len];
        self.at = start + len + 1;
        self.ws();
        if self.peek()? != b':' {
            return None;
        }
        self.at += 1;
        self.more = true;
        find(name).map(Some)
    }

    /// Before the `index`-th element of an array (a comma after the first).
    #[inline]
    pub fn element(&mut self, index: usize) -> Option<()> {
        if index > 0 {
            self.ws();
            if self.peek()? != b',' {
                return None;
            }
            self.at += 1;
        }
        Some(())
    }

    /// The end of an array.
    #[inline]
    pub fn close_array(&mut self) -> Option<()> {
        self.ws();
        (self.peek()? == b']').then(|| self.at += 1)
    }

    /// Reads `null` if it comes next.
    #[inline]
    pub fn null(&mut self) -> bool {
        self.ws();
        let found = self.bytes().get(self.at..self.at + 4) == Some(b"null");
        if found {
            self.at += 4;
        }
        found
    }

    /// A `BOOL`.
    #[inline]
    pub fn bool(&mut self) -> Option<bool> {
        self.ws();
        let rest = self.bytes().get(self.at..)?;
        if rest.starts_with(b"true") {
            self.at += 4;
            Some(true)
        } else if rest.starts_with(b"false") {
            self.at += 5;
            Some(false)
        } else {
            None
        }
    }

    /// A `STRING`.
    #[inline]
    pub fn string(&mut self) -> Option<Arc<str>> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at + 1;
        let rest = self.bytes().get(start..)?;
        match plain_string_len(rest) {
            Some(len) => {
                self.at = start + len + 1;
                self.text.get(start..start + len).map(intern)
            }
            None => {
                // Escapes: the token (to its closing quote) is read by serde_json.
                let mut at = 0;
                loop {
                    match rest.get(at)? {
                        b'"' => break,
                        b'\\' => at += 2,
                        _ => at += 1,
                    }
                }
                let token = self.text.get(self.at..start + at + 1)?;
                let value: String = serde_json::from_str(token).ok()?;
                self.at = start + at + 1;
                Some(Arc::from(value))
            }
        }
    }

    /// A string without escapes, borrowed from the text; `None` for anything else.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at + 1;
        let len = plain_string_len(self.bytes().get(start..)?)?;
        self.at = start + len + 1;
        self.text.get(start..start + len)
    }

    /// An integer token that fits an `i64`, not `-0` (which serde_json reads as a float);
    /// `None` for anything else.
    #[inline]
    fn integer(&mut self) -> Option<i64> {
        self.ws();
        let b = self.bytes();
        let negative = b.get(self.at) == Some(&b'-');
        let start = self.at + usize::from(negative);
        let mut at = start;
        let mut magnitude: u64 = 0;
        while let Some(c @ b'0'..=b'9') = b.get(at) {
            // Cannot wrap within 19 digits (< 10^19 < 2^64); more do not fit an `i64`.
            magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            at += 1;
        }
        let digits = at - start;
        if digits == 0
            || digits > 19
            || (digits > 1 && b[start] == b'0')
            || matches!(b.get(at), Some(b'.' | b'e' | b'E'))
            || (negative && magnitude == 0)
        {
            return None;
        }
        let value = if negative {
            i64::try_from(-i128::from(magnitude)).ok()?
        } else {
            i64::try_from(magnitude).ok()?
        };
        self.at = at;
        Some(value)
    }

    /// A `LONG`.
    #[inline]
    pub fn i64(&mut self) -> Option<i64> {
        self.integer()
    }

    /// An `INT`.
    #[inline]
    pub fn i32(&mut self) -> Option<i32> {
        i32::try_from(self.integer()?).ok()
    }

    /// A `DOUBLE`: integers and decimals of at most 15 significant digits and 22 decimals
    /// computed here (exactly: one correctly rounded division), anything else by serde_json.
    #[inline]
    pub fn f64(&mut self) -> Option<f64> {
        self.ws();
        let b = self.bytes();
        let token = self.at;
        let negative = b.get(self.at) == Some(&b'-');
        let start = self.at + usize::from(negative);
        let mut at = start;
        let mut significand: u64 = 0;
        while let Some(c @ b'0'..=b'9') = b.get(at) {
            significand = significand
                .wrapping_mul(10)
                .wrapping_add(u64::from(c - b'0'));
            at += 1;
        }
        let int_digits = at - start;
        if int_digits == 0 || (int_digits > 1 && b[start] == b'0') {
            return None;
        }
        let mut decimals = 0;
        if b.get(at) == Some(&b'.') {
            at += 1;
            while let Some(c @ b'0'..=b'9') = b.get(at) {
                significand = significand
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(c - b'0'));
                at += 1;
                decimals += 1;
            }
            if decimals == 0 {
                return None;
            }
        }
        if matches!(b.get(at), Some(b'e' | b'E')) || int_digits + decimals > 15 || decimals > 22 {
            return self.number_by_serde(token);
        }
        self.at = at;
        let magnitude = significand as f64 / POW10[decimals];
        Some(if negative { -magnitude } else { magnitude })
    }

    /// A `FLOAT`: integers here (as serde converts them, `as f32`), decimals by serde_json.
    #[inline]
    pub fn f32(&mut self) -> Option<f32> {
        self.ws();
        let token = self.at;
        match self.integer() {
            Some(value) => Some(value as f32),
            None => self.number_by_serde(token),
        }
    }

    /// The number token at `token`, read by serde_json.
    #[cold]
    fn number_by_serde<T: serde::de::DeserializeOwned>(&mut self, token: usize) -> Option<T> {
        let len = self
            .bytes()
            .get(token..)?
            .iter()
            .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'));
        let end = len.map_or(self.text.len(), |len| token + len);
        let value = serde_json::from_str(self.text.get(token..end)?).ok()?;
        self.at = end;
        Some(value)
    }
}

/// Strings at most this long are looked up in [`STRINGS`] before they are allocated.
const INTERNED_LEN: usize = 24;
/// Slots of [`STRINGS`] (a power of two), in pairs: a string may sit in either slot of its
/// pair, so two frequent strings whose hashes meet do not keep replacing each other.
const INTERNED_SLOTS: usize = 1024;

/// A recently decoded string and its [`short_key`].
#[derive(Clone, Default)]
struct Interned {
    key: (u64, u64, u64),
    text: Option<Arc<str>>,
}

thread_local! {
    /// Recently decoded short strings on this thread, by a hash of their text: repeated
    /// values such as symbols share one allocation instead of one per event.
    static STRINGS: std::cell::RefCell<Vec<Interned>> =
        std::cell::RefCell::new(vec![Interned::default(); INTERNED_SLOTS]);
}

/// Three words that, with its length, are the text of a string of at most 24 bytes (its
/// first, middle and last 8, 4 or 1 bytes, overlapping): comparing them compares the
/// strings, without a call to `memcmp`.
#[inline]
fn short_key(b: &[u8]) -> (u64, u64, u64) {
    let word = |at: usize, n: usize| {
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&b[at..at + n]);
        u64::from_le_bytes(w)
    };
    let len = b.len();
    match len {
        17.. => (word(0, 8), word(len - 8, 8), word(8, 8)),
        8..=16 => (word(0, 8), word(len - 8, 8), 0),
        4..=7 => (word(0, 4), word(len - 4, 4), 0),
        1..=3 => (
            u64::from(b[0]) | u64::from(b[len / 2]) << 8 | u64::from(b[len - 1]) << 16,
            0,
            0,
        ),
        0 => (0, 0, 0),
    }
}

/// `text` as an `Arc<str>`, shared with an equal string decoded recently on this thread.
#[inline]
fn intern(text: &str) -> Arc<str> {
    if text.len() > INTERNED_LEN {
        return Arc::from(text);
    }
    let key = short_key(text.as_bytes());
    let hash = (key.0 ^ key.1.rotate_left(29) ^ key.2.rotate_left(43) ^ text.len() as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let slot = (hash >> 54) as usize & (INTERNED_SLOTS - 2);
    let same =
        |e: &Interned| e.key == key && e.text.as_ref().is_some_and(|s| s.len() == text.len());
    STRINGS
        .try_with(|strings| {
            let mut strings = strings.borrow_mut();
            let pair = strings.get_mut(slot..slot + 2)?;
            if let Some(s) = pair.iter().find(|e| same(e)).and_then(|e| e.text.as_ref()) {
                return Some(Arc::clone(s));
            }
            // The newer string first; the older one moves to the other slot.
            let s: Arc<str> = Arc::from(text);
            pair.swap(0, 1);
            pair[0] = Interned {
                key,
                text: Some(Arc::clone(&s)),
            };
            Some(s)
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Arc::from(text))
}

/// The length of a string's text up to its closing quote, when it has no escape and no
/// control character (which JSON forbids); `None` otherwise.
#[inline]
fn plain_string_len(bytes: &[u8]) -> Option<usize> {
    let len = bytes
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (bytes[len] == b'"').then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every attribute type, nullable and not, as generated code declares them.
    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Row {
        i: i32,
        #[serde(default)]
        oi: Option<i32>,
        l: i64,
        #[serde(default)]
        ol: Option<i64>,
        f: f32,
        #[serde(default)]
        of: Option<f32>,
        d: f64,
        #[serde(default)]
        od: Option<f64>,
        b: bool,
        #[serde(default)]
        ob: Option<bool>,
        s: Arc<str>,
        #[serde(default)]
        os: Option<Arc<str>>,
    }

    const NAMES: [&str; 12] = [
        "i", "oi", "l", "ol", "f", "of", "d", "od", "b", "ob", "s", "os",
    ];

    /// What `compiler/src/codegen/stream.rs` generates for `Row`, written out.
    impl FastDecode for Row {
        fn fast_decode(s: &mut Scanner<'_>) -> Option<Self> {
            macro_rules! opt {
                ($m:ident) => {
                    if s.null() {
                        None
                    } else {
                        Some(s.$m()?)
                    }
                };
            }
            if !s.open()? {
                s.element(0)?;
                let i = s.i32()?;
                s.element(1)?;
                let oi = opt!(i32);
                s.element(2)?;
                let l = s.i64()?;
                s.element(3)?;
                let ol = opt!(i64);
                s.element(4)?;
                let f = s.f32()?;
                s.element(5)?;
                let of = opt!(f32);
                s.element(6)?;
                let d = s.f64()?;
                s.element(7)?;
                let od = opt!(f64);
                s.element(8)?;
                let b = s.bool()?;
                s.element(9)?;
                let ob = opt!(bool);
                s.element(10)?;
                let st = s.string()?;
                s.element(11)?;
                let os = opt!(string);
                s.close_array()?;
                return Some(Row {
                    i,
                    oi,
                    l,
                    ol,
                    f,
                    of,
                    d,
                    od,
                    b,
                    ob,
                    s: st,
                    os,
                });
            }
            let (mut i, mut oi, mut l, mut ol, mut f, mut of) =
                (None, None, None, None, None, None);
            let (mut d, mut od, mut b, mut ob, mut st, mut os) =
                (None, None, None, None, None, None);
            let member = |name: &[u8]| match name {
                b"i" => Some(0),
                b"oi" => Some(1),
                b"l" => Some(2),
                b"ol" => Some(3),
                b"f" => Some(4),
                b"of" => Some(5),
                b"d" => Some(6),
                b"od" => Some(7),
                b"b" => Some(8),
                b"ob" => Some(9),
                b"s" => Some(10),
                b"os" => Some(11),
                _ => None,
            };
            while let Some(key) = s.key_by(member)? {
                match key {
                    0 if i.is_none() => i = Some(s.i32()?),
                    1 if oi.is_none() => oi = Some(opt!(i32)),
                    2 if l.is_none() => l = Some(s.i64()?),
                    3 if ol.is_none() => ol = Some(opt!(i64)),
                    4 if f.is_none() => f = Some(s.f32()?),
                    5 if of.is_none() => of = Some(opt!(f32)),
                    6 if d.is_none() => d = Some(s.f64()?),
                    7 if od.is_none() => od = Some(opt!(f64)),
                    8 if b.is_none() => b = Some(s.bool()?),
                    9 if ob.is_none() => ob = Some(opt!(bool)),
                    10 if st.is_none() => st = Some(s.string()?),
                    11 if os.is_none() => os = Some(opt!(string)),
                    _ => return None,
                }
            }
            Some(Row {
                i: i?,
                oi: oi.unwrap_or(None),
                l: l?,
                ol: ol.unwrap_or(None),
                f: f?,
                of: of.unwrap_or(None),
                d: d?,
                od: od.unwrap_or(None),
                b: b?,
                ob: ob.unwrap_or(None),
                s: st?,
                os: os.unwrap_or(None),
            })
        }
    }

    /// Whether the one-pass reader took `text` (and then read it exactly as serde_json);
    /// `decode` always answers as serde_json does.
    fn same_as_serde(text: &str) -> bool {
        let serde = serde_json::from_str::<Row>(text);
        let mut s = Scanner::new(text);
        let fast = Row::fast_decode(&mut s).filter(|_| s.at_end());
        if let Some(fast) = &fast {
            match &serde {
                // `{:?}` tells -0.0 from 0.0.
                Ok(row) => assert_eq!(format!("{fast:?}"), format!("{row:?}"), "{text}"),
                Err(e) => panic!("{text}: read as {fast:?}, serde_json says {e}"),
            }
        }
        let decoded = decode::<Row>("S", text);
        match (&decoded, &serde) {
            (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text}"),
            (Err(a), Err(b)) => assert_eq!(
                a.to_string(),
                format!("bad data for stream `S`: {b}"),
                "{text}"
            ),
            _ => panic!("{text}: {decoded:?} against {serde:?}"),
        }
        fast.is_some()
    }

    const COMMON: &str = r#"{"i":1,"oi":null,"l":-9,"ol":123456789012345678,"f":2,"of":-0.5,"d":75.25,"od":-0.0,"b":true,"ob":false,"s":"IBM","os":"a\"b\u00e9\n"}"#;

    #[test]
    fn common_lines_are_read_in_one_pass() {
        for text in [
            COMMON,
            r#"{"s":"x","b":false,"d":1e3,"f":1.5e-3,"l":0,"i":-2147483648}"#,
            " { \"i\" : 2147483647 ,\n\"l\":-123456789012345678,\t\"f\":0,\"d\":-0,\"b\":true,\"s\":\"\",\"os\":null}\r\n",
            r#"[7, null, 8, 9, 1.25, null, 0.1, 123456.789012345, true, null, "é€𝄞", null]"#,
            r#"{"d":123456789012345678901234567890,"i":0,"l":0,"f":3.4e38,"b":true,"s":"\ud834\udd1e"}"#,
        ] {
            assert!(same_as_serde(text), "{text}");
        }
    }

    #[test]
    fn what_serde_json_rejects_or_reads_otherwise_is_left_to_it() {
        for text in [
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true}"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x","s":"y"}"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x","zz":1}"#,
            r#"{"\u0069":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}"#,
            r#"{"i":2147483648,"l":1,"f":1,"d":1,"b":true,"s":"x"}"#,
            r#"{"i":-0,"l":1,"f":1,"d":1,"b":true,"s":"x"}"#,
            r#"{"i":1.0,"l":1,"f":1,"d":1,"b":true,"s":"x"}"#,
            r#"{"i":01,"l":1,"f":1,"d":1,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":9223372036854775808,"f":1,"d":1,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":1,"f":1,"d":1.,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":1,"f":1,"d":.5,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":1,"f":1,"d":1e999,"b":true,"s":"x"}"#,
            r#"{"i":1,"l":1,"f":1,"d":"1","b":true,"s":"x"}"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":1,"s":"x"}"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":null}"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x",}"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"} x"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x""#,
            "{\"i\":1,\"l\":1,\"f\":1,\"d\":1,\"b\":true,\"s\":\"a\u{1}\"}",
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"\x"}"#,
            r#"[1,null,1,null,1,null,1,null,true,null,"x"]"#,
            r#"[1,null,1,null,1,null,1,null,true,null,"x",null,5]"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":tru,"s":"x"}"#,
            r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x","os":nul}"#,
        ] {
            assert!(!same_as_serde(text), "{text}");
        }
    }

    /// Values of every kind, well formed for some attribute or not.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<i32>().prop_map(|v| v.to_string()),
            (-1_000_000i64..1_000_000, 0u32..30).prop_map(|(m, k)| {
                let digits = format!("{}", m.unsigned_abs());
                let sign = if m < 0 { "-" } else { "" };
                let k = k as usize;
                if k == 0 {
                    format!("{sign}{digits}")
                } else {
                    format!(
                        "{sign}0.{}{digits}",
                        "0".repeat(k.saturating_sub(digits.len()))
                    )
                }
            }),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            any::<f64>().prop_map(|v| format!("{v:e}")),
            any::<f32>().prop_map(|v| format!("{v:?}")),
            "-?[0-9]{1,25}(\\.[0-9]{0,25})?([eE][+-]?[0-9]{0,4})?",
            "\"([a-zA-Zé€ \t]|\\\\[\"\\\\/bfnrtu]|\\\\u[0-9a-fA-F]{4}|\\\\u00[0-1][0-9a-f])*\"",
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("nul".to_string()),
            Just("[]".to_string()),
            Just("{}".to_string()),
            Just("-0".to_string()),
            Just("-0.0".to_string()),
        ]
    }

    /// Lines of members in any order, duplicated, missing or unknown, with any whitespace,
    /// objects or arrays, truncated anywhere.
    fn line() -> impl Strategy<Value = String> {
        let ws = || proptest::sample::select(vec!["", "", "", " ", "\n", "\t ", "\r"]);
        let member = (
            proptest::sample::select(
                NAMES
                    .iter()
                    .chain(&["x", "I", "s\\u0073"])
                    .copied()
                    .collect::<Vec<_>>(),
            ),
            value(),
            ws(),
            ws(),
        );
        let object = proptest::collection::vec(member, 0..16).prop_map(|members| {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v, a, b)| format!("{a}\"{k}\"{b}:{a}{v}{b}"))
                .collect();
            format!("{{{}}}", body.join(","))
        });
        let array = proptest::collection::vec((value(), ws()), 10..14).prop_map(|values| {
            let body: Vec<String> = values.iter().map(|(v, w)| format!("{w}{v}{w}")).collect();
            format!("[{}]", body.join(","))
        });
        (
            prop_oneof![object, array],
            any::<proptest::sample::Index>(),
            any::<bool>(),
        )
            .prop_map(|(text, cut, truncate)| {
                if truncate {
                    let mut at = cut.index(text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    text[..at].to_owned()
                } else {
                    text
                }
            })
    }

    /// A well-formed line of random values, members in a random order.
    fn good_line() -> impl Strategy<Value = String> {
        (
            any::<i32>(),
            any::<i64>(),
            -1e6f32..1e6,
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
            any::<bool>(),
            "([a-zA-Z0-9é€ ]|\\\\n|\\\\u00e9|\\\\\")*",
            Just((0..NAMES.len()).collect::<Vec<usize>>()).prop_shuffle(),
        )
            .prop_map(|(i, l, f, d, b, s, order)| {
                let values = [
                    i.to_string(),
                    "null".into(),
                    l.to_string(),
                    (l / 7).to_string(),
                    format!("{f:?}"),
                    "null".into(),
                    format!("{d:?}"),
                    format!("{:.3}", d / 1e300),
                    b.to_string(),
                    "null".into(),
                    format!("\"{s}\""),
                    format!("\"{s}x\""),
                ];
                let members: Vec<String> = order
                    .iter()
                    .map(|&k| format!("\"{}\": {}", NAMES[k], values[k]))
                    .collect();
                format!("{{{}}}", members.join(", "))
            })
    }

    /// Whether [`decode_line`] took the event line `text` (and then read it exactly as the
    /// general way does: the envelope by `parse_line`, `data` by serde_json, for stream `S`).
    fn line_same_as_general(text: &str) -> bool {
        let fast = decode_line(text, |stream, s| match stream {
            "S" => Row::fast_decode(s),
            _ => None,
        });
        let general = crate::io::parse_line(1, text).map(|line| match line {
            crate::io::LineRef::Event {
                stream, ts, data, ..
            } => {
                let row = (stream == "S")
                    .then(|| serde_json::from_str::<Row>(data).ok())
                    .flatten();
                (stream.into_owned(), ts, row)
            }
            crate::io::LineRef::Tick { ts, .. } => (String::new(), Some(ts), None),
        });
        if let Some(fast) = &fast {
            match &general {
                Ok((stream, ts, Some(row))) => assert_eq!(
                    (fast.stream, fast.ts, format!("{:?}", fast.event)),
                    (stream.as_str(), *ts, format!("{row:?}")),
                    "{text}"
                ),
                other => panic!("{text}: read as {fast:?}, the general way: {other:?}"),
            }
        }
        fast.is_some()
    }

    #[test]
    fn event_lines_are_read_in_one_pass_or_left_to_the_general_reader() {
        for text in [
            r#"{"stream":"S","ts":5,"data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}}"#,
            r#"{"data":[1,null,1,null,1,null,1,null,true,null,"x",null],"ts":-5,"stream":"S"}"#,
            r#"{ "ts" : 0 , "stream" : "S" , "data" : {"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"} }"#,
        ] {
            // (The second has `data` before `stream`: left to the general reader.)
            let _ = line_same_as_general(text);
        }
        assert!(line_same_as_general(
            r#"{"stream":"S","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"},"ts":9}"#
        ));
        assert!(line_same_as_general(
            r#"{ "ts" : 0 , "stream" : "S" , "data" : [1,null,1,null,1,null,1,null,true,null,"x",null] }"#
        ));
        for text in [
            r#"{"data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"},"stream":"S"}"#,
            r#"{"stream":"S","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"},"ts":9,"ts":9}"#,
            r#"{"stream":"S","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"},"kind":"x"}"#,
            r#"{"stream":"S","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}}}"#,
            r#"{"stream":"S","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}"#,
            r#"{"stream":"S","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"},}"#,
            r#"{"stream":"S","ts":-0,"data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}}"#,
            r#"{"stream":"S","ts":null,"data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}}"#,
            r#"{"stream":"\u0053","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}}"#,
            r#"{"stream":"T","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}}"#,
            r#"{"stream":"S","data":{}}"#,
            r#"{"stream":"S","data":5}"#,
            r#"["S",{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}]"#,
            r#"{"stream":"S","data":{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}} {}"#,
        ] {
            assert!(!line_same_as_general(text), "{text}");
        }
    }

    /// Whether [`decode_message`] took the message `text` of a source bound to `S` (and then
    /// read it exactly as `connect::source::decode_message` does).
    fn message_same_as_general(text: &str) -> bool {
        let fast = decode_message("S", text, |stream, s| match stream {
            "S" => Row::fast_decode(s),
            _ => None,
        });
        let general = crate::connect::source::decode_message("S", text, decode::<Row>);
        if let Some((ts, row)) = &fast {
            match &general {
                Ok((t, r)) => assert_eq!((ts, format!("{row:?}")), (t, format!("{r:?}")), "{text}"),
                Err(e) => panic!("{text}: read as {fast:?}, the general way: {e}"),
            }
        }
        fast.is_some()
    }

    #[test]
    fn source_messages_are_read_in_one_pass_or_left_to_the_general_reader() {
        let data = r#"{"i":1,"l":1,"f":1,"d":1,"b":true,"s":"x"}"#;
        for text in [
            format!(r#"{{"ts": 5, "data": {data}}}"#),
            format!(r#" {{"data": {data}, "stream": "S"}} "#),
            data.to_owned(),
            r#"[1,null,1,null,1,null,1,null,true,null,"x",null]"#.to_owned(),
        ] {
            assert!(message_same_as_general(&text), "{text}");
        }
        for text in [
            format!(r#"{{"stream": "T", "data": {data}}}"#),
            format!(r#"{{"ts": null, "data": {data}}}"#),
            format!(r#"{{"ts": 5, "data": {data}, "kind": "x"}}"#),
            r#"{"ts": 5, "data": 5}"#.to_owned(),
            r#"{"ts": 5}"#.to_owned(),
            "hello".to_owned(),
            String::new(),
        ] {
            assert!(!message_same_as_general(&text), "{text}");
        }
    }

    /// Envelopes of members in any order, duplicated, missing or unknown, with any
    /// whitespace, truncated anywhere.
    fn event_line() -> impl Strategy<Value = String> {
        let ws = || proptest::sample::select(vec!["", "", " ", "\n", "\t"]);
        let member = prop_oneof![
            (
                Just("stream"),
                proptest::sample::select(vec![
                    "\"S\"",
                    "\"S\"",
                    "\"T\"",
                    "\"\\u0053\"",
                    "5",
                    "null",
                    "\"S"
                ])
                .prop_map(str::to_owned)
            ),
            (
                Just("ts"),
                prop_oneof![
                    any::<i64>().prop_map(|v| v.to_string()),
                    proptest::sample::select(vec!["-0", "1.5", "1e3", "null", "\"5\"", "01", "-"])
                        .prop_map(str::to_owned),
                ]
            ),
            (Just("data"), prop_oneof![good_line(), line()]),
            (
                proptest::sample::select(vec!["kind", "dat", "\\u0074s"]),
                value()
            ),
        ];
        (
            proptest::collection::vec((member, ws(), ws()), 0..6),
            any::<proptest::sample::Index>(),
            proptest::sample::select(vec!["", "", "", "}", " x", ","]),
            any::<bool>(),
        )
            .prop_map(|(members, cut, tail, truncate)| {
                let body: Vec<String> = members
                    .iter()
                    .map(|((k, v), a, b)| format!("{a}\"{k}\"{b}:{a}{v}{b}"))
                    .collect();
                let text = format!("{{{}}}{tail}", body.join(","));
                if truncate {
                    let mut at = cut.index(text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    text[..at].trim().to_owned()
                } else {
                    text
                }
            })
    }

    /// Well-formed event lines of stream `S`, the envelope's members in any order.
    fn good_event_line() -> impl Strategy<Value = String> {
        (
            good_line(),
            any::<i64>(),
            Just(vec![0usize, 1, 2]).prop_shuffle(),
            any::<bool>(),
        )
            .prop_map(|(data, ts, order, with_ts)| {
                let members: Vec<String> = order
                    .iter()
                    .filter(|&&k| with_ts || k != 1)
                    .map(|&k| match k {
                        0 => "\"stream\": \"S\"".to_owned(),
                        1 => format!("\"ts\": {ts}"),
                        _ => format!("\"data\": {data}"),
                    })
                    .collect();
                format!("{{{}}}", members.join(", "))
            })
    }

    #[test]
    fn interned_strings_are_shared_and_never_mixed_up() {
        let a = intern("S0013");
        assert!(Arc::ptr_eq(&a, &intern("S0013")));
        let long = "x".repeat(INTERNED_LEN + 1);
        assert_eq!(&*intern(&long), long.as_str());
        // Texts that differ in one byte only, anywhere, of every length up to the limit.
        for len in 0..=INTERNED_LEN {
            let base: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            for at in 0..len {
                let mut other = base.clone().into_bytes();
                other[at] = b'Z';
                let other = String::from_utf8(other).unwrap();
                assert_eq!(&*intern(&base), base.as_str());
                assert_eq!(&*intern(&other), other.as_str());
                assert_eq!(&*intern(&base), base.as_str());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Equal keys and lengths mean equal strings.
        #[test]
        fn short_keys_tell_strings_apart(
            a in proptest::collection::vec(any::<u8>(), 0..=INTERNED_LEN),
            b in proptest::collection::vec(proptest::sample::select(vec![0u8, 1, 255]), 0..=INTERNED_LEN),
            flip in any::<proptest::sample::Index>(),
        ) {
            let mut c = a.clone();
            if !c.is_empty() {
                let at = flip.index(c.len());
                c[at] ^= 1;
            }
            for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
                if x.len() == y.len() && short_key(x) == short_key(y) {
                    prop_assert_eq!(x, y);
                }
            }
        }

        /// The one-pass line reader never reads a line otherwise than the general way; nor
        /// does the reader of a bound source's messages (envelopes or bare data).
        #[test]
        fn event_lines_never_differ_from_the_general_reader(text in event_line()) {
            line_same_as_general(&text);
            message_same_as_general(&text);
        }

        /// The same for bare data.
        #[test]
        fn bare_messages_never_differ_from_the_general_reader(text in line()) {
            message_same_as_general(&text);
        }

        /// Well-formed event lines are read in one pass when `stream` comes before `data`.
        #[test]
        fn good_event_lines_are_read_in_one_pass(text in good_event_line()) {
            let stream_first = text.find("\"stream\"") < text.find("\"data\"");
            prop_assert_eq!(line_same_as_general(&text), stream_first, "{}", text);
        }

        /// The one-pass reader never reads a line otherwise than serde_json, and `decode`
        /// answers exactly as serde_json does (values and error messages).
        #[test]
        fn never_differs_from_serde(text in line()) {
            same_as_serde(&text);
        }

        /// Well-formed lines are read in one pass, whatever the order of their members.
        #[test]
        fn good_lines_are_read_in_one_pass(text in good_line()) {
            prop_assert!(same_as_serde(&text), "{}", text);
        }

        /// Integers: the reader reads exactly the `i64`s serde_json reads, alike.
        #[test]
        fn integers_equal_serde(token in "-?[0-9]{1,22}") {
            let mut s = Scanner::new(&token);
            let fast = s.i64().filter(|_| s.at_end());
            match serde_json::from_str::<i64>(&token) {
                Ok(want) => prop_assert_eq!(fast, Some(want), "{}", token),
                Err(_) => prop_assert_eq!(fast, None, "{}", token),
            }
        }

        /// Numbers: every DOUBLE and FLOAT the reader computes itself equals serde_json's.
        #[test]
        fn numbers_equal_serde(
            token in "-?(0|[1-9][0-9]{0,16})(\\.[0-9]{1,24})?",
        ) {
            let mut s = Scanner::new(&token);
            if let Some(v) = s.f64().filter(|_| s.at_end()) {
                let want: f64 = serde_json::from_str(&token).unwrap();
                prop_assert_eq!(v.to_bits(), want.to_bits(), "{}", token);
            }
            let mut s = Scanner::new(&token);
            if let Some(v) = s.f32().filter(|_| s.at_end()) {
                let want: f32 = serde_json::from_str(&token).unwrap();
                prop_assert_eq!(v.to_bits(), want.to_bits(), "{}", token);
            }
            let mut s = Scanner::new(&token);
            if let Some(v) = s.i64().filter(|_| s.at_end()) {
                let want: i64 = serde_json::from_str(&token).unwrap();
                prop_assert_eq!(v, want, "{}", token);
            }
        }
    }
}
