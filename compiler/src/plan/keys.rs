//! Key analysis of conditions: the equalities that let a join probe or a table lookup use a
//! hash index instead of visiting every event or row.
//!
//! A condition is split into its AND-ed conjuncts; a conjunct `x = y` where one side reads
//! only one input and the other side reads only other inputs is a key equality. The callers
//! still evaluate the whole condition on every candidate the index returns, so the analysis
//! only has to be sound about which candidates can match, never about the final answer.

use crate::sema::catalog::TableKeys;
use crate::sema::ir::{CmpOp, ExprKind, Func, TExpr};
use std::collections::BTreeSet;

/// The AND-ed parts of `cond` (the condition itself when it is not an AND).
pub fn conjuncts(cond: &TExpr) -> Vec<&TExpr> {
    match &cond.kind {
        ExprKind::And(a, b) => {
            let mut parts = conjuncts(a);
            parts.extend(conjuncts(b));
            parts
        }
        _ => vec![cond],
    }
}

/// The inputs `e` reads, or `None` when it is not a pure function of its inputs (it
/// aggregates, tests a table, or calls `uuid()`, `now()` or `eventTimestamp()`): such an
/// expression cannot be a key.
pub fn key_inputs(e: &TExpr) -> Option<BTreeSet<usize>> {
    let mut inputs = BTreeSet::new();
    let mut pure = true;
    e.visit(&mut |x| match &x.kind {
        ExprKind::Attr { input, .. } => {
            inputs.insert(*input);
        }
        ExprKind::Agg(_) | ExprKind::InTable { .. } | ExprKind::IndexedAttr { .. } => pure = false,
        ExprKind::Call(Func::Uuid | Func::Now | Func::EventTimestamp, _) => pure = false,
        _ => {}
    });
    pure.then_some(inputs)
}

/// The equalities of `cond` between an expression reading only input `left` and one reading
/// only input `right`, as `(left side, right side)` pairs (both of one type).
pub fn equi_pairs(cond: &TExpr, left: usize, right: usize) -> Vec<(TExpr, TExpr)> {
    let only =
        |e: &TExpr, input: usize| key_inputs(e).is_some_and(|s| s.len() == 1 && s.contains(&input));
    conjuncts(cond)
        .into_iter()
        .filter_map(|c| match &c.kind {
            ExprKind::Cmp(CmpOp::Eq, a, b) if only(a, left) && only(b, right) => {
                Some(((**a).clone(), (**b).clone()))
            }
            ExprKind::Cmp(CmpOp::Eq, a, b) if only(a, right) && only(b, left) => {
                Some(((**b).clone(), (**a).clone()))
            }
            _ => None,
        })
        .collect()
}

/// The equalities `row.column = value` of `cond` where `value` does not read input `row`,
/// as `(column, value)`; the first one per column.
pub fn column_equalities(cond: &TExpr, row: usize) -> Vec<(usize, TExpr)> {
    let column = |e: &TExpr| match &e.kind {
        ExprKind::Attr { input, attr, .. } if *input == row => Some(*attr),
        _ => None,
    };
    let value = |e: &TExpr| key_inputs(e).is_some_and(|s| !s.contains(&row));
    let mut found: Vec<(usize, TExpr)> = Vec::new();
    for c in conjuncts(cond) {
        let ExprKind::Cmp(CmpOp::Eq, a, b) = &c.kind else {
            continue;
        };
        let pair = match (column(a), column(b)) {
            (Some(col), _) if value(b) => Some((col, (**b).clone())),
            (_, Some(col)) if value(a) => Some((col, (**a).clone())),
            _ => None,
        };
        if let Some((col, v)) = pair {
            if !found.iter().any(|(c, _)| *c == col) {
                found.push((col, v));
            }
        }
    }
    found
}

/// How the rows of a table that may satisfy a condition are found.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// By primary key: the key values in key-column order.
    Primary(Vec<TExpr>),
    /// By secondary index `n`: the key values in the index's column order.
    Index(usize, Vec<TExpr>),
    /// Every row.
    Scan,
}

/// The cheapest lookup for `cond` (reading the table row as input `row`): the primary key
/// when the condition fixes all its columns, else the first index whose columns it fixes,
/// else a scan.
pub fn table_lookup(keys: &TableKeys, cond: Option<&TExpr>, row: usize) -> Lookup {
    let Some(cond) = cond else {
        return Lookup::Scan;
    };
    let eqs = column_equalities(cond, row);
    let values = |cols: &[usize]| -> Option<Vec<TExpr>> {
        if cols.is_empty() {
            return None;
        }
        cols.iter()
            .map(|c| eqs.iter().find(|(col, _)| col == c).map(|(_, v)| v.clone()))
            .collect()
    };
    if let Some(v) = values(&keys.primary_key) {
        return Lookup::Primary(v);
    }
    // A table kept in Redis has no secondary index: other conditions scan it. PostgreSQL
    // finds the rows of an index key through the index it keeps.
    let indexes = if keys.redis.is_some() {
        &[][..]
    } else {
        &keys.indexes[..]
    };
    for (n, cols) in indexes.iter().enumerate() {
        if let Some(v) = values(cols) {
            return Lookup::Index(n, v);
        }
    }
    Lookup::Scan
}

