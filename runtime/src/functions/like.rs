//! SQL `LIKE` without regular expressions.
//!
//! `%` matches any run of characters (also none), `_` exactly one character, and `\`
//! escapes the next character (`\%` is a literal percent sign; a trailing `\` is literal),
//! as in PostgreSQL. Matching is case-sensitive.
//!
//! A pattern is split at its `%` into segments, each matching a fixed number of characters.
//! The first segment must match at the start, the last at the end, and the ones between are
//! matched leftmost-first, which is optimal for this kind of pattern: there is no
//! backtracking across `%`, so matching is linear in the text for literal segments (found
//! with `str::find`) and at worst text × segment length with `_` inside segments.

/// A compiled `LIKE` pattern, for callers that match many texts against one pattern.
///
/// ```
/// use eventflux_runtime::functions::LikePattern;
/// let p = LikePattern::new("IB_%");
/// assert!(p.is_match("IBM") && p.is_match("IBMX") && !p.is_match("IB"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    /// The pattern cut at each `%`; always at least one (possibly empty) segment.
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Segment {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text.
    Lit(String),
    /// `_` repeated this many times.
    Any(usize),
}

impl LikePattern {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Self {
        let mut segments = vec![Segment::default()];
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let seg = segments.last_mut().expect("never empty");
            match c {
                '%' => segments.push(Segment::default()),
                '_' => match seg.pieces.last_mut() {
                    Some(Piece::Any(n)) => *n += 1,
                    _ => seg.pieces.push(Piece::Any(1)),
                },
                _ => {
                    let c = if c == '\\' {
                        chars.next().unwrap_or('\\')
                    } else {
                        c
                    };
                    match seg.pieces.last_mut() {
                        Some(Piece::Lit(s)) => s.push(c),
                        _ => seg.pieces.push(Piece::Lit(c.to_string())),
                    }
                }
            }
        }
        LikePattern { segments }
    }

    /// Whether `text` matches the whole pattern.
    pub fn is_match(&self, text: &str) -> bool {
        let (first, rest) = self.segments.split_first().expect("never empty");
        let Some(mut pos) = first.match_at(text, 0) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return pos == text.len();
        };
        let Some(tail) = last.suffix_start(text) else {
            return false;
        };
        if tail < pos {
            return false;
        }
        for seg in middle {
            match seg.find(text, pos, tail) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        last.match_at(text, tail).is_some()
    }

    /// `s LIKE pattern`, NULL when `s` is NULL.
    #[inline]
    pub fn matches<S: AsRef<str>>(&self, s: Option<S>) -> Option<bool> {
        s.map(|s| self.is_match(s.as_ref()))
    }
}

impl Segment {
    /// The number of characters this segment matches.
    fn chars(&self) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => s.chars().count(),
                Piece::Any(n) => *n,
            })
            .sum()
    }

    /// The end of a match starting at byte `i` (a character boundary), if it matches there.
    fn match_at(&self, text: &str, mut i: usize) -> Option<usize> {
        for piece in &self.pieces {
            match piece {
                Piece::Lit(lit) => {
                    if !text[i..].starts_with(lit.as_str()) {
                        return None;
                    }
                    i += lit.len();
                }
                Piece::Any(n) => {
                    for _ in 0..*n {
                        i += text[i..].chars().next()?.len_utf8();
                    }
                }
            }
        }
        Some(i)
    }

    /// Where a match ending at the end of `text` would start (text too short: `None`).
    fn suffix_start(&self, text: &str) -> Option<usize> {
        match self.chars() {
            0 => Some(text.len()),
            n => text.char_indices().rev().nth(n - 1).map(|(i, _)| i),
        }
    }

    /// The end of the leftmost match starting at or after `pos` and ending at or before
    /// `limit`.
    fn find(&self, text: &str, mut pos: usize, limit: usize) -> Option<usize> {
        loop {
            if let Some(Piece::Lit(lit)) = self.pieces.first() {
                pos += text[pos..limit].find(lit.as_str())?;
            }
            if let Some(end) = self.match_at(text, pos) {
                // A later start only ends later: a match past `limit` ends the search.
                return (end <= limit).then_some(end);
            }
            pos += text[pos..limit].chars().next()?.len_utf8();
        }
    }
}

/// `s LIKE pattern`: false when either is NULL (as a comparison with NULL). Patterns without
/// `%`, `_` or `\` are compared directly; others are compiled on each call (see
/// [`LikePattern`] to compile once).
#[inline]
pub fn like<S: AsRef<str>, P: AsRef<str>>(s: Option<S>, pattern: Option<P>) -> Option<bool> {
    Some(matches(s, pattern) == Some(true))
}

