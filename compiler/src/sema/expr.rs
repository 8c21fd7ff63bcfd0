//! Binding and type checking of expressions (docs/functions.md).

use super::catalog::{suggest, Attribute};
use super::ir::{AggCall, AggFunc, ArithOp, CmpOp, ExprKind, Func, Lit, TExpr};
use super::types::Type;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{BinaryOp, Expr, Ident, Literal, Span, UnaryOp};

mod functions;
pub mod in_table;

/// One input visible to an expression: a stream with its name, alias and schema.
#[derive(Clone, Debug)]
pub struct ScopeInput {
    /// The stream's name.
    pub stream: String,
    /// `AS alias`, if written.
    pub alias: Option<String>,
    /// The schema.
    pub attrs: Vec<Attribute>,
    /// Whether unqualified attribute names are looked up in this input (false for an
    /// input reachable only through its alias, e.g. `first` in an expression window).
    pub implicit: bool,
}

/// What an expression can see and whether it may aggregate.
pub struct Binder<'a> {
    /// Inputs of the query, in order.
    pub inputs: &'a [ScopeInput],
    /// Aggregate calls found so far; `None` where aggregates are not allowed.
    pub aggregates: Option<&'a mut Vec<AggCall>>,
    /// Diagnostics collected while binding.
    pub diags: &'a mut Vec<Diagnostic>,
    /// The catalog, for `IN table` conditions; `None` where they are not allowed.
    pub tables: Option<&'a super::catalog::Catalog>,
    /// The SELECT's output attributes, for HAVING: an unqualified name of one of them stands
    /// for its value (and wins over an input attribute of the same name), except inside an
    /// aggregate's argument, which reads the input (docs/language.md#having).
    pub outputs: Option<&'a [super::ir::Column]>,
}

/// The error of a binding step whose diagnostic has already been pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reported;

type Bound = Result<TExpr, Reported>;

