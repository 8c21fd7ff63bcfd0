//! Parse errors as diagnostics: "expected one of `FROM`, `,`; found `WHERE`".
//!
//! LALRPOP reports the terminals it expected by their names in the grammar (`"FROM"` with
//! quotes, `IDENT` without). Long lists are folded: the tokens that can start an expression
//! become "an expression", the binary operators "an operator", and identifier-like tokens
//! (soft keywords, quoted identifiers) "an identifier".

use super::ast::Span;
use super::token::{LexError, Tok};
use crate::diagnostic::Diagnostic;
use lalrpop_util::ParseError;

/// Keywords the grammar also accepts as names (mirror of `SoftKeyword` in the grammar).
const SOFT_KEYWORDS: &[&str] = &[
    "AFTER",
    "ALL",
    "ASC",
    "AT",
    "BY",
    "CRON",
    "CURRENT",
    "DESC",
    "EVENTS",
    "EVERY",
    "EXPIRED",
    "FIRST",
    "FOR",
    "FULL",
    "IN",
    "INDEX",
    "INNER",
    "KEY",
    "LAST",
    "LEFT",
    "LIMIT",
    "OF",
    "OFFSET",
    "OUTER",
    "OUTPUT",
    "PARTITION",
    "PATTERN",
    "PURGE",
    "RIGHT",
    "SEQUENCE",
    "SET",
    "SNAPSHOT",
    "START",
    "STREAM",
    "TABLE",
    "TRIGGER",
    "UNIDIRECTIONAL",
    "USING",
    "WINDOW",
    "WITHIN",
];

/// Terminals (besides names) that can start an expression.
const EXPR_START: &[&str] = &[
    "INT", "LONG", "FLOAT", "DOUBLE", "STRING", "DURATION", "(", "-", "NOT", "CASE", "CAST",
    "TRUE", "FALSE", "NULL", "AND", "OR",
];

/// Terminals that continue an expression.
const OPERATORS: &[&str] = &[
    "+", "-", "*", "/", "%", "=", "==", "!=", "<", "<=", ">", ">=", "AND", "OR", "IS", "IN", "NOT",
    "BETWEEN", "LIKE",
];

/// The diagnostic for a LALRPOP error; `None` when the offending token is a [`Tok::Error`],
/// which the lexer already reported.
pub fn parse_error(err: ParseError<usize, Tok<'_>, LexError>, src: &str) -> Option<Diagnostic> {
    Some(match err {
        ParseError::UnrecognizedToken {
            token: (_, Tok::Error, _),
            ..
        } => return None,
        ParseError::UnrecognizedToken {
            token: (start, _, end),
            expected,
        } => unexpected_token(Span::new(start, end), &expected, src),
        ParseError::UnrecognizedEof { location, expected } => {
            let span = Span::new(location, location);
            let msg = match describe_expected(&expected) {
                Some(list) => format!("unexpected end of input; {list}"),
                None => "unexpected end of input".to_string(),
            };
            Diagnostic::error(msg, span).with_label("the input ends here")
        }
        ParseError::ExtraToken {
            token: (_, Tok::Error, _),
        } => return None,
        ParseError::ExtraToken {
            token: (start, _, end),
        } => unexpected_token(Span::new(start, end), &[r#"";""#.to_string()], src),
        ParseError::InvalidToken { location } => {
            Diagnostic::error("invalid token", Span::new(location, location))
        }
        ParseError::User { error } => error.into_diagnostic(),
    })
}

/// "expected one of ...; found `x`" at `span`.
pub fn unexpected_token(span: Span, expected: &[String], src: &str) -> Diagnostic {
    let found = found_text(src, span);
    let msg = match describe_expected(expected) {
        Some(list) => format!("{list}; found `{found}`"),
        None => format!("unexpected `{found}`"),
    };
    Diagnostic::error(msg, span).with_label("unexpected here")
}

/// The source text of a token, shortened to one line of at most 30 characters.
fn found_text(src: &str, span: Span) -> String {
    let text = src.get(span.start..span.end).unwrap_or("");
    let line = text.lines().next().unwrap_or("");
    let short: String = line.chars().take(30).collect();
    if short.len() < text.len() {
        format!("{short}...")
    } else {
        short
    }
}

/// "expected X" or "expected one of X, Y, Z"; `None` for an empty list.
pub fn describe_expected(expected: &[String]) -> Option<String> {
    let names: Vec<&str> = expected
        .iter()
        .map(|t| {
            t.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(t)
        })
        .collect();
    let has = |t: &str| names.contains(&t);
    let takes_expr = has("INT") && has("IDENT") && has("(");
    // After an expression LALRPOP may already have reduced it to its lowest level and then
    // offers only `OR`: that still means "an operator may follow".
    let after_expr = has("OR") && !has("->") && !has("OF") && !takes_expr;
    let takes_operator = (has("+") && has("*") && has("<")) || after_expr;
    let takes_name = has("IDENT") || has("QIDENT");

    let mut items: Vec<String> = Vec::new();
    for name in &names {
        let folded = (takes_expr && EXPR_START.contains(name))
            || (takes_operator && OPERATORS.contains(name))
            || (takes_name
                && (SOFT_KEYWORDS.contains(name) || matches!(*name, "IDENT" | "QIDENT")));
        if folded {
            continue;
        }
        let item = match *name {
            "INT" | "LONG" => "an integer".to_string(),
            "FLOAT" | "DOUBLE" => "a number".to_string(),
            "STRING" => "a string".to_string(),
            "DURATION" => "a duration (e.g. `5 sec`)".to_string(),
            other => format!("`{other}`"),
        };
        if !items.contains(&item) {
            items.push(item);
        }
    }
    if takes_expr {
        items.push("an expression".to_string());
    } else if takes_name {
        items.push("an identifier".to_string());
    }
    if takes_operator {
        items.push("an operator".to_string());
    }
    match items.len() {
        0 => None,
        1 => Some(format!("expected {}", items[0])),
        _ => Some(format!("expected one of {}", items.join(", "))),
    }
}
