//! Checking window clauses (docs/windows.md): the name, the number of arguments, constant
//! lengths and durations, and attribute arguments.

use super::expr::Binder;
use super::expr::Reported;
use super::expr::ScopeInput;
use super::ir::{BoundWindow, ExprKind, WindowCondition};
use super::types::Type;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{Expr, Literal, Span, UnaryOp, WindowArg, WindowSpec};

/// One kind of window argument.
#[derive(Clone, Copy, PartialEq)]
enum Arg {
    /// A positive count.
    Count,
    /// A positive duration (ms).
    Duration,
    /// A non-negative duration or time offset (ms).
    Offset,
    /// An attribute of the input of type LONG.
    LongAttr,
    /// Any attribute.
    Attr,
    /// A double constant (support, error of lossyFrequent), stored as bits.
    Fraction,
}

/// Canonical name, required arguments, optional arguments, and whether extra trailing
/// attributes are allowed.
fn signature(name: &str) -> Option<(&'static str, &'static [Arg], &'static [Arg], bool)> {
    use Arg::*;
    Some(match name.to_ascii_lowercase().as_str() {
        "length" => ("length", &[Count], &[], false),
        "lengthbatch" => ("lengthBatch", &[Count], &[], false),
        "time" => ("time", &[Duration], &[], false),
        "timebatch" | "tumbling" => ("timeBatch", &[Duration], &[Offset], false),
        "sliding" | "hop" => ("hop", &[Duration, Duration], &[], false),
        "timelength" => ("timeLength", &[Duration, Count], &[], false),
        "externaltime" => ("externalTime", &[LongAttr, Duration], &[], false),
        "externaltimebatch" => (
            "externalTimeBatch",
            &[LongAttr, Duration],
            &[Offset, Offset],
            false,
        ),
        "session" => ("session", &[Duration], &[Attr, Offset], false),
        "sort" => ("sort", &[Count, Attr], &[], true),
        "unique" => ("unique", &[Attr], &[], false),
        "firstunique" => ("firstUnique", &[Attr], &[], false),
        "delay" => ("delay", &[Duration], &[], false),
        "frequent" => ("frequent", &[Count], &[], true),
        "lossyfrequent" => ("lossyFrequent", &[Fraction], &[Fraction], true),
        "expression" | "cron" => return None,
        _ => return None,
    })
}

/// The shape check of a 6-field cron expression (the runtime parses it fully).
pub fn check_cron(text: &str, span: crate::syntax::ast::Span) -> Option<Diagnostic> {
    let fields = text.split_whitespace().count();
    let valid_chars = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " */,-?".contains(c));
    (fields != 6 || !valid_chars).then(|| {
        Diagnostic::error("invalid cron expression", span)
            .with_label(format!("{fields} field(s)"))
            .with_help("six fields: second minute hour day-of-month month day-of-week, e.g. '0 */5 * * * ?'")
    })
}

/// `expression('count() <= n')` (the form supported: a bound on the number of events) and
/// `cron('sec min hour dom month dow')`.
fn text_window(b: &mut Binder<'_>, spec: &WindowSpec, name: &str) -> Result<BoundWindow, Reported> {
    let text = match spec.args.as_slice() {
        [WindowArg {
            expr: Expr::Literal(Literal::String(t), _),
            ..
        }] => t.clone(),
        _ => {
            return b.fail(
                Diagnostic::error(
                    format!("window `{name}` takes one string argument"),
                    spec.span,
                )
                .with_help(if name == "cron" {
                    "e.g. WINDOW('cron', '*/5 * * * * ?')"
                } else {
                    "e.g. WINDOW('expression', 'count() <= 10')"
                }),
            )
        }
    };
    let arg_span = spec.args[0].expr.span();
    let mut window = BoundWindow {
        name: name.to_string(),
        params: Vec::new(),
        attrs: Vec::new(),
        descending: Vec::new(),
        text: None,
        condition: None,
        span: spec.span,
    };
    if name == "cron" {
        if let Some(d) = check_cron(&text, arg_span) {
            return b.fail(d);
        }
        window.text = Some(text);
        return Ok(window);
    }
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let bound = compact
        .strip_prefix("count()<=")
        .and_then(|n| n.parse::<i64>().ok())
        .or_else(|| {
            compact
                .strip_prefix("count()<")
                .and_then(|n| n.parse::<i64>().ok())
                .map(|n| n - 1)
        });
    match bound {
        Some(n) if n >= 1 => {
            window.params.push(n);
            Ok(window)
        }
        Some(_) => b.fail(Diagnostic::error(
            "the expression window must allow at least one event",
            arg_span,
        )),
        None => {
            window.condition = Some(Box::new(bind_condition(b, &text, arg_span)?));
            Ok(window)
        }
    }
}

