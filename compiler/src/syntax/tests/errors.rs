//! Syntax errors: messages, spans, and recovery at `;`.

use super::*;

/// The only diagnostic of `src`.
fn single_error(src: &str) -> Diagnostic {
    let (_, diags) = errors_of(src);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    diags.into_iter().next().unwrap()
}

#[test]
fn missing_from() {
    let src = "INSERT INTO Out SELECT a WHERE x > 1;";
    let d = single_error(src);
    assert!(d.is_error());
    assert_eq!(
        d.message,
        "expected one of `,`, `AS`, `FROM`, an operator; found `WHERE`"
    );
    assert_eq!(text(src, d.span), "WHERE");
}

#[test]
fn found_token_is_shown_as_written() {
    let src = "insert into Out select a where x > 1;";
    let d = single_error(src);
    assert!(d.message.ends_with("found `where`"), "{}", d.message);
    assert_eq!(text(src, d.span), "where");
}

#[test]
fn missing_expression() {
    let src = "INSERT INTO Out SELECT a FROM S WHERE;";
    let d = single_error(src);
    assert_eq!(d.message, "expected an expression; found `;`");
    assert_eq!(text(src, d.span), ";");

    let src = "INSERT INTO Out SELECT FROM S";
    let d = single_error(src);
    assert_eq!(
        d.message,
        "expected one of `*`, `DISTINCT`, an expression; found `FROM`"
    );
    assert_eq!(text(src, d.span), "FROM");
}

#[test]
fn missing_type() {
    let src = "CREATE STREAM S (a INT, b);";
    let d = single_error(src);
    assert_eq!(d.message, "expected an identifier; found `)`");
    assert_eq!(text(src, d.span), ")");
}

#[test]
fn trigger_needs_a_duration_after_every() {
    let src = "CREATE TRIGGER T AT EVERY 5;";
    let d = single_error(src);
    assert_eq!(d.message, "expected a duration (e.g. `5 sec`); found `5`");
    assert_eq!(text(src, d.span), "5");
}

#[test]
fn unexpected_end_of_input() {
    let src = "INSERT INTO Out SELECT a FROM   ";
    let d = single_error(src);
    assert!(
        d.message.starts_with("unexpected end of input"),
        "{}",
        d.message
    );
    assert_eq!(
        d.message,
        "unexpected end of input; expected one of `#`, an identifier"
    );
    // Just after the last token.
    assert_eq!(d.span, Span::new(29, 29));
    assert_eq!(d.span.start, src.trim_end().len());
}

#[test]
fn bad_statement_start() {
    let src = "FROM S SELECT a;";
    let d = single_error(src);
    assert!(d.message.starts_with("expected one of "), "{}", d.message);
    assert!(d.message.contains("`CREATE`") && d.message.contains("`INSERT`"));
    assert_eq!(text(src, d.span), "FROM");
}

#[test]
fn recovery_reports_every_bad_statement() {
    let src = "CREATE STREAM S (a INT);
        INSERT INTO O SELECT FROM S;
        INSERT INTO P SELECT a FROM S;
        CREATE TABLE T (a INT,);
        INSERT INTO Q SELECT a FROM S";
    let (app, diags) = errors_of(src);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert_eq!(text(src, diags[0].span), "FROM");
    assert_eq!(text(src, diags[1].span), ")");
    assert_eq!(app.statements.len(), 5);
    assert!(matches!(app.statements[0], Statement::Stream(_)));
    let Statement::Error(bad) = app.statements[1] else {
        panic!("{:#?}", app.statements[1])
    };
    assert_eq!(text(src, bad), "INSERT INTO O SELECT FROM S");
    let Statement::Query(q) = &app.statements[2] else {
        panic!()
    };
    assert_eq!(
        q.output,
        QueryOutput::Insert {
            events: OutputEvents::Current,
            target: id("P"),
            inner: false
        }
    );
    assert!(matches!(app.statements[3], Statement::Error(_)));
    assert!(matches!(app.statements[4], Statement::Query(_)));
}

