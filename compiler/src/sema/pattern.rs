//! Binding patterns and sequences (docs/patterns.md).
//!
//! Every element of the pattern, `e=S[cond]{m,n}` or `NOT S[cond] FOR d`, becomes one input
//! of the query, in source order; the tree of `->`, `AND`, `OR` and `EVERY` above them becomes
//! a list of [`PatternNode`]s. An absent element's input is hidden (it captures nothing; it is
//! there so that its stream is delivered to the query).
//!
//! In SELECT, WHERE and HAVING, `e.x` reads the event element `e` captured (NULL when it
//! captured none, e.g. the other side of an `OR`); a counted element (`{m,n}`, `+`, `*`) is
//! read through an index, `e[0].x`, `e[2].x`, `e[last].x`, `e[last - 1].x`.
//!
//! An element's `[cond]` reads the event being tested (unqualified `x`, or `e.x` with its
//! own alias) and what earlier elements captured (`e1.x`, `e1[last].x`), and for a counted
//! element its own earlier events (`e2[last].x`). In the bound filter the event being tested
//! is input `n` (one past the query's `n` inputs); other inputs read the captures. A
//! condition may test a table (`e1.id IN Blocked`, `(Limits.sym = e1.sym AND Limits.cap <
//! price) IN Limits`, docs/language.md#in-a-table): the table row is input `n + 1` of the `IN`'s
//! condition, and the table is read when the event is tested.

use super::catalog::{StreamInfo, StreamKind};
use super::expr::condition;
use super::expr::{Binder, ScopeInput};
use super::ir::{BoundPattern, BoundQuery, ExprKind, PatternNode, QueryKind, TExpr};
use super::resolve::{lookup_stream, SourceBinding};
use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, Expr, Ident, PatternExpr, Span};

/// An element as written, found by the first pass.
struct Element<'a> {
    alias: Option<&'a Ident>,
    info: StreamInfo,
    filter: Option<&'a Expr>,
    node: usize,
    absent: bool,
    span: Span,
}

/// The first pass: elements in source order and the tree over them.
#[derive(Default)]
struct Builder<'a> {
    elements: Vec<Element<'a>>,
    nodes: Vec<PatternNode>,
    spans: Vec<Span>,
}

impl<'a> Builder<'a> {
    fn push(&mut self, node: PatternNode, span: Span) -> usize {
        self.nodes.push(node);
        self.spans.push(span);
        self.nodes.len() - 1
    }

    /// Builds the nodes of `e`; `None` after reporting an error (the rest is still checked).
    fn build(&mut self, a: &mut Analysis, e: &'a PatternExpr) -> Option<usize> {
        match e {
            PatternExpr::Stream(s) => {
                let info = element_stream(a, &s.stream)?;
                let count = s.count.unwrap_or(ast::Count {
                    min: 1,
                    max: Some(1),
                });
                if count.max == Some(0) {
                    a.diagnostics.push(Diagnostic::error(
                        "a count must allow at least one event",
                        s.span,
                    ));
                    return None;
                }
                let input = self.elements.len();
                let node = self.push(
                    PatternNode::Stream {
                        input,
                        min: count.min,
                        max: count.max,
                        filter: None,
                    },
                    s.span,
                );
                self.elements.push(Element {
                    alias: s.alias.as_ref(),
                    info,
                    filter: s.filter.as_ref(),
                    node,
                    absent: false,
                    span: s.span,
                });
                Some(node)
            }
            PatternExpr::Not {
                stream,
                filter,
                for_,
                span,
            } => {
                let info = element_stream(a, stream)?;
                if let Some(d) = for_.filter(|d| d.millis <= 0) {
                    a.diagnostics
                        .push(Diagnostic::error("FOR must be positive", d.span));
                    return None;
                }
                let input = self.elements.len();
                let node = self.push(
                    PatternNode::Absent {
                        input,
                        wait: for_.map(|d| d.millis),
                        filter: None,
                    },
                    *span,
                );
                self.elements.push(Element {
                    alias: None,
                    info,
                    filter: filter.as_ref(),
                    node,
                    absent: true,
                    span: *span,
                });
                Some(node)
            }
            PatternExpr::Every(p, span) => {
                let p = self.build(a, p)?;
                Some(self.push(PatternNode::Every(p), *span))
            }
            PatternExpr::FollowedBy(l, r, span) => {
                let (l, r) = (self.build(a, l), self.build(a, r));
                Some(self.push(PatternNode::Then(l?, r?), *span))
            }
            PatternExpr::And(l, r, span) => {
                let (l, r) = (self.build(a, l), self.build(a, r));
                Some(self.push(PatternNode::And(l?, r?), *span))
            }
            PatternExpr::Or(l, r, span) => {
                let (l, r) = (self.build(a, l), self.build(a, r));
                Some(self.push(PatternNode::Or(l?, r?), *span))
            }
        }
    }

