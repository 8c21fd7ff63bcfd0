//! Lexer tests: tokens, literals, durations, comments and lexical errors.

use super::super::lexer::tokenize;
use super::super::token::{Kw, Tok};
use super::{errors_of, expr, lit, text};
use crate::syntax::ast::{Literal, Span, Statement};

fn toks(src: &str) -> Vec<Tok<'_>> {
    let (tokens, errors) = tokenize(src);
    assert!(errors.is_empty(), "{errors:?}");
    tokens.into_iter().map(|(_, t, _)| t).collect()
}

#[test]
fn keywords_are_case_insensitive_identifiers_are_not() {
    assert_eq!(
        toks("select Select SELECT sElEcT Price price"),
        vec![
            Tok::Kw(Kw::Select),
            Tok::Kw(Kw::Select),
            Tok::Kw(Kw::Select),
            Tok::Kw(Kw::Select),
            Tok::Ident("Price"),
            Tok::Ident("price"),
        ]
    );
}

#[test]
fn punctuation() {
    assert_eq!(
        toks("== = != <> <= >= < > -> - @ # ? : ."),
        vec![
            Tok::EqEq,
            Tok::Assign,
            Tok::NotEq,
            Tok::NotEq,
            Tok::Le,
            Tok::Ge,
            Tok::Lt,
            Tok::Gt,
            Tok::Arrow,
            Tok::Minus,
            Tok::At,
            Tok::Hash,
            Tok::Question,
            Tok::Colon,
            Tok::Dot,
        ]
    );
}

#[test]
fn numbers_pick_their_type() {
    assert_eq!(
        toks("1 2147483647 2147483648 10L 7l 1.5 1.5f 2F 1e3 2.5E-1"),
        vec![
            Tok::Int(1),
            Tok::Int(i32::MAX),
            Tok::Long(2_147_483_648),
            Tok::Long(10),
            Tok::Long(7),
            Tok::Double(1.5),
            Tok::Float(1.5),
            Tok::Float(2.0),
            Tok::Double(1000.0),
            Tok::Double(0.25),
        ]
    );
}

#[test]
fn strings_and_quoted_identifiers_unescape() {
    assert_eq!(
        toks(r#"'it''s' '' "file.path" "a""b""#),
        vec![
            Tok::Str("it's".into()),
            Tok::Str(String::new()),
            Tok::QuotedIdent("file.path".into()),
            Tok::QuotedIdent("a\"b".into()),
        ]
    );
}

#[test]
fn comments_are_skipped() {
    let src = "a -- line comment\n/* block\n comment */ b --";
    assert_eq!(toks(src), vec![Tok::Ident("a"), Tok::Ident("b")]);
}

#[test]
fn durations_in_every_unit() {
    let cases: &[(&str, i64)] = &[
        ("5 ms", 5),
        ("5 millisecond", 5),
        ("5 MILLISECONDS", 5),
        ("5 millisec", 5),
        ("10 sec", 10_000),
        ("10 S", 10_000),
        ("1 second", 1_000),
        ("2 Seconds", 2_000),
        ("1 min", 60_000),
        ("1 MINUTE", 60_000),
        ("3 minutes", 180_000),
        ("1 h", 3_600_000),
        ("2 hours", 7_200_000),
        ("1 hour", 3_600_000),
        ("1 d", 86_400_000),
        ("1 day", 86_400_000),
        ("2 DAYS", 172_800_000),
        ("1 week", 604_800_000),
        ("2 weeks", 1_209_600_000),
        ("1 month", 2_630_000_000),
        ("1 year", 31_556_900_000),
        ("100ms", 100),
        ("5sec", 5_000),
        ("1.5 s", 1_500),
        ("10\n  seconds", 10_000),
        ("10\u{a0}sec", 10_000),
    ];
    for &(src, millis) in cases {
        assert_eq!(toks(src), vec![Tok::Duration(millis)], "{src}");
    }
}

#[test]
fn unit_words_stay_identifiers_elsewhere() {
    assert_eq!(
        toks("min(s) 5 minx h"),
        vec![
            Tok::Ident("min"),
            Tok::LParen,
            Tok::Ident("s"),
            Tok::RParen,
            Tok::Int(5),
            Tok::Ident("minx"),
            Tok::Ident("h"),
        ]
    );
    assert_eq!(
        expr("max(d) + 2 * 3 min"),
        super::bin(
            crate::syntax::ast::BinaryOp::Add,
            super::call("max", vec![super::attr("d")]),
            super::bin(
                crate::syntax::ast::BinaryOp::Mul,
                super::int(2),
                lit(Literal::Duration(180_000))
            )
        )
    );
}

#[test]
fn token_spans_are_byte_offsets() {
    let src = "ab  'x''y' 10 sec;";
    let (tokens, _) = tokenize(src);
    let spans: Vec<&str> = tokens.iter().map(|(s, _, e)| &src[*s..*e]).collect();
    assert_eq!(spans, vec!["ab", "'x''y'", "10 sec", ";"]);
}

#[test]
fn unterminated_string_is_reported_at_its_quote() {
    let src = "INSERT INTO O SELECT 'abc FROM S;";
    let (app, diags) = errors_of(src);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].message, "unterminated string literal");
    assert_eq!(text(src, diags[0].span), "'");
    assert_eq!(diags[0].span, Span::new(21, 22));
    assert_eq!(diags[0].span.start, 21);
    assert!(matches!(app.statements.as_slice(), [Statement::Error(_)]));
}

#[test]
fn unterminated_comment_and_identifier() {
    let (_, diags) = errors_of("CREATE STREAM S (a INT); /* never closed");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].message, "unterminated block comment");
    assert_eq!(diags[0].span.start, 25);
    let (_, diags) = errors_of("CREATE STREAM \"S (a INT);");
    assert_eq!(diags[0].message, "unterminated quoted identifier");
}

#[test]
fn bad_character_is_reported_once() {
    let src = "INSERT INTO O SELECT a $ b FROM S; INSERT INTO P SELECT x FROM S;";
    let (app, diags) = errors_of(src);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].message, "unexpected character `$`");
    assert_eq!(text(src, diags[0].span), "$");
    assert!(matches!(app.statements[0], Statement::Error(_)));
    assert!(matches!(app.statements[1], Statement::Query(_)));
}

#[test]
fn integer_too_large() {
    let src = "INSERT INTO O SELECT 99999999999999999999 FROM S;";
    let (_, diags) = errors_of(src);
    assert_eq!(diags.len(), 1);
    assert!(
        diags[0].message.contains("too large"),
        "{}",
        diags[0].message
    );
    assert_eq!(text(src, diags[0].span), "99999999999999999999");
    // The largest LONG is fine.
    assert_eq!(expr("9223372036854775807"), lit(Literal::Long(i64::MAX)));
}

#[test]
fn invalid_number_suffix() {
    let src = "INSERT INTO O SELECT 10xyz FROM S;";
    let (_, diags) = errors_of(src);
    assert_eq!(diags[0].message, "invalid suffix `xyz` on number literal");
    assert_eq!(text(src, diags[0].span), "10xyz");
}

#[test]
fn non_ascii_input() {
    assert_eq!(
        toks("prix_é 'café'"),
        vec![Tok::Ident("prix_é"), Tok::Str("café".into())]
    );
    let src = "INSERT INTO O SELECT a € b FROM S;";
    let (_, diags) = errors_of(src);
    assert_eq!(diags[0].message, "unexpected character `€`");
    assert_eq!(text(src, diags[0].span), "€");
}
