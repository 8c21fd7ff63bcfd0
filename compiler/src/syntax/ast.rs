//! The abstract syntax tree of an EventFlux application.
//!
//! Every node carries the [`Span`] of the source text it came from. Spans are ignored when
//! trees are compared (`Span`'s `PartialEq` is always true), so parser tests can compare
//! trees built by hand with trees parsed from text.

use std::fmt;

/// A byte range `start..end` in the source text of one application.
#[derive(Clone, Copy, Default, Eq, PartialOrd, Ord)]
pub struct Span {
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (byte offsets).
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

/// Consistent with `PartialEq`: every span hashes alike, so nodes that compare equal (an
/// [`Ident`] written at two places) also hash equal and can be used as map keys.
impl std::hash::Hash for Span {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// An identifier (stream, attribute, alias, function or type name) with its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    /// The identifier as written (quotes removed for `"..."` identifiers).
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

impl Ident {
    /// Builds an identifier.
    pub fn new(name: impl Into<String>, span: Span) -> Self {
        Ident {
            name: name.into(),
            span,
        }
    }
}

/// A whole application: the statements of one `.eventflux` file, in order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct App {
    /// The statements, in source order.
    pub statements: Vec<Statement>,
}

/// One `;`-terminated statement.
// A few statements per application: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `CREATE STREAM` / `DEFINE STREAM`.
    Stream(StreamDef),
    /// `CREATE TABLE` / `DEFINE TABLE`.
    Table(TableDef),
    /// `CREATE TRIGGER`.
    Trigger(TriggerDef),
    /// `INSERT ... SELECT`, `SELECT ... INSERT`, `UPSERT INTO ... SELECT`.
    Query(Query),
    /// `UPDATE table SET ... FROM stream WHERE ...`.
    Update(UpdateStmt),
    /// `DELETE FROM table USING stream WHERE ...`.
    Delete(DeleteStmt),
    /// `PARTITION WITH (...) BEGIN ... END`.
    Partition(Partition),
    /// A statement that failed to parse; its error was reported and parsing resumed at `;`.
    Error(Span),
}

/// `@name(args)` or `@ns:name(args)` in front of a statement, e.g. `@info(name = 'q1')`.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// The name, with `ns:` prefix when written (`app:name`).
    pub name: Ident,
    /// `key = value` or bare `value` arguments.
    pub args: Vec<OptionKv>,
    /// The whole annotation.
    pub span: Span,
}

/// One `key = 'value'` entry of a `WITH (...)` list or an annotation. `key` is `None` for a
/// bare value (`@app:name('X')`).
#[derive(Clone, Debug, PartialEq)]
pub struct OptionKv {
    /// The key; dotted keys are written quoted (`"file.path"`).
    pub key: Option<Ident>,
    /// The value literal.
    pub value: Literal,
    /// Span of the value.
    pub value_span: Span,
}

/// `CREATE STREAM Name (attr TYPE [NOT NULL], ...) [WITH (...)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamDef {
    /// Annotations written before the statement.
    pub annotations: Vec<Annotation>,
    /// The stream's name (without `#` for inner streams).
    pub name: Ident,
    /// `true` for `#Name` inner streams of a partition.
    pub inner: bool,
    /// The attributes, in order.
    pub attrs: Vec<AttrDef>,
    /// The `WITH (...)` options.
    pub with: Vec<OptionKv>,
    /// Each further `AND WITH (...)` list (several sources and sinks on one stream).
    pub and_with: Vec<Vec<OptionKv>>,
    /// The whole statement.
    pub span: Span,
}

impl StreamDef {
    /// Every `WITH` list of the stream, the first one (when written) then each `AND WITH`.
    pub fn with_lists(&self) -> impl Iterator<Item = &[OptionKv]> {
        std::iter::once(self.with.as_slice())
            .filter(|l| !l.is_empty())
            .chain(self.and_with.iter().map(Vec::as_slice))
    }
}