    /// `true` when node `i` can match without any event or elapsed time.
    fn nullable(&self, i: usize) -> bool {
        match &self.nodes[i] {
            PatternNode::Stream { min, .. } => *min == 0,
            PatternNode::Absent { wait, .. } => wait.is_none(),
            PatternNode::Then(l, r) | PatternNode::And(l, r) => {
                self.nullable(*l) && self.nullable(*r)
            }
            PatternNode::Or(l, r) => self.nullable(*l) || self.nullable(*r),
            PatternNode::Every(p) => self.nullable(*p),
        }
    }

    /// The first `EVERY` node under `i` (`i` included).
    fn every_under(&self, i: usize) -> Option<usize> {
        match &self.nodes[i] {
            PatternNode::Stream { .. } | PatternNode::Absent { .. } => None,
            PatternNode::Then(l, r) | PatternNode::And(l, r) | PatternNode::Or(l, r) => {
                self.every_under(*l).or_else(|| self.every_under(*r))
            }
            PatternNode::Every(_) => Some(i),
        }
    }

    /// Checks the shape of the tree under `i`; `partner` is the other side when `i` is a
    /// side of `AND`.
    fn check(&self, a: &mut Analysis, i: usize, partner: Option<usize>) {
        match &self.nodes[i] {
            PatternNode::Stream { .. } => {}
            PatternNode::Absent { wait: None, .. } => {
                if partner.is_none_or(|p| self.nullable(p)) {
                    a.diagnostics.push(
                        Diagnostic::error(
                            "`NOT` without `FOR` needs an `AND` partner that captures an event",
                            self.spans[i],
                        )
                        .with_help("add `FOR <duration>`, or write `NOT A AND e=B`"),
                    );
                }
            }
            PatternNode::Absent { .. } => {}
            PatternNode::Then(l, r) | PatternNode::Or(l, r) => {
                self.check(a, *l, None);
                self.check(a, *r, None);
            }
            PatternNode::And(l, r) => {
                self.check(a, *l, Some(*r));
                self.check(a, *r, Some(*l));
            }
            PatternNode::Every(p) => {
                if let Some(inner) = self.every_under(*p) {
                    a.diagnostics.push(
                        Diagnostic::error("`EVERY` inside `EVERY`", self.spans[inner])
                            .with_secondary(self.spans[i], "the outer `EVERY`")
                            .with_note("each would restart the other's matches without end")
                            .with_help("keep one `EVERY`, around the part that repeats"),
                    );
                } else if self.nullable(*p) {
                    a.diagnostics.push(
                        Diagnostic::error(
                            "`EVERY` needs a sub-pattern that waits for an event",
                            self.spans[i],
                        )
                        .with_note("it would restart without end"),
                    );
                }
                self.check(a, *p, None);
            }
        }
    }
}

/// Looks up the stream of a pattern element (tables cannot be one).
fn element_stream(a: &mut Analysis, name: &Ident) -> Option<StreamInfo> {
    let info = lookup_stream(a, name)?;
    if matches!(info.kind, StreamKind::Table(_)) {
        a.diagnostics.push(
            Diagnostic::error(format!("`{}` is a table", name.name), name.span)
                .with_label("a pattern element must be a stream"),
        );
        return None;
    }
    Some(info)
}

/// An input nothing can refer to.
fn hidden() -> ScopeInput {
    ScopeInput {
        stream: String::new(),
        alias: Some(String::new()),
        attrs: Vec::new(),
        implicit: true,
    }
}

