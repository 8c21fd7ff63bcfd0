//! Conversions used by `CAST(x AS T)` (docs/functions.md#cast): strings that do not parse give NULL,
//! floating values become integers by truncation toward zero.

use std::fmt::Display;
use std::sync::Arc;

/// Parses a trimmed string with `FromStr`; NULL when it does not parse.
#[inline]
fn parse<S: AsRef<str>, T: std::str::FromStr>(s: Option<S>) -> Option<T> {
    s?.as_ref().trim().parse().ok()
}

/// `CAST(s AS INT)`: decimal digits with an optional sign, surrounding whitespace ignored.
#[inline]
pub fn parse_i32<S: AsRef<str>>(s: Option<S>) -> Option<i32> {
    parse(s)
}

/// `CAST(s AS LONG)`.
#[inline]
pub fn parse_i64<S: AsRef<str>>(s: Option<S>) -> Option<i64> {
    parse(s)
}

/// `CAST(s AS FLOAT)`: decimal or scientific notation, also `NaN`, `inf`, `Infinity`.
#[inline]
pub fn parse_f32<S: AsRef<str>>(s: Option<S>) -> Option<f32> {
    parse(s)
}

/// `CAST(s AS DOUBLE)`.
#[inline]
pub fn parse_f64<S: AsRef<str>>(s: Option<S>) -> Option<f64> {
    parse(s)
}

/// `CAST(s AS BOOL)`: `true` or `false`, any case; anything else is NULL.
#[inline]
pub fn parse_bool<S: AsRef<str>>(s: Option<S>) -> Option<bool> {
    let s = s?;
    let s = s.as_ref().trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// `CAST(x AS INT)` of a DOUBLE: truncates toward zero, saturates out of range, NaN is NULL.
#[inline]
pub fn f64_to_i32(x: Option<f64>) -> Option<i32> {
    x.filter(|x| !x.is_nan()).map(|x| x as i32)
}

/// `CAST(x AS LONG)` of a DOUBLE: like [`f64_to_i32`].
#[inline]
pub fn f64_to_i64(x: Option<f64>) -> Option<i64> {
    x.filter(|x| !x.is_nan()).map(|x| x as i64)
}

/// `CAST(x AS INT)` of a FLOAT: like [`f64_to_i32`].
#[inline]
pub fn f32_to_i32(x: Option<f32>) -> Option<i32> {
    x.filter(|x| !x.is_nan()).map(|x| x as i32)
}

/// `CAST(x AS LONG)` of a FLOAT: like [`f64_to_i32`].
#[inline]
pub fn f32_to_i64(x: Option<f32>) -> Option<i64> {
    x.filter(|x| !x.is_nan()).map(|x| x as i64)
}

/// `CAST(x AS STRING)` of an INT, LONG or BOOL (or any `Display` value): `42`, `-7`, `true`.
#[inline]
pub fn to_string_display<T: Display>(x: Option<T>) -> Option<Arc<str>> {
    x.map(|x| x.to_string().into())
}

/// Formats like Java's `Double.toString`: shortest digits that round-trip; plain notation
/// with at least one decimal (`1.0`, `0.001`, `1234567.5`) for magnitudes in
/// `[1e-3, 1e7)` and zero, otherwise `1.0E7`, `1.5E-5`; `NaN`, `Infinity`, `-Infinity`.
fn java_format(x: f64, plain: impl FnOnce() -> String, sci: impl FnOnce() -> String) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = x.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let mut s = plain();
        if !s.contains('.') {
            s.push_str(".0");
        }
        s
    } else {
        let s = sci();
        let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
        let point = if mantissa.contains('.') { "" } else { ".0" };
        format!("{mantissa}{point}E{exp}")
    }
}

/// `CAST(x AS STRING)` of a DOUBLE, formatted like Java's `Double.toString`
/// (`1.0` → `"1.0"`, `2.5` → `"2.5"`, `1e7` → `"1.0E7"`).
#[inline]
pub fn f64_to_string(x: Option<f64>) -> Option<Arc<str>> {
    x.map(|x| java_format(x, || format!("{x}"), || format!("{x:e}")).into())
}

