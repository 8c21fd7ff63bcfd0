//! `eventflux explain`: the plan of an application as text (one block per query: its
//! logical operators and its physical choices) or as one Graphviz digraph of its streams,
//! tables and queries.

use super::physical::{Operator, PatternShape, Placement, SideStore, TableAccess};
use super::{AppPlan, QueryPlan};
use crate::sema::ir::{QueryKind, WindowKind};
use std::fmt::Write;

/// The output format of [`explain`](crate::explain).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// One block per query.
    #[default]
    Text,
    /// One Graphviz digraph.
    Dot,
}

/// The 1-based line of byte offset `offset` of `source`.
fn line_of(source: &str, offset: usize) -> usize {
    source
        .as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The readable name of query `q`: `query 'name' (line L)` when it has a written name,
/// else `query N (line L)` (N its 1-based position in the app).
pub fn label(q: &QueryPlan, source: &str) -> String {
    let line = line_of(source, q.span.start);
    if q.named {
        format!("query '{}' (line {line})", q.name)
    } else {
        format!("query {} (line {line})", q.index + 1)
    }
}

/// The Rust-ish name of a window kind in explain output (its canonical name).
fn window_name(w: WindowKind) -> String {
    let debug = format!("{w:?}");
    let mut chars = debug.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => debug,
    }
}

/// The physical choices of query `q` in one line.
pub fn physical(plan: &AppPlan, q: &QueryPlan) -> String {
    let phys = plan.physical_of(q);
    let mut out = match &phys.operator {
        Operator::Silent => "nothing (a stateless query emitting only expired events)".into(),
        Operator::TableStatement(t) => {
            format!("table {}", if t.update { "update" } else { "delete" })
        }
        Operator::FilterProject(f) => {
            let mut s = "filter/project".to_string();
            if f.takes_events {
                let attrs = &plan.streams[q.input].attrs;
                let moved: Vec<&str> = f
                    .movable
                    .iter()
                    .filter_map(|&a| attrs.get(a).map(|x| x.name.as_str()))
                    .collect();
                let _ = write!(s, ", events by value");
                if !moved.is_empty() {
                    let _ = write!(s, " (moves {})", moved.join(", "));
                }
            }
            s
        }
        Operator::WindowAggregate(w) => {
            let window = w.window.map_or("no window".into(), |k| {
                format!(
                    "window {} ({})",
                    window_name(k),
                    if k.is_batch() { "batch" } else { "sliding" }
                )
            });
            let mode = match w.mode {
                super::physical::Mode::Sliding => "sliding",
                super::physical::Mode::Batch => "batch",
                super::physical::Mode::Slotted => "slotted",
                super::physical::Mode::OnArrival => "on arrival",
            };
            let mut s = format!("window aggregate: {window}, aggregation {mode}");
            if w.takes_events {
                s.push_str(", events by value");
            }
            if w.moves_arrival {
                s.push_str(" (arrival moves into its row)");
            }
            if q.drops_idle_groups && !q.group_by.is_empty() {
                s.push_str(", idle groups dropped");
            }
            s
        }
        Operator::Join(j) => {
            let sides: Vec<String> = j
                .sides
                .iter()
                .enumerate()
                .map(|(n, side)| {
                    let stream = &plan.streams[q.inputs[n]].name;
                    let store = match side.store {
                        SideStore::None => "no store".to_string(),
                        SideStore::Table(TableAccess::Primary) => "table by primary key".into(),
                        SideStore::Table(TableAccess::Index) => "table by index".into(),
                        SideStore::Table(TableAccess::Scan) => "table scan".into(),
                        SideStore::Scan => "scan".into(),
                        SideStore::Index => "key index".into(),
                        SideStore::Stored => "key index over a join store".into(),
                    };
                    let window = side
                        .window
                        .map(|w| format!(" of window {}", window_name(w)))
                        .unwrap_or_default();
                    let owned = match side.store {
                        SideStore::Table(_) => "",
                        _ if side.takes_events => ", events by value",
                        _ => ", events shared",
                    };
                    format!("side {n} {stream}: {store}{window}{owned}")
                })
                .collect();
            let paired = if j.paired { "; paired" } else { "" };
            format!("join: {}{paired}", sides.join("; "))
        }
        Operator::Pattern(p) => {
            let shape = match p.shape {
                PatternShape::Chain => "chain",
                PatternShape::Nfa => "nfa",
            };
            let sequence = match &q.kind {
                QueryKind::Pattern(bp) if bp.sequence => "sequence",
                _ => "pattern",
            };
            let owned: Vec<String> = p
                .takes_events
                .iter()
                .enumerate()
                .filter(|(_, &t)| t)
                .map(|(n, _)| format!("input {n}"))
                .collect();
            let mut s = format!("{sequence}: {shape}");
            if !owned.is_empty() {
                let _ = write!(s, ", events by value on {}", owned.join(", "));
            }
            s
        }
    };
    if phys.direct && phys.operator != Operator::Silent {
        out.push_str("; rows straight to the sink");
    }
    out
}

