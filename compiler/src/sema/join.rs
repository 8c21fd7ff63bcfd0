//! Binding joins (DESIGN.md §3.2, §4): both sides, their windows, the ON condition.

use super::query::SourceBinding;
use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast;

/// A bound join.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundJoin {}

/// Binds the join source of `q`.
pub fn bind_join(a: &mut Analysis, _q: &ast::Query, j: &ast::JoinSource) -> Option<SourceBinding> {
    a.diagnostics.push(Diagnostic::unsupported("joins", j.span));
    None
}