/// `CAST(x AS STRING)` of a FLOAT, formatted like Java's `Float.toString` (shortest digits
/// of the `f32`: `0.1f` → `"0.1"`).
#[inline]
pub fn f32_to_string(x: Option<f32>) -> Option<Arc<str>> {
    x.map(|x| java_format(f64::from(x), || format!("{x}"), || format!("{x:e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: Option<Arc<str>>) -> Option<String> {
        x.map(|x| x.to_string())
    }

    #[test]
    fn parsing_trims_and_rejects_garbage() {
        assert_eq!(parse_i32(Some(" 42 ")), Some(42));
        assert_eq!(parse_i32(Some("-7")), Some(-7));
        assert_eq!(parse_i32(Some("+7")), Some(7));
        assert_eq!(parse_i32(Some("2147483648")), None);
        assert_eq!(parse_i32(Some("1.5")), None);
        assert_eq!(parse_i32(Some("")), None);
        assert_eq!(parse_i32(Some("abc")), None);
        assert_eq!(
            parse_i64(Some(Arc::<str>::from("9000000000"))),
            Some(9_000_000_000)
        );
        assert_eq!(parse_f64(Some("1.5")), Some(1.5));
        assert_eq!(parse_f64(Some(" -2e3\n")), Some(-2000.0));
        assert_eq!(parse_f64(Some("x1")), None);
        assert!(parse_f64(Some("NaN")).unwrap().is_nan());
        assert_eq!(parse_f32(Some("0.25")), Some(0.25));
        assert_eq!(parse_bool(Some(" TRUE ")), Some(true));
        assert_eq!(parse_bool(Some("False")), Some(false));
        assert_eq!(parse_bool(Some("yes")), None);
        let n: Option<&str> = None;
        assert_eq!(
            (
                parse_i32(n),
                parse_i64(n),
                parse_f32(n),
                parse_f64(n),
                parse_bool(n)
            ),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn float_to_int_truncates_saturates_and_nulls_nan() {
        assert_eq!(f64_to_i32(Some(2.9)), Some(2));
        assert_eq!(f64_to_i32(Some(-2.9)), Some(-2));
        assert_eq!(f64_to_i32(Some(1e20)), Some(i32::MAX));
        assert_eq!(f64_to_i32(Some(f64::NEG_INFINITY)), Some(i32::MIN));
        assert_eq!(f64_to_i32(Some(f64::NAN)), None);
        assert_eq!(f64_to_i64(Some(-1e30)), Some(i64::MIN));
        assert_eq!(f64_to_i64(Some(123456789012.7)), Some(123456789012));
        assert_eq!(f32_to_i32(Some(-0.5)), Some(0));
        assert_eq!(f32_to_i64(Some(f32::NAN)), None);
        assert_eq!(f32_to_i64(Some(3.99)), Some(3));
        assert_eq!(
            (
                f64_to_i32(None),
                f64_to_i64(None),
                f32_to_i32(None),
                f32_to_i64(None)
            ),
            (None, None, None, None)
        );
    }

    #[test]
    fn display_conversions() {
        assert_eq!(s(to_string_display(Some(42i32))), Some("42".into()));
        assert_eq!(
            s(to_string_display(Some(-9_000_000_000i64))),
            Some("-9000000000".into())
        );
        assert_eq!(s(to_string_display(Some(true))), Some("true".into()));
        assert_eq!(s(to_string_display(None::<i32>)), None);
    }

    #[test]
    fn doubles_format_like_java() {
        let f = |x: f64| f64_to_string(Some(x)).unwrap().to_string();
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(2.5), "2.5");
        assert_eq!(f(-3.0), "-3.0");
        assert_eq!(f(0.0), "0.0");
        assert_eq!(f(-0.0), "-0.0");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(0.001), "0.001");
        assert_eq!(f(100.0), "100.0");
        assert_eq!(f(1234567.5), "1234567.5");
        assert_eq!(f(9999999.0), "9999999.0");
        assert_eq!(f(1e7), "1.0E7");
        assert_eq!(f(1.5e10), "1.5E10");
        assert_eq!(f(1e21), "1.0E21");
        assert_eq!(f(0.0001), "1.0E-4");
        assert_eq!(f(-1.25e-5), "-1.25E-5");
        assert_eq!(f(f64::NAN), "NaN");
        assert_eq!(f(f64::INFINITY), "Infinity");
        assert_eq!(f(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(f64_to_string(None), None);
    }

    #[test]
    fn floats_format_like_java() {
        let f = |x: f32| f32_to_string(Some(x)).unwrap().to_string();
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(2.5), "2.5");
        assert_eq!(f(0.001), "0.001");
        assert_eq!(f(1e7), "1.0E7");
        assert_eq!(f(3.4e38), "3.4E38");
        assert_eq!(f(f32::NAN), "NaN");
        assert_eq!(f32_to_string(None), None);
    }
}