/// The physical operator of query `q` in a few words (a dot node's label).
fn short(plan: &AppPlan, q: &QueryPlan) -> String {
    let store = |s: SideStore| match s {
        SideStore::None => "no store",
        SideStore::Table(_) => "table",
        SideStore::Scan => "scan",
        SideStore::Index => "index",
        SideStore::Stored => "stored",
    };
    match &plan.physical_of(q).operator {
        Operator::Silent => "silent".into(),
        Operator::TableStatement(t) => {
            format!("table {}", if t.update { "update" } else { "delete" })
        }
        Operator::FilterProject(f) if f.takes_events => "filter/project, by value".into(),
        Operator::FilterProject(_) => "filter/project".into(),
        Operator::WindowAggregate(w) => {
            let window = w.window.map_or("no window".into(), window_name);
            format!("{window} aggregate")
        }
        Operator::Join(j) => {
            let sides: Vec<&str> = j.sides.iter().map(|s| store(s.store)).collect();
            let paired = if j.paired { ", paired" } else { "" };
            format!("join {}{paired}", sides.join(" x "))
        }
        Operator::Pattern(p) => match p.shape {
            PatternShape::Chain => "pattern chain".into(),
            PatternShape::Nfa => "pattern nfa".into(),
        },
    }
}

/// The placement of query `q`.
fn placement(plan: &AppPlan, q: &QueryPlan) -> String {
    match plan.physical_of(q).placement {
        Placement::Worker(w) => {
            let crossing = super::scale::crossing(plan);
            let from: Vec<&str> = q
                .inputs
                .iter()
                .filter(|s| crossing.contains(s))
                .map(|&s| plan.streams[s].name.as_str())
                .collect();
            if from.is_empty() {
                format!("worker {w}")
            } else {
                format!(
                    "worker {w} (rows of {} from every worker, in timestamp order)",
                    from.join(", ")
                )
            }
        }
        Placement::EveryWorker => match super::scale::scalable(plan) {
            Ok(()) => format!(
                "every worker (partition {}, keyed)",
                q.partition.map_or(0, |p| p + 1)
            ),
            Err(why) => format!(
                "worker 0 (partition {}, keyed; the app runs on one worker: {why})",
                q.partition.map_or(0, |p| p + 1)
            ),
        },
    }
}

/// The text form: per stream its readers and by-value owner, then one block per query.
pub fn text(plan: &AppPlan, source: &str) -> String {
    let mut out = String::new();
    let crossing = super::scale::crossing(plan);
    for (i, s) in plan.streams.iter().enumerate() {
        let role = match (s.input, s.output) {
            _ if s.table.is_some() => "table",
            _ if s.trigger.is_some() => "trigger",
            (true, true) => "input+output",
            (true, false) => "input",
            (false, true) => "output",
            (false, false) => "internal",
        };
        let _ = write!(out, "stream {} [{role}]", s.name);
        let sp = &plan.physical.streams[i];
        if !s.consumers.is_empty() {
            let readers: Vec<String> = s
                .consumers
                .iter()
                .map(|&(q, _)| {
                    let by_value = if sp.owner == Some(q) { " by value" } else { "" };
                    format!("{}{by_value}", label(&plan.queries[q], source))
                })
                .collect();
            let _ = write!(out, " -> {}", readers.join(", "));
        }
        if sp.sink_only {
            out.push_str("; sink only");
        }
        if crossing.contains(&i) {
            out.push_str("; rows cross to worker 0 in timestamp order");
        }
        out.push('\n');
    }
    for q in &plan.queries {
        let _ = writeln!(out, "\n{}", label(q, source));
        let _ = writeln!(out, "  logical:   {}", plan.logical(q));
        let _ = writeln!(out, "  physical:  {}", physical(plan, q));
        let _ = writeln!(out, "  placement: {}", placement(plan, q));
    }
    out
}

/// A Graphviz string literal of `s`.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The dot form: streams (boxes), tables (cylinders), triggers (diamonds) and queries
/// (ellipses labelled with their physical operator); an edge per delivery (bold when the
/// events go by value), per table read (dashed) and per insert.
pub fn dot(plan: &AppPlan, source: &str) -> String {
    let mut out = String::from("digraph eventflux {\n  rankdir=LR;\n");
    for (i, s) in plan.streams.iter().enumerate() {
        let shape = if s.table.is_some() {
            "cylinder"
        } else if s.trigger.is_some() {
            "diamond"
        } else {
            "box"
        };
        let _ = writeln!(out, "  s{i} [label={}, shape={shape}];", quoted(&s.name));
    }
    for q in &plan.queries {
        let text = format!(
            "{}\n{}\n{}",
            label(q, source),
            short(plan, q),
            placement(plan, q)
        );
        let _ = writeln!(
            out,
            "  q{} [label={}, shape=ellipse];",
            q.index,
            quoted(&text)
        );
    }
    for (p, partition) in plan.partitions.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_partition_{p} {{");
        let _ = writeln!(
            out,
            "    label={};",
            quoted(&format!("partition {}", p + 1))
        );
        for q in &partition.queries {
            let _ = writeln!(out, "    q{q};");
        }
        out.push_str("  }\n");
    }
    for q in &plan.queries {
        let mut seen = Vec::new();
        for &s in &q.inputs {
            if seen.contains(&s) {
                continue;
            }
            seen.push(s);
            let style = if plan.streams[s].table.is_some() {
                " [style=dashed]"
            } else if plan.physical.streams[s].owner == Some(q.index) {
                " [style=bold, label=\"by value\"]"
            } else {
                ""
            };
            let _ = writeln!(out, "  s{s} -> q{}{style};", q.index);
        }
        let _ = writeln!(out, "  q{} -> s{};", q.index, q.target);
    }
    out.push_str("}\n");
    out
}
