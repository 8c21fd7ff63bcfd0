//! The hand-written lexer: source text to tokens with byte spans.
//!
//! - Keywords are case-insensitive; only the words listed in [`Kw`] are keywords, and the
//!   grammar still accepts the "soft" ones (`START`, `LAST`, `WINDOW`, ...) as names.
//! - A number followed by a time unit word is one [`Tok::Duration`] token in milliseconds:
//!   `10 sec`, `5 MINUTES`, `100ms`, `1.5 s`. The unit word must end where an identifier
//!   would end, so `min`, `s`, `d` and `h` stay ordinary identifiers elsewhere (`min(price)`).
//! - Bad input (an unterminated string or comment, a stray character, an integer that does not
//!   fit in 64 bits) is reported as a [`LexError`] and becomes a [`Tok::Error`] token, which
//!   the grammar never accepts: the statement holding it fails without a second message.

use super::ast::Span;
use super::token::{unit_millis, Kw, LexError, Spanned, Tok};

/// Splits `src` into tokens; returns them with every lexical error found.
pub fn tokenize(src: &str) -> (Vec<Spanned<'_>>, Vec<LexError>) {
    let mut lexer = Lexer {
        src,
        pos: 0,
        tokens: Vec::new(),
        errors: Vec::new(),
    };
    lexer.run();
    (lexer.tokens, lexer.errors)
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    tokens: Vec<Spanned<'a>>,
    errors: Vec<LexError>,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn push(&mut self, start: usize, tok: Tok<'a>) {
        self.tokens.push((start, tok, self.pos));
    }

    /// Reports an error at `span` and emits an error token from `start` to the current position.
    fn fail(&mut self, start: usize, span: Span, message: String, help: Option<&'static str>) {
        self.errors.push(LexError {
            message,
            span,
            help,
        });
        self.push(start, Tok::Error);
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            match c {
                c if c.is_whitespace() => self.pos += c.len_utf8(),
                '-' if self.peek_at(1) == Some('-') => {
                    self.pos = self.src[start..]
                        .find('\n')
                        .map_or(self.src.len(), |i| start + i);
                }
                '/' if self.peek_at(1) == Some('*') => self.block_comment(start),
                c if is_ident_start(c) => {
                    let word = self.word();
                    let tok = Kw::lookup(word).map_or(Tok::Ident(word), Tok::Kw);
                    self.push(start, tok);
                }
                c if c.is_ascii_digit() => self.number(start),
                '\'' => self.quoted(start, '\''),
                '"' => self.quoted(start, '"'),
                // `!Name` / `!"name"`: the fault stream of `Name` (DESIGN 8.2), one name.
                '!' if self.peek_at(1).is_some_and(is_ident_start) => {
                    self.pos += 1;
                    let word = self.word();
                    self.push(start, Tok::QuotedIdent(format!("!{word}")));
                }
                '!' if self.peek_at(1) == Some('"') => {
                    self.pos += 1;
                    self.quoted(start, '"');
                    if let Some((_, Tok::QuotedIdent(text), _)) = self.tokens.last_mut() {
                        text.insert(0, '!');
                    }
                }
                _ => self.punct(start, c),
            }
        }
    }

    fn block_comment(&mut self, start: usize) {
        match self.src[start + 2..].find("*/") {
            Some(i) => self.pos = start + 2 + i + 2,
            None => {
                self.pos = self.src.len();
                let span = Span::new(start, start + 2);
                let help = Some("close the comment with `*/`");
                self.fail(start, span, "unterminated block comment".into(), help);
            }
        }
    }

    /// Reads an identifier-like word starting at the current position.
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        let len = self.src[start..]
            .find(|c: char| !is_ident_continue(c))
            .unwrap_or(self.src.len() - start);
        self.pos += len;
        &self.src[start..self.pos]
    }

    fn eat_digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// `'string'` (with `''` escapes) or `"identifier"` (with `""` escapes).
    fn quoted(&mut self, start: usize, quote: char) {
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    let (what, help) = if quote == '\'' {
                        ("string literal", "close the string with `'`")
                    } else {
                        ("quoted identifier", "close the identifier with `\"`")
                    };
                    let span = Span::new(start, start + 1);
                    return self.fail(start, span, format!("unterminated {what}"), Some(help));
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    if self.peek() != Some(quote) {
                        break;
                    }
                    text.push(quote);
                    self.pos += 1;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
        let tok = if quote == '\'' {
            Tok::Str(text)
        } else {
            Tok::QuotedIdent(text)
        };
        self.push(start, tok);
    }

    fn number(&mut self, start: usize) {
        self.eat_digits();
        let mut float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            self.eat_digits();
            float = true;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let exp_len = match (self.peek_at(1), self.peek_at(2)) {
                (Some(d), _) if d.is_ascii_digit() => Some(1),
                (Some('+' | '-'), Some(d)) if d.is_ascii_digit() => Some(2),
                _ => None,
            };
            if let Some(n) = exp_len {
                self.pos += n;
                self.eat_digits();
                float = true;
            }
        }
        let text = &self.src[start..self.pos];
        if self.peek().is_some_and(is_ident_start) {
            // A suffix written right after the digits: `10L`, `1.5f`, `100ms`.
            let suffix = self.word();
            match suffix {
                "L" | "l" if !float => match text.parse::<i64>() {
                    Ok(n) => self.push(start, Tok::Long(n)),
                    Err(_) => self.too_large(start),
                },
                "f" | "F" => match text.parse::<f32>() {
                    Ok(x) if x.is_finite() => self.push(start, Tok::Float(x)),
                    _ => self.too_large(start),
                },
                unit => match unit_millis(unit) {
                    Some(ms) => self.duration(start, text, float, ms),
                    None => {
                        let span = Span::new(start, self.pos);
                        let msg = format!("invalid suffix `{suffix}` on number literal");
                        let help = Some("write `L` for LONG, `f` for FLOAT, or a time unit");
                        self.fail(start, span, msg, help);
                    }
                },
            }
            return;
        }
        // A number, white space, then a time unit word: one duration token.
        let after_number = self.pos;
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
        if self.peek().is_some_and(is_ident_start) {
            if let Some(ms) = unit_millis(self.word()) {
                return self.duration(start, text, float, ms);
            }
        }
        self.pos = after_number;
        if float {
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => self.push(start, Tok::Double(x)),
                _ => self.too_large(start),
            }
        } else {
            match text.parse::<i64>() {
                Ok(n) => match i32::try_from(n) {
                    Ok(n) => self.push(start, Tok::Int(n)),
                    Err(_) => self.push(start, Tok::Long(n)),
                },
                Err(_) => self.too_large(start),
            }
        }
    }

    fn too_large(&mut self, start: usize) {
        let span = Span::new(start, self.pos);
        let text = &self.src[start..self.pos];
        let msg = format!("number literal `{text}` is too large");
        let help = Some("integer literals must fit in 64 bits (LONG)");
        self.fail(start, span, msg, help);
    }

    fn duration(&mut self, start: usize, number: &str, float: bool, unit_ms: i64) {
        let millis = if float {
            number
                .parse::<f64>()
                .ok()
                .map(|x| (x * unit_ms as f64).round())
                .filter(|ms| ms.is_finite() && ms.abs() < 9.2e18)
                .map(|ms| ms as i64)
        } else {
            number
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(unit_ms))
        };
        match millis {
            Some(ms) => self.push(start, Tok::Duration(ms)),
            None => {
                let span = Span::new(start, self.pos);
                let msg = "duration is too large".to_string();
                self.fail(
                    start,
                    span,
                    msg,
                    Some("durations must fit in 64-bit milliseconds"),
                );
            }
        }
    }

    fn punct(&mut self, start: usize, c: char) {
        let next = self.peek_at(1);
        let (tok, len) = match (c, next) {
            ('=', Some('=')) => (Tok::EqEq, 2),
            ('!', Some('=')) | ('<', Some('>')) => (Tok::NotEq, 2),
            ('<', Some('=')) => (Tok::Le, 2),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('-', Some('>')) => (Tok::Arrow, 2),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            ('{', _) => (Tok::LBrace, 1),
            ('}', _) => (Tok::RBrace, 1),
            (',', _) => (Tok::Comma, 1),
            (';', _) => (Tok::Semi, 1),
            ('.', _) => (Tok::Dot, 1),
            (':', _) => (Tok::Colon, 1),
            ('=', _) => (Tok::Assign, 1),
            ('<', _) => (Tok::Lt, 1),
            ('>', _) => (Tok::Gt, 1),
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('%', _) => (Tok::Percent, 1),
            ('@', _) => (Tok::At, 1),
            ('#', _) => (Tok::Hash, 1),
            ('?', _) => (Tok::Question, 1),
            _ => {
                self.pos += c.len_utf8();
                let span = Span::new(start, self.pos);
                let msg = format!("unexpected character `{c}`");
                let help = (c == '!').then_some("write `NOT` for negation, `!=` for inequality");
                return self.fail(start, span, msg, help);
            }
        };
        self.pos += len;
        self.push(start, tok);
    }
}
