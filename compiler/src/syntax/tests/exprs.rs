//! Expressions: precedence, operators, literals, references, calls, CASE, CAST.

use super::*;
use BinaryOp::*;

fn not(e: Expr) -> Expr {
    Expr::Unary {
        op: UnaryOp::Not,
        expr: Box::new(e),
        span: sp(),
    }
}

fn neg(e: Expr) -> Expr {
    Expr::Unary {
        op: UnaryOp::Neg,
        expr: Box::new(e),
        span: sp(),
    }
}

#[test]
fn literals() {
    assert_eq!(expr("42"), int(42));
    assert_eq!(expr("42L"), lit(Literal::Long(42)));
    assert_eq!(expr("3000000000"), lit(Literal::Long(3_000_000_000)));
    assert_eq!(expr("1.5"), lit(Literal::Double(1.5)));
    assert_eq!(expr("1.5f"), lit(Literal::Float(1.5)));
    assert_eq!(expr("'it''s'"), string("it's"));
    assert_eq!(expr("TRUE"), lit(Literal::Bool(true)));
    assert_eq!(expr("false"), lit(Literal::Bool(false)));
    assert_eq!(expr("null"), lit(Literal::Null));
    assert_eq!(expr("10 sec"), lit(Literal::Duration(10_000)));
    assert_eq!(expr("-5"), neg(int(5)));
}

#[test]
fn arithmetic_precedence_and_associativity() {
    // 1 + 2 * 3 - 4 = (1 + (2 * 3)) - 4
    assert_eq!(
        expr("1 + 2 * 3 - 4"),
        bin(Sub, bin(Add, int(1), bin(Mul, int(2), int(3))), int(4))
    );
    // a / b % c = (a / b) % c
    assert_eq!(
        expr("a / b % c"),
        bin(Rem, bin(Div, attr("a"), attr("b")), attr("c"))
    );
    // -a * b = (-a) * b
    assert_eq!(expr("-a * b"), bin(Mul, neg(attr("a")), attr("b")));
    assert_eq!(
        expr("(1 + 2) * 3"),
        bin(Mul, bin(Add, int(1), int(2)), int(3))
    );
}

#[test]
fn logical_precedence() {
    // NOT binds looser than comparison, AND tighter than OR.
    assert_eq!(
        expr("a OR b AND NOT c = 1"),
        bin(
            Or,
            attr("a"),
            bin(And, attr("b"), not(bin(Eq, attr("c"), int(1))))
        )
    );
    assert_eq!(
        expr("a and b or c"),
        bin(Or, bin(And, attr("a"), attr("b")), attr("c"))
    );
}

#[test]
fn comparison_operators() {
    for (src, op) in [
        ("=", Eq),
        ("==", Eq),
        ("!=", Ne),
        ("<>", Ne),
        ("<", Lt),
        ("<=", Le),
        (">", Gt),
        (">=", Ge),
    ] {
        assert_eq!(
            expr(&format!("a {src} b + 1")),
            bin(op, attr("a"), bin(Add, attr("b"), int(1))),
            "{src}"
        );
    }
}

#[test]
fn is_null_in_between_like() {
    let boxed = |e: Expr| Box::new(e);
    assert_eq!(
        expr("x IS NULL"),
        Expr::IsNull {
            expr: boxed(attr("x")),
            negated: false,
            span: sp()
        }
    );
    assert_eq!(
        expr("x is not null"),
        Expr::IsNull {
            expr: boxed(attr("x")),
            negated: true,
            span: sp()
        }
    );
    assert_eq!(
        expr("x NOT IN (1, 2)"),
        Expr::InList {
            expr: boxed(attr("x")),
            list: vec![int(1), int(2)],
            negated: true,
            span: sp()
        }
    );
    assert_eq!(
        expr("symbol IN Stock"),
        Expr::InTable {
            expr: boxed(attr("symbol")),
            table: id("Stock"),
            span: sp()
        }
    );
    assert_eq!(
        expr("(Stock.symbol == symbol AND price > 10) IN Stock"),
        Expr::InTable {
            expr: boxed(bin(
                And,
                bin(Eq, qattr("Stock", "symbol"), attr("symbol")),
                bin(Gt, attr("price"), int(10))
            )),
            table: id("Stock"),
            span: sp()
        }
    );
    // BETWEEN's AND is not a logical AND; the logical AND after it is.
    assert_eq!(
        expr("x BETWEEN 1 AND y + 2 AND z"),
        bin(
            And,
            Expr::Between {
                expr: boxed(attr("x")),
                low: boxed(int(1)),
                high: boxed(bin(Add, attr("y"), int(2))),
                negated: false,
                span: sp()
            },
            attr("z")
        )
    );
    assert_eq!(
        expr("x NOT BETWEEN 1 AND 2"),
        Expr::Between {
            expr: boxed(attr("x")),
            low: boxed(int(1)),
            high: boxed(int(2)),
            negated: true,
            span: sp()
        }
    );
    assert_eq!(
        expr("name NOT LIKE 'A%'"),
        Expr::Like {
            expr: boxed(attr("name")),
            pattern: boxed(string("A%")),
            negated: true,
            span: sp()
        }
    );
}