/// Binds the condition `text` of an expression window (the string literal at `span`):
/// attributes of the newest event (`x`, `last.x`) and the oldest (`first.x`), their
/// timestamps (`eventTimestamp(last)`, `eventTimestamp(first)`), aggregates over the window.
/// Diagnostics point into the string.
fn bind_condition(b: &mut Binder<'_>, text: &str, span: Span) -> Result<WindowCondition, Reported> {
    let unsupported = |detail: &str| {
        Diagnostic::error(format!("invalid expression window condition: {detail}"), span)
            .with_help("e.g. 'count() <= 10', 'sum(price) < 1000', 'eventTimestamp(last) - eventTimestamp(first) < 3000'")
    };
    let Some(input) = b.inputs.first().cloned() else {
        return b.fail(unsupported("no input"));
    };
    // Parse the condition where it stands in the file (so spans point into the string) as
    // the only item of a SELECT; `eventTimestamp(first|last)` becomes an attribute of the same
    // length standing for the event's timestamp.
    const PREFIX: &str = "INSERT INTO W SELECT ";
    let start = span.start + 1;
    if start < PREFIX.len() || text.contains('\'') {
        return b.fail(unsupported("quotes are not supported in the condition"));
    }
    let source = format!(
        "{}{PREFIX}{} FROM W;",
        " ".repeat(start - PREFIX.len()),
        timestamps_as_attributes(text)
    );
    let (app, diags) = crate::syntax::parse(&source);
    if !diags.is_empty() {
        // An error past the condition's end is about the statement around it.
        let end = start + text.len();
        b.diags.extend(diags.into_iter().map(|d| {
            if d.span.start >= end {
                unsupported("it ends too early")
            } else {
                d
            }
        }));
        return Err(Reported);
    }
    let expr = match app.statements.as_slice() {
        [crate::syntax::ast::Statement::Query(q)] => match q.select.items.as_slice() {
            [crate::syntax::ast::SelectItem::Expr { expr, alias: None }] => expr.clone(),
            _ => return b.fail(unsupported("expected one condition")),
        },
        _ => return b.fail(unsupported("expected one condition")),
    };
    let mut attrs = input.attrs.clone();
    attrs.push(crate::sema::Attribute {
        name: TIMESTAMP.to_string(),
        ty: Type::Long,
        nullable: false,
    });
    let scope = [
        ScopeInput {
            stream: input.stream.clone(),
            alias: Some("last".to_string()),
            attrs: attrs.clone(),
            implicit: true,
        },
        ScopeInput {
            stream: input.stream,
            alias: Some("first".to_string()),
            attrs,
            implicit: false,
        },
    ];
    let mut aggregates = Vec::new();
    let bound = Binder {
        inputs: &scope,
        aggregates: Some(&mut aggregates),
        diags: &mut *b.diags,
        outputs: None,
        tables: None,
    }
    .bind(&expr)?;
    if bound.ty != Type::Bool {
        return b.fail(
            Diagnostic::error("the expression window condition must be a BOOL", span)
                .with_label(format!("this is {}", bound.ty)),
        );
    }
    Ok(WindowCondition {
        expr: bound,
        aggregates,
        text: text.to_string(),
    })
}

/// The attribute standing for an event's timestamp in an expression window condition.
const TIMESTAMP: &str = "__ef_ts";

