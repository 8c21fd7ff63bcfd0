//! The output stage of a query: the rows one arrival (or one timer) produced are shaped by
//! `SELECT DISTINCT`, pass the `OUTPUT ... EVERY` rate limiter (a runtime `RateLimiter`),
//! and what comes out together (the arrival's rows, or a period's) is shaped by `ORDER BY`,
//! `OFFSET` and `LIMIT` before it is emitted (docs/semantics.md#output-rate-limiting).

use super::expr::ExprEnv;
use super::query::method;
use super::Ctx;
use crate::plan::QueryPlan;
use crate::syntax::ast::{RateEvery, RateMode};
use proc_macro2::{Ident, TokenStream};
use quote::quote;

/// What the output stage adds to a query.
pub(crate) struct OutputStage {
    /// State fields (the rate limiter).
    pub fields: Vec<(Ident, TokenStream, TokenStream)>,
    /// Statements turning `__ef_rows` into the rows to emit (same variable, same shape
    /// `(kind, ts, row)`).
    pub shape: TokenStream,
    /// Run at the start of the query method (starts the rate periods at the first event).
    pub observe: TokenStream,
    /// The rate limiter's timer.
    pub timer: Option<(TokenStream, TokenStream)>,
    /// The rate limiter's timer handler.
    pub methods: TokenStream,
}

/// The output stage of `q`; `keyed` rows carry their group key (of type `key_ty`) last.
pub(crate) fn output_stage(
    ctx: &Ctx<'_>,
    q: &QueryPlan,
    keyed: bool,
    key_ty: &TokenStream,
) -> OutputStage {
    let rt = ctx.rt;
    let out = &q.output;
    let mut shape = Vec::new();
    if out.distinct {
        shape.push(quote! {
            let mut __ef_seen = ::std::vec::Vec::new();
            __ef_rows.retain(|__ef_r| {
                if __ef_seen.contains(&__ef_r.2) {
                    false
                } else {
                    __ef_seen.push(__ef_r.2.clone());
                    true
                }
            });
        });
    }
    // ORDER BY, OFFSET and LIMIT apply to each output chunk (docs/language.md#order-by-limit-offset): the rows of one
    // arrival or batch, or, with a rate limit, the rows one period releases together.
    let mut order_limit = Vec::new();
    if !out.order_by.is_empty() {
        let env = |name: TokenStream| ExprEnv {
            used: ::std::cell::Cell::default(),
            ctx,
            inputs: vec![(name, q.target)],
            aggregates: Vec::new(),
            now: quote!(self.now),
            optional: Vec::new(),
            keys: Vec::new(),
        };
        let (a, b) = (env(quote!(__ef_a.2)), env(quote!(__ef_b.2)));
        // NULLs last in both directions (docs/semantics.md#null).
        let keys = out.order_by.iter().map(|(e, desc)| {
            let (ka, kb) = (a.owned(e), b.owned(e));
            quote!(.then_with(|| #rt::expr::order_by_cmp(&#ka, &#kb, #desc)))
        });
        order_limit.push(quote! {
            let mut __ef_rows = __ef_rows;
            __ef_rows.sort_by(|__ef_a, __ef_b| ::core::cmp::Ordering::Equal #(#keys)*);
        });
    }
    if out.offset.is_some() || out.limit.is_some() {
        let offset = out.offset.unwrap_or(0) as usize;
        let limit = out.limit.map_or(quote!(usize::MAX), |l| {
            let l = l as usize;
            quote!(#l)
        });
        order_limit.push(quote! {
            let __ef_rows: ::std::vec::Vec<_> = __ef_rows.into_iter().skip(#offset).take(#limit).collect();
        });
    }
    let order_limit = quote!(#(#order_limit)*);
    let name = method(q);
    let target_ty = &ctx.streams[q.target].ty;
    let emit = super::query::emit_method(ctx, q);
    let (mut fields, mut observe, mut timer, mut methods) = (Vec::new(), quote!(), None, quote!());
    if out.rate.is_none() {
        shape.push(order_limit.clone());
    }
    if let Some(rate) = &out.rate {
        let field = super::ident::rate(&name);
        let key = if keyed { key_ty.clone() } else { quote!(()) };
        let mode = match rate.mode {
            RateMode::All => quote!(All),
            RateMode::First => quote!(First),
            RateMode::Last => quote!(Last),
            RateMode::Snapshot => quote!(Snapshot),
        };
        let (every, timed) = match &rate.every {
            RateEvery::Events(n, _) => {
                let n = *n as u64;
                (quote!(#rt::rate::RateEvery::Events(#n)), false)
            }
            RateEvery::Time(d) => {
                let ms = d.millis;
                (quote!(#rt::rate::RateEvery::Time(#ms)), true)
            }
        };
        fields.push((
            field.clone(),
            quote!(#rt::rate::RateLimiter<#key, (#rt::EventKind, i64, #target_ty)>),
            quote!(#rt::rate::RateLimiter::new(#rt::rate::RateMode::#mode, #every)),
        ));
        let offer_key = if keyed { quote!(__ef_key) } else { quote!(()) };
        let pattern = if keyed {
            quote!((__ef_kind, __ef_ts, __ef_row, __ef_key))
        } else {
            quote!((__ef_kind, __ef_ts, __ef_row))
        };
        shape.push(quote! {
            let mut __ef_released = ::std::vec::Vec::new();
            for #pattern in __ef_rows {
                self.#field.offer(#offer_key, (__ef_kind, __ef_ts, __ef_row), &mut __ef_released);
            }
            let __ef_rows = __ef_released;
            #order_limit
        });
        if timed {
            observe = quote!(self.#field.observe(ts););
            let advance = super::ident::rate_advance(&name);
            // A snapshot reports the state: its rows are current whatever produced them.
            let kind_fix = (rate.mode == RateMode::Snapshot)
                .then(|| quote!(let __ef_kind = #rt::EventKind::Current;));
            timer = Some((
                quote!(self.#field.next_deadline()),
                quote! {
                    if self.#field.next_deadline().is_some_and(|__ef_due| __ef_due <= at) {
                        self.#advance(at);
                    }
                },
            ));
            methods = quote! {
                /// Ends the output rate periods due at or before `at`.
                fn #advance(&mut self, at: i64) {
                    let mut __ef_released = ::std::vec::Vec::new();
                    self.#field.advance(at, &mut __ef_released);
                    let __ef_rows = __ef_released;
                    #order_limit
                    for (__ef_kind, __ef_ts, __ef_row) in __ef_rows {
                        #kind_fix
                        self.#emit(__ef_ts, __ef_kind, &__ef_row);
                    }
                }
            };
        }
    }
    OutputStage {
        fields,
        shape: quote!(#(#shape)*),
        observe,
        timer,
        methods,
    }
}
