//! The logical plan: streams with their consumers, and one operator chain per query.
//!
//! The planner turns the bound queries of [`crate::sema`] into the wiring codegen needs:
//! which queries each stream feeds (in source order), which streams take input events and
//! which are printed, and each query's chain `filter -> [window] -> select -> insert`.
//! [`AppPlan::explain`] prints it in an EXPLAIN-like text form for tests.

pub mod explain;
pub mod keys;
pub mod physical;
pub mod scale;

use crate::sema::ir::{AggCall, AggFunc, BoundWindow, Column, OutputClauses, QueryKind, TExpr};
use crate::sema::{Analysis, Attribute, StreamKind};
use crate::syntax::ast::{OutputEvents, TriggerAt};
use std::fmt::Write;

/// The plan of a whole application.
#[derive(Clone, Debug, PartialEq)]
pub struct AppPlan {
    /// Every stream, in catalog order.
    pub streams: Vec<StreamPlan>,
    /// Every query, in source order.
    pub queries: Vec<QueryPlan>,
    /// Every partition.
    pub partitions: Vec<PartitionPlan>,
    /// Streams with their own source: (stream name, path).
    pub sources: Vec<(String, String)>,
    /// Streams with their own sink: (stream name, path).
    pub sinks: Vec<(String, String)>,
    /// Every source and sink with its options (DESIGN 8.1).
    pub connectors: Vec<crate::sema::endpoint::Connector>,
    /// Streams fed through an `async` queue (DESIGN 8.2).
    pub pipelines: Vec<crate::sema::endpoint::Pipeline>,
    /// Some query's output flows back into one of its own inputs (directly or through other
    /// queries): events may loop, so generated code bounds the nesting depth.
    pub has_cycle: bool,
    /// How each query runs ([`physical::physical`], computed from the rest).
    pub physical: physical::PhysicalPlan,
}

/// A partition: which streams it splits by which key, and the queries inside.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionPlan {
    /// Partitioned streams (index into `streams`) with their key.
    pub keys: Vec<(usize, crate::sema::ir::PartitionBy)>,
    /// `PURGE AFTER` in ms.
    pub purge_after: Option<i64>,
    /// The queries inside (indexes into `queries`), in source order.
    pub queries: Vec<usize>,
    /// Whether a key whose windows have all emptied is dropped (its state is then that of a
    /// new key): every query inside is stateless or a single-stream query over a window that
    /// drops its idle groups ([`QueryPlan::drops_idle_groups`]), without an output rate.
    pub drops_idle_keys: bool,
}

/// One stream of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamPlan {
    /// Stream name.
    pub name: String,
    /// Schema.
    pub attrs: Vec<Attribute>,
    /// Events can be sent to it from outside (defined streams).
    pub input: bool,
    /// Some query inserts into it: it is printed by default.
    pub output: bool,
    /// When it is a trigger, when it fires.
    pub trigger: Option<TriggerAt>,
    /// When it is a table (not a stream), its keys; a table has no consumers.
    pub table: Option<crate::sema::catalog::TableKeys>,
    /// The queries that read it, in source order: (query index, input index of the query).
    pub consumers: Vec<(usize, usize)>,
}

/// One query's operator chain.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPlan {
    /// Its index in [`AppPlan::queries`] (and [`physical::PhysicalPlan::queries`]).
    pub index: usize,
    /// The partition the query is in.
    pub partition: Option<usize>,
    /// Stable name.
    pub name: String,
    /// The name was written (`@info(name = ...)` or `-- name:`), not `query_<n>`.
    pub named: bool,
    /// Where the query was written.
    pub span: crate::syntax::ast::Span,
    /// The base of the query's Rust names (`query_<rust_name>`), unique among the app's
    /// queries in the sense of [`crate::names::query_bases`].
    pub rust_name: String,
    /// Index of the (first) input stream in [`AppPlan::streams`].
    pub input: usize,
    /// Index of every input stream, in input order.
    pub inputs: Vec<usize>,
    /// Single stream, join or pattern.
    pub kind: QueryKind,
    /// WHERE over combined rows (joins, patterns).
    pub post_filter: Option<TExpr>,
    /// Filter before the window.
    pub filter: Option<TExpr>,
    /// Window.
    pub window: Option<BoundWindow>,
    /// Aggregate calls (`ExprKind::Agg(i)` refers to `aggregates[i]`).
    pub aggregates: Vec<AggCall>,
    /// GROUP BY keys.
    pub group_by: Vec<TExpr>,
    /// HAVING condition.
    pub having: Option<TExpr>,
    /// ORDER BY, LIMIT, OFFSET, DISTINCT, OUTPUT rate.
    pub output: OutputClauses,
    /// Output columns, named after the target's attributes.
    pub columns: Vec<Column>,
    /// Index of the target stream (or table).
    pub target: usize,
    /// What the query does to its target table (INSERT, UPSERT, UPDATE, DELETE).
    pub table_op: Option<Box<crate::sema::ir::TableOp>>,
    /// Which events are emitted.
    pub events: OutputEvents,
    /// Whether a group (of a grouped aggregation over the window) is dropped once its last
    /// event has left the window: the window releases every event it takes, and no aggregate
    /// outlives the window (`minForever`, `maxForever`). See `drops_idle_groups`.
    pub drops_idle_groups: bool,
}

