//! NULL-aware expression helpers called by generated code.
//!
//! Every value in a generated expression is an `Option<T>` (`None` is SQL NULL). The rules of
//! docs/functions.md#operators live here: arithmetic with NULL is NULL, integer division and remainder by
//! zero give NULL (so does floating division by zero), comparisons with NULL are false, and in
//! boolean logic a NULL operand counts as false. Strings are any `S: AsRef<str>` so generated
//! code compares borrowed attributes without cloning them.

use std::sync::Arc;

/// Arithmetic on one numeric type (INT, LONG, FLOAT, DOUBLE). Integer arithmetic wraps on
/// overflow, as Java's does in Siddhi.
pub trait Numeric: Copy + PartialOrd {
    /// `a + b`.
    fn add(self, other: Self) -> Self;
    /// `a - b`.
    fn sub(self, other: Self) -> Self;
    /// `a * b`.
    fn mul(self, other: Self) -> Self;
    /// `a / b`, `None` when `b` is zero.
    fn div(self, other: Self) -> Option<Self>;
    /// `a % b`, `None` when `b` is zero.
    fn rem(self, other: Self) -> Option<Self>;
    /// `-a`.
    fn neg(self) -> Self;
}

macro_rules! impl_int {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            #[inline] fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            #[inline] fn sub(self, o: Self) -> Self { self.wrapping_sub(o) }
            #[inline] fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            #[inline] fn div(self, o: Self) -> Option<Self> { if o == 0 { None } else { Some(self.wrapping_div(o)) } }
            #[inline] fn rem(self, o: Self) -> Option<Self> { if o == 0 { None } else { Some(self.wrapping_rem(o)) } }
            #[inline] fn neg(self) -> Self { self.wrapping_neg() }
        }
    )*};
}
macro_rules! impl_float {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            #[inline] fn add(self, o: Self) -> Self { self + o }
            #[inline] fn sub(self, o: Self) -> Self { self - o }
            #[inline] fn mul(self, o: Self) -> Self { self * o }
            #[inline] fn div(self, o: Self) -> Option<Self> { if o == 0.0 { None } else { Some(self / o) } }
            #[inline] fn rem(self, o: Self) -> Option<Self> { if o == 0.0 { None } else { Some(self % o) } }
            #[inline] fn neg(self) -> Self { -self }
        }
    )*};
}
impl_int!(i32, i64);
impl_float!(f32, f64);

/// `a + b`.
#[inline]
pub fn add<T: Numeric>(a: Option<T>, b: Option<T>) -> Option<T> {
    Some(a?.add(b?))
}
/// `a - b`.
#[inline]
pub fn sub<T: Numeric>(a: Option<T>, b: Option<T>) -> Option<T> {
    Some(a?.sub(b?))
}
/// `a * b`.
#[inline]
pub fn mul<T: Numeric>(a: Option<T>, b: Option<T>) -> Option<T> {
    Some(a?.mul(b?))
}
/// `a / b` (NULL when `b` is zero).
#[inline]
pub fn div<T: Numeric>(a: Option<T>, b: Option<T>) -> Option<T> {
    a?.div(b?)
}
/// `a % b` (NULL when `b` is zero).
#[inline]
pub fn rem<T: Numeric>(a: Option<T>, b: Option<T>) -> Option<T> {
    a?.rem(b?)
}
/// `-a`.
#[inline]
pub fn neg<T: Numeric>(a: Option<T>) -> Option<T> {
    a.map(Numeric::neg)
}

