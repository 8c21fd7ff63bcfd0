//! Binding joins (docs/semantics.md#joins): every side with its filter and window, the ON
//! condition, the join kind and which sides trigger.
//!
//! `a JOIN b JOIN c` is left-deep: the sides are flattened into the query's inputs in order
//! (input `n` is the `n`-th side), and step `k` joins the sides before it with side `k + 1`.
//! A side's `[filter]` and window read that side only (input 0 of their own scope); the ON
//! conditions and WHERE read every side. A table side keeps its rows in the table and never
//! triggers; a stream side triggers unless another side is `UNIDIRECTIONAL`. Inside a
//! partition every stream side is a partitioned stream (each key joins its own windows) and
//! a table side is the one table all keys share.

use super::expr::condition;
use super::expr::{Binder, ScopeInput};
use super::ir::{BoundJoin, JoinSide, JoinStep, QueryKind};
use super::resolve::SourceBinding;
use super::window::bind_window;
use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, Source};

/// A side as written, before binding.
struct RawSide<'a> {
    src: &'a ast::StreamSource,
    info: super::catalog::StreamInfo,
}

/// Flattens the left-deep join tree into sides and steps (`None` after an error).
fn flatten<'a>(
    a: &mut Analysis,
    j: &'a ast::JoinSource,
    sides: &mut Vec<RawSide<'a>>,
    steps: &mut Vec<&'a ast::JoinSource>,
) -> Option<()> {
    match &j.left {
        Source::Join(inner) => flatten(a, inner, sides, steps)?,
        other => sides.push(raw_side(a, other)?),
    }
    sides.push(raw_side(a, &j.right)?);
    steps.push(j);
    Some(())
}

fn raw_side<'a>(a: &mut Analysis, src: &'a Source) -> Option<RawSide<'a>> {
    let s = match src {
        Source::Stream(s) => s,
        Source::Pattern(p) => {
            a.diagnostics.push(Diagnostic::unsupported(
                "a pattern as a side of a join",
                p.span,
            ));
            return None;
        }
        Source::Join(j) => {
            a.diagnostics
                .push(Diagnostic::unsupported("a parenthesized join", j.span));
            return None;
        }
    };
    if s.inner {
        a.diagnostics.push(Diagnostic::unsupported(
            "inner (#) streams in a join",
            s.stream.span,
        ));
        return None;
    }
    let info = match a.catalog.get(&s.stream.name) {
        Some(info) => info.clone(),
        None => super::resolve::lookup_stream(a, &s.stream)?,
    };
    Some(RawSide { src: s, info })
}

/// Binds the join source of `q`.
pub fn bind_join(a: &mut Analysis, q: &ast::Query, j: &ast::JoinSource) -> Option<SourceBinding> {
    let _ = q;
    let mut raw = Vec::new();
    let mut raw_steps = Vec::new();
    flatten(a, j, &mut raw, &mut raw_steps)?;
    let errors_before = a.diagnostics.len();
    for r in raw.iter().filter(|r| r.info.table().is_none()) {
        super::resolve::check_partitioned(a, &r.info.name, r.src.stream.span);
    }
    check_sides(a, j, &raw);
    let inputs: Vec<ScopeInput> = raw
        .iter()
        .map(|r| ScopeInput {
            stream: r.info.name.clone(),
            alias: r.src.alias.as_ref().map(|i| i.name.clone()),
            attrs: r.info.attrs.clone(),
            implicit: true,
        })
        .collect();
    let catalog = a.catalog.clone();
    let mut diags = Vec::new();
    let sides: Vec<JoinSide> = raw
        .iter()
        .enumerate()
        .map(|(n, r)| bind_side(&catalog, &inputs[n], r, &mut diags))
        .collect();
    let mut steps = Vec::new();
    {
        let mut b = Binder {
            inputs: &inputs,
            aggregates: None,
            diags: &mut diags,
            outputs: None,
            tables: Some(&catalog),
        };
        for step in &raw_steps {
            let on = step
                .on
                .as_ref()
                .and_then(|on| b.bind(on).and_then(|c| condition(&mut b, c)).ok());
            steps.push(JoinStep {
                kind: step.kind,
                on,
            });
        }
    }
    a.diagnostics.append(&mut diags);
    if a.diagnostics[errors_before..]
        .iter()
        .any(Diagnostic::is_error)
    {
        return None;
    }
    let mut sides = sides;
    let marked: Vec<usize> = (0..raw.len())
        .filter(|&n| raw[n].src.unidirectional)
        .collect();
    for (n, side) in sides.iter_mut().enumerate() {
        side.triggers = !side.table && (marked.is_empty() || marked.contains(&n));
    }
    Some(SourceBinding {
        inputs,
        kind: QueryKind::Join(Box::new(BoundJoin { sides, steps })),
        filter: None,
        window: None,
    })
}