/// Whether the grouped aggregation of query `q` drops a group once its rows have all left
/// (docs/semantics.md#state-bounded-by-the-windows): over a window that releases every event
/// ([`WindowKind::releases_every_event`](crate::sema::ir::WindowKind::releases_every_event)), or over an inner join of two such windows, where every joined
/// row that enters later leaves as an expired row; never with an aggregate that outlives the
/// window (`minForever`, `maxForever`). A group that keeps a row for ever (a late `session`
/// event) is kept.
fn drops_idle_groups(q: &crate::sema::ir::BoundQuery) -> bool {
    let forever = q
        .aggregates
        .iter()
        .any(|a| matches!(a.func, AggFunc::MinForever | AggFunc::MaxForever));
    let released = match &q.kind {
        QueryKind::Single => q
            .window
            .as_ref()
            .is_some_and(|w| w.kind().releases_every_event()),
        QueryKind::Join(j) => {
            j.sides.len() == 2
                && j.steps
                    .iter()
                    .all(|s| s.kind == crate::syntax::ast::JoinKind::Inner)
                && j.sides.iter().all(|s| {
                    !s.table
                        && s.triggers
                        && s.window
                            .as_ref()
                            .is_some_and(|w| w.kind().releases_every_event())
                })
        }
        QueryKind::Pattern(_) => false,
    };
    released && !forever
}

