//! Helpers called from the grammar's actions: the pieces of a statement that the grammar
//! collects before building an AST node, and the checks that need a diagnostic.

use super::ast::*;
use super::errors;
use super::token::{LexError, Tok};
use crate::diagnostic::Diagnostic;
use lalrpop_util::ErrorRecovery;

/// One element of a `CREATE STREAM` / `CREATE TABLE` body.
pub enum TableElem {
    /// `name TYPE [NOT NULL] [PRIMARY KEY]`.
    Attr(AttrDef),
    /// `PRIMARY KEY (a, b)`.
    PrimaryKey(Vec<Ident>, Span),
    /// `INDEX (a)`.
    Index(Vec<Ident>, Span),
}

/// `SELECT ... FROM ... [clauses]`: a query without its output.
pub struct Body {
    /// The SELECT clause.
    pub select: Select,
    /// The FROM source.
    pub from: Source,
    /// `WHERE`.
    pub where_: Option<Expr>,
    /// `GROUP BY`.
    pub group_by: Vec<Expr>,
    /// `HAVING`.
    pub having: Option<Expr>,
    /// `ORDER BY`.
    pub order_by: Vec<OrderItem>,
    /// `LIMIT`.
    pub limit: Option<Expr>,
    /// `OFFSET`.
    pub offset: Option<Expr>,
    /// `OUTPUT ... EVERY ...` written before a trailing `INSERT`.
    pub rate: Option<OutputRate>,
}

/// Sets the annotations of `stmt` and widens its span to `span` (which covers them).
pub fn attach(
    stmt: Statement,
    annotations: Vec<Annotation>,
    span: Span,
    diags: &mut Vec<Diagnostic>,
) -> Statement {
    macro_rules! set {
        ($variant:ident, $node:ident) => {{
            let mut node = $node;
            node.annotations = annotations;
            node.span = span;
            Statement::$variant(node)
        }};
    }
    match stmt {
        Statement::Stream(s) => set!(Stream, s),
        Statement::Table(t) => set!(Table, t),
        Statement::Query(q) => set!(Query, q),
        Statement::Update(u) => set!(Update, u),
        Statement::Delete(d) => set!(Delete, d),
        Statement::Partition(p) => set!(Partition, p),
        Statement::Trigger(mut t) => {
            if let Some(first) = annotations.first() {
                let msg = "annotations on a trigger are ignored";
                diags.push(Diagnostic::warning(msg, first.span));
            }
            t.span = span;
            Statement::Trigger(t)
        }
        Statement::Error(_) => Statement::Error(span),
    }
}

/// Builds an attribute definition from its constraint codes (see `AttrConstraint`).
pub fn attr_def(name: Ident, ty: Ident, constraints: Vec<u8>, span: Span) -> TableElem {
    TableElem::Attr(AttrDef {
        name,
        ty,
        not_null: constraints.contains(&0),
        primary_key: constraints.contains(&1),
        span,
    })
}

/// `CREATE STREAM`: `PRIMARY KEY (...)` and `INDEX (...)` clauses are table-only.
pub fn stream_def(
    name: Ident,
    inner: bool,
    elems: Option<Vec<TableElem>>,
    with: Vec<OptionKv>,
    and_with: Vec<Vec<OptionKv>>,
    span: Span,
    diags: &mut Vec<Diagnostic>,
) -> StreamDef {
    // Only a fault stream `!Name` may leave its attributes out: they are `Name`'s.
    if elems.is_none() && !name.name.starts_with('!') {
        diags.push(
            Diagnostic::error(
                format!("stream `{}` needs its attributes", name.name),
                name.span,
            )
            .with_help("write them in parentheses, e.g. CREATE STREAM S (id LONG, sym STRING)"),
        );
    }
    let mut attrs = Vec::new();
    for elem in elems.unwrap_or_default() {
        match elem {
            TableElem::Attr(attr) => attrs.push(attr),
            TableElem::PrimaryKey(_, at) | TableElem::Index(_, at) => {
                let msg = "a stream cannot have a primary key or an index";
                diags.push(
                    Diagnostic::error(msg, at).with_help("use CREATE TABLE for keyed storage"),
                );
            }
        }
    }
    StreamDef {
        annotations: Vec::new(),
        name,
        inner,
        attrs,
        with,
        and_with,
        span,
    }
}