impl Binder<'_> {
    fn error(&mut self, d: Diagnostic) -> Bound {
        self.diags.push(d);
        Err(Reported)
    }

    /// Binds and type-checks `e`. Errors are pushed to `diags`; `Err(Reported)` means "already
    /// reported".
    pub fn bind(&mut self, e: &Expr) -> Bound {
        match e {
            Expr::Literal(lit, span) => self.literal(lit, *span),
            Expr::Attr {
                qualifier,
                index,
                name,
                span,
            } => {
                let bound = self.attribute(qualifier.as_ref(), name, *span)?;
                match (index, bound.kind) {
                    // Only counted pattern elements may be indexed: sema/pattern.rs checks.
                    (Some(index), ExprKind::Attr { input, attr, name }) => {
                        let kind = ExprKind::IndexedAttr {
                            input,
                            index: *index,
                            attr,
                            name,
                        };
                        Ok(TExpr::new(kind, bound.ty, *span))
                    }
                    (_, kind) => Ok(TExpr { kind, ..bound }),
                }
            }
            Expr::Unary { op, expr, span } => {
                let inner = self.bind(expr)?;
                match op {
                    UnaryOp::Neg if inner.ty.is_numeric() || inner.ty == Type::Null => {
                        let ty = inner.ty;
                        Ok(TExpr::new(ExprKind::Neg(Box::new(inner)), ty, *span))
                    }
                    UnaryOp::Not if matches!(inner.ty, Type::Bool | Type::Null) => Ok(TExpr::new(
                        ExprKind::Not(Box::new(inner.widen_to(Type::Bool))),
                        Type::Bool,
                        *span,
                    )),
                    UnaryOp::Neg => self.error(type_error("`-` needs a number", &inner)),
                    UnaryOp::Not => self.error(type_error("NOT needs a BOOL", &inner)),
                }
            }
            Expr::Binary {
                op,
                left,
                right,
                span,
            } => {
                let (l, r) = (self.bind(left), self.bind(right));
                self.binary(*op, l?, r?, *span)
            }
            Expr::IsNull {
                expr,
                negated,
                span,
            } => {
                let inner = self.bind(expr)?;
                Ok(TExpr::new(
                    ExprKind::IsNull(Box::new(inner), *negated),
                    Type::Bool,
                    *span,
                ))
            }
            Expr::InList {
                expr,
                list,
                negated,
                span,
            } => {
                let x = self.bind(expr)?;
                let items: Vec<Bound> = list.iter().map(|i| self.bind(i)).collect();
                let items: Vec<TExpr> = items.into_iter().collect::<Result<_, _>>()?;
                let mut ty = x.ty;
                for item in &items {
                    ty = match Type::unify(ty, item.ty) {
                        Some(t) => t,
                        None => return self.error(mismatch("IN list item", &x, item)),
                    };
                }
                let items = items.into_iter().map(|i| i.widen_to(ty)).collect();
                Ok(TExpr::new(
                    ExprKind::InList(Box::new(x.widen_to(ty)), items, *negated),
                    Type::Bool,
                    *span,
                ))
            }
            Expr::InTable { expr, table, span } => {
                in_table::bind_in_table(self, expr, table, *span)
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
                span,
            } => {
                let (x, lo, hi) = (self.bind(expr), self.bind(low), self.bind(high));
                let (x, lo, hi) = (x?, lo?, hi?);
                let ty = match Type::unify(x.ty, lo.ty).and_then(|t| Type::unify(t, hi.ty)) {
                    Some(t) => t,
                    None => return self.error(mismatch("BETWEEN bounds", &x, &lo)),
                };
                let kind = ExprKind::Between(
                    Box::new(x.widen_to(ty)),
                    Box::new(lo.widen_to(ty)),
                    Box::new(hi.widen_to(ty)),
                    *negated,
                );
                Ok(TExpr::new(kind, Type::Bool, *span))
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                span,
            } => {
                let (x, p) = (self.bind(expr), self.bind(pattern));
                let (x, p) = (
                    self.expect(x?, Type::String)?,
                    self.expect(p?, Type::String)?,
                );
                Ok(TExpr::new(
                    ExprKind::Like(Box::new(x), Box::new(p), *negated),
                    Type::Bool,
                    *span,
                ))
            }
            Expr::Case {
                operand,
                whens,
                else_,
                span,
            } => self.case(operand.as_deref(), whens, else_.as_deref(), *span),
            Expr::Cast { expr, ty, span } => {
                let inner = self.bind(expr)?;
                let Some(to) = Type::from_name(&ty.name) else {
                    return self.error(unknown_type(ty));
                };
                if inner.ty == to || inner.ty == Type::Null {
                    return Ok(inner.widen_to(to));
                }
                let ok =
                    (inner.ty.is_numeric() || inner.ty == Type::Bool || inner.ty == Type::String)
                        && (to.is_numeric() || to == Type::String || to == Type::Bool);
                if !ok || (inner.ty == Type::Bool && to.is_numeric()) {
                    return self.error(type_error(
                        &format!("cannot CAST {} to {to}", inner.ty),
                        &inner,
                    ));
                }
                Ok(TExpr::new(ExprKind::Cast(Box::new(inner)), to, *span))
            }
            Expr::Call {
                name,
                args,
                distinct,
                span,
            } => self.call(name, args, *distinct, *span),
        }
    }

    /// Binds `e` and requires it to be of type `ty` (or NULL, or a number widenable to it).
    pub fn expect(&mut self, e: TExpr, ty: Type) -> Bound {
        if e.ty.assignable_to(ty) {
            Ok(e.widen_to(ty))
        } else {
            let what = format!("expected {ty}, found {}", e.ty);
            self.error(type_error(&what, &e))
        }
    }

    fn literal(&mut self, lit: &Literal, span: Span) -> Bound {
        let (kind, ty) = match lit {
            Literal::Int(v) => (ExprKind::Lit(Lit::Int(*v)), Type::Int),
            Literal::Long(v) => (ExprKind::Lit(Lit::Long(*v)), Type::Long),
            Literal::Duration(v) => (ExprKind::Lit(Lit::Long(*v)), Type::Long),
            Literal::Float(v) => (ExprKind::Lit(Lit::Float(*v)), Type::Float),
            Literal::Double(v) => (ExprKind::Lit(Lit::Double(*v)), Type::Double),
            Literal::String(v) => (ExprKind::Lit(Lit::String(v.clone())), Type::String),
            Literal::Bool(v) => (ExprKind::Lit(Lit::Bool(*v)), Type::Bool),
            Literal::Null => (ExprKind::Null, Type::Null),
        };
        Ok(TExpr::new(kind, ty, span))
    }

    fn attribute(&mut self, qualifier: Option<&Ident>, name: &Ident, span: Span) -> Bound {
        if qualifier.is_none() {
            let output = self
                .outputs
                .and_then(|outputs| outputs.iter().find(|c| c.name == name.name));
            if let Some(column) = output {
                return Ok(TExpr {
                    span,
                    ..column.expr.clone()
                });
            }
        }
        let candidates: Vec<usize> = match qualifier {
            Some(q) => {
                let found: Vec<usize> = (0..self.inputs.len())
                    .filter(|&i| {
                        let input = &self.inputs[i];
                        input.alias.as_deref() == Some(q.name.as_str())
                            || (input.stream == q.name
                                && (input.alias.is_none() || self.inputs.len() == 1))
                    })
                    .collect();
                if found.is_empty() {
                    let names: Vec<&str> = self
                        .inputs
                        .iter()
                        .flat_map(|i| std::iter::once(i.stream.as_str()).chain(i.alias.as_deref()))
                        .collect();
                    let mut d =
                        Diagnostic::error(format!("unknown stream or alias `{}`", q.name), q.span)
                            .with_label("not an input of this query");
                    if let Some(s) = suggest(&q.name, names.into_iter()) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    return self.error(d);
                }
                found
            }
            None => (0..self.inputs.len())
                .filter(|&i| self.inputs[i].implicit)
                .collect(),
        };
        let hits: Vec<(usize, usize)> = candidates
            .iter()
            .filter_map(|&i| {
                let at = self.inputs[i]
                    .attrs
                    .iter()
                    .position(|a| a.name == name.name)?;
                Some((i, at))
            })
            .collect();
        match hits.as_slice() {
            [(input, attr)] => {
                let a = &self.inputs[*input].attrs[*attr];
                Ok(TExpr::new(
                    ExprKind::Attr {
                        input: *input,
                        attr: *attr,
                        name: a.name.clone(),
                    },
                    a.ty,
                    span,
                ))
            }
            [] => {
                let all = candidates
                    .iter()
                    .flat_map(|&i| self.inputs[i].attrs.iter().map(|a| a.name.as_str()));
                let mut d =
                    Diagnostic::error(format!("unknown attribute `{}`", name.name), name.span)
                        .with_label("not found in the query's input");
                if let Some(s) = suggest(&name.name, all) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                self.error(d)
            }
            _ => self.error(
                Diagnostic::error(format!("ambiguous attribute `{}`", name.name), name.span)
                    .with_help("qualify it with the stream name or alias, e.g. `a.x`"),
            ),
        }
    }

    fn binary(&mut self, op: BinaryOp, l: TExpr, r: TExpr, span: Span) -> Bound {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let l = self.expect(l, Type::Bool)?;
                let r = self.expect(r, Type::Bool)?;
                let kind = if op == BinaryOp::And {
                    ExprKind::And(Box::new(l), Box::new(r))
                } else {
                    ExprKind::Or(Box::new(l), Box::new(r))
                };
                Ok(TExpr::new(kind, Type::Bool, span))
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                let arith = match op {
                    BinaryOp::Add => ArithOp::Add,
                    BinaryOp::Sub => ArithOp::Sub,
                    BinaryOp::Mul => ArithOp::Mul,
                    BinaryOp::Div => ArithOp::Div,
                    _ => ArithOp::Rem,
                };
                let numeric = |t: Type| t.is_numeric() || t == Type::Null;
                if !numeric(l.ty) || !numeric(r.ty) {
                    let bad = if numeric(l.ty) { &r } else { &l };
                    let d = type_error("arithmetic needs numbers", bad)
                        .with_help("use concat(a, b) to join strings");
                    return self.error(d);
                }
                let ty = match Type::unify(l.ty, r.ty) {
                    Some(Type::Null) | None => Type::Int,
                    Some(t) => t,
                };
                let kind =
                    ExprKind::Arith(arith, Box::new(l.widen_to(ty)), Box::new(r.widen_to(ty)));
                Ok(TExpr::new(kind, ty, span))
            }
            _ => {
                let cmp = CmpOp::from_binary(op).unwrap_or(CmpOp::Eq);
                let Some(ty) = Type::unify(l.ty, r.ty) else {
                    return self.error(mismatch("comparison", &l, &r));
                };
                let ty = if ty == Type::Null { Type::Int } else { ty };
                let kind = ExprKind::Cmp(cmp, Box::new(l.widen_to(ty)), Box::new(r.widen_to(ty)));
                Ok(TExpr::new(kind, Type::Bool, span))
            }
        }
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        whens: &[(Expr, Expr)],
        else_: Option<&Expr>,
        span: Span,
    ) -> Bound {
        let operand = operand.map(|o| self.bind(o)).transpose()?;
        let mut conds = Vec::new();
        let mut values = Vec::new();
        for (w, t) in whens {
            let cond = self.bind(w)?;
            let cond = match &operand {
                Some(o) => self.binary(BinaryOp::Eq, o.clone(), cond, w.span())?,
                None => self.expect(cond, Type::Bool)?,
            };
            conds.push(cond);
            values.push(self.bind(t)?);
        }
        let else_ = else_.map(|e| self.bind(e)).transpose()?;
        let mut ty = Type::Null;
        for v in values.iter().chain(else_.iter()) {
            ty = match Type::unify(ty, v.ty) {
                Some(t) => t,
                None => return self.error(type_error("CASE branches have different types", v)),
            };
        }
        let whens = conds
            .into_iter()
            .zip(values)
            .map(|(c, v)| (c, v.widen_to(ty)))
            .collect();
        let else_ = else_.map(|e| Box::new(e.widen_to(ty)));
        Ok(TExpr::new(ExprKind::Case(whens, else_), ty, span))
    }

    fn call(&mut self, name: &Ident, args: &[Expr], distinct: bool, span: Span) -> Bound {
        let lower = name.name.to_ascii_lowercase();
        let short = lower
            .strip_prefix("str:")
            .or_else(|| lower.strip_prefix("math:"))
            .unwrap_or(&lower);
        if let Some(agg) = aggregate(short, args.len(), distinct) {
            return self.aggregate(agg, name, args, span);
        }
        // Siddhi's `cast(x, 'double')` / `convert(x, 'string')`: a CAST to a named type.
        if let ("cast" | "convert", [x, Expr::Literal(Literal::String(ty), ty_span)]) =
            (short, args)
        {
            let cast = Expr::Cast {
                expr: Box::new(x.clone()),
                ty: Ident::new(ty.clone(), *ty_span),
                span,
            };
            return self.bind(&cast);
        }
        let Some(func) = function(short) else {
            let known = FUNCTIONS
                .iter()
                .map(|(n, _)| *n)
                .chain(AGGREGATES.iter().copied());
            let mut d = Diagnostic::error(format!("unknown function `{}`", name.name), name.span);
            if let Some(s) = suggest(short, known) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            return self.error(d);
        };
        let bound: Vec<Bound> = args.iter().map(|a| self.bind(a)).collect();
        let args: Vec<TExpr> = bound.into_iter().collect::<Result<_, _>>()?;
        functions::check_call(self, func, name, args, span)
    }

    fn aggregate(&mut self, func: AggFunc, name: &Ident, args: &[Expr], span: Span) -> Bound {
        if self.aggregates.is_none() {
            return self.error(
                Diagnostic::error(
                    format!("aggregate `{}` is not allowed here", name.name),
                    span,
                )
                .with_note("aggregates may appear in SELECT and HAVING only"),
            );
        }
        let arg = match args.first() {
            Some(a) => {
                // An aggregate reads the input, not the outputs.
                let outputs = self.outputs.take();
                let a = self.bind(a);
                self.outputs = outputs;
                let a = a?;
                if a.has_aggregate() {
                    return self.error(Diagnostic::error("aggregates cannot be nested", a.span));
                }
                Some(a)
            }
            None => None,
        };
        let ty = match (func, &arg) {
            (AggFunc::CountAll | AggFunc::Count | AggFunc::DistinctCount, _) => Type::Long,
            (AggFunc::Avg | AggFunc::StdDev, Some(a)) if a.ty.is_numeric() => Type::Double,
            (AggFunc::Sum, Some(a)) if a.ty.is_integer() => Type::Long,
            (AggFunc::Sum, Some(a)) if a.ty.is_numeric() => Type::Double,
            (AggFunc::And | AggFunc::Or, Some(a)) if a.ty == Type::Bool => Type::Bool,
            (AggFunc::Min | AggFunc::Max | AggFunc::MinForever | AggFunc::MaxForever, Some(a))
                if a.ty.is_numeric() || a.ty == Type::String =>
            {
                a.ty
            }
            (AggFunc::First | AggFunc::Last, Some(a)) if a.ty != Type::Null => a.ty,
            (_, Some(a)) => {
                let msg = format!("`{}` cannot aggregate {}", name.name, a.ty);
                return self.error(type_error(&msg, a));
            }
            (_, None) => {
                return self.error(Diagnostic::error(
                    format!("`{}` needs one argument", name.name),
                    span,
                ))
            }
        };
        let Some(list) = self.aggregates.as_deref_mut() else {
            return Err(Reported);
        };
        let call = AggCall {
            func,
            arg,
            ty,
            span,
        };
        let index = match list
            .iter()
            .position(|c| c.func == call.func && c.arg == call.arg)
        {
            Some(i) => i,
            None => {
                list.push(call);
                list.len() - 1
            }
        };
        Ok(TExpr::new(ExprKind::Agg(index), ty, span))
    }

    /// Reports `d` and fails (for the function checker).
    pub fn fail<T>(&mut self, d: Diagnostic) -> Result<T, Reported> {
        self.diags.push(d);
        Err(Reported)
    }
}

