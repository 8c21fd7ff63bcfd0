//! String functions. Positions and lengths count characters (Unicode scalar values), not
//! bytes; positions are 1-based as in SQL. Out-of-range arguments follow PostgreSQL.

use std::sync::Arc;

/// `upper(s)`: Unicode upper case.
#[inline]
pub fn upper<S: AsRef<str>>(s: Option<S>) -> Option<Arc<str>> {
    s.map(|s| s.as_ref().to_uppercase().into())
}

/// `lower(s)`: Unicode lower case.
#[inline]
pub fn lower<S: AsRef<str>>(s: Option<S>) -> Option<Arc<str>> {
    s.map(|s| s.as_ref().to_lowercase().into())
}

/// `length(s)`: the number of characters.
#[inline]
pub fn length<S: AsRef<str>>(s: Option<S>) -> Option<i32> {
    s.map(|s| i32::try_from(s.as_ref().chars().count()).unwrap_or(i32::MAX))
}

/// `concat(a, b)`: `a` followed by `b`; NULL when either is NULL. Longer `concat` calls are
/// chained by the caller.
#[inline]
pub fn concat<A: AsRef<str>, B: AsRef<str>>(a: Option<A>, b: Option<B>) -> Option<Arc<str>> {
    let (a, b) = (a?, b?);
    let (a, b) = (a.as_ref(), b.as_ref());
    let mut out = String::with_capacity(a.len() + b.len());
    out.push_str(a);
    out.push_str(b);
    Some(out.into())
}

/// `replace(s, from, to)`: every occurrence of `from` replaced by `to`. An empty `from`
/// inserts `to` around every character (as Java's `String.replace` does).
#[inline]
pub fn replace<S, F, T>(s: Option<S>, from: Option<F>, to: Option<T>) -> Option<Arc<str>>
where
    S: AsRef<str>,
    F: AsRef<str>,
    T: AsRef<str>,
{
    Some(s?.as_ref().replace(from?.as_ref(), to?.as_ref()).into())
}

/// `trim(s)`: without leading and trailing whitespace.
#[inline]
pub fn trim<S: AsRef<str>>(s: Option<S>) -> Option<Arc<str>> {
    s.map(|s| s.as_ref().trim().into())
}

/// The characters of `s` at 0-based character positions `from..to` (clamped to the string).
fn char_slice(s: &str, from: i64, to: i64) -> Arc<str> {
    let clamp = |n: i64| usize::try_from(n.max(0)).unwrap_or(usize::MAX);
    let (from, to) = (clamp(from), clamp(to));
    s.chars()
        .skip(from)
        .take(to.saturating_sub(from))
        .collect::<String>()
        .into()
}

/// `substring(s, start, len)`: `len` characters from the 1-based position `start`. Positions
/// before the first character count (`substring('hello', 0, 3)` is `he`); a negative `len`
/// gives NULL.
#[inline]
pub fn substring<S: AsRef<str>>(
    s: Option<S>,
    start: Option<i32>,
    len: Option<i32>,
) -> Option<Arc<str>> {
    let (s, start, len) = (s?, i64::from(start?), i64::from(len?));
    if len < 0 {
        return None;
    }
    Some(char_slice(s.as_ref(), start - 1, start - 1 + len))
}

/// `substring(s, start)`: from the 1-based position `start` to the end.
#[inline]
pub fn substring_from<S: AsRef<str>>(s: Option<S>, start: Option<i32>) -> Option<Arc<str>> {
    let (s, start) = (s?, i64::from(start?));
    Some(char_slice(s.as_ref(), start - 1, i64::MAX))
}

/// `left(s, n)`: the first `n` characters; a negative `n` drops the last `-n` characters.
#[inline]
pub fn left<S: AsRef<str>>(s: Option<S>, n: Option<i32>) -> Option<Arc<str>> {
    let (s, n) = (s?, i64::from(n?));
    let s = s.as_ref();
    let end = if n >= 0 {
        n
    } else {
        s.chars().count() as i64 + n
    };
    Some(char_slice(s, 0, end))
}

/// `right(s, n)`: the last `n` characters; a negative `n` drops the first `-n` characters.
#[inline]
pub fn right<S: AsRef<str>>(s: Option<S>, n: Option<i32>) -> Option<Arc<str>> {
    let (s, n) = (s?, i64::from(n?));
    let s = s.as_ref();
    let start = if n >= 0 {
        s.chars().count() as i64 - n
    } else {
        -n
    };
    Some(char_slice(s, start, i64::MAX))
}