/// The larger of two values, ignoring NULL (`maximum(a, b)`).
#[inline]
pub fn maximum<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The smaller of two values, ignoring NULL (`minimum(a, b)`).
#[inline]
pub fn minimum<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b < a { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Lossless-enough numeric widening along INT < LONG < FLOAT < DOUBLE.
pub trait Widen<T> {
    /// The value in the wider type.
    fn widen(self) -> T;
}
macro_rules! impl_widen {
    ($($from:ty => $to:ty),*) => {$(
        impl Widen<$to> for $from {
            #[inline]
            #[allow(clippy::cast_lossless)] // `as` is the conversion Siddhi/Java performs
            fn widen(self) -> $to { self as $to }
        }
    )*};
}
impl_widen!(i32 => i64, i32 => f32, i32 => f64, i64 => f32, i64 => f64, f32 => f64);

/// Widens an optional number to LONG.
#[inline]
pub fn to_i64<F: Widen<i64>>(v: Option<F>) -> Option<i64> {
    v.map(Widen::widen)
}
/// Widens an optional number to FLOAT.
#[inline]
pub fn to_f32<F: Widen<f32>>(v: Option<F>) -> Option<f32> {
    v.map(Widen::widen)
}
/// Widens an optional number to DOUBLE.
#[inline]
pub fn to_f64<F: Widen<f64>>(v: Option<F>) -> Option<f64> {
    v.map(Widen::widen)
}

macro_rules! comparison {
    ($($(#[$doc:meta])* $name:ident, $str_name:ident, $op:tt;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<bool> {
            Some(matches!((a, b), (Some(a), Some(b)) if a $op b))
        }
        $(#[$doc])*
        /// (String operands.)
        #[inline]
        pub fn $str_name<A: AsRef<str>, B: AsRef<str>>(a: Option<A>, b: Option<B>) -> Option<bool> {
            Some(matches!((a, b), (Some(a), Some(b)) if a.as_ref() $op b.as_ref()))
        }
    )*};
}
comparison! {
    /// `a = b`; false when either side is NULL.
    eq, str_eq, ==;
    /// `a != b`; false when either side is NULL.
    ne, str_ne, !=;
    /// `a < b`; false when either side is NULL.
    lt, str_lt, <;
    /// `a <= b`; false when either side is NULL.
    le, str_le, <=;
    /// `a > b`; false when either side is NULL.
    gt, str_gt, >;
    /// `a >= b`; false when either side is NULL.
    ge, str_ge, >=;
}

/// `true` when a condition holds (NULL counts as false).
#[inline]
pub fn holds(c: Option<bool>) -> bool {
    c == Some(true)
}

/// `a AND b`, evaluating `b` only when `a` holds.
#[inline]
pub fn and(a: Option<bool>, b: impl FnOnce() -> Option<bool>) -> Option<bool> {
    Some(holds(a) && holds(b()))
}

/// `a OR b`, evaluating `b` only when `a` does not hold.
#[inline]
pub fn or(a: Option<bool>, b: impl FnOnce() -> Option<bool>) -> Option<bool> {
    Some(holds(a) || holds(b()))
}

/// `NOT a` (NOT NULL is NULL).
#[inline]
pub fn not(a: Option<bool>) -> Option<bool> {
    a.map(|v| !v)
}

/// `x IS NULL`.
#[inline]
pub fn is_null<T>(a: &Option<T>) -> Option<bool> {
    Some(a.is_none())
}

/// One `ORDER BY` key: `a` against `b`, descending when `descending`, NULLs last in both
/// directions (docs/semantics.md#null, Siddhi's comparator).
///
/// ```
/// use eventflux_runtime::expr::order_by_cmp;
/// use std::cmp::Ordering::*;
/// assert_eq!(order_by_cmp(&Some(1), &Some(2), false), Less);
/// assert_eq!(order_by_cmp(&Some(1), &Some(2), true), Greater);
/// assert_eq!(order_by_cmp(&None, &Some(2), false), Greater);
/// assert_eq!(order_by_cmp(&None, &Some(2), true), Greater);
/// assert_eq!(order_by_cmp::<i32>(&None, &None, true), Equal);
/// ```
#[inline]
pub fn order_by_cmp<T: crate::aggregate::TotalOrd>(
    a: &Option<T>,
    b: &Option<T>,
    descending: bool,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(a), Some(b)) if descending => b.cmp_total(a),
        (Some(a), Some(b)) => a.cmp_total(b),
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
    }
}

/// `lo <= x AND x <= hi` (false when any side is NULL).
#[inline]
pub fn between<T: PartialOrd>(x: Option<T>, lo: Option<T>, hi: Option<T>) -> Option<bool> {
    match (x, lo, hi) {
        (Some(x), Some(lo), Some(hi)) => Some(lo <= x && x <= hi),
        _ => Some(false),
    }
}

/// `x NOT BETWEEN lo AND hi`: `x < lo OR x > hi`, false when any side is NULL (like
/// `NOT IN` and every comparison with NULL; `NOT (x BETWEEN lo AND hi)` is true then).
///
/// ```
/// use eventflux_runtime::expr::{between, not_between};
/// assert_eq!(not_between(Some(5), Some(1), Some(3)), Some(true));
/// assert_eq!(not_between(Some(2), Some(1), Some(3)), Some(false));
/// assert_eq!(not_between(None, Some(1), Some(3)), Some(false));
/// assert_eq!(not_between(Some(5), None, Some(3)), Some(false));
/// assert_eq!(between(None, Some(1), Some(3)), Some(false));
/// ```
#[inline]
pub fn not_between<T: PartialOrd>(x: Option<T>, lo: Option<T>, hi: Option<T>) -> Option<bool> {
    match (x, lo, hi) {
        (Some(x), Some(lo), Some(hi)) => Some(!(lo <= x && x <= hi)),
        _ => Some(false),
    }
}