/// `CREATE TABLE`.
pub fn table_def(name: Ident, elems: Vec<TableElem>, with: Vec<OptionKv>, span: Span) -> TableDef {
    let mut table = TableDef {
        annotations: Vec::new(),
        name,
        attrs: Vec::new(),
        primary_key: Vec::new(),
        indexes: Vec::new(),
        with,
        span,
    };
    for elem in elems {
        match elem {
            TableElem::Attr(attr) => table.attrs.push(attr),
            TableElem::PrimaryKey(cols, _) => table.primary_key.extend(cols),
            TableElem::Index(cols, _) => table.indexes.push(cols),
        }
    }
    table
}

/// `AT 'start'` (Siddhi's spelling) is `AT START`; any other string is a cron expression.
pub fn trigger_string(text: String, span: Span) -> TriggerAt {
    if text.trim().eq_ignore_ascii_case("start") {
        TriggerAt::Start
    } else {
        TriggerAt::Cron(text, span)
    }
}

/// Assembles a query; reports an `OUTPUT` clause written both before and after `INSERT`.
pub fn query(
    output: QueryOutput,
    body: Body,
    trailing_rate: Option<OutputRate>,
    span: Span,
    diags: &mut Vec<Diagnostic>,
) -> Query {
    let rate = match (body.rate, trailing_rate) {
        (Some(first), Some(second)) => {
            let msg = "the OUTPUT clause is written twice";
            let diag = Diagnostic::error(msg, second.span)
                .with_label("second OUTPUT clause")
                .with_secondary(first.span, "first OUTPUT clause");
            diags.push(diag);
            Some(first)
        }
        (first, second) => first.or(second),
    };
    Query {
        annotations: Vec::new(),
        output,
        select: body.select,
        from: body.from,
        where_: body.where_,
        group_by: body.group_by,
        having: body.having,
        order_by: body.order_by,
        limit: body.limit,
        offset: body.offset,
        rate,
        span,
    }
}

/// `UPDATE table SET ...`: a qualified column must be qualified by the updated table.
pub fn update(
    table: Ident,
    sets: Vec<(Option<Ident>, Ident, Expr)>,
    from: Source,
    where_: Option<Expr>,
    span: Span,
    diags: &mut Vec<Diagnostic>,
) -> UpdateStmt {
    let mut assignments = Vec::new();
    for (qualifier, column, value) in sets {
        if let Some(q) = qualifier.filter(|q| q.name != table.name) {
            let msg = format!(
                "`{}.{}` is not a column of `{}`",
                q.name, column.name, table.name
            );
            let help = format!(
                "write `{}` or `{}.{}`",
                column.name, table.name, column.name
            );
            diags.push(Diagnostic::error(msg, q.span.to(column.span)).with_help(help));
        }
        assignments.push((column, value));
    }
    UpdateStmt {
        annotations: Vec::new(),
        table,
        sets: assignments,
        from,
        where_,
        span,
    }
}

/// `left kind JOIN right [ON on]`.
pub fn join(left: Source, kind: JoinKind, right: Source, on: Option<Expr>, span: Span) -> Source {
    Source::Join(Box::new(JoinSource {
        left,
        kind,
        right,
        on,
        span,
    }))
}

/// `a op b`.
pub fn binary(op: BinaryOp, left: Expr, right: Expr, span: Span) -> Expr {
    Expr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
        span,
    }
}

/// `a:b` or `a.b` as one identifier.
pub fn join_names(a: Ident, b: Ident, sep: &str) -> Ident {
    let span = a.span.to(b.span);
    Ident::new(format!("{}{sep}{}", a.name, b.name), span)
}