/// `reverse(s)`: the characters in reverse order.
#[inline]
pub fn reverse<S: AsRef<str>>(s: Option<S>) -> Option<Arc<str>> {
    s.map(|s| s.as_ref().chars().rev().collect::<String>().into())
}

/// `Ok`: the `n - len(s)` characters of padding made by repeating `pad`. `Err`: the result
/// itself, when `s` is long enough (cut to `n` characters) or `pad` is empty (`s` as it is).
fn padding(s: &str, n: i32, pad: &str) -> Result<String, Arc<str>> {
    let n = usize::try_from(n).unwrap_or(0);
    let len = s.chars().count();
    if len >= n || pad.is_empty() {
        return Err(s.chars().take(n).collect::<String>().into());
    }
    Ok(pad.chars().cycle().take(n - len).collect())
}

/// `lpad(s, n, pad)`: `s` padded on the left to `n` characters with `pad` repeated; a longer
/// `s` is cut to its first `n` characters; an empty `pad` leaves `s` as it is.
#[inline]
pub fn lpad<S, P>(s: Option<S>, n: Option<i32>, pad: Option<P>) -> Option<Arc<str>>
where
    S: AsRef<str>,
    P: AsRef<str>,
{
    let (s, n, pad) = (s?, n?, pad?);
    let s = s.as_ref();
    Some(match padding(s, n, pad.as_ref()) {
        Ok(mut fill) => {
            fill.push_str(s);
            fill.into()
        }
        Err(cut) => cut,
    })
}

/// `rpad(s, n, pad)`: like [`lpad`], padding on the right.
#[inline]
pub fn rpad<S, P>(s: Option<S>, n: Option<i32>, pad: Option<P>) -> Option<Arc<str>>
where
    S: AsRef<str>,
    P: AsRef<str>,
{
    let (s, n, pad) = (s?, n?, pad?);
    let s = s.as_ref();
    Some(match padding(s, n, pad.as_ref()) {
        Ok(fill) => {
            let mut out = String::with_capacity(s.len() + fill.len());
            out.push_str(s);
            out.push_str(&fill);
            out.into()
        }
        Err(cut) => cut,
    })
}