/// The aggregate function names (lower case).
pub const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "minforever",
    "maxforever",
    "distinctcount",
    "stddev",
    "first",
    "last",
    "and",
    "or",
];

fn aggregate(name: &str, arity: usize, distinct: bool) -> Option<AggFunc> {
    Some(match name {
        "count" if arity == 0 => AggFunc::CountAll,
        "count" if distinct => AggFunc::DistinctCount,
        "count" => AggFunc::Count,
        "distinctcount" => AggFunc::DistinctCount,
        "sum" => AggFunc::Sum,
        "avg" => AggFunc::Avg,
        "min" if arity == 1 => AggFunc::Min,
        "max" if arity == 1 => AggFunc::Max,
        "minforever" => AggFunc::MinForever,
        "maxforever" => AggFunc::MaxForever,
        "stddev" => AggFunc::StdDev,
        "first" => AggFunc::First,
        "last" => AggFunc::Last,
        "and" => AggFunc::And,
        "or" => AggFunc::Or,
        _ => return None,
    })
}

/// Scalar function names (lower case) and their functions.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("upper", Func::Upper),
    ("lower", Func::Lower),
    ("length", Func::Length),
    ("concat", Func::Concat),
    ("replace", Func::Replace),
    ("trim", Func::Trim),
    ("substring", Func::Substring),
    ("substr", Func::Substring),
    ("left", Func::Left),
    ("right", Func::Right),
    ("reverse", Func::Reverse),
    ("lpad", Func::Lpad),
    ("rpad", Func::Rpad),
    ("position", Func::Position),
    ("abs", Func::Abs),
    ("ceil", Func::Ceil),
    ("floor", Func::Floor),
    ("round", Func::Round),
    ("sqrt", Func::Sqrt),
    ("power", Func::Power),
    ("pow", Func::Power),
    ("exp", Func::Exp),
    ("ln", Func::Ln),
    ("log10", Func::Log10),
    ("sin", Func::Sin),
    ("cos", Func::Cos),
    ("tan", Func::Tan),
    ("asin", Func::Asin),
    ("acos", Func::Acos),
    ("atan", Func::Atan),
    ("signum", Func::Signum),
    ("uuid", Func::Uuid),
    ("now", Func::Now),
    ("currenttimemillis", Func::Now),
    ("eventtimestamp", Func::EventTimestamp),
    ("coalesce", Func::Coalesce),
    ("maximum", Func::Maximum),
    ("minimum", Func::Minimum),
    ("default", Func::Coalesce),
    ("nullif", Func::NullIf),
    ("ifthenelse", Func::IfThenElse),
];