/// `lo <= x AND x <= hi` for strings (false when any side is NULL).
#[inline]
pub fn str_between<A: AsRef<str>, B: AsRef<str>, C: AsRef<str>>(
    x: Option<A>,
    lo: Option<B>,
    hi: Option<C>,
) -> Option<bool> {
    match (x, lo, hi) {
        (Some(x), Some(lo), Some(hi)) => {
            let x = x.as_ref();
            Some(lo.as_ref() <= x && x <= hi.as_ref())
        }
        _ => Some(false),
    }
}

/// `x NOT BETWEEN lo AND hi` for strings (false when any side is NULL, see
/// [`not_between`]).
#[inline]
pub fn str_not_between<A: AsRef<str>, B: AsRef<str>, C: AsRef<str>>(
    x: Option<A>,
    lo: Option<B>,
    hi: Option<C>,
) -> Option<bool> {
    match (x, lo, hi) {
        (Some(x), Some(lo), Some(hi)) => {
            let x = x.as_ref();
            Some(!(lo.as_ref() <= x && x <= hi.as_ref()))
        }
        _ => Some(false),
    }
}

/// An owned string value, for output fields and for CASE/coalesce branches that must share
/// one type.
pub trait IntoArcStr {
    /// The value as `Arc<str>` (a clone of the `Arc` when it already is one).
    fn into_arc_str(self) -> Arc<str>;
}
impl IntoArcStr for &str {
    #[inline]
    fn into_arc_str(self) -> Arc<str> {
        Arc::from(self)
    }
}
impl IntoArcStr for Arc<str> {
    #[inline]
    fn into_arc_str(self) -> Arc<str> {
        self
    }
}
impl IntoArcStr for &Arc<str> {
    #[inline]
    fn into_arc_str(self) -> Arc<str> {
        Arc::clone(self)
    }
}
impl IntoArcStr for String {
    #[inline]
    fn into_arc_str(self) -> Arc<str> {
        Arc::from(self)
    }
}

/// Turns any optional string into an owned `Option<Arc<str>>`.
#[inline]
pub fn to_arc<S: IntoArcStr>(s: Option<S>) -> Option<Arc<str>> {
    s.map(IntoArcStr::into_arc_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_propagates_null_and_division_by_zero() {
        assert_eq!(add(Some(1), None), None);
        assert_eq!(div(Some(7), Some(2)), Some(3));
        assert_eq!(rem(Some(7i64), Some(0)), None);
        assert_eq!(div(Some(1.0), Some(0.0)), None);
        assert_eq!(mul(Some(i32::MAX), Some(2)), Some(-2));
        assert_eq!(neg(Some(2.5)), Some(-2.5));
    }

    #[test]
    fn comparisons_with_null_are_false() {
        assert_eq!(lt(Some(1), Some(2)), Some(true));
        assert_eq!(eq(None, Some(2)), Some(false));
        assert_eq!(ne::<i32>(None, None), Some(false));
        let a: Arc<str> = Arc::from("IBM");
        assert_eq!(str_eq(Some(&a), Some("IBM")), Some(true));
        assert_eq!(str_gt(Some("b"), Some("a")), Some(true));
        assert_eq!(str_ne(None::<&str>, Some("a")), Some(false));
    }

    #[test]
    fn boolean_logic_treats_null_as_false() {
        assert_eq!(and(None, || Some(true)), Some(false));
        assert_eq!(or(None, || Some(true)), Some(true));
        assert_eq!(not(None), None);
        assert_eq!(between(Some(5), Some(1), Some(5)), Some(true));
        assert_eq!(between(Some(5), None, Some(5)), Some(false));
    }

    #[test]
    fn maximum_and_minimum_skip_null() {
        assert_eq!(maximum(Some(1), Some(3)), Some(3));
        assert_eq!(maximum(None, Some(3)), Some(3));
        assert_eq!(minimum(Some(2.5), Some(-1.0)), Some(-1.0));
        assert_eq!(minimum::<i32>(None, None), None);
    }

    #[test]
    fn widening_and_strings() {
        assert_eq!(to_f64(Some(3i64)), Some(3.0));
        assert_eq!(to_i64(Some(3i32)), Some(3));
        assert_eq!(to_arc(Some("x")).as_deref(), Some("x"));
    }
}