/// `s NOT LIKE pattern`: false when either is NULL, as `NOT IN` and `NOT BETWEEN` (while
/// `NOT (s LIKE pattern)` is true then).
#[inline]
pub fn not_like<S: AsRef<str>, P: AsRef<str>>(s: Option<S>, pattern: Option<P>) -> Option<bool> {
    Some(matches(s, pattern) == Some(false))
}

/// Whether `s` matches `pattern`, `None` when either is NULL.
#[inline]
fn matches<S: AsRef<str>, P: AsRef<str>>(s: Option<S>, pattern: Option<P>) -> Option<bool> {
    let (s, pattern) = (s?, pattern?);
    let (s, pattern) = (s.as_ref(), pattern.as_ref());
    if !pattern.contains(['%', '_', '\\']) {
        return Some(s == pattern);
    }
    Some(LikePattern::new(pattern).is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn m(s: &str, p: &str) -> bool {
        like(Some(s), Some(p)).unwrap()
    }

    /// Backtracking reference matcher over characters (no escapes).
    fn naive(s: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|k| naive(&s[k..], rest)),
            Some(('_', rest)) => !s.is_empty() && naive(&s[1..], rest),
            Some((c, rest)) => s.first() == Some(c) && naive(&s[1..], rest),
        }
    }

    fn all_strings(alphabet: &[char], max_len: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max_len {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            out.extend(last.iter().cloned());
        }
        out
    }

    #[test]
    fn basics() {
        assert!(m("IBM", "IBM"));
        assert!(!m("IBM", "ibm"));
        assert!(m("IBM", "I%"));
        assert!(m("IBM", "%M"));
        assert!(m("IBM", "%B%"));
        assert!(m("IBM", "I_M"));
        assert!(!m("IBM", "I_"));
        assert!(m("", "%"));
        assert!(m("", "%%"));
        assert!(m("", ""));
        assert!(!m("a", ""));
        assert!(!m("", "_"));
        assert!(!m("a", "a%a"));
        assert!(m("aa", "a%a"));
        assert!(m("abcabc", "%bc%bc"));
        assert!(!m("abcab", "%bc%bc"));
        assert!(m("xaxbx", "%a%b%"));
        assert!(!m("xbxax", "%a%b%"));
        assert!(m("mississippi", "m%iss%ppi"));
        assert!(m("mississippi", "%s_s%p_"));
    }

    #[test]
    fn underscore_is_one_character_not_one_byte() {
        assert!(m("é", "_"));
        assert!(m("aéb", "a_b"));
        assert!(m("aéb", "%é_"));
        assert!(!m("aéb", "a__b"));
        assert!(m("ñañ", "__ñ"));
        assert!(m("日本語", "%本_"));
    }

    #[test]
    fn escapes() {
        assert!(m("50%", "50\\%"));
        assert!(!m("500", "50\\%"));
        assert!(m("a_b", "a\\_b"));
        assert!(!m("axb", "a\\_b"));
        assert!(m("a\\", "a\\"));
        assert!(m("a\\b", "a\\\\b"));
        assert!(m("100% sure", "%\\%%"));
    }

    #[test]
    fn null_is_false_for_like_and_not_like() {
        assert_eq!(like(None::<&str>, Some("%")), Some(false));
        assert_eq!(like(Some("a"), None::<&str>), Some(false));
        assert_eq!(not_like(None::<&str>, Some("%")), Some(false));
        assert_eq!(not_like(Some("a"), None::<&str>), Some(false));
        assert_eq!(not_like(Some("a"), Some("b%")), Some(true));
        assert_eq!(not_like(Some("ab"), Some("a%")), Some(false));
        assert_eq!(LikePattern::new("%").matches(None::<&str>), None);
        assert_eq!(
            LikePattern::new("a%").matches(Some(Arc::<str>::from("ab"))),
            Some(true)
        );
        assert_eq!(like(None::<Arc<str>>, Some("%")), Some(false));
    }

    #[test]
    fn agrees_with_backtracking_on_every_small_case() {
        let texts = all_strings(&['a', 'b', 'é'], 5);
        let patterns = all_strings(&['a', 'é', '%', '_'], 4);
        for p in &patterns {
            let compiled = LikePattern::new(p);
            let pc: Vec<char> = p.chars().collect();
            for t in &texts {
                let tc: Vec<char> = t.chars().collect();
                assert_eq!(compiled.is_match(t), naive(&tc, &pc), "{t:?} LIKE {p:?}");
            }
        }
    }

    #[test]
    fn long_texts_stay_fast() {
        let text = "a".repeat(100_000);
        assert!(!m(&text, "%a%a%a%b"));
        assert!(m(&text, "%a_a%a"));
        assert!(!m(&text, "%_b%"));
    }
}
