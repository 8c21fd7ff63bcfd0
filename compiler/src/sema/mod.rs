//! Semantic analysis: the catalog, name resolution, type checking and diagnostics.
//!
//! [`analyze`] walks the statements in order. Definitions fill the [`Catalog`]; each query is
//! bound against it into a [`BoundQuery`] whose expressions are typed ([`ir::TExpr`]). The
//! target of an `INSERT INTO` that is not defined is created with the query's output schema.
//! Every problem becomes a [`Diagnostic`]; analysis goes on after an error so one run reports
//! them all.

pub mod catalog;
pub mod endpoint;
pub mod expr;
pub mod ir;
pub mod join;
pub mod partition;
pub mod pattern;
pub mod query;
pub mod resolve;
pub mod store;
pub mod table;
pub mod types;
mod window;

use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, Statement};
pub use catalog::{Attribute, Catalog, StreamInfo, StreamKind};
pub use ir::BoundQuery;
pub use types::Type;

/// The result of analysing an application.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Every stream of the app.
    pub catalog: Catalog,
    /// Every query, in source order.
    pub queries: Vec<BoundQuery>,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// Every partition, in source order.
    pub partitions: Vec<ir::BoundPartition>,
    /// The partition whose statements are being analysed.
    pub current_partition: Option<usize>,
    /// Sources and sinks declared with `WITH (...)` on streams.
    pub endpoints: Vec<endpoint::Endpoint>,
    /// Every source and sink, with its options.
    pub connectors: Vec<endpoint::Connector>,
    /// Streams fed through an `async` queue.
    pub pipelines: Vec<endpoint::Pipeline>,
}