/// `-literal` in a `WITH` list or an annotation (the type stays that of the positive literal).
pub fn negate(lit: Literal) -> Literal {
    match lit {
        Literal::Int(n) => Literal::Int(-n),
        Literal::Long(n) => Literal::Long(-n),
        Literal::Float(x) => Literal::Float(-x),
        Literal::Double(x) => Literal::Double(-x),
        Literal::Duration(ms) => Literal::Duration(-ms),
        // The grammar only negates numeric literals.
        other => other,
    }
}

/// Repetition bounds `{min, max}`; reports `min > max`.
pub fn count(min: u32, max: Option<u32>, span: Span, diags: &mut Vec<Diagnostic>) -> Count {
    if let Some(max) = max.filter(|&max| max < min) {
        let msg = format!("the minimum count {min} is larger than the maximum {max}");
        diags.push(Diagnostic::error(msg, span));
    }
    Count { min, max }
}

/// A statement inside a partition that failed to parse: reports it, returns its placeholder.
pub fn recovered(
    error: ErrorRecovery<usize, Tok<'_>, LexError>,
    span: Span,
    src: &str,
    diags: &mut Vec<Diagnostic>,
) -> Statement {
    let mut span = span;
    for (start, _, end) in &error.dropped_tokens {
        span = span.to(Span::new(*start, *end));
    }
    diags.extend(errors::parse_error(error.error, src));
    Statement::Error(span)
}

/// The span `l..r` (shorthand for the grammar's actions).
pub fn sp(l: usize, r: usize) -> Span {
    Span::new(l, r)
}

/// `-x` or `NOT x`.
pub fn unary(op: UnaryOp, expr: Expr, span: Span) -> Expr {
    Expr::Unary {
        op,
        expr: Box::new(expr),
        span,
    }
}

/// `x IS [NOT] NULL`.
pub fn is_null(expr: Expr, negated: bool, span: Span) -> Expr {
    Expr::IsNull {
        expr: Box::new(expr),
        negated,
        span,
    }
}

/// `x [NOT] IN (list)`.
pub fn in_list(expr: Expr, list: Vec<Expr>, negated: bool, span: Span) -> Expr {
    Expr::InList {
        expr: Box::new(expr),
        list,
        negated,
        span,
    }
}

/// `x IN Table`.
pub fn in_table(expr: Expr, table: Ident, span: Span) -> Expr {
    Expr::InTable {
        expr: Box::new(expr),
        table,
        span,
    }
}

/// `x [NOT] BETWEEN low AND high`.
pub fn between(expr: Expr, low: Expr, high: Expr, negated: bool, span: Span) -> Expr {
    Expr::Between {
        expr: Box::new(expr),
        low: Box::new(low),
        high: Box::new(high),
        negated,
        span,
    }
}

/// `x [NOT] LIKE pattern`.
pub fn like(expr: Expr, pattern: Expr, negated: bool, span: Span) -> Expr {
    Expr::Like {
        expr: Box::new(expr),
        pattern: Box::new(pattern),
        negated,
        span,
    }
}

/// An attribute reference `[q[index].]name`.
pub fn attr(qualifier: Option<Ident>, index: Option<EventIndex>, name: Ident, span: Span) -> Expr {
    Expr::Attr {
        qualifier,
        index,
        name,
        span,
    }
}

/// A function call.
pub fn call(name: Ident, args: Vec<Expr>, distinct: bool, span: Span) -> Expr {
    Expr::Call {
        name,
        args,
        distinct,
        span,
    }
}

/// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`.
pub fn case(
    operand: Option<Expr>,
    whens: Vec<(Expr, Expr)>,
    else_: Option<Expr>,
    span: Span,
) -> Expr {
    Expr::Case {
        operand: operand.map(Box::new),
        whens,
        else_: else_.map(Box::new),
        span,
    }
}

/// `[#]Stream [[filter]] [AS alias] [WINDOW ...] [UNIDIRECTIONAL]`.
pub fn stream_source(
    inner: bool,
    stream: Ident,
    filter: Option<Expr>,
    (alias, window): (Option<Ident>, Option<WindowSpec>),
    unidirectional: bool,
    span: Span,
) -> Source {
    Source::Stream(StreamSource {
        stream,
        inner,
        filter,
        alias,
        window,
        unidirectional,
        span,
    })
}
