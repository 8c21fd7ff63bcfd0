//! Tables (docs/language.md#table-statements): definitions, `INSERT INTO` / `UPSERT INTO` a table, `UPDATE`,
//! `DELETE` and `IN table`.

use super::catalog::{suggest, Attribute, StreamInfo, StreamKind, TableKeys};
use super::expr::condition;
use super::expr::in_table::{lookup_table, qualify, table_scope};
use super::expr::{Binder, ScopeInput};
use super::ir::{BoundQuery, Column, ExprKind, OutputClauses, QueryKind, TExpr, TableOp};
use super::resolve::lookup_stream;
use super::types::Type;
use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, Expr, Ident, Literal, QueryOutput, Source, Span};

/// `CREATE TABLE`: the columns, the primary key (inline `PRIMARY KEY` marks or a
/// `PRIMARY KEY (...)` clause) and the indexes.
pub fn define_table(a: &mut Analysis, def: &ast::TableDef) {
    let mut attrs: Vec<Attribute> = Vec::new();
    let mut marked = Vec::new();
    for attr in &def.attrs {
        if attrs.iter().any(|x| x.name == attr.name.name) {
            a.diagnostics.push(Diagnostic::error(
                format!(
                    "duplicate column `{}` in table `{}`",
                    attr.name.name, def.name.name
                ),
                attr.name.span,
            ));
            continue;
        }
        let Some(ty) = Type::from_name(&attr.ty.name) else {
            a.diagnostics.push(super::expr::unknown_type(&attr.ty));
            continue;
        };
        if attr.primary_key {
            marked.push(attrs.len());
        }
        attrs.push(Attribute {
            name: attr.name.name.clone(),
            ty,
            nullable: !attr.not_null,
        });
    }
    let mut column = |name: &Ident| -> Option<usize> {
        let found = attrs.iter().position(|x| x.name == name.name);
        if found.is_none() {
            a.diagnostics
                .push(unknown_column(name, &def.name.name, &attrs));
        }
        found
    };
    let clause: Vec<usize> = def.primary_key.iter().filter_map(&mut column).collect();
    let mut indexes = Vec::new();
    for cols in &def.indexes {
        let cols: Vec<usize> = cols.iter().filter_map(&mut column).collect();
        if !cols.is_empty() {
            indexes.push(cols);
        }
    }
    if !marked.is_empty() && !def.primary_key.is_empty() {
        a.diagnostics.push(
            Diagnostic::error("the primary key is given twice", def.name.span).with_help(
                "mark the key columns `PRIMARY KEY` or list them in `PRIMARY KEY (...)`, not both",
            ),
        );
    }
    let primary_key = if marked.is_empty() { clause } else { marked };
    let (redis, postgres) = match super::store::bind_store(a, def, !primary_key.is_empty()) {
        Some(super::store::Store::Redis(r)) => (Some(r), None),
        Some(super::store::Store::Postgres(p)) => (None, Some(p)),
        None => (None, None),
    };
    super::add_stream(
        a,
        StreamInfo {
            name: def.name.name.clone(),
            attrs,
            kind: StreamKind::Table(TableKeys {
                primary_key,
                indexes,
                redis,
                postgres,
            }),
            span: def.name.span,
            produced: false,
        },
    );
}

fn unknown_column(name: &Ident, table: &str, attrs: &[Attribute]) -> Diagnostic {
    let mut d = Diagnostic::error(
        format!("unknown column `{}` in table `{table}`", name.name),
        name.span,
    )
    .with_label("not a column of the table");
    if let Some(s) = suggest(&name.name, attrs.iter().map(|x| x.name.as_str())) {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    d
}

/// The name of a statement: `@info(name = '...')`, else `query_<position>`.
fn statement_name(annotations: &[ast::Annotation]) -> Option<String> {
    annotations
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

/// The driving stream of an UPDATE or DELETE: a single stream, optionally filtered.
fn driving_stream<'s>(
    a: &mut Analysis,
    src: &'s Source,
) -> Option<(StreamInfo, &'s ast::StreamSource)> {
    let s = match src {
        Source::Stream(s) => s,
        other => {
            a.diagnostics.push(Diagnostic::unsupported(
                "a join or pattern driving UPDATE/DELETE",
                other.span(),
            ));
            return None;
        }
    };
    if let Some(w) = &s.window {
        a.diagnostics.push(Diagnostic::unsupported(
            "a window on the stream of UPDATE/DELETE",
            w.span,
        ));
        return None;
    }
    if s.inner {
        a.diagnostics
            .push(Diagnostic::unsupported("inner (#) streams", s.stream.span));
        return None;
    }
    let info = lookup_stream(a, &s.stream)?;
    Some((info, s))
}

/// The parts shared by UPDATE and DELETE.
struct Statement<'a> {
    annotations: &'a [ast::Annotation],
    table: &'a Ident,
    source: &'a Source,
    where_: Option<&'a Expr>,
    span: Span,
}