/// `text` with every `eventTimestamp(first)` / `eventTimestamp(last)` (any case, spaces
/// allowed) replaced by `first.__ef_ts` / `last.__ef_ts`, padded to the same length.
fn timestamps_as_attributes(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut i = 0;
    while let Some(at) = lower[i..].find("eventtimestamp") {
        let at = i + at;
        let rest = &lower[at + "eventtimestamp".len()..];
        let args = rest.trim_start();
        let replaced = args.strip_prefix('(').and_then(|inner| {
            let close = inner.find(')')?;
            let arg = inner[..close].trim();
            let len = lower.len() - (inner.len() - close - 1) - at;
            (arg == "first" || arg == "last").then(|| (format!("{arg}.{TIMESTAMP}"), len))
        });
        out.push_str(&text[i..at]);
        match replaced {
            Some((attr, len)) if attr.len() <= len => {
                out.push_str(&attr);
                out.push_str(&" ".repeat(len - attr.len()));
                i = at + len;
            }
            _ => {
                out.push_str(&text[at..at + "eventtimestamp".len()]);
                i = at + "eventtimestamp".len();
            }
        }
    }
    out.push_str(&text[i..]);
    out
}

/// Binds a window clause against the query's single input.
pub fn bind_window(b: &mut Binder<'_>, spec: &WindowSpec) -> Result<BoundWindow, Reported> {
    let lower = spec.name.name.to_ascii_lowercase();
    if lower == "expression" || lower == "cron" {
        return text_window(b, spec, &lower);
    }
    let Some((name, required, optional, rest)) = signature(&spec.name.name) else {
        return b.fail(
            Diagnostic::error(format!("unknown window `{}`", spec.name.name), spec.name.span)
                .with_help("windows are length, lengthBatch, time, timeBatch, tumbling, sliding, hop, timeLength, externalTime, externalTimeBatch, session, sort, unique, firstUnique, delay, expression, frequent, lossyFrequent, cron"),
        );
    };
    let sort_args;
    let args: &[WindowArg] = if name == "sort" {
        sort_args = sort_orders(b, &spec.args)?;
        &sort_args
    } else {
        &spec.args
    };
    let max = required.len() + optional.len();
    if args.len() < required.len() || (!rest && args.len() > max) {
        return b.fail(Diagnostic::error(
            format!(
                "window `{name}` takes {} argument(s), {} given",
                if optional.is_empty() {
                    required.len().to_string()
                } else {
                    format!("{} to {max}", required.len())
                },
                args.len()
            ),
            spec.span,
        ));
    }
    let mut window = BoundWindow {
        name: name.to_string(),
        params: Vec::new(),
        attrs: Vec::new(),
        descending: Vec::new(),
        text: None,
        condition: None,
        span: spec.span,
    };
    let mut ok = true;
    for (i, arg) in args.iter().enumerate() {
        // `session(gap, latency)`: Siddhi reads a constant second argument as the allowed
        // latency (no key).
        let session_latency =
            name == "session" && i == 1 && args.len() == 2 && constant(&arg.expr).is_some();
        let kind = if session_latency {
            Arg::Offset
        } else {
            required
                .iter()
                .chain(optional.iter())
                .nth(i)
                .copied()
                .unwrap_or(
                    if name == "lossyFrequent" || name == "frequent" || name == "sort" {
                        Arg::Attr
                    } else {
                        Arg::Count
                    },
                )
        };
        ok &= bind_arg(b, &mut window, kind, arg).is_ok();
    }
    if let (true, [gap, latency]) = (ok && name == "session", window.params.as_slice()) {
        if latency > gap {
            let at = args.last().map_or(spec.span, |a| a.expr.span());
            return b.fail(
                Diagnostic::error(
                    "the session window's allowed latency must not exceed its gap",
                    at,
                )
                .with_label(format!("{latency} ms > {gap} ms"))
                .with_help(
                    "as in Siddhi, late events are accepted at most one gap after a session closes",
                ),
            );
        }
    }
    if ok {
        Ok(window)
    } else {
        Err(Reported)
    }
}

