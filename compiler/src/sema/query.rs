//! Binding one query: its input, filter, window, selector and target.

use super::catalog::{Attribute, StreamInfo, StreamKind};
use super::expr::condition;
use super::expr::{Binder, ScopeInput};
use super::ir::{BoundQuery, Column, ExprKind, OutputClauses, QueryKind, TExpr};
use super::resolve::{inner_name, lookup_stream, SourceBinding};
use super::types::Type;
use super::window::bind_window;
use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, Literal, QueryOutput, SelectItem, Source};

/// Binds the FROM clause of `q`.
fn bind_source(a: &mut Analysis, q: &ast::Query) -> Option<SourceBinding> {
    match &q.from {
        Source::Stream(src) => bind_stream_source(a, q, src),
        Source::Join(j) => super::join::bind_join(a, q, j),
        Source::Pattern(p) => super::pattern::bind_pattern(a, q, p),
    }
}

/// A single stream with its optional `[filter]`, WHERE (before the window) and window.
fn bind_stream_source(
    a: &mut Analysis,
    q: &ast::Query,
    src: &ast::StreamSource,
) -> Option<SourceBinding> {
    let input = if src.inner {
        let name = inner_name(a, &src.stream)?;
        lookup_stream(a, &name)?
    } else {
        lookup_stream(a, &src.stream)?
    };
    if !src.inner && !super::resolve::check_partitioned(a, &input.name, src.stream.span) {
        return None;
    }
    let inputs = vec![ScopeInput {
        stream: input.name.clone(),
        alias: src.alias.as_ref().map(|i| i.name.clone()),
        attrs: input.attrs.clone(),
        implicit: true,
    }];
    let mut diags = Vec::new();
    let mut filter = None;
    let mut window = None;
    {
        let mut b = Binder {
            inputs: &inputs,
            aggregates: None,
            diags: &mut diags,
            outputs: None,
            tables: Some(&a.catalog),
        };
        for cond in src.filter.iter().chain(q.where_.iter()) {
            if let Ok(c) = b.bind(cond).and_then(|c| condition(&mut b, c)) {
                filter = Some(match filter.take() {
                    None => c,
                    Some(prev) => {
                        let span = c.span;
                        TExpr::new(ExprKind::And(Box::new(prev), Box::new(c)), Type::Bool, span)
                    }
                });
            }
        }
        if let Some(spec) = &src.window {
            window = bind_window(&mut b, spec).ok();
        }
    }
    a.diagnostics.append(&mut diags);
    Some(SourceBinding {
        inputs,
        kind: QueryKind::Single,
        filter,
        window,
    })
}

