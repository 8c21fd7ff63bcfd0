//! Partitions: every key gets its own copy of the state of the queries inside.
//!
//! The queries inside a partition are generated as usual, with their state as fields of the
//! `App` (the active slot). The partition keeps, per key, a `Partition<N>State` struct with
//! the same fields; an event of a partitioned stream computes its key, swaps that key's state
//! into the active slot, runs the inner queries (and, through inner `#streams`, the queries
//! they feed), and swaps it back. Swapping moves a few words per field, whatever the state
//! holds. Timers of inner queries fire per key the same way; `PURGE AFTER` drops keys idle
//! for longer than the given time.

use super::expr::ExprEnv;
use super::stream::value_type;
use super::Ctx;
use crate::plan::PartitionPlan;
use crate::sema::ir::PartitionBy;
use crate::sema::Type;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// What a partition adds to the app.
pub(crate) struct PartitionCode {
    /// App fields: name, type, init.
    pub fields: Vec<(Ident, TokenStream, TokenStream)>,
    /// The per-key state struct.
    pub items: TokenStream,
    /// Entry and swap methods.
    pub methods: TokenStream,
    /// App timers: their clock field, deadline and fire statement.
    pub timers: Vec<(Option<Ident>, TokenStream, TokenStream)>,
}

/// The method receiving events of stream `stream` for partition `index`.
pub(crate) fn entry(ctx: &Ctx<'_>, index: usize, stream: usize) -> Ident {
    format_ident!("partition_{}_{}", index, ctx.streams[stream].snake)
}