/// One attribute of a stream or table definition.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrDef {
    /// Attribute name.
    pub name: Ident,
    /// Type name as written (`STRING`, `bigint`, ...); resolved by sema.
    pub ty: Ident,
    /// `NOT NULL` was written.
    pub not_null: bool,
    /// `PRIMARY KEY` was written after the type (tables only).
    pub primary_key: bool,
    /// The whole attribute definition.
    pub span: Span,
}

/// `CREATE TABLE Name (attrs..., [PRIMARY KEY (a, b)], [INDEX (c)]) [WITH (...)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDef {
    /// Annotations written before the statement.
    pub annotations: Vec<Annotation>,
    /// The table's name.
    pub name: Ident,
    /// The attributes, in order.
    pub attrs: Vec<AttrDef>,
    /// Columns of a `PRIMARY KEY (...)` clause (inline `PRIMARY KEY` marks are on the attrs).
    pub primary_key: Vec<Ident>,
    /// Each `INDEX (...)` clause, with its columns.
    pub indexes: Vec<Vec<Ident>>,
    /// The `WITH (...)` options.
    pub with: Vec<OptionKv>,
    /// The whole statement.
    pub span: Span,
}

/// `CREATE TRIGGER Name AT ...`.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerDef {
    /// The trigger's name (a stream with one attribute `triggered_time LONG`).
    pub name: Ident,
    /// When it fires.
    pub at: TriggerAt,
    /// The whole statement.
    pub span: Span,
}

/// When a trigger fires.
#[derive(Clone, Debug, PartialEq)]
pub enum TriggerAt {
    /// `AT START`: once, when the app starts.
    Start,
    /// `AT EVERY <duration>`: periodically.
    Every(Duration),
    /// `AT CRON '<6-field cron>'`.
    Cron(String, Span),
}

/// A duration literal such as `5 SECONDS`, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Duration {
    /// Length in milliseconds.
    pub millis: i64,
    /// Where it was written.
    pub span: Span,
}

/// A query: `INSERT INTO Out SELECT ... FROM ... [WHERE ...] ...` (either order of the INSERT
/// and SELECT parts), or `UPSERT INTO Table SELECT ... FROM ... ON cond`.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// Annotations written before the statement (`@info(name = 'q')`).
    pub annotations: Vec<Annotation>,
    /// Where the rows go.
    pub output: QueryOutput,
    /// The SELECT list.
    pub select: Select,
    /// The FROM source.
    pub from: Source,
    /// `WHERE` condition.
    pub where_: Option<Expr>,
    /// `GROUP BY` expressions.
    pub group_by: Vec<Expr>,
    /// `HAVING` condition.
    pub having: Option<Expr>,
    /// `ORDER BY` items.
    pub order_by: Vec<OrderItem>,
    /// `LIMIT` expression.
    pub limit: Option<Expr>,
    /// `OFFSET` expression.
    pub offset: Option<Expr>,
    /// `OUTPUT ... EVERY ...` rate limiting.
    pub rate: Option<OutputRate>,
    /// The whole statement.
    pub span: Span,
}

/// The target of a query.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryOutput {
    /// `INSERT [CURRENT|EXPIRED|ALL] [EVENTS] INTO target`.
    Insert {
        /// Which events are inserted.
        events: OutputEvents,
        /// The target stream or table.
        target: Ident,
        /// `true` when the target was written `#Name` (partition inner stream).
        inner: bool,
    },
    /// `UPSERT INTO table ... ON cond`.
    Upsert {
        /// The target table.
        target: Ident,
        /// The match condition.
        on: Expr,
    },
}

/// Which event kinds an `INSERT` emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputEvents {
    /// `INSERT INTO` / `INSERT CURRENT EVENTS INTO`.
    #[default]
    Current,
    /// `INSERT EXPIRED EVENTS INTO`.
    Expired,
    /// `INSERT ALL EVENTS INTO`.
    All,
}

/// The SELECT clause.
#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    /// `SELECT DISTINCT`.
    pub distinct: bool,
    /// The items, in order.
    pub items: Vec<SelectItem>,
    /// The clause's span.
    pub span: Span,
}