/// Binds `q` (the `position`-th query of the app, 1-based); `None` after reporting errors.
pub fn bind_query(a: &mut Analysis, q: &ast::Query, position: usize) -> Option<BoundQuery> {
    let written = query_name(q);
    let named = written.is_some();
    let name = written.unwrap_or_else(|| format!("query_{position}"));
    let errors_before = error_count(a);
    let (target, inner_target, events) = match &q.output {
        QueryOutput::Insert {
            events,
            target,
            inner,
        } => (target, *inner, *events),
        QueryOutput::Upsert { target, .. } => (target, false, ast::OutputEvents::Current),
    };
    let inner_target_name;
    let target = if inner_target {
        inner_target_name = inner_name(a, target)?;
        &inner_target_name
    } else {
        target
    };
    let source = bind_source(a, q)?;
    let SourceBinding {
        inputs,
        kind,
        filter,
        window,
    } = source;
    // A defined target takes the columns by position, so they need no names.
    let positional = a
        .catalog
        .get(&target.name)
        .is_some_and(|s| s.kind == StreamKind::Defined || s.table().is_some());
    let mut aggregates = Vec::new();
    let mut diags = Vec::new();
    let mut post_filter = None;
    let mut columns = Vec::new();
    let mut group_by = Vec::new();
    let mut having = None;
    {
        let mut b = Binder {
            inputs: &inputs,
            aggregates: None,
            diags: &mut diags,
            outputs: None,
            tables: Some(&a.catalog),
        };
        if !matches!(kind, QueryKind::Single) {
            // Joins and patterns: WHERE filters the combined rows.
            if let Some(cond) = &q.where_ {
                post_filter = b.bind(cond).and_then(|c| condition(&mut b, c)).ok();
            }
        }
        for g in &q.group_by {
            if let Ok(e) = b.bind(g) {
                group_by.push(e);
            }
        }
        b.aggregates = Some(&mut aggregates);
        for item in &q.select.items {
            match item {
                SelectItem::Star(_) => {
                    for (n, input) in inputs.iter().enumerate() {
                        for (i, attr) in input.attrs.iter().enumerate() {
                            if columns.iter().any(|c: &Column| c.name == attr.name) {
                                continue;
                            }
                            columns.push(Column {
                                name: attr.name.clone(),
                                expr: super::ir::TExpr::new(
                                    ExprKind::Attr {
                                        input: n,
                                        attr: i,
                                        name: attr.name.clone(),
                                    },
                                    attr.ty,
                                    q.select.span,
                                ),
                            });
                        }
                    }
                }
                SelectItem::Expr { expr, alias } => {
                    let Ok(e) = b.bind(expr) else { continue };
                    let name = match (alias, expr) {
                        (Some(alias), _) => alias.name.clone(),
                        (None, ast::Expr::Attr { name, .. }) => name.name.clone(),
                        (None, _) if positional => format!("_{}", columns.len()),
                        (None, other) => {
                            b.diags.push(
                                Diagnostic::error("this expression needs a name", other.span())
                                    .with_help("add `AS name`"),
                            );
                            continue;
                        }
                    };
                    if !positional && columns.iter().any(|c: &Column| c.name == name) {
                        b.diags.push(Diagnostic::error(
                            format!("duplicate output attribute `{name}`"),
                            expr.span(),
                        ));
                        continue;
                    }
                    columns.push(Column { name, expr: e });
                }
            }
        }
        if let Some(h) = &q.having {
            b.outputs = Some(&columns);
            if let Ok(c) = b.bind(h).and_then(|c| condition(&mut b, c)) {
                having = Some(c);
            }
        }
    }
    a.diagnostics.append(&mut diags);
    check_target(a, target, &columns);
    let output = bind_output_clauses(a, q, &target.name);
    if error_count(a) > errors_before {
        return None;
    }
    let table_op = super::table::target_op(a, q, &inputs, &columns);
    let bound = BoundQuery {
        partition: a.current_partition,
        name,
        named,
        inputs: inputs.iter().map(|i| i.stream.clone()).collect(),
        kind,
        filter,
        post_filter,
        window,
        aggregates,
        group_by,
        having,
        columns,
        output,
        target: target.name.clone(),
        table_op,
        events,
        span: q.span,
    };
    super::pattern::check_captured(a, &bound).then_some(bound)
}

fn error_count(a: &Analysis) -> usize {
    a.diagnostics.iter().filter(|d| d.is_error()).count()
}

fn query_name(q: &ast::Query) -> Option<String> {
    q.annotations
        .iter()
        .filter(|an| an.name.name.eq_ignore_ascii_case("info"))
        .flat_map(|an| an.args.iter())
        .find(|kv| {
            kv.key
                .as_ref()
                .is_some_and(|k| k.name.eq_ignore_ascii_case("name"))
        })
        .and_then(|kv| match &kv.value {
            Literal::String(s) => Some(s.clone()),
            _ => None,
        })
}