/// Binds an UPDATE or DELETE (`sets` is `None` for DELETE) into a query without columns.
fn bind_statement(
    a: &mut Analysis,
    st: Statement<'_>,
    sets: Option<&[(Ident, Expr)]>,
    position: usize,
) -> Option<BoundQuery> {
    let table = match lookup_table(&a.catalog, st.table) {
        Ok(t) => t,
        Err(d) => {
            a.diagnostics.push(*d);
            return None;
        }
    };
    let (stream, src) = driving_stream(a, st.source)?;
    if !super::resolve::check_partitioned(a, &stream.name, src.stream.span) {
        return None;
    }
    let errors_before = a.diagnostics.iter().filter(|d| d.is_error()).count();
    let own = [ScopeInput {
        stream: stream.name.clone(),
        alias: src.alias.as_ref().map(|i| i.name.clone()),
        attrs: stream.attrs.clone(),
        implicit: true,
    }];
    let scope = [own[0].clone(), table_scope(&table)];
    let catalog = a.catalog.clone();
    let mut diags = Vec::new();
    let filter = src.filter.as_ref().and_then(|f| {
        let mut b = Binder {
            inputs: &own,
            aggregates: None,
            diags: &mut diags,
            outputs: None,
            tables: Some(&catalog),
        };
        b.bind(f).and_then(|c| condition(&mut b, c)).ok()
    });
    let mut b = Binder {
        inputs: &scope,
        aggregates: None,
        diags: &mut diags,
        outputs: None,
        tables: Some(&catalog),
    };
    // Unqualified names are the stream's (as in `IN`); `T.col` is the row's.
    let cond = st.where_.and_then(|w| {
        let w = qualify(w, &own, &table);
        b.bind(&w).and_then(|c| condition(&mut b, c)).ok()
    });
    let op = match sets {
        None => TableOp::Delete { cond },
        Some(sets) => {
            let mut bound: Vec<(usize, TExpr)> = Vec::new();
            for (col, value) in sets {
                let Some(i) = table.attr_index(&col.name) else {
                    b.diags.push(unknown_column(col, &table.name, &table.attrs));
                    continue;
                };
                if bound.iter().any(|(c, _)| *c == i) {
                    b.diags.push(Diagnostic::error(
                        format!("column `{}` is set twice", col.name),
                        col.span,
                    ));
                    continue;
                }
                let ty = table.attrs[i].ty;
                let value = qualify(value, &own, &table);
                if let Ok(v) = b.bind(&value).and_then(|v| b.expect(v, ty)) {
                    bound.push((i, v));
                }
            }
            TableOp::Update { sets: bound, cond }
        }
    };
    a.diagnostics.append(&mut diags);
    if a.diagnostics.iter().filter(|d| d.is_error()).count() > errors_before {
        return None;
    }
    Some(BoundQuery {
        partition: a.current_partition,
        name: statement_name(st.annotations).unwrap_or_else(|| format!("query_{position}")),
        named: statement_name(st.annotations).is_some(),
        inputs: vec![stream.name.clone()],
        kind: QueryKind::Single,
        filter,
        window: None,
        post_filter: None,
        aggregates: Vec::new(),
        group_by: Vec::new(),
        having: None,
        columns: Vec::new(),
        output: OutputClauses::default(),
        target: table.name.clone(),
        table_op: Some(Box::new(op)),
        events: ast::OutputEvents::Current,
        span: st.span,
    })
}

/// `UPDATE table SET ... FROM stream WHERE ...`.
pub fn bind_update(a: &mut Analysis, u: &ast::UpdateStmt, position: usize) -> Option<BoundQuery> {
    let st = Statement {
        annotations: &u.annotations,
        table: &u.table,
        source: &u.from,
        where_: u.where_.as_ref(),
        span: u.span,
    };
    bind_statement(a, st, Some(&u.sets), position)
}

