//! Tables (DESIGN §3.1, §3.2): definitions, `INSERT INTO` / `UPSERT INTO` a table, `UPDATE`,
//! `DELETE` and `IN table`.

use super::ir::TExpr;

/// What a query does to its target table.
#[derive(Clone, Debug, PartialEq)]
pub enum TableOp {
    /// `INSERT INTO table`: each output row is appended (rejected when its primary key is
    /// taken).
    Insert,
    /// `UPSERT INTO table ... ON cond`: each output row replaces every row matching `cond`,
    /// or is appended when none does. `cond` reads the output row as input 0 and the table
    /// row as input 1.
    Upsert {
        /// The match condition.
        cond: TExpr,
    },
    /// `UPDATE table SET ... FROM s WHERE cond`: for each event of `s` (input 0), the rows
    /// (input 1) matching `cond` get the assignments, all computed from the row before the
    /// update.
    Update {
        /// Column index and new value.
        sets: Vec<(usize, TExpr)>,
        /// Which rows (all when absent).
        cond: Option<TExpr>,
    },
    /// `DELETE FROM table USING s WHERE cond`: for each event of `s` (input 0), the rows
    /// (input 1) matching `cond` are removed.
    Delete {
        /// Which rows (all when absent).
        cond: Option<TExpr>,
    },
}

/// The operation of a query whose target is a table (`None` for a stream target).
pub fn target_op(
    a: &mut super::Analysis,
    _q: &crate::syntax::ast::Query,
    _inputs: &[super::expr::ScopeInput],
    _columns: &[super::ir::Column],
) -> Option<Box<TableOp>> {
    let _ = a;
    None
}

/// The error for a table used where a stream is needed.
pub fn not_a_stream(name: &crate::syntax::ast::Ident) -> crate::diagnostic::Diagnostic {
    crate::diagnostic::Diagnostic::error(
        format!("`{}` is a table, not a stream", name.name),
        name.span,
    )
    .with_label("a table")
    .with_help("a query reads a table in a join (`FROM S JOIN T ON ...`) or with `IN`")
}
