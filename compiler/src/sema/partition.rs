//! Binding partitions (docs/semantics.md#partitions): the key of each partitioned stream and the
//! queries inside, which get one copy of their state per key.
//!
//! Inside a partition, queries (joins included), UPDATE, DELETE and UPSERT read partitioned
//! streams (or inner `#streams`); as in Siddhi, tables are shared by every key: a statement
//! inside a partition reads and writes the one table, only the events that drive it are
//! routed by key (an event outside every range of a range partition drives nothing).

use super::expr::condition;
use super::expr::{Binder, ScopeInput};
use super::ir::{BoundPartition, PartitionBy, PartitionKeyIr};
use super::query::bind_query;
use super::resolve::lookup_stream;
use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast::{self, PartitionKey, Statement};

/// Binds partition `p`; its queries are numbered on from `position`.
pub fn bind_partition(a: &mut Analysis, p: &ast::Partition, position: &mut usize) {
    if a.current_partition.is_some() {
        a.diagnostics
            .push(Diagnostic::unsupported("nested partitions", p.span));
        return;
    }
    let mut keys = Vec::new();
    for key in &p.keys {
        let (stream, by) = match key {
            PartitionKey::Value { stream, .. } | PartitionKey::Range { stream, .. } => {
                (stream, key)
            }
        };
        let Some(info) = lookup_stream(a, stream) else {
            continue;
        };
        if keys.iter().any(|k: &PartitionKeyIr| k.stream == info.name) {
            a.diagnostics.push(Diagnostic::error(
                format!("stream `{}` is partitioned twice", info.name),
                stream.span,
            ));
            continue;
        }
        let inputs = [ScopeInput {
            stream: info.name.clone(),
            alias: None,
            attrs: info.attrs.clone(),
            implicit: true,
        }];
        let mut diags = Vec::new();
        let bound = {
            let mut b = Binder {
                inputs: &inputs,
                aggregates: None,
                diags: &mut diags,
                outputs: None,
                tables: None,
            };
            match by {
                PartitionKey::Value { expr, .. } => b.bind(expr).ok().map(PartitionBy::Value),
                PartitionKey::Range { ranges, .. } => {
                    let mut out = Vec::new();
                    for (cond, label) in ranges {
                        if let Ok(c) = b.bind(cond).and_then(|c| condition(&mut b, c)) {
                            out.push((c, label.clone()));
                        }
                    }
                    (out.len() == ranges.len()).then_some(PartitionBy::Range(out))
                }
            }
        };
        a.diagnostics.append(&mut diags);
        if let Some(key) = bound {
            keys.push(PartitionKeyIr {
                stream: info.name,
                key,
            });
        }
    }
    // Every key of one partition names the same partitions, so they share one type.
    let key_type = |k: &PartitionKeyIr| match &k.key {
        PartitionBy::Value(e) => e.ty,
        PartitionBy::Range(_) => super::Type::String,
    };
    if let Some(first) = keys.first() {
        let ty = key_type(first);
        if keys.iter().any(|k| key_type(k) != ty) {
            a.diagnostics.push(
                Diagnostic::error("the keys of a partition must have one type", p.span)
                    .with_help("range labels are STRING; CAST value keys to one type"),
            );
        }
    }
    let index = a.partitions.len();
    a.partitions.push(BoundPartition {
        keys,
        purge_after: p.purge_after.map(|d| d.millis),
    });
    a.current_partition = Some(index);
    for stmt in &p.statements {
        match stmt {
            Statement::Query(q) => {
                *position += 1;
                if let Some(bound) = bind_query(a, q, *position) {
                    a.queries.push(bound);
                }
            }
            Statement::Update(u) => {
                *position += 1;
                if let Some(bound) = super::table::bind_update(a, u, *position) {
                    a.queries.push(bound);
                }
            }
            Statement::Delete(d) => {
                *position += 1;
                if let Some(bound) = super::table::bind_delete(a, d, *position) {
                    a.queries.push(bound);
                }
            }
            Statement::Error(_) => {}
            other => a.diagnostics.push(Diagnostic::unsupported(
                "definitions and nested partitions inside a partition",
                statement_span(other).unwrap_or(p.span),
            )),
        }
    }
    a.current_partition = None;
}

fn statement_span(s: &Statement) -> Option<ast::Span> {
    Some(match s {
        Statement::Stream(d) => d.span,
        Statement::Table(t) => t.span,
        Statement::Trigger(t) => t.span,
        Statement::Query(q) => q.span,
        Statement::Update(u) => u.span,
        Statement::Delete(d) => d.span,
        Statement::Partition(p) => p.span,
        Statement::Error(_) => return None,
    })
}
