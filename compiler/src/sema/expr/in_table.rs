//! `IN <table>` in expressions (docs/language.md#in-a-table): `x IN T` tests T's one-column
//! primary key, `(cond) IN T` whether some row satisfies `cond`. The lookup helpers are
//! shared with the table statements.

use super::{condition, Binder, Reported, ScopeInput};
use crate::diagnostic::Diagnostic;
use crate::sema::catalog::{suggest, Catalog, StreamInfo};
use crate::sema::ir::{CmpOp, ExprKind, TExpr};
use crate::sema::types::Type;
use crate::syntax::ast::{BinaryOp, Expr, Ident, Literal, Span, UnaryOp};

/// Looks up a table by name, reporting unknown names and streams.
pub(crate) fn lookup_table(catalog: &Catalog, name: &Ident) -> Result<StreamInfo, Box<Diagnostic>> {
    match catalog.get(&name.name) {
        Some(t) if t.table().is_some() => Ok(t.clone()),
        Some(_) => Err(Box::new(
            Diagnostic::error(
                format!("`{}` is a stream, not a table", name.name),
                name.span,
            )
            .with_label("a stream")
            .with_help("define it with CREATE TABLE to keep rows"),
        )),
        None => {
            let tables = catalog
                .streams
                .iter()
                .filter(|s| s.table().is_some())
                .map(|s| s.name.as_str());
            let mut d = Diagnostic::error(format!("unknown table `{}`", name.name), name.span)
                .with_label("not defined");
            if let Some(s) = suggest(&name.name, tables) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            Err(Box::new(d))
        }
    }
}

/// The scope input of table `t`'s rows (its columns, read as `T.col` or unqualified).
pub(crate) fn table_scope(t: &StreamInfo) -> ScopeInput {
    ScopeInput {
        stream: t.name.clone(),
        alias: None,
        attrs: t.attrs.clone(),
        implicit: true,
    }
}

/// Whether `e` is written as a condition (`(cond) IN T`) rather than a key (`x IN T`).
fn is_condition(e: &Expr) -> bool {
    match e {
        Expr::Binary { op, .. } => !matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem
        ),
        Expr::Unary { op, .. } => *op == UnaryOp::Not,
        Expr::IsNull { .. }
        | Expr::InList { .. }
        | Expr::InTable { .. }
        | Expr::Between { .. }
        | Expr::Like { .. } => true,
        Expr::Literal(Literal::Bool(_), _) => true,
        _ => false,
    }
}

/// `x IN T` (T's one-column primary key equals `x`) or `(cond) IN T` (some row of T
/// satisfies `cond`, where unqualified names are the query's attributes and `T.col` the
/// row's columns).
pub fn bind_in_table(
    b: &mut Binder<'_>,
    expr: &Expr,
    table: &Ident,
    span: Span,
) -> Result<TExpr, Reported> {
    let Some(catalog) = b.tables else {
        return b.fail(Diagnostic::unsupported("`IN <table>` here", span));
    };
    let t = match lookup_table(catalog, table) {
        Ok(t) => t,
        Err(d) => return b.fail(*d),
    };
    let row = b.inputs.len();
    let cond = if is_condition(expr) {
        let mut scope = b.inputs.to_vec();
        scope.push(table_scope(&t));
        let qualified = qualify(expr, b.inputs, &t);
        let mut inner = Binder {
            inputs: &scope,
            aggregates: None,
            diags: &mut *b.diags,
            outputs: None,
            tables: Some(catalog),
        };
        let c = inner.bind(&qualified)?;
        condition(&mut inner, c)?
    } else {
        let keys = t.table().map(|k| k.primary_key.clone()).unwrap_or_default();
        let [col] = keys.as_slice() else {
            return b.fail(
                Diagnostic::error(
                    format!("`x IN {}` needs a one-column primary key", t.name),
                    span,
                )
                .with_help(format!(
                    "write a condition on the row instead: `({}.col = x) IN {}`",
                    t.name, t.name
                )),
            );
        };
        let x = b.bind(expr)?;
        let key = &t.attrs[*col];
        let Some(ty) = Type::unify(x.ty, key.ty) else {
            return b.fail(super::type_error(
                &format!("the key of `{}` is {}", t.name, key.ty),
                &x,
            ));
        };
        let attr = TExpr::new(
            ExprKind::Attr {
                input: row,
                attr: *col,
                name: key.name.clone(),
            },
            key.ty,
            table.span,
        );
        TExpr::new(
            ExprKind::Cmp(
                CmpOp::Eq,
                Box::new(attr.widen_to(ty)),
                Box::new(x.widen_to(ty)),
            ),
            Type::Bool,
            span,
        )
    };
    Ok(TExpr::new(
        ExprKind::InTable {
            table: t.name.clone(),
            row,
            cond: Box::new(cond),
        },
        Type::Bool,
        span,
    ))
}

/// `expr` with every unqualified attribute that an input of `inputs` has qualified with that
/// input's name, so it does not clash with a column of the table `t` (the table's columns
/// are written `T.col`); names no input has stay for the table.
pub(crate) fn qualify(expr: &Expr, inputs: &[ScopeInput], t: &StreamInfo) -> Expr {
    let mut e = expr.clone();
    qualify_in(&mut e, inputs, t);
    e
}

fn qualify_in(e: &mut Expr, inputs: &[ScopeInput], t: &StreamInfo) {
    match e {
        Expr::Attr {
            qualifier: q @ None,
            name,
            ..
        } => {
            let owners: Vec<&ScopeInput> = inputs
                .iter()
                .filter(|i| i.attrs.iter().any(|x| x.name == name.name))
                .collect();
            if let [owner] = owners.as_slice() {
                let label = owner.alias.clone().unwrap_or_else(|| owner.stream.clone());
                *q = Some(Ident::new(label, name.span));
            } else if owners.is_empty() && t.attr_index(&name.name).is_some() {
                *q = Some(Ident::new(t.name.clone(), name.span));
            }
        }
        Expr::Literal(..) | Expr::Attr { .. } => {}
        Expr::Unary { expr, .. } | Expr::IsNull { expr, .. } | Expr::Cast { expr, .. } => {
            qualify_in(expr, inputs, t)
        }
        Expr::Binary { left, right, .. } => {
            qualify_in(left, inputs, t);
            qualify_in(right, inputs, t);
        }
        Expr::InList { expr, list, .. } => {
            qualify_in(expr, inputs, t);
            list.iter_mut().for_each(|x| qualify_in(x, inputs, t));
        }
        // A nested `IN` resolves its own names.
        Expr::InTable { .. } => {}
        Expr::Between {
            expr, low, high, ..
        } => {
            qualify_in(expr, inputs, t);
            qualify_in(low, inputs, t);
            qualify_in(high, inputs, t);
        }
        Expr::Like { expr, pattern, .. } => {
            qualify_in(expr, inputs, t);
            qualify_in(pattern, inputs, t);
        }
        Expr::Case {
            operand,
            whens,
            else_,
            ..
        } => {
            if let Some(o) = operand {
                qualify_in(o, inputs, t);
            }
            for (c, v) in whens {
                qualify_in(c, inputs, t);
                qualify_in(v, inputs, t);
            }
            if let Some(x) = else_ {
                qualify_in(x, inputs, t);
            }
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|x| qualify_in(x, inputs, t)),
    }
}