/// One item of a SELECT list.
#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    /// `*`.
    Star(Span),
    /// `expr [AS alias]`.
    Expr {
        /// The expression.
        expr: Expr,
        /// The alias, when written.
        alias: Option<Ident>,
    },
}

/// One `ORDER BY` item.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderItem {
    /// The sort key.
    pub expr: Expr,
    /// `DESC` was written.
    pub descending: bool,
}

/// `OUTPUT [ALL|FIRST|LAST|SNAPSHOT] EVERY ...`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputRate {
    /// Which rows are released.
    pub mode: RateMode,
    /// Every n events, or every duration.
    pub every: RateEvery,
    /// The clause's span.
    pub span: Span,
}

/// Which rows an output rate limiter releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateMode {
    /// `ALL` (the default).
    All,
    /// `FIRST`.
    First,
    /// `LAST`.
    Last,
    /// `SNAPSHOT`.
    Snapshot,
}

/// The period of an output rate limiter.
#[derive(Clone, Debug, PartialEq)]
pub enum RateEvery {
    /// `EVERY n EVENTS`.
    Events(i64, Span),
    /// `EVERY <duration>`.
    Time(Duration),
}

/// A FROM source.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A single stream or table, optionally with a filter and a window.
    Stream(StreamSource),
    /// `left [kind] JOIN right [ON cond]`.
    Join(Box<JoinSource>),
    /// `PATTERN (...)` or `SEQUENCE (...)`.
    Pattern(PatternSource),
}

/// `Stream [AS a] [WINDOW ...] [UNIDIRECTIONAL]`, also `Stream[cond]` (a filter).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSource {
    /// The stream or table name.
    pub stream: Ident,
    /// `true` for `#Name` (partition inner stream).
    pub inner: bool,
    /// `Stream[cond]` filter written in brackets.
    pub filter: Option<Expr>,
    /// `AS alias`.
    pub alias: Option<Ident>,
    /// `WINDOW('name', args)` / `WINDOW NAME(args)`.
    pub window: Option<WindowSpec>,
    /// `UNIDIRECTIONAL` was written after this side of a join.
    pub unidirectional: bool,
    /// The whole source.
    pub span: Span,
}

/// A window clause.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowSpec {
    /// Window name (from the string or the identifier).
    pub name: Ident,
    /// Arguments.
    pub args: Vec<WindowArg>,
    /// The whole clause.
    pub span: Span,
}

/// One window argument: an expression, optionally followed by `ASC` / `DESC` (for `sort`).
#[derive(Clone, Debug, PartialEq)]
pub struct WindowArg {
    /// The argument.
    pub expr: Expr,
    /// `Some(true)` for `DESC`, `Some(false)` for `ASC`, `None` when neither was written.
    pub descending: Option<bool>,
}

/// A join of two sources.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinSource {
    /// Left side.
    pub left: Source,
    /// Join kind.
    pub kind: JoinKind,
    /// Right side.
    pub right: Source,
    /// `ON` condition.
    pub on: Option<Expr>,
    /// The whole join.
    pub span: Span,
}

/// The kind of a join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// `JOIN` / `INNER JOIN`.
    Inner,
    /// `LEFT [OUTER] JOIN`.
    Left,
    /// `RIGHT [OUTER] JOIN`.
    Right,
    /// `FULL [OUTER] JOIN`.
    Full,
}

/// `PATTERN (...)` or `SEQUENCE (...)` with an optional `WITHIN`.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternSource {
    /// `true` for `SEQUENCE`.
    pub sequence: bool,
    /// The pattern expression.
    pub expr: PatternExpr,
    /// `WITHIN <duration>`.
    pub within: Option<Duration>,
    /// The whole source.
    pub span: Span,
}