/// Builds the plan of an analysed application (which must be free of errors).
pub fn plan(analysis: &Analysis) -> AppPlan {
    let catalog = &analysis.catalog;
    let index = |name: &str| {
        catalog
            .streams
            .iter()
            .position(|s| s.name == name)
            .unwrap_or(0)
    };
    let mut streams: Vec<StreamPlan> = catalog
        .streams
        .iter()
        .map(|s| StreamPlan {
            name: s.name.clone(),
            attrs: s.attrs.clone(),
            input: s.kind == StreamKind::Defined,
            // Inner streams (`#Name`) of partitions are never printed; a fault stream
            // (`!Name`) is an output when a sink is declared on it (a dead-letter queue).
            output: (s.produced && !s.name.starts_with('#'))
                || (s.name.starts_with('!')
                    && analysis
                        .connectors
                        .iter()
                        .any(|c| !c.source && c.stream == s.name)),
            trigger: match &s.kind {
                StreamKind::Trigger(at) => Some(at.clone()),
                _ => None,
            },
            table: s.table().cloned(),
            consumers: Vec::new(),
        })
        .collect();
    let mut queries = Vec::new();
    for (i, q) in analysis.queries.iter().enumerate() {
        let inputs: Vec<usize> = q.inputs.iter().map(|n| index(n)).collect();
        let input = inputs.first().copied().unwrap_or(0);
        let target = index(&q.target);
        for (n, &s) in inputs.iter().enumerate() {
            // A table never triggers a query: it is read, not delivered.
            let table = streams[s].table.is_some();
            if !table && !streams[s].consumers.contains(&(i, n)) && first_input_of(&inputs, s) == n
            {
                streams[s].consumers.push((i, n));
            }
        }
        let columns = q
            .columns
            .iter()
            .zip(&streams[target].attrs)
            .map(|(c, attr)| Column {
                name: attr.name.clone(),
                expr: c.expr.clone().widen_to(attr.ty),
            })
            .collect();
        queries.push(QueryPlan {
            index: i,
            partition: q.partition,
            name: q.name.clone(),
            named: q.named,
            span: q.span,
            rust_name: String::new(),
            input,
            inputs,
            kind: q.kind.clone(),
            post_filter: q.post_filter.clone(),
            filter: q.filter.clone(),
            window: q.window.clone(),
            aggregates: q.aggregates.clone(),
            group_by: q.group_by.clone(),
            having: q.having.clone(),
            output: q.output.clone(),
            columns,
            target,
            table_op: q.table_op.clone(),
            events: q.events,
            drops_idle_groups: drops_idle_groups(q),
        });
    }
    let query_names: Vec<&str> = analysis.queries.iter().map(|q| q.name.as_str()).collect();
    for (q, base) in queries
        .iter_mut()
        .zip(crate::names::query_bases(&query_names))
    {
        q.rust_name = base;
    }
    let partitions = analysis
        .partitions
        .iter()
        .enumerate()
        .map(|(p, bp)| PartitionPlan {
            keys: bp
                .keys
                .iter()
                .map(|k| (index(&k.stream), k.key.clone()))
                .collect(),
            purge_after: bp.purge_after,
            queries: (0..queries.len())
                .filter(|&i| queries[i].partition == Some(p))
                .collect(),
            drops_idle_keys: queries
                .iter()
                .filter(|q| q.partition == Some(p))
                .all(QueryPlan::state_follows_window),
        })
        .collect();
    let has_cycle = has_cycle(&streams, &queries);
    let endpoints = |source: bool| {
        analysis
            .endpoints
            .iter()
            .filter(|e| e.source == source)
            .map(|e| (e.stream.clone(), e.path.clone()))
            .collect()
    };
    let mut app = AppPlan {
        streams,
        queries,
        partitions,
        has_cycle,
        sources: endpoints(true),
        sinks: endpoints(false),
        physical: physical::PhysicalPlan::default(),
        connectors: analysis.connectors.clone(),
        pipelines: analysis.pipelines.clone(),
    };
    app.physical = physical::physical(&app);
    app
}

/// `true` when the stream graph (stream -> query -> target stream) has a cycle.
fn has_cycle(streams: &[StreamPlan], queries: &[QueryPlan]) -> bool {
    // Iterative DFS with colours: 0 unvisited, 1 on the stack, 2 done.
    let next = |s: usize| -> Vec<usize> {
        streams[s]
            .consumers
            .iter()
            .map(|&(q, _)| queries[q].target)
            .collect()
    };
    let mut colour = vec![0u8; streams.len()];
    for start in 0..streams.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, next(start), 0usize)];
        colour[start] = 1;
        while let Some((node, succ, i)) = stack.last_mut() {
            if let Some(&n) = succ.get(*i) {
                *i += 1;
                match colour[n] {
                    1 => return true,
                    0 => {
                        colour[n] = 1;
                        let succ = next(n);
                        stack.push((n, succ, 0));
                    }
                    _ => {}
                }
            } else {
                colour[*node] = 2;
                stack.pop();
            }
        }
    }
    false
}

/// A stream read by several inputs of one query (a self-join, a pattern over one stream) is
/// delivered once, to the first of them; the query's entry point handles the others.
fn first_input_of(inputs: &[usize], stream: usize) -> usize {
    inputs.iter().position(|&s| s == stream).unwrap_or(0)
}

impl QueryPlan {
    /// Whether the query's state is empty once its window is (so a partition key whose
    /// windows are all empty can be dropped): a stateless single-stream query, or one over a
    /// window that drops its idle groups, without an output rate limiter.
    pub fn state_follows_window(&self) -> bool {
        let single = matches!(self.kind, QueryKind::Single) && self.inputs.len() <= 1;
        let stateless = self.window.is_none() && self.aggregates.is_empty();
        single && self.output.rate.is_none() && (stateless || self.drops_idle_groups)
    }

    /// `true` when the query keeps state (a window or aggregates).
    pub fn is_stateful(&self) -> bool {
        self.window.is_some()
            || !self.aggregates.is_empty()
            || !matches!(self.kind, QueryKind::Single)
            || !self.output.is_plain()
    }
}

impl AppPlan {
    /// How query `q` (one of this plan's) runs.
    pub fn physical_of(&self, q: &QueryPlan) -> &physical::PhysicalQuery {
        &self.physical.queries[q.index]
    }

