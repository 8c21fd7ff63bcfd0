//! Patterns, sequences and partitions.

use super::*;
use BinaryOp::*;

fn pattern_of(src: &str) -> PatternSource {
    match query(src).from {
        Source::Pattern(p) => p,
        other => panic!("not a pattern: {other:#?}"),
    }
}

/// The pattern expression of `PATTERN (<p>)`.
fn pat(p: &str) -> PatternExpr {
    pattern_of(&format!("INSERT INTO O SELECT * FROM PATTERN ({p})")).expr
}

/// The pattern expression of `SEQUENCE (<p>)`.
fn seq(p: &str) -> PatternExpr {
    pattern_of(&format!("INSERT INTO O SELECT * FROM SEQUENCE ({p})")).expr
}

fn el(alias: Option<&str>, stream: &str) -> PatternExpr {
    PatternExpr::Stream(PatternStream {
        alias: alias.map(id),
        stream: id(stream),
        filter: None,
        count: None,
        span: sp(),
    })
}

fn el_with(alias: &str, stream: &str, filter: Option<Expr>, count: Option<Count>) -> PatternExpr {
    PatternExpr::Stream(PatternStream {
        alias: Some(id(alias)),
        stream: id(stream),
        filter,
        count,
        span: sp(),
    })
}

fn every(p: PatternExpr) -> PatternExpr {
    PatternExpr::Every(Box::new(p), sp())
}

fn then(a: PatternExpr, b: PatternExpr) -> PatternExpr {
    PatternExpr::FollowedBy(Box::new(a), Box::new(b), sp())
}

fn and(a: PatternExpr, b: PatternExpr) -> PatternExpr {
    PatternExpr::And(Box::new(a), Box::new(b), sp())
}

fn or(a: PatternExpr, b: PatternExpr) -> PatternExpr {
    PatternExpr::Or(Box::new(a), Box::new(b), sp())
}

fn count(min: u32, max: Option<u32>) -> Option<Count> {
    Some(Count { min, max })
}

#[test]
fn design_doc_pattern() {
    let p = pattern_of(
        "INSERT INTO Alerts SELECT e1.price AS p1, e2.price AS p2
         FROM PATTERN (EVERY e1=Trades[price > 100] -> e2=Trades[price > e1.price]) WITHIN 10 SECONDS;",
    );
    assert!(!p.sequence);
    assert_eq!(p.within, Some(dur(10_000)));
    assert_eq!(
        p.expr,
        then(
            every(el_with(
                "e1",
                "Trades",
                Some(bin(Gt, attr("price"), int(100))),
                None
            )),
            el_with(
                "e2",
                "Trades",
                Some(bin(Gt, attr("price"), qattr("e1", "price"))),
                None
            )
        )
    );
}

#[test]
fn followed_by_is_left_associative() {
    assert_eq!(
        pat("a=A -> b=B -> c=C"),
        then(
            then(el(Some("a"), "A"), el(Some("b"), "B")),
            el(Some("c"), "C")
        )
    );
}

#[test]
fn every_binds_tighter_than_followed_by() {
    assert_eq!(
        pat("EVERY e1=A -> e2=B"),
        then(every(el(Some("e1"), "A")), el(Some("e2"), "B"))
    );
    assert_eq!(
        pat("every (e1=A -> e2=B) -> e3=C"),
        then(
            every(then(el(Some("e1"), "A"), el(Some("e2"), "B"))),
            el(Some("e3"), "C")
        )
    );
    // EVERY covers a whole logical group.
    assert_eq!(
        pat("EVERY e1=A AND e2=B -> e3=C"),
        then(
            every(and(el(Some("e1"), "A"), el(Some("e2"), "B"))),
            el(Some("e3"), "C")
        )
    );
}

#[test]
fn and_binds_tighter_than_or_and_both_tighter_than_followed_by() {
    assert_eq!(
        pat("A -> B OR C AND D -> E"),
        then(
            then(
                el(None, "A"),
                or(el(None, "B"), and(el(None, "C"), el(None, "D")))
            ),
            el(None, "E")
        )
    );
    assert_eq!(
        pat("(A -> B) AND C"),
        and(then(el(None, "A"), el(None, "B")), el(None, "C"))
    );
}

#[test]
fn counts() {
    let c = |src: &str| match pat(src) {
        PatternExpr::Stream(s) => s.count,
        other => panic!("{other:#?}"),
    };
    assert_eq!(c("e1=A{2,5}"), count(2, Some(5)));
    assert_eq!(c("A{3}"), count(3, Some(3)));
    assert_eq!(c("A{2,}"), count(2, None));
    assert_eq!(c("A{,4}"), count(0, Some(4)));
    assert_eq!(c("A[x > 1]{1, 2}"), count(1, Some(2)));
    assert_eq!(c("A"), None);
    let s = |src: &str| match seq(src) {
        PatternExpr::Stream(s) => s.count,
        other => panic!("{other:#?}"),
    };
    assert_eq!(s("e1=A+"), count(1, None));
    assert_eq!(s("e1=A*"), count(0, None));
    assert_eq!(s("e1=A[x > 0]?"), count(0, Some(1)));
}

