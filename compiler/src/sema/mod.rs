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