/// Generates partition `index`. `inner_fields` are the state fields of its queries and
/// `inner_timers` their timers; `calls(stream)` gives the calls of the inner queries reading
/// a partitioned stream.
pub(crate) fn partition(
    ctx: &Ctx<'_>,
    index: usize,
    p: &PartitionPlan,
    inner_fields: &[(Ident, TokenStream, TokenStream)],
    inner_timers: &[(TokenStream, TokenStream)],
    calls: impl Fn(usize) -> Vec<TokenStream>,
) -> PartitionCode {
    let rt = ctx.rt;
    let map = format_ident!("partition_{}", index);
    let swap = format_ident!("partition_{}_swap", index);
    let state_ty = format_ident!("Partition{}State", index);
    let key_value_ty = match p.keys.first().map(|(_, k)| k) {
        Some(PartitionBy::Value(e)) if e.ty != Type::Null => value_type(rt, e.ty),
        _ => quote!(::std::sync::Arc<str>),
    };
    let key_ty = quote!(#rt::aggregate::Total<::core::option::Option<#key_value_ty>>);
    let names: Vec<&Ident> = inner_fields.iter().map(|(n, _, _)| n).collect();
    let tys = inner_fields.iter().map(|(_, t, _)| t);
    let inits = inner_fields.iter().map(|(_, _, i)| i);
    let deadlines = inner_timers.iter().map(|(d, _)| d);
    let fires: Vec<&TokenStream> = inner_timers.iter().map(|(_, f)| f).collect();
    let serde_crate = format!("{}::serde", quote!(#rt).to_string().replace(' ', ""));
    let doc = format!(" The state one key of partition {index} keeps.");
    let next_deadline = (!inner_timers.is_empty()).then(|| {
        quote! {
            /// The earliest timer of this key's queries.
            fn next_deadline(&self) -> ::core::option::Option<i64> {
                [#(#deadlines),*].into_iter().flatten().min()
            }
        }
    });
    let items = quote! {
        #[doc = #doc]
        #[derive(Clone, #rt::serde::Serialize, #rt::serde::Deserialize)]
        #[serde(crate = #serde_crate)]
        pub struct #state_ty {
            last_seen: i64,
            #(#names: #tys,)*
        }

        impl #state_ty {
            fn new() -> Self {
                #state_ty {
                    last_seen: i64::MIN,
                    #(#names: #inits,)*
                }
            }

            #next_deadline
        }
    };
    let fields = vec![(
        map.clone(),
        quote!(#rt::aggregate::GroupMap<#key_ty, #state_ty>),
        quote!(#rt::aggregate::GroupMap::new()),
    )];
    let mut timers = Vec::new();
    let purge = p.purge_after.map(|d| {
        let field = format_ident!("partition_{}_purge", index);
        timers.push((
            Some(field.clone()),
            quote!(self.#field),
            quote! {
                if self.#field.is_some_and(|__ef_due| __ef_due <= at) {
                    self.#map.retain(|_, __ef_state| __ef_state.last_seen.saturating_add(#d) > at);
                    self.#field = ::core::option::Option::Some(at + #d);
                }
            },
        ));
        quote! {
            if self.#field.is_none() {
                self.#field = ::core::option::Option::Some(ts + #d);
            }
        }
    });
    // A lower bound of the earliest timer of any key, kept without scanning the keys per
    // event: each event lowers it to its key's earliest timer; firing recomputes it.
    let next_field = format_ident!("partition_{}_next", index);
    let track_next = (!inner_timers.is_empty()).then(|| {
        let active = inner_timers.iter().map(|(d, _)| d);
        quote! {
            let __ef_next = [#(#active),*].into_iter().flatten().min();
            self.#next_field = match (self.#next_field, __ef_next) {
                (::core::option::Option::Some(a), ::core::option::Option::Some(b)) => ::core::option::Option::Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    });
    if !inner_timers.is_empty() {
        timers.push((
            Some(next_field.clone()),
            quote!(self.#next_field),
            quote! {
                if self.#next_field.is_some_and(|__ef_due| __ef_due <= at) {
                    let __ef_due: ::std::vec::Vec<#key_ty> = self
                        .#map
                        .iter()
                        .filter(|(_, __ef_state)| __ef_state.next_deadline().is_some_and(|__ef_d| __ef_d <= at))
                        .map(|(__ef_key, _)| __ef_key.clone())
                        .collect();
                    for __ef_key in __ef_due {
                        self.#swap(__ef_key.clone(), i64::MIN);
                        #(#fires)*
                        self.#swap(__ef_key, i64::MIN);
                    }
                    self.#next_field = self.#map.iter().filter_map(|(_, __ef_state)| __ef_state.next_deadline()).min();
                }
            },
        ));
    }
    let entries = p.keys.iter().map(|(stream, by)| {
        let method = entry(ctx, index, *stream);
        let ty = &ctx.streams[*stream].ty;
        let env = ExprEnv {
            ctx,
            inputs: vec![(quote!(event), *stream)],
            aggregates: Vec::new(),
            now: quote!(self.now),
            optional: Vec::new(),
            keys: Vec::new(),
        };
        let key = match by {
            PartitionBy::Value(e) => {
                let v = env.owned(e);
                quote!(let __ef_key = #rt::aggregate::Total(#v);)
            }
            PartitionBy::Range(ranges) => {
                let arms = ranges.iter().map(|(c, label)| {
                    let c = env.gen(c);
                    quote!(if #rt::expr::holds(#c) { ::std::sync::Arc::<str>::from(#label) })
                });
                quote! {
                    let __ef_label = #(#arms else)* { return; };
                    let __ef_key = #rt::aggregate::Total(::core::option::Option::Some(__ef_label));
                }
            }
        };
        let calls = calls(*stream);
        let doc = format!(
            " Events of `{}` for partition {index}: run the inner queries with the key's state.",
            ctx.plan.streams[*stream].name
        );
        quote! {
            #[doc = #doc]
            fn #method(&mut self, ts: i64, event: &#ty) {
                #key
                #purge
                self.#swap(__ef_key.clone(), ts);
                #(#calls)*
                #track_next
                self.#swap(__ef_key, ts);
            }
        }
    });
    let methods = quote! {
        #(#entries)*

        /// Exchanges the active state of partition's queries with the state of `key`.
        fn #swap(&mut self, key: #key_ty, ts: i64) {
            let __ef_state = self.#map.get_or_insert_with(key, #state_ty::new);
            __ef_state.last_seen = __ef_state.last_seen.max(ts);
            #(::core::mem::swap(&mut self.#names, &mut __ef_state.#names);)*
        }
    };
    PartitionCode {
        fields,
        items,
        methods,
        timers,
    }
}