/// Binds the pattern source of `q`.
pub fn bind_pattern(
    a: &mut Analysis,
    _q: &ast::Query,
    p: &ast::PatternSource,
) -> Option<SourceBinding> {
    let errors_before = a.diagnostics.iter().filter(|d| d.is_error()).count();
    let mut b = Builder::default();
    let root = b.build(a, &p.expr);
    check_aliases(a, &b.elements);
    if let Some(w) = p.within.filter(|w| w.millis <= 0) {
        a.diagnostics
            .push(Diagnostic::error("WITHIN must be positive", w.span));
    }
    let root = root?;
    b.check(a, root, None);
    if b.nullable(root) {
        a.diagnostics.push(Diagnostic::error(
            "this pattern matches without any event",
            p.expr.span(),
        ));
    }
    let inputs: Vec<ScopeInput> = b
        .elements
        .iter()
        .map(|e| {
            if e.absent {
                ScopeInput {
                    stream: e.info.name.clone(),
                    ..hidden()
                }
            } else {
                ScopeInput {
                    stream: e.info.name.clone(),
                    alias: e.alias.map(|i| i.name.clone()),
                    attrs: e.info.attrs.clone(),
                    implicit: true,
                }
            }
        })
        .collect();
    for k in 0..b.elements.len() {
        let filter = bind_element_filter(a, &b, k);
        match &mut b.nodes[b.elements[k].node] {
            PatternNode::Stream { filter: f, .. } | PatternNode::Absent { filter: f, .. } => {
                *f = filter
            }
            _ => {}
        }
    }
    if p.within.is_none() {
        // Only `EVERY` starts partial matches without limit; each is dropped when it
        // completes or fails, so the warning needs one that can wait for an event for ever
        // (an absence's `FOR` bounds its wait).
        let every = b
            .nodes
            .iter()
            .position(|n| matches!(n, PatternNode::Every(_)));
        if let (Some(i), Some(waits)) = (every, endless_wait(&b.nodes, root)) {
            a.diagnostics.push(
                Diagnostic::warning(
                    "`EVERY` without `WITHIN`: partial matches that never complete are kept forever",
                    b.spans[i],
                )
                .with_secondary(b.spans[waits], "a partial match may wait for this for ever")
                .with_help("add `WITHIN <duration>` after the pattern"),
            );
        }
    }
    let errors = a.diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > errors_before {
        return None;
    }
    let pattern = BoundPattern {
        sequence: p.sequence,
        within: p.within.map(|w| w.millis),
        aliases: b
            .elements
            .iter()
            .map(|e| e.alias.map(|i| i.name.clone()))
            .collect(),
        nodes: b.nodes,
        root,
    };
    Some(SourceBinding {
        inputs,
        kind: QueryKind::Pattern(Box::new(pattern)),
        filter: None,
        window: None,
    })
}

/// `true` when node `n` is `NOT S` without `FOR`: the side of an `AND` that only forbids
/// events until its partner completes (it never makes a match wait by itself).
fn pending_only(nodes: &[PatternNode], n: usize) -> bool {
    matches!(nodes[n], PatternNode::Absent { wait: None, .. })
}

/// Whether a partial match that has reached node `n` (and waits for it to start) waits at
/// most a bounded time: `n` can complete, or end the wait, through an absence's `FOR`.
fn bounded_start(nodes: &[PatternNode], n: usize) -> bool {
    match nodes[n] {
        PatternNode::Stream { .. } => false,
        PatternNode::Absent { wait, .. } => wait.is_some(),
        PatternNode::Then(a, _) | PatternNode::Every(a) => bounded_start(nodes, a),
        PatternNode::And(a, b) => match (pending_only(nodes, a), pending_only(nodes, b)) {
            (true, _) => bounded_start(nodes, b),
            (_, true) => bounded_start(nodes, a),
            _ => bounded_start(nodes, a) && bounded_start(nodes, b),
        },
        PatternNode::Or(a, b) => bounded_start(nodes, a) || bounded_start(nodes, b),
    }
}