    /// The optional features of the runtime crate the generated code needs: `redis` when
    /// a table is kept in Redis (generated projects enable only these, so an app without
    /// them builds without their dependencies).
    pub fn runtime_features(&self) -> Vec<&'static str> {
        let redis = self
            .streams
            .iter()
            .any(|s| s.table.as_ref().is_some_and(|t| t.redis.is_some()));
        let mut features = Vec::new();
        if redis {
            features.push("redis");
        }
        if self.connectors.iter().any(|c| c.extension == "http") {
            features.push("http");
        }
        if self.connectors.iter().any(|c| c.extension == "grpc") {
            features.push("grpc");
        }
        // An http source served over TLS (`"tls.cert"`, `"tls.key"`).
        let tls = self.connectors.iter().any(|c| {
            c.extension == "http" && c.source && c.options.iter().any(|(k, _)| k == "tls.cert")
        });
        if tls {
            features.push("tls");
        }
        if self.connectors.iter().any(|c| c.extension == "nats") {
            features.push("nats");
        }
        if self.connectors.iter().any(|c| c.extension == "mqtt") {
            features.push("mqtt");
        }
        if scale::scalable(self).is_ok() {
            features.push("scale");
        }
        if self.connectors.iter().any(|c| c.extension == "postgres") {
            features.push("postgres");
        }
        if self.connectors.iter().any(|c| c.extension == "rabbitmq") {
            features.push("rabbitmq");
        }
        if self.connectors.iter().any(|c| c.extension == "kafka") {
            features.push("kafka");
        }
        features
    }

    /// An EXPLAIN-like text form of the plan.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for s in &self.streams {
            let attrs: Vec<String> = s
                .attrs
                .iter()
                .map(|a| {
                    format!(
                        "{} {}{}",
                        a.name,
                        a.ty,
                        if a.nullable { "" } else { " NOT NULL" }
                    )
                })
                .collect();
            let role = match (s.input, s.output) {
                (true, true) => "input+output",
                (true, false) => "input",
                (false, true) => "output",
                (false, false) if s.trigger.is_some() => "trigger",
                (false, false) if s.table.as_ref().is_some_and(|t| t.redis.is_some()) => {
                    "table in redis"
                }
                (false, false) if s.table.is_some() => "table",
                _ => "internal",
            };
            let _ = writeln!(out, "stream {} ({}) [{role}]", s.name, attrs.join(", "));
        }
        for q in &self.queries {
            let _ = writeln!(out, "query {}: {}", q.name, self.logical(q));
        }
        out
    }

    /// The logical operators of query `q` in one line: `scan S -> filter -> window ... ->
    /// project(...) -> insert ... into T`.
    pub fn logical(&self, q: &QueryPlan) -> String {
        let mut out = String::new();
        let scans: Vec<&str> = q
            .inputs
            .iter()
            .map(|&i| self.streams[i].name.as_str())
            .collect();
        let kind = match q.kind {
            QueryKind::Single => "scan",
            QueryKind::Join(_) => "join",
            QueryKind::Pattern(_) => "pattern",
        };
        let _ = write!(out, "{kind} {}", scans.join(", "));
        if let QueryKind::Join(j) = &q.kind {
            out.push_str(&keys::explain_join(j));
        }
        if q.filter.is_some() {
            out.push_str(" -> filter");
        }
        if let Some(w) = &q.window {
            let _ = write!(out, " -> window {}{:?}", w.name, w.params);
        }
        if !q.aggregates.is_empty() || !q.group_by.is_empty() {
            let aggs: Vec<String> = q
                .aggregates
                .iter()
                .map(|a| format!("{:?}", a.func))
                .collect();
            let _ = write!(
                out,
                " -> aggregate[{}] by {} key(s)",
                aggs.join(", "),
                q.group_by.len()
            );
        }
        if q.having.is_some() {
            out.push_str(" -> having");
        }
        let cols: Vec<&str> = q.columns.iter().map(|c| c.name.as_str()).collect();
        if let Some(op) = &q.table_op {
            let target = &self.streams[q.target];
            out.push_str(&keys::explain_table_op(op, &cols, target));
            return out;
        }
        let _ = write!(
            out,
            " -> project({}) -> insert {:?} into {}",
            cols.join(", "),
            q.events,
            self.streams[q.target].name
        );
        out
    }
}
