//! Parser unit tests. Trees are compared with trees built by hand: spans compare equal
//! (see [`Span`]'s `PartialEq`), so the helpers below build nodes with empty spans, and the
//! tests that care about spans check them explicitly.

mod defs;
mod errors;
mod exprs;
mod lexer;
mod patterns;
mod queries;

use super::ast::*;
use super::parse;
use crate::diagnostic::Diagnostic;

/// A span for hand-built nodes (any span compares equal).
fn sp() -> Span {
    Span::default()
}

fn id(name: &str) -> Ident {
    Ident::new(name, sp())
}

/// Parses `src`, asserting there are no diagnostics.
fn parse_ok(src: &str) -> Vec<Statement> {
    let (app, diags) = parse(src);
    assert!(
        diags.is_empty(),
        "unexpected diagnostics for {src:?}: {diags:#?}"
    );
    app.statements
}

/// Parses one statement without errors.
fn one(src: &str) -> Statement {
    let mut stmts = parse_ok(src);
    assert_eq!(
        stmts.len(),
        1,
        "expected one statement in {src:?}: {stmts:#?}"
    );
    stmts.remove(0)
}

/// Parses one query without errors.
fn query(src: &str) -> Query {
    match one(src) {
        Statement::Query(q) => q,
        other => panic!("not a query: {other:#?}"),
    }
}

/// Parses `expr` as the only item of a SELECT list.
fn expr(expr: &str) -> Expr {
    let q = query(&format!("INSERT INTO Out SELECT {expr} FROM S;"));
    match q.select.items.as_slice() {
        [SelectItem::Expr { expr, alias: None }] => expr.clone(),
        other => panic!("not one expression: {other:#?}"),
    }
}

/// The diagnostics of `src` (which must have some).
fn errors_of(src: &str) -> (App, Vec<Diagnostic>) {
    let (app, diags) = parse(src);
    assert!(!diags.is_empty(), "expected errors for {src:?}");
    (app, diags)
}

/// The source text under a span.
fn text(src: &str, span: Span) -> &str {
    &src[span.start..span.end]
}

fn attr(name: &str) -> Expr {
    Expr::Attr {
        qualifier: None,
        index: None,
        name: id(name),
        span: sp(),
    }
}

fn qattr(qualifier: &str, name: &str) -> Expr {
    Expr::Attr {
        qualifier: Some(id(qualifier)),
        index: None,
        name: id(name),
        span: sp(),
    }
}

fn lit(lit: Literal) -> Expr {
    Expr::Literal(lit, sp())
}

fn int(n: i32) -> Expr {
    lit(Literal::Int(n))
}

fn string(s: &str) -> Expr {
    lit(Literal::String(s.into()))
}

fn bin(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    Expr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
        span: sp(),
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call {
        name: id(name),
        args,
        distinct: false,
        span: sp(),
    }
}

fn stream(name: &str) -> StreamSource {
    StreamSource {
        stream: id(name),
        inner: false,
        filter: None,
        alias: None,
        window: None,
        unidirectional: false,
        span: sp(),
    }
}

fn dur(millis: i64) -> Duration {
    Duration { millis, span: sp() }
}

fn select_item(expr: Expr, alias: Option<&str>) -> SelectItem {
    SelectItem::Expr {
        expr,
        alias: alias.map(id),
    }
}

/// The smallest query `INSERT INTO target SELECT items FROM from`, for comparisons.
fn simple_query(target: &str, items: Vec<SelectItem>, from: Source) -> Query {
    Query {
        annotations: Vec::new(),
        output: QueryOutput::Insert {
            events: OutputEvents::Current,
            target: id(target),
            inner: false,
        },
        select: Select {
            distinct: false,
            items,
            span: sp(),
        },
        from,
        where_: None,
        group_by: Vec::new(),
        having: None,
        order_by: Vec::new(),
        limit: None,
        offset: None,
        rate: None,
        span: sp(),
    }
}