/// A node that a partial match inside node `n` (one that has made progress in `n`: captured
/// an event or seen an absence pass) may wait for without any bound in time, if there is one:
/// the element after a `->` whose wait no `FOR` ends, the other side of an `AND`, more
/// events of a counted element.
fn endless_wait(nodes: &[PatternNode], n: usize) -> Option<usize> {
    match nodes[n] {
        PatternNode::Stream { max, .. } => (max != Some(1)).then_some(n),
        PatternNode::Absent { .. } => None,
        PatternNode::Then(a, b) => endless_wait(nodes, a)
            .or_else(|| (!bounded_start(nodes, b)).then_some(b))
            .or_else(|| endless_wait(nodes, b)),
        PatternNode::And(a, b) => endless_wait(nodes, a)
            .or_else(|| endless_wait(nodes, b))
            .or_else(|| {
                // Once one side has progressed the match waits for the other; a `NOT S`
                // without `FOR` only holds while its partner is awaited.
                if pending_only(nodes, a) || pending_only(nodes, b) {
                    None
                } else if !bounded_start(nodes, b) {
                    Some(b)
                } else if !bounded_start(nodes, a) {
                    Some(a)
                } else {
                    None
                }
            }),
        PatternNode::Or(a, b) => endless_wait(nodes, a).or_else(|| endless_wait(nodes, b)),
        PatternNode::Every(a) => endless_wait(nodes, a),
    }
}

/// Reports aliases written twice.
fn check_aliases(a: &mut Analysis, elements: &[Element<'_>]) {
    for (k, e) in elements.iter().enumerate() {
        let Some(alias) = e.alias else { continue };
        let first = elements[..k]
            .iter()
            .filter_map(|x| x.alias)
            .find(|x| x.name == alias.name);
        if let Some(first) = first {
            a.diagnostics.push(
                Diagnostic::error(format!("duplicate alias `{}`", alias.name), alias.span)
                    .with_secondary(first.span, "first used here"),
            );
        }
    }
}

/// Binds the `[cond]` of element `k` (see the module docs for what it reads).
fn bind_element_filter(a: &mut Analysis, b: &Builder<'_>, k: usize) -> Option<TExpr> {
    let el = &b.elements[k];
    let cond = el.filter?;
    let n = b.elements.len();
    // Inputs in query order, then the tested event. An unaliased element of the same stream
    // would make `S.x` ambiguous: only the tested event answers to the stream's name.
    let mut scope: Vec<ScopeInput> = b
        .elements
        .iter()
        .enumerate()
        .map(|(j, x)| {
            if j == k || x.absent || (x.alias.is_none() && x.info.name == el.info.name) {
                hidden()
            } else {
                ScopeInput {
                    stream: x.info.name.clone(),
                    alias: x.alias.map(|i| i.name.clone()),
                    attrs: x.info.attrs.clone(),
                    implicit: true,
                }
            }
        })
        .collect();
    scope.push(ScopeInput {
        stream: el.info.name.clone(),
        alias: el.alias.map(|i| i.name.clone()),
        attrs: el.info.attrs.clone(),
        implicit: true,
    });
    let own = el.alias.cloned().unwrap_or_else(|| el.info_ident());
    let mut cond = cond.clone();
    qualify(&mut cond, &own);
    let mut diags = Vec::new();
    let bound = {
        let mut binder = Binder {
            inputs: &scope,
            aggregates: None,
            diags: &mut diags,
            outputs: None,
            tables: Some(&a.catalog),
        };
        binder
            .bind(&cond)
            .and_then(|c| condition(&mut binder, c))
            .ok()
    };
    a.diagnostics.append(&mut diags);
    let mut bound = bound?;
    let pattern = Shape {
        nodes: &b.nodes,
        elements: &b.elements,
    };
    let mut ok = true;
    bound.visit_mut(&mut |e| {
        if let ExprKind::IndexedAttr { input, .. } = &mut e.kind {
            if *input == n {
                // `e2[last].x` in e2's own condition: its earlier events.
                *input = k;
            }
        }
        if let Some(d) = pattern.misuse(e, Some(k)) {
            a.diagnostics.push(d);
            ok = false;
        }
    });
    ok.then_some(bound)
}

impl Element<'_> {
    /// The stream name as an identifier at the element's position.
    fn info_ident(&self) -> Ident {
        Ident::new(self.info.name.clone(), self.span)
    }
}

