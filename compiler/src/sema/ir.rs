//! The bound, typed form of expressions and queries that sema produces and the planner reads.

use super::types::Type;
use crate::syntax::ast::{BinaryOp, EventIndex, JoinKind, OutputEvents, Span};

/// A typed expression with names resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct TExpr {
    /// What it computes.
    pub kind: ExprKind,
    /// Its value type.
    pub ty: Type,
    /// Where it was written.
    pub span: Span,
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The comparison for a binary operator, if it is one.
    pub fn from_binary(op: BinaryOp) -> Option<CmpOp> {
        Some(match op {
            BinaryOp::Eq => CmpOp::Eq,
            BinaryOp::Ne => CmpOp::Ne,
            BinaryOp::Lt => CmpOp::Lt,
            BinaryOp::Le => CmpOp::Le,
            BinaryOp::Gt => CmpOp::Gt,
            BinaryOp::Ge => CmpOp::Ge,
            _ => return None,
        })
    }
}

/// A literal value with its type.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// INT.
    Int(i32),
    /// LONG.
    Long(i64),
    /// FLOAT.
    Float(f32),
    /// DOUBLE.
    Double(f64),
    /// STRING.
    String(String),
    /// BOOL.
    Bool(bool),
}

/// Scalar functions (docs/functions.md#scalar-functions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `upper(s)`
    Upper,
    /// `lower(s)`
    Lower,
    /// `length(s)`
    Length,
    /// `concat(a, b, ...)`
    Concat,
    /// `replace(s, from, to)`
    Replace,
    /// `trim(s)`
    Trim,
    /// `substring(s, start [, len])`
    Substring,
    /// `left(s, n)`
    Left,
    /// `right(s, n)`
    Right,
    /// `reverse(s)`
    Reverse,
    /// `lpad(s, n, pad)`
    Lpad,
    /// `rpad(s, n, pad)`
    Rpad,
    /// `position(needle, haystack)`
    Position,
    /// `abs(x)`
    Abs,
    /// `ceil(x)`
    Ceil,
    /// `floor(x)`
    Floor,
    /// `round(x)`
    Round,
    /// `sqrt(x)`
    Sqrt,
    /// `power(x, y)`
    Power,
    /// `exp(x)`
    Exp,
    /// `ln(x)`
    Ln,
    /// `log10(x)`
    Log10,
    /// `sin(x)`
    Sin,
    /// `cos(x)`
    Cos,
    /// `tan(x)`
    Tan,
    /// `asin(x)`
    Asin,
    /// `acos(x)`
    Acos,
    /// `atan(x)`
    Atan,
    /// `signum(x)`
    Signum,
    /// `uuid()`
    Uuid,
    /// `now()`
    Now,
    /// `eventTimestamp()`
    EventTimestamp,
    /// `coalesce(a, b, ...)`
    Coalesce,
    /// `maximum(a, b, ...)`: the largest non-NULL argument.
    Maximum,
    /// `minimum(a, b, ...)`: the smallest non-NULL argument.
    Minimum,
    /// `nullif(a, b)`
    NullIf,
    /// `ifThenElse(c, a, b)`
    IfThenElse,
}

/// Aggregate functions (docs/functions.md#aggregates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggFunc {
    /// `count()` / `count(*)`
    CountAll,
    /// `count(x)`
    Count,
    /// `count(DISTINCT x)` / `distinctCount(x)`
    DistinctCount,
    /// `sum(x)`
    Sum,
    /// `avg(x)`
    Avg,
    /// `min(x)`
    Min,
    /// `max(x)`
    Max,
    /// `minForever(x)`
    MinForever,
    /// `maxForever(x)`
    MaxForever,
    /// `stdDev(x)`
    StdDev,
    /// `first(x)`
    First,
    /// `last(x)`
    Last,
    /// `and(x)`
    And,
    /// `or(x)`
    Or,
}

/// One aggregate call of a query's selector.
#[derive(Clone, Debug, PartialEq)]
pub struct AggCall {
    /// The aggregate.
    pub func: AggFunc,
    /// Its argument (none for `count()`).
    pub arg: Option<TExpr>,
    /// Result type.
    pub ty: Type,
    /// Where it was written.
    pub span: Span,
}

