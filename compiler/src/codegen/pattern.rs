//! Patterns and sequences: a generated state machine per pattern query.

use super::selector::Stateful;
use super::Ctx;
use crate::plan::QueryPlan;
use crate::sema::pattern::BoundPattern;
use quote::quote;

/// Generates pattern query `q`.
pub(crate) fn pattern_query(_ctx: &Ctx<'_>, _q: &QueryPlan, _pattern: &BoundPattern) -> Stateful {
    Stateful {
        fields: Vec::new(),
        methods: quote!(),
        timers: Vec::new(),
        items: quote!(),
    }
}