/// Checks the sides as a whole: names, tables, `UNIDIRECTIONAL`.
fn check_sides(a: &mut Analysis, j: &ast::JoinSource, raw: &[RawSide<'_>]) {
    for (n, r) in raw.iter().enumerate() {
        let name = r.src.alias.as_ref().unwrap_or(&r.src.stream);
        let clash = raw[..n]
            .iter()
            .find(|o| o.src.alias.as_ref().unwrap_or(&o.src.stream).name == name.name);
        if let Some(o) = clash {
            let first = o.src.alias.as_ref().unwrap_or(&o.src.stream);
            a.diagnostics.push(
                Diagnostic::error(
                    format!("`{}` names two sides of the join", name.name),
                    name.span,
                )
                .with_secondary(first.span, "first side")
                .with_help("give each side its own alias: `FROM S AS a JOIN S AS b`"),
            );
        }
        let table = r.info.table().is_some();
        if table && r.src.window.is_some() {
            let span = r.src.window.as_ref().map_or(r.src.span, |w| w.span);
            a.diagnostics.push(
                Diagnostic::error("a table has no window", span)
                    .with_help("a join sees every row of the table"),
            );
        }
        if table && r.src.unidirectional {
            a.diagnostics.push(Diagnostic::error(
                "a table cannot be UNIDIRECTIONAL: a table never triggers a join",
                r.src.span,
            ));
        }
    }
    if raw.iter().all(|r| r.info.table().is_some()) {
        a.diagnostics.push(
            Diagnostic::error("a join needs at least one stream", j.span)
                .with_note("a table never triggers a join"),
        );
    }
    let marked: Vec<&RawSide<'_>> = raw.iter().filter(|r| r.src.unidirectional).collect();
    if marked.len() > 1 {
        a.diagnostics.push(
            Diagnostic::error(
                "only one side of a join may be UNIDIRECTIONAL",
                marked[1].src.span,
            )
            .with_secondary(marked[0].src.span, "also UNIDIRECTIONAL"),
        );
    }
}

/// Binds a side's filter and window against that side alone.
fn bind_side(
    catalog: &super::catalog::Catalog,
    input: &ScopeInput,
    r: &RawSide<'_>,
    diags: &mut Vec<Diagnostic>,
) -> JoinSide {
    let scope = [input.clone()];
    let mut b = Binder {
        inputs: &scope,
        aggregates: None,
        diags,
        outputs: None,
        tables: Some(catalog),
    };
    let filter = r
        .src
        .filter
        .as_ref()
        .and_then(|f| b.bind(f).and_then(|c| condition(&mut b, c)).ok());
    let table = r.info.table().is_some();
    let window = match &r.src.window {
        Some(spec) if !table => bind_window(&mut b, spec).ok().and_then(|w| {
            if w.condition.is_some() {
                let d = Diagnostic::unsupported(
                    "an expression window condition on a join side",
                    w.span,
                )
                .with_help("only 'count() <= n' bounds a join side's expression window");
                b.fail(d).ok()
            } else {
                Some(w)
            }
        }),
        _ => None,
    };
    JoinSide {
        filter,
        window,
        triggers: false,
        table,
    }
}