#[test]
fn bad_count_bounds() {
    let src = "INSERT INTO O SELECT * FROM PATTERN (A{5,2})";
    let (_, diags) = errors_of(src);
    assert_eq!(
        diags[0].message,
        "the minimum count 5 is larger than the maximum 2"
    );
    assert_eq!(text(src, diags[0].span), "{5,2}");
}

#[test]
fn absence() {
    assert_eq!(
        pat("e1=A -> NOT B[x > e1.x] FOR 5 sec"),
        then(
            el(Some("e1"), "A"),
            PatternExpr::Not {
                stream: id("B"),
                filter: Some(bin(Gt, attr("x"), qattr("e1", "x"))),
                for_: Some(dur(5_000)),
                span: sp(),
            }
        )
    );
    assert_eq!(
        pat("NOT A AND e2=B"),
        and(
            PatternExpr::Not {
                stream: id("A"),
                filter: None,
                for_: None,
                span: sp()
            },
            el(Some("e2"), "B")
        )
    );
}

#[test]
fn sequences_use_commas_or_arrows() {
    let p = pattern_of(
        "INSERT INTO O SELECT e1[0].p, e1[last].p FROM SEQUENCE (EVERY e1=A+, e2=B, e3=C -> e4=D) WITHIN 1 min",
    );
    assert!(p.sequence);
    assert_eq!(p.within, Some(dur(60_000)));
    assert_eq!(
        p.expr,
        then(
            then(
                then(
                    every(el_with("e1", "A", None, count(1, None))),
                    el(Some("e2"), "B")
                ),
                el(Some("e3"), "C")
            ),
            el(Some("e4"), "D")
        )
    );
}

#[test]
fn pattern_spans() {
    let src = "INSERT INTO O SELECT * FROM PATTERN (every e1=A[x>1] -> e2=B) WITHIN 2 sec";
    let p = pattern_of(src);
    assert_eq!(
        text(src, p.span),
        "PATTERN (every e1=A[x>1] -> e2=B) WITHIN 2 sec"
    );
    assert_eq!(text(src, p.expr.span()), "every e1=A[x>1] -> e2=B");
    let PatternExpr::FollowedBy(first, _, _) = &p.expr else {
        panic!()
    };
    let PatternExpr::Every(inner, _) = &**first else {
        panic!()
    };
    assert_eq!(text(src, inner.span()), "e1=A[x>1]");
}

#[test]
fn value_partition() {
    let src = "PARTITION WITH (symbol OF Trades, key OF Other) PURGE AFTER 1 HOUR BEGIN
            CREATE STREAM #Tmp (a INT);
            @info(name = 'q1') INSERT INTO #Tmp SELECT price FROM Trades;
            SELECT a FROM #Tmp INSERT INTO Out;
        END;";
    let Statement::Partition(p) = one(src) else {
        panic!("not a partition")
    };
    assert_eq!(
        p.keys,
        vec![
            PartitionKey::Value {
                expr: attr("symbol"),
                stream: id("Trades")
            },
            PartitionKey::Value {
                expr: attr("key"),
                stream: id("Other")
            },
        ]
    );
    assert_eq!(p.purge_after, Some(dur(3_600_000)));
    assert_eq!(p.statements.len(), 3);
    assert!(matches!(&p.statements[0], Statement::Stream(s) if s.inner));
    let Statement::Query(q) = &p.statements[1] else {
        panic!()
    };
    assert_eq!(q.annotations[0].name, id("info"));
    assert_eq!(text(src, p.span), &src[..src.len() - 1]);
}

#[test]
fn range_partition() {
    let Statement::Partition(p) = one(
        "partition with (price < 100 as 'low' or price >= 100 AND price < 200 as 'mid' or price >= 200 as 'high' of Trades)
         begin insert into O select avg(price) as p from Trades end",
    ) else {
        panic!("not a partition")
    };
    assert_eq!(
        p.keys,
        vec![PartitionKey::Range {
            ranges: vec![
                (bin(Lt, attr("price"), int(100)), "low".into()),
                (
                    bin(
                        And,
                        bin(Ge, attr("price"), int(100)),
                        bin(Lt, attr("price"), int(200))
                    ),
                    "mid".into()
                ),
                (bin(Ge, attr("price"), int(200)), "high".into()),
            ],
            stream: id("Trades"),
        }]
    );
    assert_eq!(p.statements.len(), 1);
}

#[test]
fn case_end_inside_partition() {
    let stmts = parse_ok(
        "PARTITION WITH (k OF S) BEGIN
           INSERT INTO O SELECT CASE WHEN a > 1 THEN 1 ELSE 0 END AS c FROM S;
         END;
         INSERT INTO P SELECT a FROM S;",
    );
    assert_eq!(stmts.len(), 2);
    let Statement::Partition(p) = &stmts[0] else {
        panic!()
    };
    assert_eq!(p.statements.len(), 1);
}

#[test]
fn every_is_also_a_name() {
    // `every` as an alias and as a stream, next to the EVERY keyword.
    assert_eq!(
        pat("EVERY every=Every -> for=For"),
        then(every(el(Some("every"), "Every")), el(Some("for"), "For"))
    );
}