/// The output clauses: ORDER BY (over the output attributes), LIMIT, OFFSET, DISTINCT and
/// OUTPUT rate limiting.
fn bind_output_clauses(a: &mut Analysis, q: &ast::Query, target: &str) -> OutputClauses {
    let mut clauses = OutputClauses {
        distinct: q.select.distinct,
        rate: q.rate.clone(),
        ..OutputClauses::default()
    };
    let Some(stream) = a.catalog.get(target).cloned() else {
        return clauses;
    };
    let inputs = [ScopeInput {
        stream: stream.name.clone(),
        alias: None,
        attrs: stream.attrs.clone(),
        implicit: true,
    }];
    let mut diags = Vec::new();
    {
        let mut b = Binder {
            inputs: &inputs,
            aggregates: None,
            diags: &mut diags,
            outputs: None,
            tables: None,
        };
        for item in &q.order_by {
            if let Ok(e) = b.bind(&item.expr) {
                clauses.order_by.push((e, item.descending));
            } else if let Some(last) = b.diags.last_mut() {
                last.notes
                    .push("ORDER BY sorts by the attributes of the query's output".into());
            }
        }
    }
    a.diagnostics.append(&mut diags);
    for (slot, expr) in [
        (&mut clauses.limit, &q.limit),
        (&mut clauses.offset, &q.offset),
    ] {
        let Some(e) = expr else { continue };
        match e {
            ast::Expr::Literal(ast::Literal::Int(v), _) if *v >= 0 => *slot = Some(*v as u64),
            ast::Expr::Literal(ast::Literal::Long(v), _) if *v >= 0 => *slot = Some(*v as u64),
            other => a.diagnostics.push(
                Diagnostic::error("LIMIT and OFFSET need a non-negative integer", other.span())
                    .with_label("not a constant integer"),
            ),
        }
    }
    if let Some(r) = &q.rate {
        let bad = match (&r.mode, &r.every) {
            (ast::RateMode::Snapshot, ast::RateEvery::Events(..)) => {
                Some("OUTPUT SNAPSHOT needs a period such as `EVERY 1 sec`")
            }
            (_, ast::RateEvery::Events(n, _)) if *n <= 0 => {
                Some("the event count must be positive")
            }
            (_, ast::RateEvery::Time(d)) if d.millis <= 0 => Some("the period must be positive"),
            _ => None,
        };
        if let Some(msg) = bad {
            a.diagnostics.push(Diagnostic::error(msg, r.span));
        }
    }
    clauses
}

/// Checks the target's schema against the output columns, or creates the target.
fn check_target(a: &mut Analysis, target: &ast::Ident, columns: &[Column]) {
    let Some(existing) = a.catalog.get_mut(&target.name) else {
        let attrs = columns
            .iter()
            .map(|c| Attribute {
                name: c.name.clone(),
                ty: if c.expr.ty == Type::Null {
                    Type::String
                } else {
                    c.expr.ty
                },
                nullable: true,
            })
            .collect();
        let _ = a.catalog.add(StreamInfo {
            name: target.name.clone(),
            attrs,
            kind: StreamKind::Inferred,
            span: target.span,
            produced: true,
        });
        return;
    };
    // A table is written, not printed.
    existing.produced = existing.table().is_none();
    if matches!(existing.kind, StreamKind::Trigger(_)) {
        a.diagnostics.push(Diagnostic::error(
            format!("cannot insert into trigger `{}`", target.name),
            target.span,
        ));
        return;
    }
    let (defined_at, attrs) = (existing.span, existing.attrs.clone());
    if attrs.len() != columns.len() {
        a.diagnostics.push(
            Diagnostic::error(
                format!(
                    "`{}` has {} attribute(s) but the query selects {}",
                    target.name,
                    attrs.len(),
                    columns.len()
                ),
                target.span,
            )
            .with_secondary(defined_at, "defined here"),
        );
        return;
    }
    for (attr, col) in attrs.iter().zip(columns) {
        if !col.expr.ty.assignable_to(attr.ty) {
            a.diagnostics.push(
                Diagnostic::error(
                    format!(
                        "type mismatch: `{}.{}` is {} but the query gives {}",
                        target.name, attr.name, attr.ty, col.expr.ty
                    ),
                    col.expr.span,
                )
                .with_secondary(defined_at, "defined here")
                .with_help(format!("use CAST(... AS {})", attr.ty)),
            );
        } else if attr.name != col.name {
            // Positional insert: the target's names win, as in Siddhi.
        }
    }
}