impl Analysis {
    /// `true` when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Analyses a parsed application.
pub fn analyze(app: &ast::App) -> Analysis {
    let mut a = Analysis::default();
    for stmt in &app.statements {
        match stmt {
            Statement::Stream(def) => define_stream(&mut a, def),
            Statement::Trigger(def) => define_trigger(&mut a, def),
            Statement::Table(def) => table::define_table(&mut a, def),
            _ => {}
        }
    }
    let mut position = 0;
    for stmt in &app.statements {
        match stmt {
            Statement::Stream(_) | Statement::Trigger(_) | Statement::Error(_) => {}
            Statement::Query(q) => {
                position += 1;
                if let Some(bound) = query::bind_query(&mut a, q, position) {
                    a.queries.push(bound);
                }
            }
            Statement::Table(_) => {}
            Statement::Update(u) => {
                position += 1;
                if let Some(bound) = table::bind_update(&mut a, u, position) {
                    a.queries.push(bound);
                }
            }
            Statement::Delete(d) => {
                position += 1;
                if let Some(bound) = table::bind_delete(&mut a, d, position) {
                    a.queries.push(bound);
                }
            }
            Statement::Partition(p) => {
                partition::bind_partition(&mut a, p, &mut position);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for q in &a.queries {
        if !seen.insert(q.name.clone()) {
            a.diagnostics.push(Diagnostic::error(
                format!("duplicate query name `{}`", q.name),
                q.span,
            ));
        }
    }
    a
}

fn define_stream(a: &mut Analysis, def: &ast::StreamDef) {
    if def.inner {
        a.diagnostics
            .push(Diagnostic::unsupported("inner (#) streams", def.name.span));
        return;
    }
    if let Some(base) = def.name.name.strip_prefix('!') {
        define_fault_stream(a, def, base);
        return;
    }
    let mut attrs: Vec<Attribute> = Vec::new();
    for attr in &def.attrs {
        if attrs.iter().any(|x| x.name == attr.name.name) {
            a.diagnostics.push(Diagnostic::error(
                format!(
                    "duplicate attribute `{}` in stream `{}`",
                    attr.name.name, def.name.name
                ),
                attr.name.span,
            ));
            continue;
        }
        if attr.primary_key {
            a.diagnostics.push(
                Diagnostic::error("PRIMARY KEY is only allowed in a table", attr.span)
                    .with_help("use CREATE TABLE for keyed data"),
            );
        }
        match Type::from_name(&attr.ty.name) {
            Some(ty) => attrs.push(Attribute {
                name: attr.name.name.clone(),
                ty,
                nullable: !attr.not_null,
            }),
            None => a.diagnostics.push(expr::unknown_type(&attr.ty)),
        }
    }
    endpoint::bind_stream_options(a, def);
    add_stream(
        a,
        StreamInfo {
            name: def.name.name.clone(),
            attrs,
            kind: StreamKind::Defined,
            span: def.name.span,
            produced: false,
        },
    );
    // A source or sink of the stream with `'on.error' = 'fault'` feeds its fault stream.
    let faulty = a.connectors.iter().any(|c| {
        c.stream == def.name.name
            && c.options
                .iter()
                .any(|(k, v)| k == "on.error" && v.eq_ignore_ascii_case("fault"))
    });
    if faulty {
        fault_stream(a, &def.name.name, def.name.span);
    }
}

/// The name of the fault stream's error attribute (DESIGN 8.2).
pub const FAULT_ERROR: &str = "_error";

/// The fault stream `!base` (DESIGN 8.2): `base`'s attributes, every one nullable (a
/// message that could not be decoded carries the attributes that could, the rest null), then
/// `_error STRING`. Added to the catalog the first time it is named; `None` when `base` is
/// not a stream (or is itself a fault stream).
pub fn fault_stream(a: &mut Analysis, base: &str, span: ast::Span) -> Option<StreamInfo> {
    let name = format!("!{base}");
    if let Some(s) = a.catalog.get(&name) {
        return Some(s.clone());
    }
    let b = a.catalog.get(base)?;
    if b.table().is_some() || base.starts_with('!') {
        return None;
    }
    let mut attrs: Vec<Attribute> = b
        .attrs
        .iter()
        .map(|x| Attribute {
            nullable: true,
            ..x.clone()
        })
        .collect();
    if attrs.iter().any(|x| x.name == FAULT_ERROR) {
        a.diagnostics.push(
            Diagnostic::error(
                format!("stream `{base}` has an attribute `{FAULT_ERROR}`: its fault stream `{name}` cannot add one"),
                span,
            )
            .with_help("rename the attribute"),
        );
        return None;
    }
    attrs.push(Attribute {
        name: FAULT_ERROR.into(),
        ty: Type::String,
        nullable: false,
    });
    let info = StreamInfo {
        name,
        attrs,
        kind: StreamKind::Defined,
        span,
        produced: false,
    };
    add_stream(a, info.clone());
    Some(info)
}

/// `CREATE STREAM !Name WITH (...)`: the fault stream of `Name`, declared to carry sinks
/// (a dead-letter queue). Its attributes are `Name`'s plus `_error`; they are not written.
fn define_fault_stream(a: &mut Analysis, def: &ast::StreamDef, base: &str) {
    if !def.attrs.is_empty() {
        a.diagnostics.push(
            Diagnostic::error(
                format!("the attributes of fault stream `{}` are those of `{base}` plus `_error STRING`", def.name.name),
                def.attrs[0].span,
            )
            .with_help(format!("write CREATE STREAM !{base} WITH (...) without attributes")),
        );
        return;
    }
    if a.catalog.get(&def.name.name).is_some() {
        // Created already by an earlier `'on.error' = 'fault'` of `base`.
    } else {
        let before = a.diagnostics.len();
        if fault_stream(a, base, def.name.span).is_some() {
            endpoint::bind_stream_options(a, def);
            return;
        }
        if a.diagnostics.len() > before {
            return;
        }
        a.diagnostics.push(
            Diagnostic::error(format!("unknown stream `{base}`"), def.name.span)
                .with_label("a fault stream `!Name` needs `Name` defined before it"),
        );
        return;
    }
    endpoint::bind_stream_options(a, def);
}

fn define_trigger(a: &mut Analysis, def: &ast::TriggerDef) {
    let attrs = vec![Attribute {
        name: "triggered_time".into(),
        ty: Type::Long,
        nullable: false,
    }];
    if let ast::TriggerAt::Every(d) = &def.at {
        if d.millis <= 0 {
            a.diagnostics
                .push(Diagnostic::error("trigger period must be positive", d.span));
        }
    }
    if let ast::TriggerAt::Cron(text, span) = &def.at {
        if let Some(d) = window::check_cron(text, *span) {
            a.diagnostics.push(d);
        }
    }
    add_stream(
        a,
        StreamInfo {
            name: def.name.name.clone(),
            attrs,
            kind: StreamKind::Trigger(def.at.clone()),
            span: def.name.span,
            produced: false,
        },
    );
}

fn add_stream(a: &mut Analysis, info: StreamInfo) {
    let (name, span) = (info.name.clone(), info.span);
    if let Err(first) = a.catalog.add(info) {
        a.diagnostics.push(
            Diagnostic::error(format!("duplicate definition of `{name}`"), span)
                .with_secondary(first, "first defined here"),
        );
    }
}
