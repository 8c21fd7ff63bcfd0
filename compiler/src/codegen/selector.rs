//! Stateful queries: a window and/or aggregates between the filter and the projection.
//!
//! The window (a runtime type) reports what enters and leaves it through a callback; the
//! callback updates the query's aggregators (one tuple of runtime aggregators per group, in a
//! runtime `GroupMap` when the query groups) and collects output rows, which are emitted
//! once the window call returns. Sliding windows give one row per current/expired event;
//! batch windows give one row per group per batch (the last event of the group with the
//! batch's aggregates), expired rows before current ones.

use super::expr::ExprEnv;
use super::query::{method, row};
use super::stream::value_type;
use super::window::{insert_call, window_code};
use super::Ctx;
use crate::plan::QueryPlan;
use crate::sema::ir::{AggCall, AggFunc};
use crate::sema::Type;
use crate::syntax::ast::OutputEvents;
use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{format_ident, quote};

/// What a stateful query adds to the `App`.
pub(crate) struct Stateful {
    /// State fields: name, type, initial value.
    pub fields: Vec<(Ident, TokenStream, TokenStream)>,
    /// The query's methods.
    pub methods: TokenStream,
    /// Timers, in firing order for equal deadlines: deadline expression and the statement
    /// firing it at `at`.
    pub timers: Vec<(TokenStream, TokenStream)>,
    /// Items outside the `App` (the aggregator struct).
    pub items: TokenStream,
}

/// The runtime aggregator of one call: its type, its input type and its argument.
struct Agg {
    ty: TokenStream,
    input: TokenStream,
    arg: TokenStream,
}