/// What an expression computes.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A literal.
    Lit(Lit),
    /// NULL of the expression's type.
    Null,
    /// Attribute `attr` of input `input` of the query (0 for a single stream).
    Attr {
        /// Which input of the query.
        input: usize,
        /// Index of the attribute in that input's schema.
        attr: usize,
        /// Attribute name (for readable generated code).
        name: String,
    },
    /// Attribute `attr` of one event of counted pattern element `input` (`e[0].x`,
    /// `e[last].x`); NULL when the element has no such event.
    IndexedAttr {
        /// Which input (pattern element) of the query.
        input: usize,
        /// Which of the element's events.
        index: EventIndex,
        /// Index of the attribute in that input's schema.
        attr: usize,
        /// Attribute name (for readable generated code).
        name: String,
    },
    /// Numeric widening of the operand to this expression's type.
    Widen(Box<TExpr>),
    /// `-x`.
    Neg(Box<TExpr>),
    /// `NOT x`.
    Not(Box<TExpr>),
    /// Arithmetic; both operands already have this expression's type.
    Arith(ArithOp, Box<TExpr>, Box<TExpr>),
    /// Comparison; both operands have the same type.
    Cmp(CmpOp, Box<TExpr>, Box<TExpr>),
    /// `a AND b`.
    And(Box<TExpr>, Box<TExpr>),
    /// `a OR b`.
    Or(Box<TExpr>, Box<TExpr>),
    /// `x IS [NOT] NULL` (negated = IS NOT NULL).
    IsNull(Box<TExpr>, bool),
    /// `x [NOT] IN (list)`; all items have the type of `x`.
    InList(Box<TExpr>, Vec<TExpr>, bool),
    /// `x [NOT] BETWEEN lo AND hi`.
    Between(Box<TExpr>, Box<TExpr>, Box<TExpr>, bool),
    /// `x [NOT] LIKE pattern`.
    Like(Box<TExpr>, Box<TExpr>, bool),
    /// Searched CASE; branches have this expression's type.
    Case(Vec<(TExpr, TExpr)>, Option<Box<TExpr>>),
    /// `CAST(x AS ty)`.
    Cast(Box<TExpr>),
    /// A scalar function call; arguments are already coerced.
    Call(Func, Vec<TExpr>),
    /// The result of aggregate number `n` of the query.
    Agg(usize),
    /// `... IN Table`: whether some row of table `table` satisfies `cond`. `cond` reads the
    /// inputs in scope where the expression was written and the row as input `row` (one past
    /// them); `x IN T` is `T.key = x`.
    InTable {
        /// The table's name.
        table: String,
        /// The input index of the table row inside `cond`.
        row: usize,
        /// The condition on the row.
        cond: Box<TExpr>,
    },
}

impl TExpr {
    /// Builds an expression.
    pub fn new(kind: ExprKind, ty: Type, span: Span) -> Self {
        TExpr { kind, ty, span }
    }

    /// Brings the expression to type `to` (a no-op when it already has it).
    pub fn widen_to(self, to: Type) -> TExpr {
        if self.ty == to {
            return self;
        }
        let span = self.span;
        match self.kind {
            ExprKind::Null => TExpr::new(ExprKind::Null, to, span),
            _ => TExpr::new(ExprKind::Widen(Box::new(self)), to, span),
        }
    }

    /// Calls `f` on this expression and every sub-expression, mutably (parents first).
    pub fn visit_mut(&mut self, f: &mut impl FnMut(&mut TExpr)) {
        f(self);
        match &mut self.kind {
            ExprKind::Lit(_)
            | ExprKind::Null
            | ExprKind::Attr { .. }
            | ExprKind::IndexedAttr { .. }
            | ExprKind::Agg(_) => {}
            ExprKind::Widen(x) | ExprKind::Neg(x) | ExprKind::Not(x) | ExprKind::Cast(x) => {
                x.visit_mut(f)
            }
            ExprKind::IsNull(x, _) => x.visit_mut(f),
            ExprKind::Arith(_, x, y)
            | ExprKind::Cmp(_, x, y)
            | ExprKind::And(x, y)
            | ExprKind::Or(x, y)
            | ExprKind::Like(x, y, _) => {
                x.visit_mut(f);
                y.visit_mut(f);
            }
            ExprKind::InList(x, list, _) => {
                x.visit_mut(f);
                list.iter_mut().for_each(|i| i.visit_mut(f));
            }
            ExprKind::Between(x, lo, hi, _) => {
                x.visit_mut(f);
                lo.visit_mut(f);
                hi.visit_mut(f);
            }
            ExprKind::Case(whens, else_) => {
                for (c, v) in whens {
                    c.visit_mut(f);
                    v.visit_mut(f);
                }
                if let Some(x) = else_ {
                    x.visit_mut(f);
                }
            }
            ExprKind::Call(_, args) => args.iter_mut().for_each(|x| x.visit_mut(f)),
            ExprKind::InTable { cond, .. } => cond.visit_mut(f),
        }
    }