#[test]
fn recovery_inside_a_partition() {
    let src = "PARTITION WITH (k OF S) BEGIN
            INSERT INTO X SELECT FROM S;
            INSERT INTO Y SELECT a FROM S;
            INSERT INTO Z SELECT a + FROM S;
        END;
        INSERT INTO W SELECT a FROM S;";
    let (app, diags) = errors_of(src);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert_eq!(text(src, diags[0].span), "FROM");
    assert!(diags[0].span.start < diags[1].span.start);
    assert_eq!(app.statements.len(), 2);
    let Statement::Partition(p) = &app.statements[0] else {
        panic!("{:#?}", app.statements[0])
    };
    assert_eq!(p.statements.len(), 3);
    let Statement::Error(bad) = p.statements[0] else {
        panic!("{:#?}", p.statements[0])
    };
    assert_eq!(text(src, bad), "INSERT INTO X SELECT FROM S");
    assert!(matches!(p.statements[1], Statement::Query(_)));
    assert!(matches!(p.statements[2], Statement::Error(_)));
    assert!(matches!(app.statements[1], Statement::Query(_)));
}

#[test]
fn error_just_before_partition_end() {
    let src = "PARTITION WITH (k OF S) BEGIN INSERT INTO Y SELECT a FROM S WHERE END; INSERT INTO W SELECT a FROM S;";
    let (app, diags) = errors_of(src);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].message, "expected an expression; found `END`");
    let Statement::Partition(p) = &app.statements[0] else {
        panic!("{:#?}", app.statements[0])
    };
    assert!(matches!(p.statements[..], [Statement::Error(_)]));
    assert!(matches!(app.statements[1], Statement::Query(_)));
}

#[test]
fn bad_partition_header_fails_the_whole_partition() {
    let src = "PARTITION WITH (k S) BEGIN INSERT INTO Y SELECT a FROM S; END; INSERT INTO W SELECT a FROM S;";
    let (app, diags) = errors_of(src);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(text(src, diags[0].span), "S");
    assert_eq!(app.statements.len(), 2);
    assert!(matches!(app.statements[0], Statement::Error(_)));
    assert!(matches!(app.statements[1], Statement::Query(_)));
}

#[test]
fn unclosed_partition_stops_at_the_next_partition() {
    let src = "PARTITION WITH (k OF S) BEGIN INSERT INTO X SELECT a FROM S;
        PARTITION WITH (k OF S) BEGIN INSERT INTO Y SELECT a FROM S; END;";
    let (app, diags) = errors_of(src);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(diags[0].message.contains("`END`"), "{}", diags[0].message);
    assert!(diags[0].message.ends_with("found `PARTITION`"));
    assert_eq!(diags[0].span.start, src.rfind("PARTITION").unwrap());
    assert!(matches!(app.statements[0], Statement::Error(_)));
    assert!(matches!(app.statements[1], Statement::Partition(_)));
}

#[test]
fn diagnostics_render_with_line_and_column() {
    let src = "CREATE STREAM S (a INT);\nINSERT INTO O SELECT a FROM S WHERE;";
    let (_, diags) = errors_of(src);
    assert_eq!(diags[0].line_col(src), (2, 36));
    let rendered = diags[0].render("app.eventflux", src);
    assert!(rendered.contains("app.eventflux:2:36"), "{rendered}");
}

/// Statement soup from a fixed pseudo-random sequence: `parse` must never panic, every
/// failed statement must come with an error, and every diagnostic span must lie in the source.
#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "INSERT",
        "INTO",
        "O",
        "SELECT",
        "a",
        ",",
        "FROM",
        "S",
        "WHERE",
        "x",
        ">",
        "1",
        ";",
        "PARTITION",
        "WITH",
        "(",
        ")",
        "OF",
        "BEGIN",
        "END",
        "CASE",
        "WHEN",
        "THEN",
        "PATTERN",
        "EVERY",
        "e1",
        "=",
        "->",
        "[",
        "]",
        "{",
        "}",
        "WINDOW",
        "'length'",
        "10 sec",
        "@",
        "info",
        "CREATE",
        "STREAM",
        "TABLE",
        "INT",
        "JOIN",
        "ON",
        "'unterminated",
        "/*",
        "$",
        "AND",
        "OR",
        "NOT",
        "IN",
        "BETWEEN",
        "#",
        "UPSERT",
        "UPDATE",
        "SET",
        "DELETE",
        "USING",
    ];
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let len = (next() % 40) as usize;
        let src: Vec<&str> = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let src = src.join(" ");
        let (app, diags) = parse(&src);
        let failed = app
            .statements
            .iter()
            .any(|s| matches!(s, Statement::Error(_)));
        assert!(!failed || diags.iter().any(Diagnostic::is_error), "{src}");
        for d in &diags {
            assert!(
                d.span.start <= d.span.end && d.span.end <= src.len(),
                "{src}"
            );
        }
    }
}
