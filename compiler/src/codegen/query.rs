//! One method per query: the fused chain filter -> project -> insert.

use super::expr::ExprEnv;
use super::Ctx;
use crate::plan::QueryPlan;
use crate::syntax::ast::OutputEvents;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The name of the method running query `q`.
pub(crate) fn method(q: &QueryPlan) -> proc_macro2::Ident {
    format_ident!(
        "query_{}",
        super::names::snake_case(&q.name).trim_start_matches('_')
    )
}

/// The method that receives events of input `input` of query `q`.
pub(crate) fn entry(q: &QueryPlan, input: usize) -> proc_macro2::Ident {
    if q.inputs.len() <= 1 {
        method(q)
    } else {
        format_ident!("{}_input_{}", method(q), input)
    }
}

/// The method receiving the rows of query `q`: `emit_<stream>` for a stream target, the
/// query's own table operation for a table target.
pub(crate) fn emit_method(ctx: &Ctx<'_>, q: &QueryPlan) -> proc_macro2::Ident {
    if q.table_op.is_some() {
        format_ident!("{}_into_table", method(q))
    } else {
        format_ident!("emit_{}", ctx.streams[q.target].snake)
    }
}

/// `true` when the query can emit anything (a stateless query emits no expired events).
pub(crate) fn emits(q: &QueryPlan) -> bool {
    q.is_stateful() || q.events != OutputEvents::Expired
}

/// The method of query `q`.
pub(crate) fn query_method(ctx: &Ctx<'_>, q: &QueryPlan) -> TokenStream {
    let rt = ctx.rt;
    let input = &ctx.streams[q.input].ty;
    let name = method(q);
    let env = ExprEnv {
        ctx,
        inputs: vec![(quote!(event), q.input)],
        aggregates: Vec::new(),
        now: quote!(self.now),
        optional: Vec::new(),
    };
    let filter = q.filter.as_ref().map(|f| {
        let c = env.gen(f);
        quote! {
            if !#rt::expr::holds(#c) {
                return;
            }
        }
    });
    let row = row(&env, q);
    let emit = emit_method(ctx, q);
    let doc = format!(" Query `{}`.", q.name);
    quote! {
        #[doc = #doc]
        fn #name(&mut self, ts: i64, event: &#input) {
            #filter
            let __ef_row = #row;
            self.#emit(ts, #rt::EventKind::Current, &__ef_row);
        }
    }
}

/// The output struct literal of query `q`.
pub(crate) fn row(env: &ExprEnv<'_>, q: &QueryPlan) -> TokenStream {
    let ctx = env.ctx;
    let target = &ctx.plan.streams[q.target];
    let names = &ctx.streams[q.target];
    let ty = &names.ty;
    let fields = q
        .columns
        .iter()
        .zip(&target.attrs)
        .zip(&names.fields)
        .map(|((c, attr), f)| {
            let v = env.owned(&c.expr);
            if attr.nullable {
                quote!(#f: #v)
            } else {
                quote!(#f: (#v).unwrap_or_default())
            }
        });
    quote!(#ty { #(#fields),* })
}