    /// `true` when the expression (or a sub-expression) contains an aggregate.
    pub fn has_aggregate(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| found |= matches!(e.kind, ExprKind::Agg(_)));
        found
    }

    /// Calls `f` on this expression and every sub-expression.
    pub fn visit(&self, f: &mut impl FnMut(&TExpr)) {
        f(self);
        match &self.kind {
            ExprKind::Lit(_)
            | ExprKind::Null
            | ExprKind::Attr { .. }
            | ExprKind::IndexedAttr { .. }
            | ExprKind::Agg(_) => {}
            ExprKind::Widen(e) | ExprKind::Neg(e) | ExprKind::Not(e) | ExprKind::Cast(e) => {
                e.visit(f)
            }
            ExprKind::IsNull(e, _) => e.visit(f),
            ExprKind::Arith(_, a, b)
            | ExprKind::Cmp(_, a, b)
            | ExprKind::And(a, b)
            | ExprKind::Or(a, b)
            | ExprKind::Like(a, b, _) => {
                a.visit(f);
                b.visit(f);
            }
            ExprKind::InList(e, list, _) => {
                e.visit(f);
                list.iter().for_each(|x| x.visit(f));
            }
            ExprKind::Between(a, b, c, _) => {
                a.visit(f);
                b.visit(f);
                c.visit(f);
            }
            ExprKind::Case(whens, else_) => {
                for (c, v) in whens {
                    c.visit(f);
                    v.visit(f);
                }
                if let Some(e) = else_ {
                    e.visit(f);
                }
            }
            ExprKind::Call(_, args) => args.iter().for_each(|x| x.visit(f)),
            // The condition's `Attr { input: row }` is the table row, not a query input.
            ExprKind::InTable { cond, .. } => cond.visit(f),
        }
    }
}

/// One column of a query's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Output attribute name.
    pub name: String,
    /// The value.
    pub expr: TExpr,
}

/// A bound window clause (arguments checked and evaluated to constants where they must be).
#[derive(Clone, Debug, PartialEq)]
pub struct BoundWindow {
    /// Canonical window name (`length`, `timeBatch`, ...).
    pub name: String,
    /// Constant arguments (lengths, durations in ms).
    pub params: Vec<i64>,
    /// Attribute arguments (timestamp attribute, key attribute, sort keys).
    pub attrs: Vec<TExpr>,
    /// Sort directions for `sort` (true = descending), parallel to `attrs`.
    pub descending: Vec<bool>,
    /// The text argument of `cron` (the cron expression).
    pub text: Option<String>,
    /// The retention condition of `expression` beyond `count() <= n` (which is `params[0]`).
    pub condition: Option<Box<WindowCondition>>,
    /// Where it was written.
    pub span: Span,
}

impl BoundWindow {
    /// The kind of the window, from its canonical name.
    pub fn kind(&self) -> WindowKind {
        WindowKind::from_name(&self.name)
    }
}

/// The kinds of window (docs/windows.md), one per canonical name. What each can do for the
/// physical plan (batch or sliding, indexable in a join, ...) is asked of its methods
/// (`crate::plan::physical`), never of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// `length`.
    Length,
    /// `lengthBatch`.
    LengthBatch,
    /// `time`.
    Time,
    /// `timeBatch` / `tumbling`.
    TimeBatch,
    /// `hop` / `sliding`.
    Hop,
    /// `timeLength`.
    TimeLength,
    /// `externalTime`.
    ExternalTime,
    /// `externalTimeBatch`.
    ExternalTimeBatch,
    /// `session`.
    Session,
    /// `sort`.
    Sort,
    /// `unique`.
    Unique,
    /// `firstUnique`.
    FirstUnique,
    /// `delay`.
    Delay,
    /// `expression`.
    Expression,
    /// `frequent`.
    Frequent,
    /// `lossyFrequent`.
    LossyFrequent,
    /// `cron`.
    Cron,
}

