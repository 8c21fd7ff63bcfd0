//! Joins: each side's window, the probe of the other side, and the selector over joined rows.

use super::selector::Stateful;
use super::Ctx;
use crate::plan::QueryPlan;
use crate::sema::join::BoundJoin;
use quote::quote;

/// Generates join query `q`.
pub(crate) fn join_query(_ctx: &Ctx<'_>, _q: &QueryPlan, _join: &BoundJoin) -> Stateful {
    Stateful {
        fields: Vec::new(),
        methods: quote!(),
        timers: Vec::new(),
        items: quote!(),
    }
}