/// `DELETE FROM table USING stream WHERE ...`.
pub fn bind_delete(a: &mut Analysis, d: &ast::DeleteStmt, position: usize) -> Option<BoundQuery> {
    let st = Statement {
        annotations: &d.annotations,
        table: &d.table,
        source: &d.using,
        where_: d.where_.as_ref(),
        span: d.span,
    };
    bind_statement(a, st, None, position)
}

/// The operation of query `q` on its target when the target is a table (`None` for a
/// stream target). For `UPSERT ... ON cond`, `cond` is bound over the query's inputs and the
/// table, then rewritten to read the output row: a reference to an input attribute becomes
/// the output column that selects exactly that attribute.
pub fn target_op(
    a: &mut Analysis,
    q: &ast::Query,
    inputs: &[ScopeInput],
    columns: &[Column],
) -> Option<Box<TableOp>> {
    let (target, on) = match &q.output {
        QueryOutput::Insert { target, .. } => (target, None),
        QueryOutput::Upsert { target, on } => (target, Some(on)),
    };
    let table = a
        .catalog
        .get(&target.name)
        .filter(|t| t.table().is_some())
        .cloned();
    let (Some(table), Some(on)) = (table.clone(), on) else {
        if on.is_some() {
            a.diagnostics.push(
                Diagnostic::error(
                    format!("UPSERT needs a table; `{}` is not one", target.name),
                    target.span,
                )
                .with_help("define the target with CREATE TABLE"),
            );
        }
        return table.map(|_| Box::new(TableOp::Insert));
    };
    let mut scope = inputs.to_vec();
    scope.push(table_scope(&table));
    let catalog = a.catalog.clone();
    let mut diags = Vec::new();
    let bound = {
        let mut b = Binder {
            inputs: &scope,
            aggregates: None,
            diags: &mut diags,
            outputs: None,
            tables: Some(&catalog),
        };
        let on = qualify(on, inputs, &table);
        b.bind(&on).and_then(|c| condition(&mut b, c)).ok()
    };
    a.diagnostics.append(&mut diags);
    let mut cond = bound?;
    let n = inputs.len();
    let mut errors = Vec::new();
    cond.visit_mut(&mut |e| {
        if let ExprKind::IndexedAttr { name, .. } = &e.kind {
            errors.push(Diagnostic::error(
                format!("`{name}` is not a selected value"),
                e.span,
            ));
            return;
        }
        let ExprKind::Attr { input, attr, name } = &e.kind else {
            return;
        };
        if *input == n {
            e.kind = ExprKind::Attr {
                input: 1,
                attr: *attr,
                name: name.clone(),
            };
            return;
        }
        if *input > n {
            // A nested `IN table` row: shift it past the two inputs of the rewritten scope.
            e.kind = ExprKind::Attr {
                input: *input - n + 1,
                attr: *attr,
                name: name.clone(),
            };
            return;
        }
        let source = ExprKind::Attr {
            input: *input,
            attr: *attr,
            name: name.clone(),
        };
        match columns.iter().position(|c| c.expr.kind == source) {
            Some(j) if table.attrs.get(j).is_some_and(|t| t.ty == e.ty) => {
                e.kind = ExprKind::Attr {
                    input: 0,
                    attr: j,
                    name: table.attrs[j].name.clone(),
                };
            }
            _ => errors.push(
                Diagnostic::error(format!("`{name}` is not a selected value"), e.span)
                    .with_label(
                        "the ON of an UPSERT compares the table's rows with the selected row",
                    )
                    .with_help(format!(
                        "select `{name}` (as a column of `{}`) or compare with a selected column",
                        table.name
                    )),
            ),
        }
    });
    fix_table_rows(&mut cond, n);
    if !errors.is_empty() {
        a.diagnostics.extend(errors);
        return None;
    }
    Some(Box::new(TableOp::Upsert { cond }))
}

/// After [`target_op`]'s rewrite, nested `IN table` conditions name their row one past the
/// two inputs of the rewritten scope.
fn fix_table_rows(e: &mut TExpr, n: usize) {
    e.visit_mut(&mut |x| {
        if let ExprKind::InTable { row, .. } = &mut x.kind {
            if *row > n {
                *row = *row - n + 1;
            } else {
                *row = 2;
            }
        }
    });
}
