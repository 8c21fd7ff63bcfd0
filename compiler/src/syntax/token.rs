//! Tokens: the keyword table, the token type the lexer produces and the grammar consumes,
//! lexical errors, and the time unit words of duration literals.

use super::ast::Span;
use crate::diagnostic::Diagnostic;

/// A token with its start and end byte offsets, as LALRPOP wants it.
pub type Spanned<'a> = (usize, Tok<'a>, usize);

macro_rules! keywords {
    ($($variant:ident = $text:literal,)*) => {
        /// A keyword (matched case-insensitively).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Kw {
            $(#[doc = concat!("`", $text, "`")] $variant,)*
        }

        impl Kw {
            /// The keyword spelled `word` (any case), if it is one.
            pub fn lookup(word: &str) -> Option<Kw> {
                let mut buf = [0u8; 16];
                let bytes = word.as_bytes();
                if bytes.len() > buf.len() {
                    return None;
                }
                let upper = &mut buf[..bytes.len()];
                upper.copy_from_slice(bytes);
                upper.make_ascii_uppercase();
                match &*upper {
                    $(x if x == $text.as_bytes() => Some(Kw::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

keywords! {
    After = "AFTER", All = "ALL", And = "AND", As = "AS", Asc = "ASC", At = "AT",
    Begin = "BEGIN", Between = "BETWEEN", By = "BY", Case = "CASE", Cast = "CAST",
    Create = "CREATE", Cron = "CRON", Current = "CURRENT", Define = "DEFINE",
    Delete = "DELETE", Desc = "DESC", Distinct = "DISTINCT", Else = "ELSE", End = "END",
    Every = "EVERY", Events = "EVENTS", Expired = "EXPIRED", False = "FALSE",
    First = "FIRST", For = "FOR", From = "FROM", Full = "FULL", Group = "GROUP",
    Having = "HAVING", In = "IN", Index = "INDEX", Inner = "INNER", Insert = "INSERT",
    Into = "INTO", Is = "IS", Join = "JOIN", Key = "KEY", Last = "LAST", Left = "LEFT",
    Like = "LIKE", Limit = "LIMIT", Not = "NOT", Null = "NULL", Of = "OF",
    Offset = "OFFSET", On = "ON", Or = "OR", Order = "ORDER", Outer = "OUTER",
    Output = "OUTPUT", Partition = "PARTITION", Pattern = "PATTERN", Primary = "PRIMARY",
    Purge = "PURGE", Right = "RIGHT", Select = "SELECT", Sequence = "SEQUENCE", Set = "SET",
    Snapshot = "SNAPSHOT", Start = "START", Stream = "STREAM", Table = "TABLE",
    Then = "THEN", Trigger = "TRIGGER", True = "TRUE", Unidirectional = "UNIDIRECTIONAL",
    Update = "UPDATE", Upsert = "UPSERT", Using = "USING", When = "WHEN", Where = "WHERE",
    Window = "WINDOW", With = "WITH", Within = "WITHIN",
}

/// A token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok<'a> {
    /// A plain identifier, as written.
    Ident(&'a str),
    /// A `"quoted"` identifier, quotes removed and `""` unescaped.
    QuotedIdent(String),
    /// An integer literal that fits in 32 bits.
    Int(i32),
    /// An integer literal that does not fit in 32 bits, or written with `L`.
    Long(i64),
    /// `1.5f`.
    Float(f32),
    /// `1.5`, `1e3`.
    Double(f64),
    /// A `'string'`, quotes removed and `''` unescaped.
    Str(String),
    /// A duration literal, in milliseconds.
    Duration(i64),
    /// A keyword.
    Kw(Kw),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `.`
    Dot,
    /// `:`
    Colon,
    /// `=`
    Assign,
    /// `==`
    EqEq,
    /// `!=` or `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `->`
    Arrow,
    /// `@`
    At,
    /// `#`
    Hash,
    /// `?`
    Question,
    /// Input the lexer rejected (already reported as a [`LexError`]).
    Error,
}

/// A lexical error.
#[derive(Clone, Debug, PartialEq)]
pub struct LexError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// How to fix it, when there is an obvious way.
    pub help: Option<&'static str>,
}

impl LexError {
    /// The error as a diagnostic.
    pub fn into_diagnostic(self) -> Diagnostic {
        let diag = Diagnostic::error(self.message, self.span);
        match self.help {
            Some(help) => diag.with_help(help),
            None => diag,
        }
    }
}

/// Milliseconds in one `unit` (any case), if `unit` is a time unit word.
pub fn unit_millis(unit: &str) -> Option<i64> {
    let ms = match unit.to_ascii_uppercase().as_str() {
        "MILLISECOND" | "MILLISECONDS" | "MILLISEC" | "MILLISECS" | "MS" => 1,
        "SECOND" | "SECONDS" | "SEC" | "SECS" | "S" => 1_000,
        "MINUTE" | "MINUTES" | "MIN" | "MINS" => 60_000,
        "HOUR" | "HOURS" | "H" => 3_600_000,
        "DAY" | "DAYS" | "D" => 86_400_000,
        "WEEK" | "WEEKS" => 604_800_000,
        // Siddhi's values: a month is 30.44 days, a year 365.24 days.
        "MONTH" | "MONTHS" => 2_630_000_000,
        "YEAR" | "YEARS" => 31_556_900_000,
        _ => return None,
    };
    Some(ms)
}