fn aggregator(env: &ExprEnv<'_>, call: &AggCall) -> Agg {
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
        AggFunc::Min => (quote!(#a::MinAggregator<#v>), v.clone(), owned(arg_ty)),
        AggFunc::Max => (quote!(#a::MaxAggregator<#v>), v.clone(), owned(arg_ty)),
        AggFunc::MinForever => (
            quote!(#a::MinForeverAggregator<#v>),
            v.clone(),
            owned(arg_ty),
        ),
        AggFunc::MaxForever => (
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

/// `true` when `tokens` mention the identifier `name` (generated locals are all `__ef_`
/// prefixed, so `event` and `ts` are the match arm's bindings).
fn mentions(tokens: &TokenStream, name: &str) -> bool {
    tokens.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => mentions(&g.stream(), name),
        _ => false,
    })
}

/// A match arm binding only what its body uses.
fn arm(variant: TokenStream, body: TokenStream) -> TokenStream {
    let ts = mentions(&body, "ts").then(|| quote!(ts,));
    let event = mentions(&body, "event").then(|| quote!(event,));
    quote!(#variant { #ts #event .. } => { #body })
}

/// The selector of a query: its aggregation state, and the code run for each entering
/// (current) or leaving (expired) row, at a batch's `Reset` and at its `Flush`. The row code
/// reads `ts` and the events named by `inputs`, and pushes into `__ef_rows`. Joins and
/// patterns reuse it with their own inputs (the joined or captured events).
pub(crate) struct SelectorCode {
    /// State fields: name, type, initial value.
    pub fields: Vec<(Ident, TokenStream, TokenStream)>,
    /// Items outside the `App` (the aggregator struct).
    pub items: TokenStream,
    /// Code for a current row.
    pub on_current: TokenStream,
    /// Code for an expired row.
    pub on_expired: TokenStream,
    /// Code at a batch's `Reset`.
    pub on_reset: TokenStream,
    /// Code at a batch's `Flush`.
    pub on_flush: TokenStream,
    /// Binds `__ef_state` (the aggregation state); run it in the block that collects rows.
    pub state_binding: TokenStream,
    /// Declares the batch buffers; run it after `state_binding`.
    pub pendings: TokenStream,
    /// The type of `__ef_rows`.
    pub rows_ty: TokenStream,
    /// The initial value of `__ef_rows` (the kept buffer, or a new vector).
    pub new_rows: TokenStream,
    /// Shapes (DISTINCT, ORDER BY, OFFSET, LIMIT, rate) and emits `__ef_rows` (after the
    /// block, when `self` is free again).
    pub emit_rows: TokenStream,
    /// Run first in the query method with the arriving `ts` (starts rate periods).
    pub observe: TokenStream,
    /// The rate limiter's timer, if time-based.
    pub output_timer: Option<(TokenStream, TokenStream)>,
    /// Extra methods (the rate limiter's timer handler).
    pub output_methods: TokenStream,
}

/// Generates the selector of `q` over `inputs` (access path and stream of each input);
/// `batch` selects one row per group per batch.
pub(crate) fn selector(
    ctx: &Ctx<'_>,
    q: &QueryPlan,
    inputs: Vec<(TokenStream, usize)>,
    batch: bool,
) -> SelectorCode {
    selector_over(ctx, q, inputs, Vec::new(), batch)
}

/// [`selector`] where input `i` is an `Option<&Event>` when `optional[i]` (the padded side of
/// an outer join).
pub(crate) fn selector_over(
    ctx: &Ctx<'_>,
    q: &QueryPlan,
    inputs: Vec<(TokenStream, usize)>,
    optional: Vec<bool>,
    batch: bool,
) -> SelectorCode {
    let rt = ctx.rt;
    let name = method(q);
    let target = &ctx.streams[q.target];
    let (target_ty, emit) = (&target.ty, super::query::emit_method(ctx, q));
    let values: Vec<TokenStream> = q
        .aggregates
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
        .collect();
    let env = ExprEnv {
        ctx,
        inputs,
        aggregates: values,
        now: quote!(__ef_now),
        optional,
    };
    let aggs: Vec<Agg> = q.aggregates.iter().map(|c| aggregator(&env, c)).collect();
    let grouped = !q.group_by.is_empty();
    let collapse = batch && (!aggs.is_empty() || grouped);
    let key_tys = q.group_by.iter().map(|g| {
        let v = value_type(rt, g.ty);
        quote!(::core::option::Option<#v>)
    });
    let key_vals = q.group_by.iter().map(|g| env.owned(g));
    let key_ty = quote!(#rt::aggregate::Total<(#(#key_tys,)*)>);
    let key_val = quote!(#rt::aggregate::Total((#(#key_vals,)*)));

    let mut fields = Vec::new();
    let state_field = format_ident!("{}_{}", name, if grouped { "groups" } else { "aggregates" });
    let agg_fields: Vec<Ident> = (0..aggs.len())
        .map(|i| format_ident!("agg_{}", i))
        .collect();
    let aggs_ty = format_ident!("{}Aggregates", super::names::camel_case(&name.to_string()));
    let items = (!aggs.is_empty()).then(|| {
        let serde_crate = format!("{}::serde", quote!(#rt).to_string().replace(' ', ""));
        let doc = format!(" The aggregators of query `{}`.", q.name);
        let defs = aggs
            .iter()
            .zip(&agg_fields)
            .zip(&q.aggregates)
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
        let (adds, removes) = (op(quote!(add)), op(quote!(remove)));
        // `remove` carries `#[allow(dead_code)]`: queries without a window never retract.
        let outs = q.aggregates.iter().map(|c| {
            let v = value_type(rt, c.ty);
            quote!(::core::option::Option<#v>)
        });
        let reads = aggs.iter().zip(&agg_fields).map(|(a, f)| {
            let (ty, input) = (&a.ty, &a.input);
            quote!(<#ty as #rt::aggregate::Aggregator<#input>>::value(&self.#f))
        });
        quote! {
            #[doc = #doc]
            #[derive(Clone, Default, #rt::serde::Serialize, #rt::serde::Deserialize)]
            #[serde(crate = #serde_crate)]
            pub struct #aggs_ty {
                #(#defs,)*
            }

            impl #aggs_ty {
                /// A row enters: each aggregator takes its argument.
                #[inline]
                fn add(&mut self, #(#params),*) {
                    #(#adds)*
                }

                /// A row leaves: each aggregator retracts its argument.
                #[inline]
                #[allow(dead_code)]
                fn remove(&mut self, #(#params),*) {
                    #(#removes)*
                }

                /// The current value of every aggregate.
                #[inline]
                fn values(&self) -> (#(#outs,)*) {
                    (#(#reads,)*)
                }
            }
        }
    });
    if !aggs.is_empty() {
        if grouped {
            fields.push((
                state_field.clone(),
                quote!(#rt::aggregate::GroupMap<#key_ty, #aggs_ty>),
                quote!(#rt::aggregate::GroupMap::new()),
            ));
        } else {
            fields.push((
                state_field.clone(),
                quote!(#aggs_ty),
                quote!(::core::default::Default::default()),
            ));
        }
    }

    // Updates the aggregators for an entering (`add`) or leaving (`remove`) event and reads
    // their values into `__ef_values`.
    let update = |op: TokenStream, read: bool, key_after: bool| -> TokenStream {
        if aggs.is_empty() {
            return quote!();
        }
        let get = if grouped && key_after {
            quote!(let __ef_aggs = __ef_state.get_or_default_ref(&__ef_key);)
        } else if grouped {
            quote!(let __ef_aggs = __ef_state.get_or_default(__ef_key);)
        } else {
            quote!(let __ef_aggs = &mut *__ef_state;)
        };
        let args = aggs.iter().map(|a| &a.arg);
        let reads = read.then(|| quote!(let __ef_values = __ef_aggs.values();));
        quote! {
            #get
            __ef_aggs.#op(#(#args),*);
            #reads
        }
    };
    let row_expr = row(&env, q);
    let having = q.having.as_ref().map(|h| {
        let h = env.gen(h);
        quote!(#rt::expr::holds(#h))
    });
    let having = having.unwrap_or_else(|| quote!(true));
    // A snapshot limiter keeps the latest row, so it also needs the rows of leaving events
    // (their aggregates reflect the expiry).
    let snapshot = q
        .output
        .rate
        .as_ref()
        .is_some_and(|r| r.mode == crate::syntax::ast::RateMode::Snapshot);
    let wants = |kind: OutputEvents| q.events == kind || q.events == OutputEvents::All || snapshot;
    // Rows carry their group key when a per-group rate limiter needs it.
    let keyed = grouped
        && q.output
            .rate
            .as_ref()
            .is_some_and(|r| r.mode != crate::syntax::ast::RateMode::All);
    let row_key = keyed.then(|| quote!(, __ef_key.clone()));
    // What an entering or leaving event does: update, then produce a row.
    let on_event =
        |op: TokenStream, kind: TokenStream, wanted: bool, pending: &Ident| -> TokenStream {
            let pending_key = (collapse || keyed) && wanted;
            let key = ((grouped && !aggs.is_empty()) || pending_key)
                .then(|| quote!(let __ef_key = #key_val;));
            let update = update(op, wanted, pending_key);
            let output = if !wanted {
                quote!()
            } else if collapse {
                quote! {
                    *#pending.get_or_default(__ef_key) = if #having {
                        ::core::option::Option::Some((ts, #row_expr))
                    } else {
                        ::core::option::Option::None
                    };
                }
            } else {
                quote! {
                    if #having {
                        __ef_rows.push((#rt::EventKind::#kind, ts, #row_expr #row_key));
                    }
                }
            };
            quote!(#key #update #output)
        };
    let pending_current = format_ident!("__ef_pending_current");
    let pending_expired = format_ident!("__ef_pending_expired");
    let on_current = on_event(
        quote!(add),
        quote!(Current),
        wants(OutputEvents::Current),
        &pending_current,
    );
    let on_expired = on_event(
        quote!(remove),
        quote!(Expired),
        wants(OutputEvents::Expired),
        &pending_expired,
    );
    let drain = |pending: &Ident, kind: TokenStream| {
        quote! {
            for (__ef_key, __ef_slot) in #pending.iter_mut() {
                if let ::core::option::Option::Some((__ef_ts, __ef_row)) = __ef_slot.take() {
                    __ef_rows.push((#rt::EventKind::#kind, __ef_ts, __ef_row #row_key));
                }
            }
            #pending.clear();
        }
    };
    let reset_state = match (aggs.is_empty(), grouped) {
        (true, _) => quote!(),
        (false, true) => quote!(__ef_state.clear();),
        (false, false) => quote!(*__ef_state = ::core::default::Default::default();),
    };
    let (on_reset, on_flush) = if collapse {
        (
            {
                let d = drain(&pending_expired, quote!(Expired));
                quote!(#d #reset_state)
            },
            drain(&pending_current, quote!(Current)),
        )
    } else {
        (reset_state, quote!())
    };
    let state_binding =
        (!aggs.is_empty()).then(|| quote!(let __ef_state = &mut self.#state_field;));
    let pendings = collapse.then(|| {
        quote! {
            let mut #pending_current = #rt::aggregate::GroupMap::<#key_ty, ::core::option::Option<(i64, #target_ty)>>::new();
            let mut #pending_expired = #rt::aggregate::GroupMap::<#key_ty, ::core::option::Option<(i64, #target_ty)>>::new();
        }
    });
    let key_slot = keyed.then(|| quote!(, #key_ty));
    let rows_ty = quote!(::std::vec::Vec<(#rt::EventKind, i64, #target_ty #key_slot)>);
    let output = super::output::output_stage(ctx, q, keyed, &key_ty);
    fields.extend(output.fields);
    let shape = output.shape;
    // The row buffer is kept between calls (no allocation per event) unless output shaping
    // rebuilds it.
    let rows_field = format_ident!("{}_rows", name);
    let emit_rows = if shape.is_empty() {
        fields.push((
            rows_field.clone(),
            rows_ty.clone(),
            quote!(::std::vec::Vec::new()),
        ));
        quote! {
            for (__ef_kind, __ef_ts, __ef_row) in __ef_rows.drain(..) {
                self.#emit(__ef_ts, __ef_kind, &__ef_row);
            }
            self.#rows_field = __ef_rows;
        }
    } else {
        quote! {
            #shape
            for (__ef_kind, __ef_ts, __ef_row) in __ef_rows {
                self.#emit(__ef_ts, __ef_kind, &__ef_row);
            }
        }
    };
    let new_rows = if shape.is_empty() {
        quote!(::core::mem::take(&mut self.#rows_field))
    } else {
        quote!(::std::vec::Vec::new())
    };
    SelectorCode {
        fields,
        items: quote!(#items),
        on_current,
        on_expired,
        on_reset,
        on_flush,
        state_binding: quote!(#state_binding),
        pendings: quote!(#pendings),
        rows_ty,
        new_rows,
        emit_rows,
        observe: output.observe,
        output_timer: output.timer,
        output_methods: output.methods,
    }
}

/// Generates the state, methods and timer of single-stream stateful query `q`.
pub(crate) fn stateful_query(ctx: &Ctx<'_>, q: &QueryPlan) -> Stateful {
    let rt = ctx.rt;
    let name = method(q);
    let input_ty = &ctx.streams[q.input].ty;
    let input_ty = quote!(#input_ty);
    let env = ExprEnv {
        ctx,
        inputs: vec![(quote!(event), q.input)],
        aggregates: Vec::new(),
        now: quote!(__ef_now),
        optional: Vec::new(),
    };
    let wcode = q
        .window
        .as_ref()
        .map(|w| window_code(&env, w, &input_ty, q.events != OutputEvents::Current));
    let batch = wcode.as_ref().is_some_and(|w| w.batch);
    let window_field = format_ident!("{}_window", name);
    let SelectorCode {
        mut fields,
        items,
        on_current,
        on_expired,
        on_reset,
        on_flush,
        state_binding,
        pendings,
        rows_ty,
        new_rows,
        emit_rows,
        observe,
        output_timer,
        output_methods,
    } = selector(ctx, q, vec![(quote!(event), q.input)], batch);
    if let Some(w) = &wcode {
        fields.insert(0, (window_field.clone(), w.ty.clone(), w.init.clone()));
    }
    let uses_now = |t: &TokenStream| mentions(t, "__ef_now");
    let filter = super::query::filter_guard(ctx, q);
    let doc = format!(" Query `{}`.", q.name);
    let Some(w) = &q.window else {
        // Aggregates over all events so far: every event enters, nothing leaves.
        let body = quote!(#on_current);
        let now = uses_now(&body).then(|| quote!(let __ef_now = self.now;));
        let methods = quote! {
            #[doc = #doc]
            fn #name(&mut self, ts: i64, event: &#input_ty) {
                #observe
                #filter
                #now
                let mut __ef_rows: #rows_ty = #new_rows;
                {
                    #state_binding
                    #body
                }
                #emit_rows
            }
            #output_methods
        };
        return Stateful {
            fields,
            methods,
            timers: output_timer.into_iter().collect(),
            items: quote!(#items),
        };
    };
    let wr = quote!(#rt::window::WindowEvent);
    let arms = [
        arm(quote!(#wr::Current), on_current),
        arm(quote!(#wr::Expired), on_expired),
        arm(quote!(#wr::Reset), on_reset),
        arm(quote!(#wr::Flush), on_flush),
    ];
    let callback = quote!(|__ef_emitted| match __ef_emitted { #(#arms)* });
    let now = uses_now(&callback).then(|| quote!(let __ef_now = self.now;));
    let insert = insert_call(&env, w, &quote!(__ef_window), &callback);
    let window_code = wcode.as_ref();
    let timed = window_code.is_some_and(|w| w.timed);
    let advance = format_ident!("{}_advance", name);
    let advance_method = timed.then(|| {
        quote! {
            /// Fires the window's timers due at or before `at`.
            fn #advance(&mut self, at: i64) {
                #now
                let mut __ef_rows: #rows_ty = #new_rows;
                {
                    let __ef_window = &mut self.#window_field;
                    #state_binding
                    #pendings
                    #rt::window::Window::advance(__ef_window, at, #callback);
                }
                #emit_rows
            }
        }
    });
    let timer = timed.then(|| {
        (
            quote!(#rt::window::Window::next_deadline(&self.#window_field)),
            quote! {
                if #rt::window::Window::next_deadline(&self.#window_field).is_some_and(|__ef_due| __ef_due <= at) {
                    self.#advance(at);
                }
            },
        )
    });
    let methods = quote! {
        #[doc = #doc]
        fn #name(&mut self, ts: i64, event: &#input_ty) {
            #observe
            #filter
            #now
            let mut __ef_rows: #rows_ty = #new_rows;
            {
                let __ef_window = &mut self.#window_field;
                #state_binding
                #pendings
                #insert;
            }
            #emit_rows
        }
        #advance_method
        #output_methods
    };
    Stateful {
        fields,
        methods,
        timers: timer.into_iter().chain(output_timer).collect(),
        items: quote!(#items),
    }
}