#[test]
fn attribute_references() {
    assert_eq!(expr("s.price"), qattr("s", "price"));
    let indexed = |i: EventIndex| Expr::Attr {
        qualifier: Some(id("e1")),
        index: Some(i),
        name: id("price"),
        span: sp(),
    };
    assert_eq!(expr("e1[0].price"), indexed(EventIndex::At(0)));
    assert_eq!(expr("e1[last].price"), indexed(EventIndex::Last(0)));
    assert_eq!(expr("e1[LAST - 1].price"), indexed(EventIndex::Last(1)));
    assert_eq!(expr("e1[last-2].price"), indexed(EventIndex::Last(2)));
    assert_eq!(expr("\"quoted name\""), attr("quoted name"));
}

#[test]
fn function_calls() {
    assert_eq!(expr("count()"), call("count", vec![]));
    assert_eq!(expr("COUNT(*)"), call("COUNT", vec![]));
    assert_eq!(
        expr("count(DISTINCT x)"),
        Expr::Call {
            name: id("count"),
            args: vec![attr("x")],
            distinct: true,
            span: sp()
        }
    );
    assert_eq!(
        expr("coalesce(a, b, 0)"),
        call("coalesce", vec![attr("a"), attr("b"), int(0)])
    );
    assert_eq!(expr("str:upper(x)"), call("str:upper", vec![attr("x")]));
    assert_eq!(expr("math:abs(-x)"), call("math:abs", vec![neg(attr("x"))]));
    // Function names that are keywords or unit words elsewhere.
    assert_eq!(expr("and(ok)"), call("and", vec![attr("ok")]));
    assert_eq!(expr("OR(ok)"), call("OR", vec![attr("ok")]));
    assert_eq!(expr("min(price)"), call("min", vec![attr("price")]));
    assert_eq!(expr("left(s, 2)"), call("left", vec![attr("s"), int(2)]));
    assert_eq!(expr("first(x)"), call("first", vec![attr("x")]));
    assert_eq!(expr("last(x)"), call("last", vec![attr("x")]));
}

#[test]
fn case_and_cast() {
    assert_eq!(
        expr("CASE WHEN a > 1 THEN 'hi' WHEN a > 0 THEN 'mid' ELSE 'lo' END"),
        Expr::Case {
            operand: None,
            whens: vec![
                (bin(Gt, attr("a"), int(1)), string("hi")),
                (bin(Gt, attr("a"), int(0)), string("mid")),
            ],
            else_: Some(Box::new(string("lo"))),
            span: sp()
        }
    );
    assert_eq!(
        expr("case a when 1 then 'one' end"),
        Expr::Case {
            operand: Some(Box::new(attr("a"))),
            whens: vec![(int(1), string("one"))],
            else_: None,
            span: sp()
        }
    );
    assert_eq!(
        expr("CAST(price AS INT)"),
        Expr::Cast {
            expr: Box::new(attr("price")),
            ty: id("INT"),
            span: sp()
        }
    );
}

#[test]
fn expression_spans() {
    let src = "INSERT INTO Out SELECT a + f(b, 1) * 2 AS x FROM S;";
    let q = query(src);
    let SelectItem::Expr { expr, alias } = &q.select.items[0] else {
        panic!("not an expression")
    };
    assert_eq!(text(src, expr.span()), "a + f(b, 1) * 2");
    let Expr::Binary { right, .. } = expr else {
        panic!("not binary")
    };
    assert_eq!(text(src, right.span()), "f(b, 1) * 2");
    assert_eq!(text(src, alias.as_ref().unwrap().span), "x");
    assert_eq!(text(src, q.select.span), "SELECT a + f(b, 1) * 2 AS x");
}

#[test]
fn comparisons_do_not_chain() {
    let (_, diags) = errors_of("INSERT INTO O SELECT a < b < c FROM S");
    assert_eq!(diags.len(), 1);
    assert!(
        diags[0].message.ends_with("found `<`"),
        "{}",
        diags[0].message
    );
}