/// What [`Shape::misuse`] needs to know about a pattern.
struct Shape<'s, 'a> {
    nodes: &'s [PatternNode],
    elements: &'s [Element<'a>],
}

impl Shape<'_, '_> {
    fn counted(&self, input: usize) -> bool {
        let node = self.elements[input].node;
        matches!(&self.nodes[node], PatternNode::Stream { max, .. } if *max != Some(1))
    }

    fn name(&self, input: usize) -> String {
        let e = &self.elements[input];
        e.alias
            .map_or_else(|| e.info.name.clone(), |i| i.name.clone())
    }

    /// The error of a reference to a captured event that cannot be read that way: an
    /// unindexed counted element, an indexed single one, or (in the condition of element
    /// `current`) an element captured later.
    fn misuse(&self, e: &TExpr, current: Option<usize>) -> Option<Diagnostic> {
        let (input, indexed) = match &e.kind {
            ExprKind::Attr { input, .. } => (*input, false),
            ExprKind::IndexedAttr { input, .. } => (*input, true),
            _ => return None,
        };
        // Beyond the elements: the tested event, or a table row inside `IN`.
        if input >= self.elements.len() {
            return None;
        }
        let name = self.name(input);
        if current.is_some_and(|k| input > k) {
            return Some(
                Diagnostic::error(format!("`{name}` is captured after this element"), e.span)
                    .with_label("not captured yet")
                    .with_note("a condition can read the elements before it in the pattern"),
            );
        }
        match (indexed, self.counted(input)) {
            (false, true) => Some(
                Diagnostic::error(
                    format!("`{name}` collects several events: say which one"),
                    e.span,
                )
                .with_help(format!("use `{name}[0].x` or `{name}[last].x`")),
            ),
            (true, false) => Some(
                Diagnostic::error(format!("`{name}` captures a single event"), e.span)
                    .with_label("indexed access needs a counted element")
                    .with_help(format!("write `{name}.x`")),
            ),
            _ => None,
        }
    }
}

/// Checks how the SELECT, WHERE, GROUP BY and HAVING of `q` read captured events; indexed
/// access `e[0].x` is only for counted pattern elements. `false` after reporting an error.
pub fn check_captured(a: &mut Analysis, q: &BoundQuery) -> bool {
    let mut exprs: Vec<&TExpr> = Vec::new();
    exprs.extend(q.post_filter.iter());
    exprs.extend(q.filter.iter());
    exprs.extend(q.group_by.iter());
    exprs.extend(q.having.iter());
    exprs.extend(q.columns.iter().map(|c| &c.expr));
    exprs.extend(q.aggregates.iter().filter_map(|c| c.arg.as_ref()));
    let errors_before = a.diagnostics.len();
    let pattern = match &q.kind {
        QueryKind::Pattern(p) => Some(p),
        _ => None,
    };
    for e in exprs {
        e.visit(&mut |x| match (&x.kind, pattern) {
            (ExprKind::IndexedAttr { .. }, None) => a.diagnostics.push(
                Diagnostic::error("indexed event access outside a pattern", x.span)
                    .with_note("`e[0].x` reads the events of a counted pattern element"),
            ),
            (ExprKind::Attr { input, .. } | ExprKind::IndexedAttr { input, .. }, Some(p))
                if *input < q.inputs.len() =>
            {
                let indexed = matches!(x.kind, ExprKind::IndexedAttr { .. });
                let name = p.aliases[*input].as_ref().unwrap_or(&q.inputs[*input]);
                match (indexed, p.is_counted(*input)) {
                    (false, true) => a.diagnostics.push(
                        Diagnostic::error(
                            format!("`{name}` collects several events: say which one"),
                            x.span,
                        )
                        .with_help(format!("use `{name}[0].x` or `{name}[last].x`")),
                    ),
                    (true, false) => a.diagnostics.push(
                        Diagnostic::error(format!("`{name}` captures a single event"), x.span)
                            .with_label("indexed access needs a counted element")
                            .with_help(format!("write `{name}.x`")),
                    ),
                    _ => {}
                }
            }
            _ => {}
        });
    }
    a.diagnostics.len() == errors_before
}