/// The EXPLAIN text of a join: per side its window, key index or table lookup, and which
/// sides trigger.
pub fn explain_join(j: &crate::sema::ir::BoundJoin) -> String {
    let mut out = String::new();
    for (k, step) in j.steps.iter().enumerate() {
        let on = step.on.as_ref().map_or(String::new(), |on| {
            let keys: usize = (0..=k).map(|i| equi_pairs(on, i, k + 1).len()).sum();
            format!(" on[{keys} key(s)]")
        });
        out.push_str(&format!(" -> {:?} join{on}", step.kind).to_lowercase());
    }
    for (n, side) in j.sides.iter().enumerate() {
        let what = match (&side.window, side.table) {
            (_, true) => "table".to_string(),
            (Some(w), _) => format!("window {}{:?}", w.name, w.params),
            (None, _) => "no window".to_string(),
        };
        let trigger = if side.triggers { "" } else { ", no trigger" };
        let filter = if side.filter.is_some() {
            "filter, "
        } else {
            ""
        };
        out.push_str(&format!(" [side {n}: {filter}{what}{trigger}]"));
    }
    out
}

/// The EXPLAIN text of what a query does to its target table.
pub fn explain_table_op(
    op: &crate::sema::ir::TableOp,
    cols: &[&str],
    table: &super::StreamPlan,
) -> String {
    use crate::sema::ir::TableOp;
    let lookup = |cond: Option<&TExpr>| match (&table.table, cond) {
        (Some(keys), cond) => match table_lookup(keys, cond, 1) {
            Lookup::Primary(_) => "by primary key",
            Lookup::Index(..) => "by index",
            Lookup::Scan => "scan",
        },
        _ => "scan",
    };
    let name = &table.name;
    match op {
        TableOp::Insert => format!(
            " -> project({}) -> insert into table {name}",
            cols.join(", ")
        ),
        TableOp::Upsert { cond } => format!(
            " -> project({}) -> upsert into table {name} ({})",
            cols.join(", "),
            lookup(Some(cond))
        ),
        TableOp::Update { sets, cond } => {
            let set: Vec<&str> = sets
                .iter()
                .map(|(c, _)| table.attrs[*c].name.as_str())
                .collect();
            format!(
                " -> update table {name} set({}) ({})",
                set.join(", "),
                lookup(cond.as_ref())
            )
        }
        TableOp::Delete { cond } => {
            format!(" -> delete from table {name} ({})", lookup(cond.as_ref()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sema::ir::Lit;
    use crate::sema::Type;
    use crate::syntax::ast::Span;

    fn attr(input: usize, attr: usize) -> TExpr {
        TExpr::new(
            ExprKind::Attr {
                input,
                attr,
                name: format!("a{attr}"),
            },
            Type::Int,
            Span::default(),
        )
    }
    fn eq(a: TExpr, b: TExpr) -> TExpr {
        TExpr::new(
            ExprKind::Cmp(CmpOp::Eq, Box::new(a), Box::new(b)),
            Type::Bool,
            Span::default(),
        )
    }
    fn and(a: TExpr, b: TExpr) -> TExpr {
        TExpr::new(
            ExprKind::And(Box::new(a), Box::new(b)),
            Type::Bool,
            Span::default(),
        )
    }
    fn lit(v: i32) -> TExpr {
        TExpr::new(ExprKind::Lit(Lit::Int(v)), Type::Int, Span::default())
    }

    #[test]
    fn finds_equalities_between_inputs() {
        let cond = and(
            and(eq(attr(1, 2), attr(0, 0)), eq(attr(0, 1), attr(0, 2))),
            eq(attr(0, 3), attr(1, 0)),
        );
        let pairs = equi_pairs(&cond, 0, 1);
        assert_eq!(
            pairs,
            vec![(attr(0, 0), attr(1, 2)), (attr(0, 3), attr(1, 0))]
        );
        let uuid = TExpr::new(
            ExprKind::Call(Func::Uuid, vec![]),
            Type::Int,
            Span::default(),
        );
        assert!(equi_pairs(&eq(attr(0, 0), uuid), 0, 1).is_empty());
    }

    #[test]
    fn picks_primary_key_then_index_then_scan() {
        let keys = TableKeys {
            primary_key: vec![0, 1],
            indexes: vec![vec![2]],
            redis: None,
            postgres: None,
        };
        let both = and(eq(attr(1, 0), attr(0, 5)), eq(lit(3), attr(1, 1)));
        assert_eq!(
            table_lookup(&keys, Some(&both), 1),
            Lookup::Primary(vec![attr(0, 5), lit(3)])
        );
        let part = and(eq(attr(1, 0), attr(0, 5)), eq(attr(1, 2), attr(0, 1)));
        assert_eq!(
            table_lookup(&keys, Some(&part), 1),
            Lookup::Index(0, vec![attr(0, 1)])
        );
        // `row.a = row.b` fixes nothing.
        let own = eq(attr(1, 0), attr(1, 1));
        assert_eq!(table_lookup(&keys, Some(&own), 1), Lookup::Scan);
        assert_eq!(table_lookup(&keys, None, 1), Lookup::Scan);
    }
}