/// A pattern or sequence expression.
#[derive(Clone, Debug, PartialEq)]
pub enum PatternExpr {
    /// `[alias=]Stream[[cond]][count]`.
    Stream(PatternStream),
    /// `NOT Stream[[cond]] [FOR duration]`.
    Not {
        /// The stream that must not occur.
        stream: Ident,
        /// Its filter.
        filter: Option<Expr>,
        /// `FOR duration`.
        for_: Option<Duration>,
        /// The whole element.
        span: Span,
    },
    /// `EVERY p`.
    Every(Box<PatternExpr>, Span),
    /// `a -> b` (also `a, b` in a sequence).
    FollowedBy(Box<PatternExpr>, Box<PatternExpr>, Span),
    /// `a AND b`.
    And(Box<PatternExpr>, Box<PatternExpr>, Span),
    /// `a OR b`.
    Or(Box<PatternExpr>, Box<PatternExpr>, Span),
}

/// One stream element of a pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternStream {
    /// `e1=` alias.
    pub alias: Option<Ident>,
    /// The stream.
    pub stream: Ident,
    /// `[cond]`.
    pub filter: Option<Expr>,
    /// `{n}`, `{m,n}`, `{m,}`, `+`, `*`, `?`.
    pub count: Option<Count>,
    /// The whole element.
    pub span: Span,
}

/// Repetition bounds of a pattern element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    /// Minimum occurrences.
    pub min: u32,
    /// Maximum occurrences (`None` = unbounded).
    pub max: Option<u32>,
}

/// `UPDATE table SET col = expr, ... FROM source WHERE cond`.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateStmt {
    /// Annotations written before the statement.
    pub annotations: Vec<Annotation>,
    /// The table updated.
    pub table: Ident,
    /// `SET` assignments: column (optionally written `Table.col`) and value.
    pub sets: Vec<(Ident, Expr)>,
    /// The driving stream.
    pub from: Source,
    /// Which rows are updated.
    pub where_: Option<Expr>,
    /// The whole statement.
    pub span: Span,
}

/// `DELETE FROM table USING source WHERE cond`.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteStmt {
    /// Annotations written before the statement.
    pub annotations: Vec<Annotation>,
    /// The table rows are deleted from.
    pub table: Ident,
    /// The driving stream.
    pub using: Source,
    /// Which rows are deleted.
    pub where_: Option<Expr>,
    /// The whole statement.
    pub span: Span,
}

/// `PARTITION WITH (keys) [PURGE AFTER d] BEGIN statements END`.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// Annotations written before the statement.
    pub annotations: Vec<Annotation>,
    /// Partition keys, one per stream.
    pub keys: Vec<PartitionKey>,
    /// `PURGE AFTER duration`.
    pub purge_after: Option<Duration>,
    /// The statements inside, each terminated by `;`.
    pub statements: Vec<Statement>,
    /// The whole statement.
    pub span: Span,
}

/// One partition key.
#[derive(Clone, Debug, PartialEq)]
pub enum PartitionKey {
    /// `expr OF Stream`.
    Value {
        /// The key expression.
        expr: Expr,
        /// The partitioned stream.
        stream: Ident,
    },
    /// `cond AS 'label' OR cond AS 'label' ... OF Stream`.
    Range {
        /// Conditions and their labels, in order.
        ranges: Vec<(Expr, String)>,
        /// The partitioned stream.
        stream: Ident,
    },
}

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// An integer that fits in 32 bits.
    Int(i32),
    /// An integer that does not fit in 32 bits, or written with an `L` suffix.
    Long(i64),
    /// `1.5f`.
    Float(f32),
    /// `1.5`.
    Double(f64),
    /// `'text'`.
    String(String),
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// `NULL`.
    Null,
    /// A duration such as `10 SECONDS`, in milliseconds.
    Duration(i64),
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `NOT x`.
    Not,
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
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
    /// `=` or `==`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `AND`
    And,
    /// `OR`
    Or,
}

