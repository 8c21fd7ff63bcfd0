//! Lexer, LALRPOP grammar and AST.
//!
//! [`parse`] turns the text of one application into an [`ast::App`] plus diagnostics. It
//! never gives up: the token stream is cut into statements at each `;` that is not inside
//! `PARTITION ... BEGIN ... END`, each statement is parsed on its own, and one that fails
//! becomes [`ast::Statement::Error`] after its error is reported. Inside a partition the
//! grammar itself recovers at `;`, so a bad query there does not hide its neighbours.
//!
//! Syntax choices (see also the comment at the top of `grammar.lalrpop`):
//! - Reserved words are few (statement and clause starters, operators, `CASE`, `BEGIN`/`END`,
//!   `TRUE`/`FALSE`/`NULL`, ...). The "soft" keywords `AT`, `EVERY`, `IN`, `START`, `KEY`,
//!   `INDEX`, `FIRST`, `LAST`, `LEFT`, `RIGHT`, `WINDOW`, `LIMIT`, `OFFSET`, `OUTPUT`,
//!   `STREAM`, `TABLE`, `PATTERN`, `ASC`, `DESC`, ... (the `SoftKeyword` rule) are keywords
//!   only where the grammar needs them and names elsewhere (`INSERT INTO Every`, `AS at`,
//!   `CREATE STREAM In`, `left(s, 2)`). Type names are plain identifiers; `and(x)` and
//!   `or(x)` are accepted as function calls.
//! - A duration is one token: a number, optional white space, a unit word (`10 sec`, `1min`).
//! - Expressions, loosest first: `OR`, `AND`, `NOT`, comparisons (non-associative: `a < b < c`
//!   is an error), `+ -`, `* / %`, unary `-`. `BETWEEN`'s bounds are additive expressions, so
//!   `x BETWEEN 1 AND 2 AND y` is `(x BETWEEN 1 AND 2) AND y`. A negative literal is unary
//!   minus applied to the literal (except in `WITH` lists and annotations, where it is folded).
//! - `e1=A -> e2=B -> e3=C` is `FollowedBy(FollowedBy(e1, e2), e3)` (left-associative);
//!   `EVERY` binds tighter than `->` and looser than pattern `AND`/`OR`, so
//!   `EVERY e1=A -> e2=B` is `FollowedBy(Every(e1), e2)` and `EVERY A AND B` is
//!   `Every(And(A, B))`; `AND` binds tighter than `OR`.
//! - In `UPSERT INTO T SELECT ... FROM A JOIN B ON x ON y` the first `ON` belongs to the
//!   join: the last join of an upsert's source must have its own `ON`.

pub mod ast;
mod errors;
mod lexer;
pub mod name_comments;
mod support;
#[cfg(test)]
mod tests;
mod token;

use crate::diagnostic::Diagnostic;
use lalrpop_util::ParseError;
use token::{Kw, LexError, Spanned, Tok};

lalrpop_util::lalrpop_mod!(
    // Generated code: its style is LALRPOP's, not ours, so lints about it are silenced.
    #[allow(
        clippy::all,
        clippy::pedantic,
        unused_imports,
        unused_qualifications,
        unused_parens,
        dead_code
    )]
    grammar,
    "/syntax/grammar.rs"
);

/// Parses one application. Always returns a tree; every error found (lexical and
/// syntactic, for every statement) is in the diagnostics, sorted by position.
pub fn parse(source: &str) -> (ast::App, Vec<Diagnostic>) {
    let (tokens, lex_errors) = lexer::tokenize(source);
    let mut diags: Vec<Diagnostic> = lex_errors
        .into_iter()
        .map(LexError::into_diagnostic)
        .collect();
    let parser = grammar::TopStatementParser::new();
    let mut statements = Vec::new();
    let mut rest = &tokens[..];
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(statement_len(rest));
        rest = tail;
        if let [(_, Tok::Semi, _)] = chunk {
            continue;
        }
        let input = chunk.iter().cloned().map(Ok::<_, LexError>);
        match parser.parse(source, &mut diags, input) {
            Ok(stmt) => statements.push(stmt),
            Err(err) => {
                // A chunk cut short before a `PARTITION` (an unclosed partition) did not
                // reach the end of the input: report the token that comes next.
                let err = match (err, rest.first()) {
                    (ParseError::UnrecognizedEof { expected, .. }, Some((start, tok, end))) => {
                        ParseError::UnrecognizedToken {
                            token: (*start, tok.clone(), *end),
                            expected,
                        }
                    }
                    (err, _) => err,
                };
                diags.extend(errors::parse_error(err, source));
                statements.push(ast::Statement::Error(chunk_span(chunk)));
            }
        }
    }
    diags.sort_by_key(|d| d.span.start);
    (ast::App { statements }, diags)
}

/// The number of tokens of the first statement in `tokens`: up to and including the first
/// `;` outside `BEGIN ... END` (the `END` of a `CASE` does not close a `BEGIN`). A
/// `PARTITION WITH` inside an unclosed `BEGIN` starts a new statement, so a forgotten `END`
/// does not swallow the rest of the file.
fn statement_len(tokens: &[Spanned<'_>]) -> usize {
    let mut begins = 0usize;
    let mut cases = 0usize;
    for (i, (_, tok, _)) in tokens.iter().enumerate() {
        match tok {
            Tok::Kw(Kw::Begin) => begins += 1,
            Tok::Kw(Kw::Case) => cases += 1,
            Tok::Kw(Kw::End) if cases > 0 => cases -= 1,
            Tok::Kw(Kw::End) => begins = begins.saturating_sub(1),
            // `partition` not followed by `WITH` is a name (an attribute, say).
            Tok::Kw(Kw::Partition)
                if begins > 0
                    && i > 0
                    && matches!(tokens.get(i + 1), Some((_, Tok::Kw(Kw::With), _))) =>
            {
                return i
            }
            Tok::Semi => {
                // `;` never occurs inside a CASE: an unclosed one ends here.
                cases = 0;
                if begins == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// The span of a statement's tokens, without its `;`.
fn chunk_span(chunk: &[Spanned<'_>]) -> ast::Span {
    let body = match chunk {
        [body @ .., (_, Tok::Semi, _)] if !body.is_empty() => body,
        _ => chunk,
    };
    match (body.first(), body.last()) {
        (Some((start, _, _)), Some((_, _, end))) => ast::Span::new(*start, *end),
        _ => ast::Span::default(),
    }
}