/// The arguments of a `sort` window with every order written as an argument of its own
/// folded into the attribute before it: Siddhi's strings (`sort(2, v, 'asc')`) and the
/// keywords (`sort(2, v, DESC)`; an unquoted `ASC`/`DESC` is never an attribute), as well
/// as `sort(2, v DESC)`.
fn sort_orders(b: &mut Binder<'_>, args: &[WindowArg]) -> Result<Vec<WindowArg>, Reported> {
    let mut out: Vec<WindowArg> = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        let order = match &arg.expr {
            Expr::Literal(Literal::String(t), span) if i > 0 => {
                Some((t.to_ascii_lowercase(), *span))
            }
            Expr::Attr {
                qualifier: None,
                index: None,
                name,
                span,
            } if i > 0 && name.span.end - name.span.start == name.name.len() => {
                let lower = name.name.to_ascii_lowercase();
                (lower == "asc" || lower == "desc").then_some((lower, *span))
            }
            _ => None,
        };
        let Some((order, span)) = order else {
            out.push(arg.clone());
            continue;
        };
        let descending = match order.as_str() {
            "asc" => false,
            "desc" => true,
            _ => {
                return b.fail(
                    Diagnostic::error("expected 'asc' or 'desc'", span)
                        .with_help("e.g. WINDOW('sort', 2, price, 'desc')"),
                )
            }
        };
        let attrs_before = out.len() > 1;
        match out.last_mut() {
            Some(prev) if attrs_before && prev.descending.is_none() && arg.descending.is_none() => {
                prev.descending = Some(descending);
            }
            _ => {
                return b.fail(
                    Diagnostic::error("a sort order must follow the attribute it orders", span)
                        .with_help("e.g. WINDOW('sort', 2, price, 'desc', volume, 'asc')"),
                )
            }
        }
    }
    Ok(out)
}

fn bind_arg(
    b: &mut Binder<'_>,
    w: &mut BoundWindow,
    kind: Arg,
    arg: &WindowArg,
) -> Result<(), Reported> {
    let e = &arg.expr;
    match kind {
        Arg::Count | Arg::Duration | Arg::Offset => {
            let Some(v) = constant(e) else {
                return b.fail(
                    Diagnostic::error(
                        format!("window `{}` needs a constant here", w.name),
                        e.span(),
                    )
                    .with_label(if kind == Arg::Count {
                        "expected an integer"
                    } else {
                        "expected a duration such as `10 sec`"
                    }),
                );
            };
            let min = if kind == Arg::Offset { 0 } else { 1 };
            if v < min {
                return b.fail(
                    Diagnostic::error(
                        format!(
                            "window `{}` argument must be {}",
                            w.name,
                            if min == 0 {
                                "zero or positive"
                            } else {
                                "positive"
                            }
                        ),
                        e.span(),
                    )
                    .with_label(format!("this is {v}")),
                );
            }
            w.params.push(v);
        }
        Arg::Fraction => {
            let v = match e {
                Expr::Literal(Literal::Double(v), _) => *v,
                Expr::Literal(Literal::Float(v), _) => f64::from(*v),
                Expr::Literal(Literal::Int(v), _) => f64::from(*v),
                _ => {
                    return b.fail(Diagnostic::error(
                        "expected a number between 0 and 1",
                        e.span(),
                    ))
                }
            };
            if !(0.0..=1.0).contains(&v) {
                return b.fail(Diagnostic::error(
                    "expected a number between 0 and 1",
                    e.span(),
                ));
            }
            w.params.push(v.to_bits() as i64);
        }
        Arg::LongAttr | Arg::Attr => {
            let bound = b.bind(e)?;
            if !matches!(bound.kind, ExprKind::Attr { .. }) {
                return b.fail(Diagnostic::error(
                    format!("window `{}` needs an attribute here", w.name),
                    e.span(),
                ));
            }
            if kind == Arg::LongAttr && !matches!(bound.ty, Type::Long | Type::Int) {
                return b.fail(
                    Diagnostic::error(
                        format!("window `{}` needs a LONG timestamp attribute", w.name),
                        e.span(),
                    )
                    .with_label(format!("this is {}", bound.ty)),
                );
            }
            w.descending.push(arg.descending.unwrap_or(false));
            w.attrs.push(bound);
        }
    }
    Ok(())
}

/// The value of an integer or duration literal, also under a unary minus.
fn constant(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(Literal::Int(v), _) => Some(i64::from(*v)),
        Expr::Literal(Literal::Long(v) | Literal::Duration(v), _) => Some(*v),
        Expr::Unary {
            op: UnaryOp::Neg,
            expr,
            ..
        } => constant(expr).map(|v| -v),
        _ => None,
    }
}