/// `position(needle, haystack)`: the 1-based character position of the first occurrence of
/// `needle` in `haystack`, 0 when absent, 1 for an empty `needle`.
#[inline]
pub fn position<N: AsRef<str>, H: AsRef<str>>(
    needle: Option<N>,
    haystack: Option<H>,
) -> Option<i32> {
    let (needle, haystack) = (needle?, haystack?);
    let haystack = haystack.as_ref();
    Some(match haystack.find(needle.as_ref()) {
        None => 0,
        Some(at) => i32::try_from(haystack[..at].chars().count() + 1).unwrap_or(i32::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Option<&str> = None;

    fn s(x: Option<Arc<str>>) -> Option<String> {
        x.map(|x| x.to_string())
    }

    fn some(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn case_length_trim_reverse() {
        assert_eq!(s(upper(Some("abc é"))), some("ABC É"));
        assert_eq!(s(lower(Some(Arc::<str>::from("AbC")))), some("abc"));
        assert_eq!(length(Some("héllo")), Some(5));
        assert_eq!(length(Some("")), Some(0));
        assert_eq!(s(trim(Some("  a b \t\n"))), some("a b"));
        assert_eq!(s(reverse(Some("abç"))), some("çba"));
        assert_eq!(
            (
                s(upper(N)),
                s(lower(N)),
                length(N),
                s(trim(N)),
                s(reverse(N))
            ),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn concat_and_replace() {
        assert_eq!(
            s(concat(Some("ab"), Some(Arc::<str>::from("cd")))),
            some("abcd")
        );
        assert_eq!(s(concat(Some("ab"), N)), None);
        assert_eq!(s(concat(N, Some("x"))), None);
        assert_eq!(
            s(replace(Some("a-b-c"), Some("-"), Some("+="))),
            some("a+=b+=c")
        );
        assert_eq!(
            s(replace(Some("abc"), Some(""), Some("x"))),
            some("xaxbxcx")
        );
        assert_eq!(s(replace(Some("abc"), Some("z"), Some("x"))), some("abc"));
        assert_eq!(s(replace(Some("abc"), N, Some("x"))), None);
        assert_eq!(s(replace(Some("abc"), Some("a"), N)), None);
    }

    #[test]
    fn substring_is_one_based_and_clamped() {
        let h = Some("hello");
        assert_eq!(s(substring(h, Some(2), Some(3))), some("ell"));
        assert_eq!(s(substring(h, Some(1), Some(5))), some("hello"));
        assert_eq!(s(substring(h, Some(0), Some(3))), some("he"));
        assert_eq!(s(substring(h, Some(-5), Some(3))), some(""));
        assert_eq!(s(substring(h, Some(4), Some(100))), some("lo"));
        assert_eq!(s(substring(h, Some(9), Some(2))), some(""));
        assert_eq!(s(substring(h, Some(2), Some(0))), some(""));
        assert_eq!(s(substring(h, Some(2), Some(-1))), None);
        assert_eq!(s(substring(h, Some(i32::MAX), Some(i32::MAX))), some(""));
        assert_eq!(s(substring(h, Some(i32::MIN), Some(i32::MAX))), some(""));
        assert_eq!(s(substring(Some("añb"), Some(2), Some(1))), some("ñ"));
        assert_eq!(s(substring(h, None, Some(1))), None);
        assert_eq!(s(substring_from(h, Some(3))), some("llo"));
        assert_eq!(s(substring_from(h, Some(-3))), some("hello"));
        assert_eq!(s(substring_from(h, Some(6))), some(""));
        assert_eq!(s(substring_from(N, Some(1))), None);
    }

    #[test]
    fn left_and_right() {
        let h = Some("hello");
        assert_eq!(s(left(h, Some(2))), some("he"));
        assert_eq!(s(left(h, Some(10))), some("hello"));
        assert_eq!(s(left(h, Some(0))), some(""));
        assert_eq!(s(left(h, Some(-2))), some("hel"));
        assert_eq!(s(left(h, Some(-10))), some(""));
        assert_eq!(s(right(h, Some(2))), some("lo"));
        assert_eq!(s(right(h, Some(10))), some("hello"));
        assert_eq!(s(right(h, Some(-2))), some("llo"));
        assert_eq!(s(right(h, Some(-10))), some(""));
        assert_eq!(s(right(h, Some(i32::MIN))), some(""));
        assert_eq!(s(right(Some("aéb"), Some(2))), some("éb"));
        assert_eq!(s(left(h, None)), None);
        assert_eq!(s(right(N, Some(1))), None);
    }

    #[test]
    fn padding_and_truncation() {
        assert_eq!(s(lpad(Some("hi"), Some(5), Some("xy"))), some("xyxhi"));
        assert_eq!(s(rpad(Some("hi"), Some(5), Some("xy"))), some("hixyx"));
        assert_eq!(s(lpad(Some("hello"), Some(2), Some("x"))), some("he"));
        assert_eq!(s(rpad(Some("hello"), Some(2), Some("x"))), some("he"));
        assert_eq!(s(lpad(Some("hi"), Some(2), Some("x"))), some("hi"));
        assert_eq!(s(lpad(Some("hi"), Some(5), Some(""))), some("hi"));
        assert_eq!(s(rpad(Some("hi"), Some(-1), Some("x"))), some(""));
        assert_eq!(s(lpad(Some("é"), Some(3), Some("ñ"))), some("ññé"));
        assert_eq!(s(lpad(N, Some(3), Some("x"))), None);
        assert_eq!(s(rpad(Some("a"), None, Some("x"))), None);
        assert_eq!(s(rpad(Some("a"), Some(3), N)), None);
    }

    #[test]
    fn position_counts_characters() {
        assert_eq!(position(Some("lo"), Some("hello")), Some(4));
        assert_eq!(position(Some("h"), Some("hello")), Some(1));
        assert_eq!(position(Some("z"), Some("hello")), Some(0));
        assert_eq!(position(Some(""), Some("hello")), Some(1));
        assert_eq!(position(Some("b"), Some("éab")), Some(3));
        assert_eq!(position(N, Some("x")), None);
        assert_eq!(position(Some("x"), N), None);
    }
}
