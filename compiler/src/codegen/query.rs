//! One method per query: the fused chain filter -> project -> insert.

use super::expr::{Code, ExprEnv};
use super::Ctx;
use crate::plan::QueryPlan;
use crate::sema::ir::ExprKind;
use proc_macro2::TokenStream;
use quote::quote;

/// The name of the method running query `q`.
pub(crate) fn method(q: &QueryPlan) -> proc_macro2::Ident {
    super::ident::query(&q.rust_name)
}

/// The method that receives events of input `input` of query `q`.
pub(crate) fn entry(q: &QueryPlan, input: usize) -> proc_macro2::Ident {
    if q.inputs.len() <= 1 {
        method(q)
    } else {
        super::ident::input_entry(&method(q), input)
    }
}

/// The method receiving the rows of query `q`: `emit_<stream>` for a stream target, the
/// query's own table operation for a table target.
pub(crate) fn emit_method(ctx: &Ctx<'_>, q: &QueryPlan) -> proc_macro2::Ident {
    if q.table_op.is_some() {
        super::ident::into_table(&method(q))
    } else {
        super::ident::emit(&ctx.streams[q.target].snake)
    }
}

/// `true` when the query runs at all (the physical plan's [`Operator::Silent`]: a stateless
/// query asking only for expired events emits nothing).
///
/// [`Operator::Silent`]: crate::plan::physical::Operator::Silent
pub(crate) fn emits(ctx: &Ctx<'_>, q: &QueryPlan) -> bool {
    !matches!(
        ctx.plan.physical_of(q).operator,
        crate::plan::physical::Operator::Silent
    )
}

/// The expression environment of single-stream query `q`: its event is `event`.
pub(crate) fn single_env<'a>(ctx: &'a Ctx<'a>, q: &QueryPlan) -> ExprEnv<'a> {
    ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: vec![(quote!(event), q.input)],
        aggregates: Vec::new(),
        now: quote!(self.now),
        optional: Vec::new(),
        keys: Vec::new(),
    }
}

/// `if !filter { return; }` for single-stream query `q`, if it filters (empty code if not),
/// with what the condition reads (input 0 is `event`).
pub(crate) fn filter_guard(ctx: &Ctx<'_>, q: &QueryPlan) -> Code {
    let rt = ctx.rt;
    let env = single_env(ctx, q);
    let tokens = q.filter.as_ref().map(|f| {
        let c = env.gen(f);
        quote! {
            if !#rt::expr::holds(#c) {
                return;
            }
        }
    });
    Code::new(quote!(#tokens), env.uses())
}

/// The method of query `q`.
pub(crate) fn query_method(ctx: &Ctx<'_>, q: &QueryPlan) -> TokenStream {
    let row = row(&single_env(ctx, q), q);
    stateless_method(
        ctx,
        q,
        method(q),
        quote!(&),
        row,
        format!(" Query `{}`.", q.name),
    )
}

/// The method taking an owned event of query `q` (see [`query_method_owned`]).
pub(crate) fn owned_entry(q: &QueryPlan) -> proc_macro2::Ident {
    super::ident::owned(&method(q))
}

/// The method of stateless query `q` when it is the only reader of an input stream: it takes
/// the event by value and moves its STRING attributes into the output row instead of cloning
/// them (no reference-count traffic per event).
pub(crate) fn query_method_owned(ctx: &Ctx<'_>, q: &QueryPlan) -> TokenStream {
    let moves = match &ctx.plan.physical_of(q).operator {
        crate::plan::physical::Operator::FilterProject(f) => f.movable.as_slice(),
        _ => &[],
    };
    let row = row_moving(&single_env(ctx, q), q, moves);
    let doc = format!(" Query `{}`, taking the event by value.", q.name);
    stateless_method(ctx, q, owned_entry(q), quote!(), row, doc)
}

/// A stateless query method: filter, build the row, emit it. `by` is `&` for a borrowed
/// event, nothing for an owned one.
fn stateless_method(
    ctx: &Ctx<'_>,
    q: &QueryPlan,
    name: proc_macro2::Ident,
    by: TokenStream,
    row: TokenStream,
    doc: String,
) -> TokenStream {
    let rt = ctx.rt;
    let input = &ctx.streams[q.input].ty;
    let filter = filter_guard(ctx, q);
    // HAVING without aggregates: a condition on the row's values, read from the event.
    let having = q.having.as_ref().map(|h| {
        let c = single_env(ctx, q).gen(h);
        quote! {
            if !#rt::expr::holds(#c) {
                return;
            }
        }
    });
    let emit = emit_method(ctx, q);
    // A table takes the row by value (no clone into the table).
    let by_row = if q.table_op.is_some() {
        quote!()
    } else {
        quote!(&)
    };
    quote! {
        #[doc = #doc]
        #[inline]
        fn #name(&mut self, ts: i64, event: #by #input) {
            #filter
            #having
            let __ef_row = #row;
            self.#emit(ts, #rt::EventKind::Current, #by_row __ef_row);
        }
    }
}

/// The output struct literal of query `q`.
pub(crate) fn row(env: &ExprEnv<'_>, q: &QueryPlan) -> TokenStream {
    row_moving(env, q, &[])
}

/// The output struct literal of query `q`, moving the attributes `moves` of input 0 out of
/// an owned event.
pub(crate) fn row_moving(env: &ExprEnv<'_>, q: &QueryPlan, moves: &[usize]) -> TokenStream {
    row_with(env, q, |a| {
        moves.contains(&a).then(|| {
            let (path, source) = env.attr_path(0, a);
            if source.nullable {
                path
            } else {
                quote!(::core::option::Option::Some(#path))
            }
        })
    })
}

/// The output struct literal of query `q`, where a column that is attribute `a` of input 0
/// takes the value `moved(a)` (an `Option<T>` expression) when it gives one.
pub(crate) fn row_with(
    env: &ExprEnv<'_>,
    q: &QueryPlan,
    moved: impl Fn(usize) -> Option<TokenStream>,
) -> TokenStream {
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
            let v = match c.expr.kind {
                ExprKind::Attr {
                    input: 0, attr: a, ..
                } => moved(a).unwrap_or_else(|| env.owned(&c.expr)),
                _ => env.owned(&c.expr),
            };
            if attr.nullable {
                quote!(#f: #v)
            } else {
                quote!(#f: (#v).unwrap_or_default())
            }
        });
    quote!(#ty { #(#fields),* })
}
