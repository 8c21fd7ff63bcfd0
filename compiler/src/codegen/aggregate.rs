//! Aggregators: the runtime aggregator of each aggregate call and the generated struct
//! holding one per call (shared by the selector and by expression windows, whose conditions
//! aggregate over the window).

use super::expr::ExprEnv;
use super::stream::value_type;
use super::Ctx;
use crate::sema::ir::{AggCall, AggFunc};
use crate::sema::Type;
use proc_macro2::{Ident, TokenStream};
use quote::quote;

/// The runtime aggregator of one call: its type, its input type and its argument.
pub(crate) struct Agg {
    pub ty: TokenStream,
    pub input: TokenStream,
    pub arg: TokenStream,
}

/// The runtime aggregator of `call`; `retracts` is false when no row ever leaves (no window,
/// or a batch aggregated as it arrives), where `min`/`max` need no multiset.
pub(crate) fn aggregator(env: &ExprEnv<'_>, call: &AggCall, retracts: bool) -> Agg {
    let rt = env.ctx.rt;
    let a = quote!(#rt::aggregate);
    let arg_ty = call.arg.as_ref().map_or(Type::Long, |x| x.ty);
    let owned = |to: Type| match &call.arg {
        Some(x) => env.owned(&x.clone().widen_to(to)),
        None => quote!(::core::option::Option::Some(())),
    };
    let v = value_type(rt, arg_ty);
    let unit = quote!(());
    let (ty, input, arg) = match call.func {
        AggFunc::CountAll => (
            quote!(#a::CountAggregator),
            unit,
            quote!(::core::option::Option::Some(())),
        ),
        AggFunc::Count => {
            let x = owned(arg_ty);
            (quote!(#a::CountAggregator), unit, quote!((#x).map(|_| ())))
        }
        AggFunc::DistinctCount => (
            quote!(#a::DistinctCountAggregator<#v>),
            v.clone(),
            owned(arg_ty),
        ),
        AggFunc::Sum if arg_ty.is_integer() => (
            quote!(#a::SumAggregator<i64>),
            quote!(i64),
            owned(Type::Long),
        ),
        AggFunc::Sum => (
            quote!(#a::SumAggregator<f64>),
            quote!(f64),
            owned(Type::Double),
        ),
        AggFunc::Avg => (quote!(#a::AvgAggregator), quote!(f64), owned(Type::Double)),
        AggFunc::StdDev => (
            quote!(#a::StdDevAggregator),
            quote!(f64),
            owned(Type::Double),
        ),
        AggFunc::Min if retracts => (quote!(#a::MinAggregator<#v>), v.clone(), owned(arg_ty)),
        AggFunc::Max if retracts => (quote!(#a::MaxAggregator<#v>), v.clone(), owned(arg_ty)),
        AggFunc::MinForever | AggFunc::Min => (
            quote!(#a::MinForeverAggregator<#v>),
            v.clone(),
            owned(arg_ty),
        ),
        AggFunc::MaxForever | AggFunc::Max => (
            quote!(#a::MaxForeverAggregator<#v>),
            v.clone(),
            owned(arg_ty),
        ),
        AggFunc::First => (quote!(#a::FirstAggregator<#v>), v.clone(), owned(arg_ty)),
        AggFunc::Last => (quote!(#a::LastAggregator<#v>), v.clone(), owned(arg_ty)),
        AggFunc::And => (quote!(#a::AndAggregator), quote!(bool), owned(Type::Bool)),
        AggFunc::Or => (quote!(#a::OrAggregator), quote!(bool), owned(Type::Bool)),
    };
    Agg { ty, input, arg }
}

/// The struct `ty` of one aggregator per call of `calls` (`aggs` are their runtime types and
/// arguments), with `add` (a row enters), `remove` (a row leaves; generated when `remove` is
/// `Some(maybe_unused)`, marked `#[allow(dead_code)]` when `maybe_unused`) and `values`.
pub(crate) fn aggregates_struct(
    ctx: &Ctx<'_>,
    ty: &Ident,
    doc: &str,
    calls: &[AggCall],
    aggs: &[Agg],
    remove: Option<bool>,
) -> TokenStream {
    let rt = ctx.rt;
    let agg_fields: Vec<Ident> = (0..aggs.len()).map(super::ident::aggregator).collect();
    let persist = super::persist_impls(ctx, &quote!(#ty), &agg_fields);
    let defs = aggs
        .iter()
        .zip(&agg_fields)
        .zip(calls)
        .map(|((a, f), call)| {
            let (ty, fdoc) = (&a.ty, format!(" `{:?}`.", call.func));
            quote!(#[doc = #fdoc] pub #f: #ty)
        });
    let params: Vec<TokenStream> = aggs
        .iter()
        .zip(&agg_fields)
        .map(|(a, f)| {
            let input = &a.input;
            quote!(#f: ::core::option::Option<#input>)
        })
        .collect();
    let op = |name: TokenStream| {
        aggs.iter().zip(&agg_fields).map(move |(a, f)| {
            let (ty, input) = (&a.ty, &a.input);
            quote!(<#ty as #rt::aggregate::Aggregator<#input>>::#name(&mut self.#f, #f);)
        })
    };
    let adds = op(quote!(add));
    let remove = remove.map(|maybe_unused| {
        let removes = op(quote!(remove));
        let allow = maybe_unused.then(|| quote!(#[allow(dead_code)]));
        quote! {
            /// A row leaves: each aggregator retracts its argument.
            #[inline]
            #allow
            fn remove(&mut self, #(#params),*) {
                #(#removes)*
            }
        }
    });
    let outs = calls.iter().map(|c| {
        let v = value_type(rt, c.ty);
        quote!(::core::option::Option<#v>)
    });
    let reads = aggs.iter().zip(&agg_fields).map(|(a, f)| {
        let (ty, input) = (&a.ty, &a.input);
        quote!(<#ty as #rt::aggregate::Aggregator<#input>>::value(&self.#f))
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone, Default)]
        pub struct #ty {
            #(#defs,)*
        }

        #persist

        // `dead_code`: a join whose sides can never meet (neither keeps a window) never
        // aggregates a row.
        #[allow(dead_code)]
        impl #ty {
            /// A row enters: each aggregator takes its argument.
            #[inline]
            fn add(&mut self, #(#params),*) {
                #(#adds)*
            }

            #remove

            /// The current value of every aggregate.
            #[inline]
            fn values(&self) -> (#(#outs,)*) {
                (#(#reads,)*)
            }
        }
    }
}

/// How expressions read the values of `calls`: from the tuple `__ef_values` (STRING values
/// by reference).
pub(crate) fn aggregate_values(calls: &[AggCall]) -> Vec<TokenStream> {
    calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            let i = syn::Index::from(i);
            if call.ty == Type::String {
                quote!(__ef_values.#i.as_ref())
            } else {
                quote!(__ef_values.#i)
            }
        })
        .collect()
}