impl WindowKind {
    /// The kind of canonical window name `name` (sema only binds known names; an unknown
    /// one, which cannot occur, is taken as `length`).
    pub fn from_name(name: &str) -> WindowKind {
        match name {
            "lengthBatch" => WindowKind::LengthBatch,
            "time" => WindowKind::Time,
            "timeBatch" => WindowKind::TimeBatch,
            "hop" => WindowKind::Hop,
            "timeLength" => WindowKind::TimeLength,
            "externalTime" => WindowKind::ExternalTime,
            "externalTimeBatch" => WindowKind::ExternalTimeBatch,
            "session" => WindowKind::Session,
            "sort" => WindowKind::Sort,
            "unique" => WindowKind::Unique,
            "firstUnique" => WindowKind::FirstUnique,
            "delay" => WindowKind::Delay,
            "expression" => WindowKind::Expression,
            "frequent" => WindowKind::Frequent,
            "lossyFrequent" => WindowKind::LossyFrequent,
            "cron" => WindowKind::Cron,
            _ => WindowKind::Length,
        }
    }
}

/// The condition of `WINDOW('expression', '<condition>')`: the window keeps its newest
/// events while it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowCondition {
    /// The condition. Input 0 is the newest event (`last.x`, or just `x`), input 1 the oldest
    /// (`first.x`); attribute number `attrs.len()` of either is its timestamp
    /// (`eventTimestamp(last)`, `eventTimestamp(first)`).
    pub expr: TExpr,
    /// The aggregates it reads (`count()`, `sum(x)`, ...), over the window's events.
    pub aggregates: Vec<AggCall>,
    /// The condition as written.
    pub text: String,
}

/// A bound single-stream query.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundQuery {
    /// Stable name (`@info(name=...)` or `query_<n>`).
    pub name: String,
    /// The name was written (`@info(name = ...)` or `-- name:`), not `query_<n>`.
    pub named: bool,
    /// The partition the query is in (index into `Analysis::partitions`).
    pub partition: Option<usize>,
    /// Input stream names, one per input (a single stream, both join sides, ...).
    pub inputs: Vec<String>,
    /// Single stream, join or pattern.
    pub kind: QueryKind,
    /// Filter applied before the window (single stream).
    pub filter: Option<TExpr>,
    /// Window, if any (single stream).
    pub window: Option<BoundWindow>,
    /// WHERE over the combined rows (joins and patterns).
    pub post_filter: Option<TExpr>,
    /// Aggregate calls referenced by `ExprKind::Agg`.
    pub aggregates: Vec<AggCall>,
    /// GROUP BY keys.
    pub group_by: Vec<TExpr>,
    /// HAVING condition.
    pub having: Option<TExpr>,
    /// Output columns, in SELECT order.
    pub columns: Vec<Column>,
    /// ORDER BY, LIMIT, OFFSET, DISTINCT, OUTPUT rate.
    pub output: OutputClauses,
    /// Target stream name (or table name).
    pub target: String,
    /// What happens to the target table: set when the target is a table, and for UPDATE and
    /// DELETE statements (which are queries with no output columns).
    pub table_op: Option<Box<TableOp>>,
    /// Which events are emitted.
    pub events: OutputEvents,
    /// Whole statement span.
    pub span: Span,
}

/// What kind of source a query reads.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryKind {
    /// One stream (filter, window, selector).
    Single,
    /// A join of streams and tables.
    Join(Box<BoundJoin>),
    /// A pattern or sequence.
    Pattern(Box<BoundPattern>),
}

/// The clauses that shape a query's output rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutputClauses {
    /// `SELECT DISTINCT`: a row equal to an earlier row of the same output chunk is dropped.
    pub distinct: bool,
    /// ORDER BY keys over the output attributes (input 0 is the output row), descending flag.
    pub order_by: Vec<(TExpr, bool)>,
    /// LIMIT.
    pub limit: Option<u64>,
    /// OFFSET.
    pub offset: Option<u64>,
    /// OUTPUT rate limiting.
    pub rate: Option<crate::syntax::ast::OutputRate>,
}

impl OutputClauses {
    /// `true` when rows pass through unchanged.
    pub fn is_plain(&self) -> bool {
        !self.distinct
            && self.order_by.is_empty()
            && self.limit.is_none()
            && self.offset.is_none()
            && self.rate.is_none()
    }
}