/// Qualifies every unqualified attribute of `e` with `q` (an element's condition reads the
/// tested event by default).
fn qualify(e: &mut Expr, q: &Ident) {
    match e {
        Expr::Literal(..) => {}
        Expr::Attr { qualifier, .. } => {
            if qualifier.is_none() {
                *qualifier = Some(q.clone());
            }
        }
        Expr::Unary { expr, .. }
        | Expr::IsNull { expr, .. }
        | Expr::Cast { expr, .. }
        | Expr::InTable { expr, .. } => qualify(expr, q),
        Expr::Binary { left, right, .. } => {
            qualify(left, q);
            qualify(right, q);
        }
        Expr::InList { expr, list, .. } => {
            qualify(expr, q);
            list.iter_mut().for_each(|x| qualify(x, q));
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            qualify(expr, q);
            qualify(low, q);
            qualify(high, q);
        }
        Expr::Like { expr, pattern, .. } => {
            qualify(expr, q);
            qualify(pattern, q);
        }
        Expr::Case {
            operand,
            whens,
            else_,
            ..
        } => {
            if let Some(o) = operand {
                qualify(o, q);
            }
            for (w, t) in whens {
                qualify(w, q);
                qualify(t, q);
            }
            if let Some(x) = else_ {
                qualify(x, q);
            }
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|x| qualify(x, q)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sema::analyze;
    use crate::syntax::parse;

    const STREAMS: &str = "CREATE STREAM A (x INT); CREATE STREAM B (x INT); \
                           CREATE STREAM C (x INT, y INT);";

    /// The bound pattern of the app's only query, and its input streams.
    fn bind(query: &str) -> (BoundPattern, Vec<String>) {
        let (app, diags) = parse(&format!("{STREAMS} {query}"));
        assert!(diags.is_empty(), "{diags:?}");
        let a = analyze(&app);
        assert!(!a.has_errors(), "{:?}", a.diagnostics);
        let q = &a.queries[0];
        match &q.kind {
            QueryKind::Pattern(p) => ((**p).clone(), q.inputs.clone()),
            other => panic!("not a pattern: {other:?}"),
        }
    }

    /// The warnings of the app with `query`, with their secondary labels.
    fn warnings(query: &str) -> Vec<String> {
        let (app, _) = parse(&format!("{STREAMS} {query}"));
        analyze(&app)
            .diagnostics
            .iter()
            .filter(|d| !d.is_error())
            .map(|d| format!("{d:?}"))
            .collect()
    }

    #[test]
    fn warns_only_when_a_partial_match_can_wait_for_ever() {
        // Waits for B for ever: warned, pointing at what it waits for.
        let w = warnings("INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY a=A -> b=B);");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("kept forever") && w[0].contains("wait for this"),
            "{w:?}"
        );
        // The absence's FOR ends every wait: the match completes or a B kills it.
        for q in [
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY a=A -> NOT B[x == a.x] FOR 1 MIN);",
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY a=A -> (NOT B FOR 1 SEC OR c=C));",
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY (NOT B AND a=A));",
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY a=A -> b=B) WITHIN 1 SEC;",
        ] {
            assert_eq!(warnings(q), Vec::<String>::new(), "{q}");
        }
        // Still unbounded: after the absence, C; the other side of an AND; more of a count.
        for q in [
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY a=A -> NOT B FOR 1 SEC -> c=C);",
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY (a=A AND c=C));",
            "INSERT INTO O SELECT a[0].x AS x FROM PATTERN (EVERY a=A{2});",
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY a=A -> (NOT B FOR 1 SEC AND c=C));",
        ] {
            assert_eq!(warnings(q).len(), 1, "{q}");
        }
    }

    fn errors(query: &str) -> Vec<String> {
        let (app, _) = parse(&format!("{STREAMS} {query}"));
        analyze(&app)
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect()
    }

    #[test]
    fn elements_become_inputs_in_source_order() {
        let (p, inputs) = bind(
            "INSERT INTO O SELECT a.x AS x FROM PATTERN \
             (EVERY (a=A AND NOT B) -> c=C{2,3} -> NOT A FOR 1 SEC) WITHIN 5 SEC;",
        );
        assert_eq!(inputs, ["A", "B", "C", "A"]);
        assert_eq!(p.aliases, [Some("a".into()), None, Some("c".into()), None]);
        assert_eq!(p.within, Some(5000));
        assert!(!p.sequence);
        use PatternNode::*;
        let shape: Vec<String> = p
            .nodes
            .iter()
            .map(|n| match n {
                Stream {
                    input, min, max, ..
                } => format!("S{input}{{{min},{max:?}}}"),
                Absent { input, wait, .. } => format!("N{input}:{wait:?}"),
                Then(a, b) => format!("T({a},{b})"),
                And(a, b) => format!("A({a},{b})"),
                Or(a, b) => format!("O({a},{b})"),
                Every(x) => format!("E({x})"),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "S0{1,Some(1)}",
                "N1:None",
                "A(0,1)",
                "E(2)",
                "S2{2,Some(3)}",
                "T(3,4)",
                "N3:Some(1000)",
                "T(5,6)"
            ]
        );
        assert_eq!(p.root, 7);
        assert!(p.is_counted(2) && !p.is_counted(0) && !p.is_counted(1));
    }

    #[test]
    fn a_condition_reads_the_tested_event_as_input_n() {
        let (p, _) = bind(
            "INSERT INTO O SELECT a.x AS x, b[last].x AS y FROM PATTERN \
             (a=A -> b=B[x > a.x AND (b[last].x IS NULL OR x > b[last].x)]+) WITHIN 1 SEC;",
        );
        let PatternNode::Stream {
            filter: Some(f), ..
        } = &p.nodes[1]
        else {
            panic!("{:?}", p.nodes);
        };
        let mut reads = Vec::new();
        f.visit(&mut |e| match &e.kind {
            ExprKind::Attr { input, .. } => reads.push(format!("{input}")),
            ExprKind::IndexedAttr { input, index, .. } => reads.push(format!("{input}{index:?}")),
            _ => {}
        });
        // The tested B is input 2 (one past the two inputs); its earlier events are input 1.
        assert_eq!(reads, ["2", "0", "1Last(0)", "2", "1Last(0)"]);
    }

    #[test]
    fn reports_misuse() {
        let e = errors(
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (a=A[x > b.x] -> b=B) WITHIN 1 SEC;",
        );
        assert_eq!(e, ["`b` is captured after this element"]);
        let e = errors("INSERT INTO O SELECT b.x AS x FROM PATTERN (a=A -> b=B{2}) WITHIN 1 SEC;");
        assert_eq!(e, ["`b` collects several events: say which one"]);
        let e = errors("INSERT INTO O SELECT a[0].x AS x FROM PATTERN (a=A -> b=B) WITHIN 1 SEC;");
        assert_eq!(e, ["`a` captures a single event"]);
        let e = errors(
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (a=A -> NOT B OR c=C) WITHIN 1 SEC;",
        );
        assert_eq!(
            e,
            ["`NOT` without `FOR` needs an `AND` partner that captures an event"]
        );
        let e = errors(
            "INSERT INTO O SELECT 1 AS one FROM PATTERN (NOT A FOR 1 SEC AND NOT B FOR 2 SEC);",
        );
        assert!(e.is_empty(), "{e:?}");
        let e = errors(
            "INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY (a=A -> EVERY b=B)) WITHIN 1 SEC;",
        );
        assert_eq!(e, ["`EVERY` inside `EVERY`"]);
        let e = errors("INSERT INTO O SELECT a.x AS x FROM PATTERN (a=A{0,1});");
        assert_eq!(e, ["this pattern matches without any event"]);
        let e = errors("INSERT INTO O SELECT a.x AS x FROM PATTERN (a=A -> b=B) WITHIN 0 SEC;");
        assert_eq!(e, ["WITHIN must be positive"]);
    }

    #[test]
    fn warns_about_every_without_within() {
        let (app, _) = parse(&format!(
            "{STREAMS} INSERT INTO O SELECT a.x AS x FROM PATTERN (EVERY a=A -> b=B);"
        ));
        let a = analyze(&app);
        assert!(!a.has_errors());
        assert_eq!(a.diagnostics.len(), 1);
        assert!(a.diagnostics[0]
            .message
            .contains("`EVERY` without `WITHIN`"));
    }
}
