//! Helpers the binding passes share: looking up the stream a query reads, requiring a BOOL
//! condition, checking partitioned reads, and what the FROM clause gives the query.

use super::catalog::{suggest, StreamInfo};
use super::expr::ScopeInput;
use super::ir::{BoundWindow, QueryKind, TExpr};
use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast;

/// What the FROM clause gives the rest of the query.
pub struct SourceBinding {
    /// The inputs expressions can read (a stream, both sides of a join, pattern aliases).
    pub inputs: Vec<ScopeInput>,
    /// Single stream, join or pattern.
    pub kind: QueryKind,
    /// Single stream: the filter before the window.
    pub filter: Option<TExpr>,
    /// Single stream: the window.
    pub window: Option<BoundWindow>,
}

/// Looks up the stream a source names, reporting "unknown stream" with a suggestion.
pub fn lookup_stream(a: &mut Analysis, name: &ast::Ident) -> Option<StreamInfo> {
    if let Some(s) = a.catalog.get(&name.name) {
        if s.table().is_some() {
            a.diagnostics.push(not_a_stream(name));
            return None;
        }
        return Some(s.clone());
    }
    if let Some(base) = name.name.strip_prefix('!') {
        if let Some(s) = super::fault_stream(a, base, name.span) {
            return Some(s);
        }
    }
    let mut d = Diagnostic::error(format!("unknown stream `{}`", name.name), name.span)
        .with_label("not defined");
    if let Some(s) = suggest(&name.name, a.catalog.names()) {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    a.diagnostics.push(d);
    None
}

/// The catalog name of inner stream `#name`; an error outside a partition.
pub fn inner_name(a: &mut Analysis, name: &ast::Ident) -> Option<ast::Ident> {
    if a.current_partition.is_none() {
        a.diagnostics.push(
            Diagnostic::error(
                format!("inner stream `#{}` outside a partition", name.name),
                name.span,
            )
            .with_help("inner streams (#Name) exist only between PARTITION ... BEGIN and END"),
        );
        return None;
    }
    Some(ast::Ident::new(format!("#{}", name.name), name.span))
}

/// Inside a partition, checks that `stream` (read by a query or statement of it) is one of
/// the partitioned streams; `false` after reporting an error.
pub fn check_partitioned(a: &mut Analysis, stream: &str, span: ast::Span) -> bool {
    let Some(p) = a.current_partition else {
        return true;
    };
    if stream.starts_with('#') || a.partitions[p].keys.iter().any(|k| k.stream == stream) {
        return true;
    }
    a.diagnostics.push(
        Diagnostic::unsupported(
            "reading a stream that is not partitioned inside a partition",
            span,
        )
        .with_help(format!(
            "add `<key> OF {stream}` to the PARTITION WITH list"
        )),
    );
    false
}

/// The error for a table used where a stream is needed.
pub fn not_a_stream(name: &crate::syntax::ast::Ident) -> crate::diagnostic::Diagnostic {
    crate::diagnostic::Diagnostic::error(
        format!("`{}` is a table, not a stream", name.name),
        name.span,
    )
    .with_label("a table")
    .with_help("a query reads a table in a join (`FROM S JOIN T ON ...`) or with `IN`")
}