/// Index of an event inside a counted pattern element: `e1[0]`, `e1[last]`, `e1[last - 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventIndex {
    /// `e[n]`.
    At(u32),
    /// `e[last]` (`Last(0)`) or `e[last - n]` (`Last(n)`).
    Last(u32),
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A literal.
    Literal(Literal, Span),
    /// An attribute reference: `x`, `s.x`, `e1[0].x`.
    Attr {
        /// Stream, table or alias qualifier.
        qualifier: Option<Ident>,
        /// Event index for counted pattern elements.
        index: Option<EventIndex>,
        /// The attribute name.
        name: Ident,
        /// The whole reference.
        span: Span,
    },
    /// `-x`, `NOT x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
        /// The whole expression.
        span: Span,
    },
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
        /// The whole expression.
        span: Span,
    },
    /// `x IS [NOT] NULL`.
    IsNull {
        /// The operand.
        expr: Box<Expr>,
        /// `IS NOT NULL`.
        negated: bool,
        /// The whole expression.
        span: Span,
    },
    /// `x [NOT] IN (a, b, ...)`.
    InList {
        /// The operand.
        expr: Box<Expr>,
        /// The candidates.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
        /// The whole expression.
        span: Span,
    },
    /// `x IN Table` or `(cond) IN Table`.
    InTable {
        /// The key or condition.
        expr: Box<Expr>,
        /// The table.
        table: Ident,
        /// The whole expression.
        span: Span,
    },
    /// `x [NOT] BETWEEN lo AND hi`.
    Between {
        /// The operand.
        expr: Box<Expr>,
        /// Lower bound (inclusive).
        low: Box<Expr>,
        /// Upper bound (inclusive).
        high: Box<Expr>,
        /// `NOT BETWEEN`.
        negated: bool,
        /// The whole expression.
        span: Span,
    },
    /// `x [NOT] LIKE pattern`.
    Like {
        /// The operand.
        expr: Box<Expr>,
        /// The pattern (`%` and `_` wildcards).
        pattern: Box<Expr>,
        /// `NOT LIKE`.
        negated: bool,
        /// The whole expression.
        span: Span,
    },
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`.
    Case {
        /// Operand of a simple CASE.
        operand: Option<Box<Expr>>,
        /// `WHEN` / `THEN` pairs.
        whens: Vec<(Expr, Expr)>,
        /// `ELSE` branch.
        else_: Option<Box<Expr>>,
        /// The whole expression.
        span: Span,
    },
    /// `CAST(x AS type)`.
    Cast {
        /// The operand.
        expr: Box<Expr>,
        /// The target type name.
        ty: Ident,
        /// The whole expression.
        span: Span,
    },
    /// A function call: `f(args)`, `count()`, `count(*)`, `count(DISTINCT x)`.
    Call {
        /// Function name (case-insensitive).
        name: Ident,
        /// Arguments (empty for `count(*)`).
        args: Vec<Expr>,
        /// `DISTINCT` was written before the arguments.
        distinct: bool,
        /// The whole call.
        span: Span,
    },
}

impl Expr {
    /// The span of the whole expression.
    pub fn span(&self) -> Span {
        match self {
            Expr::Literal(_, span) => *span,
            Expr::Attr { span, .. }
            | Expr::Unary { span, .. }
            | Expr::Binary { span, .. }
            | Expr::IsNull { span, .. }
            | Expr::InList { span, .. }
            | Expr::InTable { span, .. }
            | Expr::Between { span, .. }
            | Expr::Like { span, .. }
            | Expr::Case { span, .. }
            | Expr::Cast { span, .. }
            | Expr::Call { span, .. } => *span,
        }
    }
}

impl Source {
    /// The span of the whole source.
    pub fn span(&self) -> Span {
        match self {
            Source::Stream(s) => s.span,
            Source::Join(j) => j.span,
            Source::Pattern(p) => p.span,
        }
    }
}

impl PatternExpr {
    /// The span of the whole pattern expression.
    pub fn span(&self) -> Span {
        match self {
            PatternExpr::Stream(s) => s.span,
            PatternExpr::Not { span, .. }
            | PatternExpr::Every(_, span)
            | PatternExpr::FollowedBy(_, _, span)
            | PatternExpr::And(_, _, span)
            | PatternExpr::Or(_, _, span) => *span,
        }
    }
}