fn function(name: &str) -> Option<Func> {
    FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// A type error at `e`'s span.
pub fn type_error(message: &str, e: &TExpr) -> Diagnostic {
    Diagnostic::error(format!("type mismatch: {message}"), e.span)
        .with_label(format!("this is {}", e.ty))
}

fn mismatch(what: &str, a: &TExpr, b: &TExpr) -> Diagnostic {
    Diagnostic::error(
        format!("type mismatch in {what}: {} vs {}", a.ty, b.ty),
        a.span.to(b.span),
    )
    .with_secondary(a.span, format!("{}", a.ty))
    .with_secondary(b.span, format!("{}", b.ty))
    .with_help("a STRING cannot be compared with a number; use CAST(x AS type)")
}

/// The "unknown type" error.
pub fn unknown_type(ty: &Ident) -> Diagnostic {
    Diagnostic::error(format!("unknown type `{}`", ty.name), ty.span)
        .with_help("types are INT, LONG, FLOAT, DOUBLE, STRING, BOOL, TIMESTAMP")
}

/// Requires a condition to be BOOL.
pub fn condition(b: &mut Binder<'_>, c: TExpr) -> Result<TExpr, Reported> {
    if c.ty == Type::Bool || c.ty == Type::Null {
        Ok(c.widen_to(Type::Bool))
    } else {
        b.fail(
            Diagnostic::error(format!("condition must be BOOL, found {}", c.ty), c.span)
                .with_label("not a boolean"),
        )
    }
}
