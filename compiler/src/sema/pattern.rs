//! Binding patterns and sequences (DESIGN.md §3.5).

use super::query::SourceBinding;
use super::Analysis;
use crate::diagnostic::Diagnostic;
use crate::syntax::ast;

/// A bound pattern or sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundPattern {}

/// Binds the pattern source of `q`.
pub fn bind_pattern(
    a: &mut Analysis,
    _q: &ast::Query,
    p: &ast::PatternSource,
) -> Option<SourceBinding> {
    let what = if p.sequence { "sequences" } else { "patterns" };
    a.diagnostics.push(Diagnostic::unsupported(what, p.span));
    None
}
