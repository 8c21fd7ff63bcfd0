//! Windows: which runtime window type a `WINDOW(...)` clause becomes, how it is built, and
//! how an arriving event is inserted into it. The window logic itself is in the runtime
//! (`runtime/src/window/`); this module only picks types and wires arguments.

use super::expr::ExprEnv;
use super::stream::value_type;
use crate::sema::ir::{BoundWindow, TExpr, WindowCondition, WindowKind};
use crate::sema::Type;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The generated pieces of one window.
pub(crate) struct WindowCode {
    /// The window's Rust type.
    pub ty: TokenStream,
    /// Expression building the empty window.
    pub init: TokenStream,
    /// Time drives the window (it needs the app's timers).
    pub timed: bool,
}

/// The window of a query that aggregates each event as it arrives (selector mode
/// `OnArrival`: it keeps `()` per event and reads nothing back): a time batch only counts its
/// events (`BatchCount`), so a close costs nothing per event; other windows as usual.
pub(crate) fn on_arrival_window_code(env: &ExprEnv<'_>, w: &BoundWindow) -> WindowCode {
    if w.kind() != WindowKind::TimeBatch {
        return window_code(env, w, &quote!(()), false);
    }
    let rt = env.ctx.rt;
    let wr = quote!(#rt::window);
    let duration = w.params.first().copied().unwrap_or(0);
    let start = w.params.get(1).map(|v| quote!(.with_start(#v)));
    let ty = quote!(#wr::TimeBatchWindow<(), #wr::BatchCount>);
    WindowCode {
        init: quote!(<#ty>::with_store(#duration) #start),
        ty,
        timed: true,
    }
}

/// The key type and value of attribute arguments used as a window key.
fn key(env: &ExprEnv<'_>, attrs: &[TExpr]) -> (TokenStream, TokenStream) {
    let rt = env.ctx.rt;
    let tys = attrs.iter().map(|a| {
        let v = value_type(rt, a.ty);
        quote!(::core::option::Option<#v>)
    });
    let values = attrs.iter().map(|a| env.owned(a));
    (
        quote!(#rt::aggregate::Total<(#(#tys,)*)>),
        quote!(#rt::aggregate::Total((#(#values,)*))),
    )
}

/// Type, constructor and kind of window `w` over events of type `event_ty`; `keep_expired`
/// tells batch windows whether anyone reads their expired events.
pub(crate) fn window_code(
    env: &ExprEnv<'_>,
    w: &BoundWindow,
    event_ty: &TokenStream,
    keep_expired: bool,
) -> WindowCode {
    let rt = env.ctx.rt;
    let p = |i: usize| w.params.get(i).copied().unwrap_or(0);
    let n = |i: usize| usize::try_from(p(i)).unwrap_or(usize::MAX);
    let (n0, p0, p1) = (n(0), p(0), p(1));
    let opt = |i: usize, method: TokenStream| w.params.get(i).map(|v| quote!(.#method(#v)));
    let wr = quote!(#rt::window);
    let (ty, init, timed) = match w.kind() {
        WindowKind::Length => (
            quote!(#wr::LengthWindow<#event_ty>),
            quote!(#wr::LengthWindow::new(#n0)),
            false,
        ),
        WindowKind::LengthBatch => (
            quote!(#wr::LengthBatchWindow<#event_ty>),
            quote!(#wr::LengthBatchWindow::new(#n0).with_expired(#keep_expired)),
            false,
        ),
        WindowKind::Time => (
            quote!(#wr::TimeWindow<#event_ty>),
            quote!(#wr::TimeWindow::new(#p0)),
            true,
        ),
        WindowKind::TimeBatch => {
            let start = opt(1, quote!(with_start));
            (
                quote!(#wr::TimeBatchWindow<#event_ty>),
                quote!(#wr::TimeBatchWindow::new(#p0) #start .with_expired(#keep_expired)),
                true,
            )
        }
        WindowKind::Hop => (
            quote!(#wr::HopWindow<#event_ty>),
            quote!(#wr::HopWindow::new(#p0, #p1).with_expired(#keep_expired)),
            true,
        ),
        WindowKind::TimeLength => {
            let n1 = n(1);
            (
                quote!(#wr::TimeLengthWindow<#event_ty>),
                quote!(#wr::TimeLengthWindow::new(#p0, #n1)),
                true,
            )
        }
        WindowKind::ExternalTime => (
            quote!(#wr::ExternalTimeWindow<#event_ty>),
            quote!(#wr::ExternalTimeWindow::new(#p0)),
            false,
        ),
        WindowKind::ExternalTimeBatch => {
            let start = opt(1, quote!(with_start));
            let timeout = opt(2, quote!(with_timeout));
            (
                quote!(#wr::ExternalTimeBatchWindow<#event_ty>),
                quote!(#wr::ExternalTimeBatchWindow::new(#p0) #start #timeout .with_expired(#keep_expired)),
                true,
            )
        }
        WindowKind::Session => {
            let (kty, _) = key(env, &w.attrs);
            let latency = opt(1, quote!(with_latency));
            (
                quote!(#wr::SessionWindow<#kty, #event_ty>),
                quote!(#wr::SessionWindow::new(#p0) #latency),
                true,
            )
        }
        WindowKind::Sort => (
            quote!(#wr::SortWindow<#event_ty>),
            quote!(#wr::SortWindow::new(#n0)),
            false,
        ),
        WindowKind::Unique | WindowKind::FirstUnique | WindowKind::Frequent => {
            let (kty, _) = key(env, &w.attrs);
            let name = quote::format_ident!(
                "{}",
                match w.kind() {
                    WindowKind::Unique => "UniqueWindow",
                    WindowKind::FirstUnique => "FirstUniqueWindow",
                    _ => "FrequentWindow",
                }
            );
            let init = if w.kind() == WindowKind::Frequent {
                quote!(#wr::#name::new(#n0))
            } else {
                quote!(#wr::#name::new())
            };
            (quote!(#wr::#name<#kty, #event_ty>), init, false)
        }
        WindowKind::LossyFrequent => {
            let (kty, _) = key(env, &w.attrs);
            let support = f64::from_bits(p0 as u64);
            let error = w
                .params
                .get(1)
                .map_or(support / 10.0, |b| f64::from_bits(*b as u64));
            (
                quote!(#wr::LossyFrequentWindow<#kty, #event_ty>),
                quote!(#wr::LossyFrequentWindow::new(#support, #error)),
                false,
            )
        }
        WindowKind::Cron => {
            let text = w.text.clone().unwrap_or_default();
            (
                quote!(#wr::CronWindow<#event_ty>),
                quote!(#wr::CronWindow::new(#wr::CronSchedule::parse_or_never(#text)).with_expired(#keep_expired)),
                true,
            )
        }
        WindowKind::Expression => (
            quote!(#wr::ExpressionWindow<#event_ty>),
            quote!(#wr::ExpressionWindow::new()),
            false,
        ),
        WindowKind::Delay => (
            quote!(#wr::DelayWindow<#event_ty>),
            quote!(#wr::DelayWindow::new(#p0)),
            true,
        ),
    };
    WindowCode { ty, init, timed }
}

/// The call inserting the arriving event at `ts` into `window`, with `callback` receiving
/// the emissions: `event` (a reference to the arriving event) gives the window's keys and
/// times, `stored` builds what the window keeps of it. For an expression window with a
/// general condition use [`insert_call_with_policy`].
pub(crate) fn insert_call(
    env: &ExprEnv<'_>,
    w: &BoundWindow,
    window: &TokenStream,
    stored: &TokenStream,
    callback: &TokenStream,
) -> TokenStream {
    insert_call_with_policy(env, w, window, stored, None, callback)
}

/// [`insert_call`], with `policy` (a place of the query's retention policy, see
/// [`retention_policy`]) deciding what an expression window with a general condition keeps.
/// Every insert into such a window goes through here, whoever owns the arriving event.
pub(crate) fn insert_call_with_policy(
    env: &ExprEnv<'_>,
    w: &BoundWindow,
    window: &TokenStream,
    stored: &TokenStream,
    policy: Option<&TokenStream>,
    callback: &TokenStream,
) -> TokenStream {
    let rt = env.ctx.rt;
    match w.kind() {
        WindowKind::ExternalTime | WindowKind::ExternalTimeBatch => {
            let attr = w.attrs.first().map(|a| a.clone().widen_to(Type::Long));
            let t = attr
                .map(|a| env.gen(&a))
                .unwrap_or_else(|| quote!(::core::option::Option::Some(ts)));
            quote!(#window.insert(ts, (#t).unwrap_or(ts), #stored, #callback))
        }
        WindowKind::Session
        | WindowKind::Unique
        | WindowKind::FirstUnique
        | WindowKind::Frequent
        | WindowKind::LossyFrequent => {
            let attrs: Vec<TExpr> = if w.kind() == WindowKind::Session {
                w.attrs.iter().take(1).cloned().collect()
            } else {
                w.attrs.clone()
            };
            let (_, k) = key(env, &attrs);
            quote!(#window.insert(ts, #k, #stored, #callback))
        }
        WindowKind::Sort => {
            let keys = w.attrs.iter().zip(&w.descending).map(|(a, desc)| {
                let (left, right) = (
                    field_of(env, a, quote!(__ef_a)),
                    field_of(env, a, quote!(__ef_b)),
                );
                let cmp = quote!(#rt::aggregate::TotalOrd::cmp_total(&#left, &#right));
                if *desc {
                    quote!(.then_with(|| #cmp.reverse()))
                } else {
                    quote!(.then_with(|| #cmp))
                }
            });
            quote!(#window.insert(
                ts,
                #stored,
                |__ef_a, __ef_b| ::core::cmp::Ordering::Equal #(#keys)*,
                #callback
            ))
        }
        WindowKind::Time | WindowKind::TimeLength => {
            // A late event enters at the clock's time (docs/semantics.md#late-events).
            let now = env.clock();
            quote!(#window.insert_at(#now, ts, #stored, #callback))
        }
        WindowKind::Expression => match policy {
            Some(policy) => quote!(#window.insert(ts, #stored, &mut #policy, #callback)),
            None => {
                // `count() <= n` (sema puts n in `params` and leaves no condition).
                let n = w.params.first().copied().unwrap_or(1) as usize;
                quote!(#window.insert(ts, #stored, &mut #rt::window::MaxCount(#n), #callback))
            }
        },
        _ => quote!(#rt::window::Insert::insert(#window, ts, #stored, #callback)),
    }
}

/// The value of attribute expression `a` read from the event named `event`.
fn field_of(env: &ExprEnv<'_>, a: &TExpr, event: TokenStream) -> TokenStream {
    let inner = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx: env.ctx,
        inputs: env
            .inputs
            .iter()
            .map(|(_, s)| (event.clone(), *s))
            .collect(),
        aggregates: Vec::new(),
        now: env.now.clone(),
        optional: env.optional.clone(),
        keys: Vec::new(),
    };
    inner.owned(a)
}

/// The policy struct `ty` of expression window condition `c` of query `q` over window
/// events of type `event_ty`: its aggregates follow the events entering and leaving the
/// window; `holds` evaluates the condition on the newest and oldest events.
pub(crate) fn retention_policy(
    ctx: &super::Ctx<'_>,
    q: &crate::plan::QueryPlan,
    c: &WindowCondition,
    event_ty: &TokenStream,
    ty: &proc_macro2::Ident,
) -> TokenStream {
    let rt = ctx.rt;
    let n = ctx.plan.streams[q.input].attrs.len();
    let entering = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: vec![(quote!(event), q.input)],
        aggregates: Vec::new(),
        now: quote!(0i64),
        optional: Vec::new(),
        keys: Vec::new(),
    };
    let aggs: Vec<super::aggregate::Agg> = c
        .aggregates
        .iter()
        .map(|a| super::aggregate::aggregator(&entering, a, true))
        .collect();
    let values = super::aggregate::aggregate_values(&c.aggregates);
    let holding = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: vec![
            (quote!(__ef_view.last), q.input),
            (quote!(__ef_view.first), q.input),
        ],
        aggregates: values,
        now: quote!(__ef_view.last_ts),
        optional: Vec::new(),
        keys: vec![
            (
                (0, n),
                quote!(::core::option::Option::Some(__ef_view.last_ts)),
            ),
            (
                (1, n),
                quote!(::core::option::Option::Some(__ef_view.first_ts)),
            ),
        ],
    };
    let cond = holding.gen(&c.expr);
    // The aggregates follow the events entering and leaving the window.
    let aggs_ty = super::ident::aggregates_ty(&ty.to_string());
    let aggregates = (!aggs.is_empty()).then(|| {
        let doc = format!(
            " The aggregates of the condition of query `{}`'s window.",
            q.name
        );
        super::aggregate::aggregates_struct(ctx, &aggs_ty, &doc, &c.aggregates, &aggs, Some(false))
    });
    let (field, hooks, values) = match &aggregates {
        Some(_) => {
            let args: Vec<&TokenStream> = aggs.iter().map(|a| &a.arg).collect();
            // `count()` alone reads nothing of the event.
            let event = if entering.uses().input(0) {
                quote!(event)
            } else {
                quote!(_event)
            };
            (
                Some(quote!(aggs: #aggs_ty,)),
                Some(quote! {
                    fn added(&mut self, #event: &#event_ty) {
                        self.aggs.add(#(#args),*);
                    }

                    fn removed(&mut self, #event: &#event_ty) {
                        self.aggs.remove(#(#args),*);
                    }
                }),
                Some(quote!(let __ef_values = self.aggs.values();)),
            )
        }
        None => (None, None, None),
    };
    let aggs_field = format_ident!("aggs");
    let persist = super::persist_impls(
        ctx,
        &quote!(#ty),
        aggregates.is_some().then_some(&aggs_field),
    );
    let doc = format!(
        " The condition `{}` of the expression window of query `{}`.",
        c.text, q.name
    );
    quote! {
        #aggregates

        #[doc = #doc]
        #[derive(Clone, Default)]
        pub struct #ty {
            #field
        }

        #persist

        impl #rt::window::RetentionPolicy<#event_ty> for #ty {
            #hooks

            fn holds(&mut self, __ef_view: &#rt::window::ExpressionView<'_, #event_ty>) -> bool {
                #values
                #rt::expr::holds(#cond)
            }
        }
    }
}