/// A bound `PARTITION WITH (...) BEGIN ... END`.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundPartition {
    /// One key per partitioned stream.
    pub keys: Vec<PartitionKeyIr>,
    /// `PURGE AFTER` in ms.
    pub purge_after: Option<i64>,
}

/// How events of one stream find their partition.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionKeyIr {
    /// The partitioned stream.
    pub stream: String,
    /// Value key or ranges (expressions over the stream's attributes, input 0).
    pub key: PartitionBy,
}

/// A value key or labelled ranges.
#[derive(Clone, Debug, PartialEq)]
pub enum PartitionBy {
    /// `expr OF Stream`: one partition per value.
    Value(TExpr),
    /// `cond AS 'label' OR ...`: the first matching label (events matching none are dropped).
    Range(Vec<(TExpr, String)>),
}

/// A bound join.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundJoin {
    /// One per input of the query, in input order.
    pub sides: Vec<JoinSide>,
    /// Step `k` joins sides `0..=k` with side `k + 1`.
    pub steps: Vec<JoinStep>,
}

/// One side of a join.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinSide {
    /// `Stream[cond]`, over this side only (its input 0).
    pub filter: Option<TExpr>,
    /// The side's window, over this side only.
    pub window: Option<BoundWindow>,
    /// Whether an arrival on this side runs the join (a table never does; with
    /// `UNIDIRECTIONAL` only the marked side does).
    pub triggers: bool,
    /// The side is a table.
    pub table: bool,
}

/// One join of the left-deep chain.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinStep {
    /// `INNER`, `LEFT`, `RIGHT` or `FULL`.
    pub kind: JoinKind,
    /// The ON condition over all inputs, if written.
    pub on: Option<TExpr>,
}

impl BoundJoin {
    /// Whether side `side` is padded with NULLs when it has no match (the other side of a
    /// `LEFT`, `RIGHT` or `FULL` join).
    pub fn optional(&self, side: usize) -> bool {
        self.steps.iter().enumerate().any(|(k, step)| {
            let right = side == k + 1;
            let left = side <= k;
            match step.kind {
                JoinKind::Inner => false,
                JoinKind::Left => right,
                JoinKind::Right => left,
                JoinKind::Full => left || right,
            }
        })
    }
}

/// A bound pattern or sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundPattern {
    /// `SEQUENCE` (strict contiguity) rather than `PATTERN`.
    pub sequence: bool,
    /// `WITHIN`, in ms.
    pub within: Option<i64>,
    /// The tree; children come before their parents.
    pub nodes: Vec<PatternNode>,
    /// Index of the root in `nodes`.
    pub root: usize,
    /// Per query input, the element's alias (`None` when not written, and for absences).
    pub aliases: Vec<Option<String>>,
}

/// One node of a bound pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum PatternNode {
    /// `e=S[cond]{min,max}`, capturing into query input `input` (`{1,1}` when no count was
    /// written; `max: None` is unbounded).
    Stream {
        /// The query input (and the element's position in the pattern).
        input: usize,
        /// Minimum number of events.
        min: u32,
        /// Maximum number of events.
        max: Option<u32>,
        /// The element's condition (the tested event is input `inputs.len()`).
        filter: Option<TExpr>,
    },
    /// `NOT S[cond] [FOR wait]`; query input `input` is hidden.
    Absent {
        /// The query input (hidden: it only delivers the stream).
        input: usize,
        /// `FOR`, in ms (`None` only as a side of `AND`).
        wait: Option<i64>,
        /// The condition (the tested event is input `inputs.len()`).
        filter: Option<TExpr>,
    },
    /// `a -> b`.
    Then(usize, usize),
    /// `a AND b`.
    And(usize, usize),
    /// `a OR b`.
    Or(usize, usize),
    /// `EVERY p`.
    Every(usize),
}

impl BoundPattern {
    /// The stream element capturing into input `input`, as `(min, max)`.
    pub fn element(&self, input: usize) -> Option<(u32, Option<u32>)> {
        self.nodes.iter().find_map(|n| match n {
            PatternNode::Stream {
                input: i, min, max, ..
            } if *i == input => Some((*min, *max)),
            _ => None,
        })
    }

    /// `true` when input `input` is a stream element that may capture several events.
    pub fn is_counted(&self, input: usize) -> bool {
        self.element(input).is_some_and(|(_, max)| max != Some(1))
    }
}

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
