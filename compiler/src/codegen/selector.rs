//! Stateful queries: a window and/or aggregates between the filter and the projection.
//!
//! The window (a runtime type) reports what enters and leaves it through a callback; the
//! callback updates the query's aggregators (one tuple of runtime aggregators per group, in a
//! runtime `GroupMap` when the query groups) and collects output rows, which are emitted
//! once the window call returns. Sliding windows give one row per current/expired event;
//! batch windows give one row per group per batch (the last event of the group with the
//! batch's aggregates), expired rows before current ones.

use super::aggregate::{aggregate_values, aggregates_struct, aggregator, Agg};
use super::expr::{Code, ExprEnv, Uses};
use super::query::{method, row};
use super::stream::value_type;
use super::window::{insert_call_with_policy, on_arrival_window_code, window_code};
use super::Ctx;
use crate::plan::physical::{self, attrs_read, key_attrs, Mode, Operator, WindowAggregate};
use crate::plan::QueryPlan;
use crate::sema::ir::{ExprKind, QueryKind, TExpr};
use crate::sema::Type;
use crate::syntax::ast::OutputEvents;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// What a stateful query adds to the `App`.
#[derive(Default)]
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

/// A match arm binding only what its body uses: `ts`, and the window's `event` when the
/// body reads input `event` of what it reports ([`Uses`]).
pub(crate) fn arm(variant: TokenStream, body: &Code, event: usize) -> TokenStream {
    let ts = body.uses.ts.then(|| quote!(ts,));
    let event = body.uses.input(event).then(|| quote!(event,));
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
    /// Code for a current row (what it reads: its [`Uses`], inputs as given to the selector).
    pub on_current: Code,
    /// Code for an expired row.
    pub on_expired: Code,
    /// Code at a batch's `Reset`.
    pub on_reset: Code,
    /// Code at a batch's `Flush`.
    pub on_flush: Code,
    /// Binds `__ef_state` (the aggregation state); run it in the block that collects rows.
    pub state_binding: TokenStream,
    /// Declares the batch buffers; run it after `state_binding`.
    pub pendings: TokenStream,
    /// [`Mode::OnArrival`]: adds the arriving `event` to its group (after `state_binding`).
    pub arrive: Code,
    /// The type of `__ef_rows`.
    pub rows_ty: TokenStream,
    /// The initial value of `__ef_rows` (the kept buffer, or a new vector).
    pub new_rows: TokenStream,
    /// Shapes (DISTINCT, ORDER BY, OFFSET, LIMIT, rate) and emits `__ef_rows` (after the
    /// block, when `self` is free again).
    pub emit_rows: TokenStream,
    /// Run first in the query method with the arriving `ts` (starts rate periods).
    pub observe: Code,
    /// Rows go straight to the sink (`__ef_out`) instead of the row buffer.
    pub direct: bool,
    /// The rate limiter's timer, if time-based.
    pub output_timer: Option<(TokenStream, TokenStream)>,
    /// Extra methods (the rate limiter's timer handler).
    pub output_methods: TokenStream,
}

impl SelectorCode {
    /// The statement binding where code reading `body` (the uses of the code running the
    /// row code) puts rows: the row buffer `__ef_rows`, or `__ef_out`, the sink, for rows that
    /// go straight to it (bound only when the code emits).
    pub fn rows_binding(&self, body: Uses) -> TokenStream {
        let (rows_ty, new_rows) = (&self.rows_ty, &self.new_rows);
        if self.direct && body.out {
            quote!(let __ef_out = &mut self.output;)
        } else if self.direct {
            quote!()
        } else if body.rows {
            quote!(let mut __ef_rows: #rows_ty = #new_rows;)
        } else {
            quote! {
                #[allow(unused_mut)]
                let mut __ef_rows: #rows_ty = #new_rows;
            }
        }
    }
}

/// The selector of `q` over `inputs` (access path and stream of each input), where input `i`
/// is an `Option<&Event>` when `optional[i]` (the padded side of an outer join), one row per
/// current and expired event. Rows that only go to the sink are emitted straight to it.
/// `moves` are attributes of input 0, an owned event, that the current row moves out of it.
pub(crate) fn selector_over(
    ctx: &Ctx<'_>,
    q: &QueryPlan,
    inputs: Vec<(TokenStream, usize)>,
    optional: Vec<bool>,
    moves: &[usize],
) -> SelectorCode {
    let how = How {
        mode: Mode::Sliding,
        moves,
        direct: direct(ctx, q),
        arrival: false,
        own_arrival: false,
    };
    selector_in(ctx, q, inputs, optional, how)
}

/// Whether the rows of `q` go straight to the sink (the physical plan's choice).
fn direct(ctx: &Ctx<'_>, q: &QueryPlan) -> bool {
    ctx.plan.physical_of(q).direct
}

/// Reads of the key attributes of `q` from the group key named `__ef_key`.
fn key_reads(q: &QueryPlan) -> Vec<((usize, usize), TokenStream)> {
    key_attrs(q)
        .into_iter()
        .map(|(attr, i)| {
            let i = syn::Index::from(i);
            ((0, attr), quote!(__ef_key.0 .#i))
        })
        .collect()
}

/// How [`selector_in`] generates a single-stream query's selector.
#[derive(Clone, Copy)]
struct How<'m> {
    /// How aggregation meets the window.
    mode: Mode,
    /// Attributes of an owned arriving event to move rather than clone.
    moves: &'m [usize],
    /// Rows go straight to the sink (`__ef_out`), not through the row buffer.
    direct: bool,
    /// Current rows read the arriving event (`__ef_arrival`).
    arrival: bool,
    /// The arriving event is owned (`__ef_arrival` is an `Option` of it, taken by the current
    /// row, which moves its STRING columns out of it).
    own_arrival: bool,
}

/// [`selector_over`] in mode `mode`; in [`Mode::OnArrival`] the window's callback only
/// emits the batch at `Flush`, and [`SelectorCode::arrive`] aggregates each event. `moves`
/// are attributes of an owned arriving event to move rather than clone: in
/// [`Mode::Slotted`] into the current row from the locals `__ef_move_<attr>`, on arrival into
/// the group's last event.
fn selector_in(
    ctx: &Ctx<'_>,
    q: &QueryPlan,
    inputs: Vec<(TokenStream, usize)>,
    optional: Vec<bool>,
    how: How<'_>,
) -> SelectorCode {
    let How {
        mode,
        moves,
        direct,
        arrival,
        own_arrival,
    } = how;
    let rt = ctx.rt;
    // Where a row goes: the row buffer, or straight to the sink (`__ef_out`).
    let on_target = super::ident::on(&ctx.streams[q.target].snake);
    // `ts` is the row's time (`ts_uses`: what it reads), `key` the group key it carries.
    let push = |kind: TokenStream,
                ts: TokenStream,
                ts_uses: Uses,
                row: &Code,
                key: &Option<TokenStream>| {
        if direct {
            let sink = Uses {
                out: true,
                ..Uses::NONE
            };
            Code::new(
                quote!(__ef_out.#on_target(#ts, #rt::EventKind::#kind, &#row);),
                row.uses | ts_uses | sink,
            )
        } else {
            let rows = Uses {
                rows: true,
                ..Uses::NONE
            };
            Code::new(
                quote!(__ef_rows.push((#rt::EventKind::#kind, #ts, #row #key));),
                row.uses | ts_uses | rows | Uses::KEY.when(key.is_some()),
            )
        }
    };
    let name = method(q);
    let target = &ctx.streams[q.target];
    let (target_ty, emit) = (&target.ty, super::query::emit_method(ctx, q));
    let values = aggregate_values(&q.aggregates);
    let grouped = !q.group_by.is_empty();
    // Where the row and HAVING read: the windowed event (its group's key for the GROUP BY
    // attributes when slotted), or, on arrival, the group's last event and key.
    let env = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: if mode == Mode::OnArrival {
            vec![(quote!(__ef_group.last), q.input)]
        } else {
            inputs.clone()
        },
        aggregates: values,
        now: quote!(__ef_now),
        optional: optional.clone(),
        keys: if matches!(mode, Mode::Slotted | Mode::OnArrival) {
            key_reads(q)
        } else {
            Vec::new()
        },
    };
    // Where aggregate arguments and group keys are computed: the arriving event on arrival.
    let arrive_env = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs,
        aggregates: Vec::new(),
        now: quote!(__ef_now),
        optional,
        keys: if mode == Mode::Slotted {
            env.keys.clone()
        } else {
            Vec::new()
        },
    };
    // Rows leave only through a window (and not from a batch aggregated on arrival); a
    // join's rows leave when its sides have windows.
    let (retracts, maybe_unused) = match &q.kind {
        QueryKind::Single => (q.window.is_some() && mode != Mode::OnArrival, false),
        QueryKind::Join(_) => (true, true),
        QueryKind::Pattern(_) => (false, false),
    };
    let (aggs, agg_uses): (Vec<Agg>, Uses) = arrive_env.track(|| {
        q.aggregates
            .iter()
            .map(|c| aggregator(&arrive_env, c, retracts))
            .collect()
    });
    let collapse = matches!(mode, Mode::Batch | Mode::OnArrival) && (!aggs.is_empty() || grouped);
    let key_tys = q.group_by.iter().map(|g| {
        let v = value_type(rt, g.ty);
        quote!(::core::option::Option<#v>)
    });
    let (key_vals, key_val_uses): (Vec<TokenStream>, Uses) =
        env.track(|| q.group_by.iter().map(|g| env.owned(g)).collect());
    let key_ty = quote!(#rt::aggregate::Total<(#(#key_tys,)*)>);
    let key_val = quote!(#rt::aggregate::Total((#(#key_vals,)*)));

    let mut fields = Vec::new();
    let state_field = super::ident::aggregation_state(&name, grouped || mode == Mode::OnArrival);
    let camel = super::names::generated_type(&name.to_string());
    let aggs_ty = super::ident::aggregates_ty(&camel);
    let mut items = TokenStream::new();
    if !aggs.is_empty() {
        let doc = format!(" The aggregators of query `{}`.", q.name);
        let remove = retracts.then_some(maybe_unused);
        items.extend(aggregates_struct(
            ctx,
            &aggs_ty,
            &doc,
            &q.aggregates,
            &aggs,
            remove,
        ));
    }
    // On arrival: what the row reads of a group's last event (its type and how to build it
    // from the arriving `event`), `None` when it reads nothing.
    let last: Option<(TokenStream, TokenStream)> = (mode == Mode::OnArrival)
        .then(|| {
            let keys: Vec<usize> = key_attrs(q).into_iter().map(|(a, _)| a).collect();
            let read = attrs_read(
                q.columns.iter().map(|c| &c.expr).chain(q.having.as_ref()),
                &keys,
            );
            if read.is_empty() {
                return None;
            }
            let doc = format!(
                " What query `{}` keeps of the last event of each group of a batch.",
                q.name
            );
            Some(
                match projection(
                    ctx,
                    q.input,
                    super::ident::last_ty(&camel),
                    &doc,
                    &read,
                    false,
                ) {
                    Some(p) => {
                        items.extend(p.item);
                        let ctor = if moves.is_empty() {
                            p.ctor
                        } else {
                            p.ctor_moving
                        };
                        (p.ty, ctor)
                    }
                    None if moves.is_empty() => {
                        let input = &ctx.streams[q.input].ty;
                        (quote!(#input), quote!(event.clone()))
                    }
                    None => {
                        let input = &ctx.streams[q.input].ty;
                        (quote!(#input), quote!(event))
                    }
                },
            )
        })
        .flatten();
    let aggs_state = if aggs.is_empty() {
        quote!(())
    } else {
        quote!(#aggs_ty)
    };
    if mode == Mode::OnArrival {
        let last_ty = match &last {
            Some((ty, _)) => ty.clone(),
            None => quote!(()),
        };
        fields.push((
            state_field.clone(),
            quote!(#rt::aggregate::BatchGroups<#key_ty, #rt::aggregate::BatchGroup<#aggs_state, #last_ty>>),
            quote!(#rt::aggregate::BatchGroups::new()),
        ));
    } else if !aggs.is_empty() {
        if grouped && matches!(mode, Mode::Slotted | Mode::Sliding) && q.drops_idle_groups {
            // Each group counts the window's events in it and is dropped with the last.
            fields.push((
                state_field.clone(),
                quote!(#rt::aggregate::SlidingGroups<#key_ty, #aggs_ty>),
                quote!(#rt::aggregate::SlidingGroups::new()),
            ));
        } else if grouped {
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
    let update = |op: TokenStream, read: bool, key_after: bool| -> Code {
        if aggs.is_empty() {
            return Code::default();
        }
        // Groups that go with their last row (a join's): an entering row counts, a leaving
        // one is uncounted after its row is out (see `release`).
        let get = if grouped && q.drops_idle_groups && op.to_string() == "add" {
            quote!(let __ef_aggs = __ef_state.hold(&__ef_key);)
        } else if grouped && q.drops_idle_groups {
            quote!(let __ef_aggs = __ef_state.group(&__ef_key);)
        } else if grouped && key_after {
            quote!(let __ef_aggs = __ef_state.get_or_default_ref(&__ef_key);)
        } else if grouped {
            quote!(let __ef_aggs = __ef_state.get_or_default(__ef_key);)
        } else {
            quote!(let __ef_aggs = &mut *__ef_state;)
        };
        let args = aggs.iter().map(|a| &a.arg);
        let reads = read.then(|| quote!(let __ef_values = __ef_aggs.values();));
        Code::new(
            quote! {
                #get
                __ef_aggs.#op(#(#args),*);
                #reads
            },
            agg_uses | Uses::KEY.when(grouped),
        )
    };
    // What the row environment reads: on arrival its input is the group's last event, which
    // is none of the selector's inputs.
    let env_uses = |u: Uses| {
        if mode == Mode::OnArrival {
            u.without_inputs()
        } else {
            u
        }
    };
    // What the arrival environment reads: its input is `__ef_arrival`.
    let arrival_uses = |u: Uses| {
        let arrival = u.input(0);
        Uses {
            arrival,
            ..u.without_inputs()
        }
    };
    let tracked = |env: &ExprEnv<'_>, f: &dyn Fn() -> TokenStream| {
        let (tokens, uses) = env.track(f);
        Code::new(tokens, env_uses(uses))
    };
    let row_expr = tracked(&env, &|| row(&env, q));
    // Where a current row reads when `arrival`: the arriving event, `__ef_arrival` (a sliding
    // window's current event is the arrival, so the window need not keep what only the current
    // row reads).
    let arrival_env = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: vec![(quote!(__ef_arrival), q.input)],
        aggregates: env.aggregates.clone(),
        now: quote!(__ef_now),
        optional: Vec::new(),
        keys: env.keys.clone(),
    };
    // Slotted, owned: the current row takes the moved attributes (the arriving event's).
    let arrival_tracked = |f: &dyn Fn() -> TokenStream| {
        let (tokens, uses) = arrival_env.track(f);
        Code::new(tokens, arrival_uses(uses))
    };
    let current_row = if mode == Mode::Slotted && !moves.is_empty() {
        tracked(&env, &|| {
            super::query::row_with(&env, q, |a| {
                moves.contains(&a).then(|| {
                    let local = super::ident::moved(a);
                    let normal = env.owned(&TExpr::new(
                        ExprKind::Attr {
                            input: 0,
                            attr: a,
                            name: String::new(),
                        },
                        ctx.plan.streams[q.input].attrs[a].ty,
                        crate::syntax::ast::Span::default(),
                    ));
                    quote!(#local.take().unwrap_or_else(|| #normal))
                })
            })
        })
    } else if own_arrival {
        let movable = physical::movable(ctx.plan, q);
        arrival_tracked(&|| {
            super::query::row_with(&arrival_env, q, |a| {
                movable.contains(&a).then(|| {
                    let (path, source) = arrival_env.attr_path(0, a);
                    if source.nullable {
                        path
                    } else {
                        quote!(::core::option::Option::Some(#path))
                    }
                })
            })
        })
    } else if arrival {
        arrival_tracked(&|| row(&arrival_env, q))
    } else if !moves.is_empty() {
        // Sliding over an owned input 0 (a join's arrival): its attributes move into the row.
        tracked(&env, &|| super::query::row_moving(&env, q, moves))
    } else {
        row_expr.clone()
    };
    let having_in = |env: &ExprEnv<'_>| {
        q.having.as_ref().map(|h| {
            let (h, uses) = env.track(|| env.gen(h));
            (quote!(#rt::expr::holds(#h)), uses)
        })
    };
    let having = having_in(&env).map(|(h, u)| Code::new(h, env_uses(u)));
    let having_current = if arrival {
        having_in(&arrival_env).map(|(h, u)| Code::new(h, arrival_uses(u)))
    } else {
        having.clone()
    };
    // `if <having> { push }`, or just the push without HAVING.
    let guarded = |having: &Option<Code>, push: Code| match having {
        Some(h) => Code::new(quote!(if #h { #push }), h.uses | push.uses),
        None => push,
    };
    // The row and HAVING of an entering (`add`) or a leaving event.
    let row_and_having = |op: &TokenStream| {
        if op.to_string() == "add" {
            (&current_row, &having_current)
        } else {
            (&row_expr, &having)
        }
    };
    let having_or_true = having.clone().unwrap_or_else(|| Code::plain(quote!(true)));
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
    let ts_uses = Uses::TS;
    // What an entering or leaving event does: update, then produce a row.
    let on_event = |op: TokenStream, kind: TokenStream, wanted: bool, pending: &Ident| -> Code {
        if mode == Mode::OnArrival {
            return Code::default();
        }
        if mode == Mode::Slotted {
            let args = aggs.iter().map(|a| &a.arg);
            let (row_expr, having) = row_and_having(&op);
            let output = if wanted {
                let push = guarded(
                    having,
                    push(kind.clone(), quote!(ts), ts_uses, row_expr, &row_key),
                );
                Code::new(
                    quote! {
                        let __ef_values = __ef_aggs.values();
                        #push
                    },
                    push.uses,
                )
            } else {
                Code::default()
            };
            let body = Code::new(
                quote!(__ef_aggs.#op(#(#args),*); #output),
                agg_uses | output.uses,
            );
            let key = if body.uses.key {
                quote!(__ef_key)
            } else {
                quote!(_)
            };
            // The event has left the window: its group may go with it.
            let release = (op.to_string() == "remove" && q.drops_idle_groups)
                .then(|| quote!(__ef_state.release(event.__ef_group as usize);));
            // `event` is the window's event, input 0.
            return Code::new(
                quote! {
                    if let ::core::option::Option::Some((#key, __ef_aggs)) =
                        __ef_state.entry_at(event.__ef_group as usize)
                    {
                        #body
                    }
                    #release
                },
                body.uses.with_input(0, true),
            );
        }
        let pending_key = (collapse || keyed) && wanted;
        let key = ((grouped && !aggs.is_empty()) || pending_key)
            .then(|| Code::new(quote!(let __ef_key = #key_val;), key_val_uses | Uses::KEY));
        let update = update(op.clone(), wanted, pending_key);
        let output = if !wanted {
            Code::default()
        } else if collapse {
            Code::new(
                quote! {
                    *#pending.get_or_default(__ef_key) = if #having_or_true {
                        ::core::option::Option::Some((ts, #row_expr))
                    } else {
                        ::core::option::Option::None
                    };
                },
                Uses::KEY | Uses::TS | having_or_true.uses | row_expr.uses,
            )
        } else {
            let (row_expr, having) = row_and_having(&op);
            let output = guarded(
                having,
                push(kind.clone(), quote!(ts), ts_uses, row_expr, &row_key),
            );
            if own_arrival && op.to_string() == "add" {
                // The window's current event is the arrival, emitted once.
                Code::new(
                    quote! {
                        if let ::core::option::Option::Some(__ef_arrival) = __ef_arrival.take() {
                            #output
                        }
                    },
                    output.uses
                        | Uses {
                            arrival: true,
                            ..Uses::NONE
                        },
                )
            } else {
                output
            }
        };
        // A leaving row's group goes with its last row.
        let release =
            (grouped && q.drops_idle_groups && !aggs.is_empty() && op.to_string() == "remove")
                .then(|| quote!(__ef_state.release_key(&__ef_key);));
        let uses = key.as_ref().map_or(Uses::NONE, |k| k.uses)
            | update.uses
            | output.uses
            | Uses::KEY.when(release.is_some());
        Code::new(quote!(#key #update #output #release), uses)
    };
    let pending_current = super::ident::pending(true);
    let pending_expired = super::ident::pending(false);
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
        let push_row = push(
            kind,
            quote!(__ef_ts),
            Uses::NONE,
            &Code::plain(quote!(__ef_row)),
            &row_key,
        );
        Code::new(
            quote! {
                for (__ef_key, __ef_slot) in #pending.iter_mut() {
                    if let ::core::option::Option::Some((__ef_ts, __ef_row)) = __ef_slot.take() {
                        #push_row
                    }
                }
                #pending.clear();
            },
            push_row.uses | Uses::KEY,
        )
    };
    let reset_state = match (aggs.is_empty(), grouped) {
        (true, _) => quote!(),
        (false, true) => quote!(__ef_state.clear();),
        (false, false) => quote!(*__ef_state = ::core::default::Default::default();),
    };
    let (on_reset, on_flush) = if mode == Mode::OnArrival {
        let values =
            (!aggs.is_empty()).then(|| quote!(let __ef_values = __ef_group.aggs.values();));
        let push = guarded(
            &having,
            push(
                quote!(Current),
                quote!(__ef_group.last_ts),
                Uses::NONE,
                &row_expr,
                &row_key,
            ),
        );
        let body = Code::new(quote!(#values #push), push.uses);
        let key = if body.uses.key {
            quote!(__ef_key)
        } else {
            quote!(_)
        };
        (
            Code::default(),
            Code::new(
                quote! {
                    for (#key, __ef_group) in __ef_state.iter() {
                        #body
                    }
                    __ef_state.clear();
                },
                body.uses,
            ),
        )
    } else if collapse {
        (
            {
                let d = drain(&pending_expired, quote!(Expired));
                Code::new(quote!(#d #reset_state), d.uses)
            },
            drain(&pending_current, quote!(Current)),
        )
    } else {
        // A slotted (sliding) window never resets; clearing would invalidate positions.
        let reset = (mode != Mode::Slotted).then_some(reset_state);
        (Code::plain(quote!(#reset)), Code::default())
    };
    // On arrival: the event joins its group of the open batch.
    let arrive = if mode == Mode::OnArrival {
        let (probe, probe_uses) = arrive_env.track(|| key_probe(&arrive_env, q));
        let args = aggs.iter().map(|a| &a.arg);
        let add = (!aggs.is_empty()).then(|| quote!(__ef_group.aggs.add(#(#args),*);));
        // The last event is built from the arriving `event`, input 0.
        let keep = last
            .as_ref()
            .map(|(_, ctor)| quote!(__ef_group.last = #ctor;));
        Code::new(
            quote! {
                let __ef_group = __ef_state.state_of(&#probe);
                #add
                __ef_group.last_ts = ts;
                #keep
            },
            probe_uses | agg_uses.when(add.is_some()) | Uses::TS.with_input(0, keep.is_some()),
        )
    } else {
        Code::default()
    };
    let has_state = !aggs.is_empty() || mode == Mode::OnArrival;
    let state_binding = has_state.then(|| quote!(let __ef_state = &mut self.#state_field;));
    let pendings = (collapse && mode == Mode::Batch).then(|| {
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
    let rows_field = super::ident::rows(&name);
    let emit_rows = if direct {
        quote!()
    } else if shape.is_empty() {
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
    let new_rows = if direct {
        quote!()
    } else if shape.is_empty() {
        quote!(::core::mem::take(&mut self.#rows_field))
    } else {
        quote!(::std::vec::Vec::new())
    };
    SelectorCode {
        fields,
        items,
        on_current,
        on_expired,
        on_reset,
        on_flush,
        state_binding: quote!(#state_binding),
        pendings: quote!(#pendings),
        arrive,
        rows_ty,
        new_rows,
        emit_rows,
        observe: Code::new(
            output.observe.clone(),
            Uses::TS.when(!output.observe.is_empty()),
        ),
        direct,
        output_timer: output.timer,
        output_methods: output.methods,
    }
}

/// The borrowed group key of `q` (a [`KeyPart`](eventflux_runtime) tuple) computed from the
/// arriving event in `env`: attributes are borrowed, other key expressions evaluated.
fn key_probe(env: &ExprEnv<'_>, q: &QueryPlan) -> TokenStream {
    let parts = q.group_by.iter().map(|g| {
        let string = matches!(g.ty, Type::String | Type::Null);
        match &g.kind {
            ExprKind::Attr { input: 0, attr, .. } => {
                let (path, a) = env.attr_path(0, *attr);
                match (a.nullable, string) {
                    (true, true) => quote!(#path.as_deref()),
                    (true, false) => quote!(#path),
                    (false, true) => quote!(::core::option::Option::Some(&*#path)),
                    (false, false) => quote!(::core::option::Option::Some(#path)),
                }
            }
            _ if string => {
                let v = env.owned(g);
                quote!(#v.as_deref())
            }
            _ => env.gen(g),
        }
    });
    quote!((#(#parts,)*))
}

/// The attributes of input 0 that `exprs` read, except those in `skip`, in schema order.
/// A struct holding some attributes of `q`'s input: what a window keeps of each event, or
/// what a batch group keeps of its last event. Its fields are named like the input's, so
/// expressions over the input read it unchanged.
pub(crate) struct Projection {
    /// The struct.
    pub item: TokenStream,
    /// Its type.
    pub ty: TokenStream,
    /// Builds it from `event` (the input event; `__ef_slot` is the group position).
    pub ctor: TokenStream,
    /// Builds it by moving the fields out of an owned `event`.
    pub ctor_moving: TokenStream,
    /// It has no field (use `()` instead).
    empty: bool,
    /// Its constructors read `event` (it has some attribute of it).
    pub reads_event: bool,
}

/// The projection of stream `input` (a query's input) on `attrs` (plus the group position
/// `__ef_group` when `slotted`), or `None` when it would be the whole input (use the input's
/// own type).
pub(crate) fn projection(
    ctx: &Ctx<'_>,
    input: usize,
    ty: Ident,
    doc: &str,
    attrs: &[usize],
    slotted: bool,
) -> Option<Projection> {
    let rt = ctx.rt;
    let stream = &ctx.plan.streams[input];
    if !slotted && attrs.len() == stream.attrs.len() {
        return None;
    }
    let names = &ctx.streams[input];
    let defs = attrs.iter().map(|&i| {
        let (f, fty) = (
            &names.fields[i],
            super::stream::field_type(rt, &stream.attrs[i]),
        );
        let fdoc = format!(" `{}`.", stream.attrs[i].name);
        quote!(#[doc = #fdoc] pub #f: #fty)
    });
    let inits = attrs.iter().map(|&i| {
        let f = &names.fields[i];
        if stream.attrs[i].ty == Type::String {
            quote!(#f: event.#f.clone())
        } else {
            quote!(#f: event.#f)
        }
    });
    let moving = attrs.iter().map(|&i| {
        let f = &names.fields[i];
        quote!(#f: event.#f)
    });
    let group = format_ident!("__ef_group");
    let persist = super::persist_impls(
        ctx,
        &quote!(#ty),
        attrs
            .iter()
            .map(|&i| &names.fields[i])
            .chain(slotted.then_some(&group)),
    );
    let (group_def, group_init) = if slotted {
        (
            Some(quote!(#[doc = " Position of the event's group."] pub __ef_group: u32,)),
            Some(quote!(__ef_group: __ef_slot as u32,)),
        )
    } else {
        (None, None)
    };
    Some(Projection {
        item: quote! {
            #[doc = #doc]
            #[derive(Clone, Debug, Default)]
            pub struct #ty {
                #(#defs,)*
                #group_def
            }

            #persist
        },
        ty: quote!(#ty),
        ctor: quote!(#ty { #(#inits,)* #group_init }),
        ctor_moving: quote!(#ty { #(#moving,)* #group_init }),
        empty: attrs.is_empty() && !slotted,
        reads_event: !attrs.is_empty(),
    })
}

/// Generates the state, methods and timer of single-stream stateful query `q` (its
/// [`WindowAggregate`] choices: the mode, and whether it takes its events by value through
/// the method named [`super::query::owned_entry`]).
pub(crate) fn stateful_query(ctx: &Ctx<'_>, q: &QueryPlan) -> Stateful {
    let rt = ctx.rt;
    let name = method(q);
    let input_ty = &ctx.streams[q.input].ty;
    let input_ty = quote!(#input_ty);
    let env = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: vec![(quote!(event), q.input)],
        aggregates: Vec::new(),
        now: quote!(__ef_now),
        optional: Vec::new(),
        keys: Vec::new(),
    };
    let Operator::WindowAggregate(WindowAggregate {
        mode,
        takes_events: owned,
        ref moves,
        current_is_arrival,
        reads_arrival: arrival,
        moves_arrival: own_arrival,
        ref keeps,
        ..
    }) = ctx.plan.physical_of(q).operator
    else {
        return Stateful::default();
    };
    // Rows that only go to the sink skip the row buffer.
    let direct = direct(ctx, q);
    // What the window keeps of each event (in slotted mode with the group position).
    let camel = super::names::generated_type(&name.to_string());
    let projection = keeps.as_ref().and_then(|read| {
        let doc = format!(
            " What query `{}` keeps in its window of each `{}` event.",
            q.name, ctx.plan.streams[q.input].name
        );
        projection(
            ctx,
            q.input,
            super::ident::event_ty(&camel),
            &doc,
            read,
            mode == Mode::Slotted,
        )
    });
    let keeps_nothing = projection.as_ref().is_some_and(|p| p.empty);
    let (window_event_ty, window_event) = match (&projection, mode) {
        (_, Mode::OnArrival) => (quote!(()), quote!(())),
        (Some(_), _) if keeps_nothing => (quote!(()), quote!(())),
        (Some(p), _) => (p.ty.clone(), p.ctor.clone()),
        (None, _) => (input_ty.clone(), quote!(event.clone())),
    };
    // What the window keeps is built from `event` (not a projection on no attribute).
    let window_event_reads = match (&projection, mode) {
        (_, Mode::OnArrival) => false,
        (Some(p), _) => p.reads_event,
        (None, _) => true,
    };
    let wcode = q.window.as_ref().map(|w| match mode {
        Mode::OnArrival => on_arrival_window_code(&env, w),
        _ => window_code(&env, w, &window_event_ty, q.events != OutputEvents::Current),
    });
    let window_field = super::ident::window(&name);
    let SelectorCode {
        mut fields,
        items,
        on_current,
        on_expired,
        on_reset,
        on_flush,
        state_binding,
        pendings,
        arrive,
        rows_ty,
        new_rows,
        emit_rows,
        observe,
        output_timer,
        output_methods,
        ..
    } = selector_in(
        ctx,
        q,
        vec![(quote!(event), q.input)],
        Vec::new(),
        How {
            mode,
            moves,
            direct,
            arrival,
            own_arrival,
        },
    );
    // Rows are collected and emitted after the window call, or go straight to the sink.
    let rows = if direct {
        quote!(let __ef_out = &mut self.output;)
    } else {
        quote!(let mut __ef_rows: #rows_ty = #new_rows;)
    };
    let items = match &projection {
        Some(p) if !p.empty => {
            let item = &p.item;
            quote!(#items #item)
        }
        _ => items,
    };
    if let Some(w) = &wcode {
        fields.insert(0, (window_field.clone(), w.ty.clone(), w.init.clone()));
    }
    // An expression window's condition: a policy struct, whose aggregates are state.
    let retention = q
        .window
        .as_ref()
        .and_then(|w| w.condition.as_ref())
        .map(|c| {
            let ty = super::ident::retention_ty(&camel);
            let field = super::ident::retention(&name);
            let item = super::window::retention_policy(ctx, q, c, &window_event_ty, &ty);
            fields.insert(
                1,
                (
                    field.clone(),
                    quote!(#ty),
                    quote!(::core::default::Default::default()),
                ),
            );
            (field, item)
        });
    let filter = super::query::filter_guard(ctx, q);
    let doc = format!(" Query `{}`.", q.name);
    let Some(w) = &q.window else {
        // Aggregates over all events so far: every event enters, nothing leaves.
        let body = &on_current;
        let now = body.uses.now.then(|| quote!(let __ef_now = self.now;));
        let uses = observe.uses | filter.uses | body.uses;
        let body = quote! {
            #observe
            #filter
            #now
            #rows
            {
                #state_binding
                #body
            }
            #emit_rows
        };
        // `SELECT count() ...` reads nothing of the event.
        let event = if uses.input(0) {
            quote!(event)
        } else {
            quote!(_event)
        };
        let ts = if uses.ts { quote!(ts) } else { quote!(_ts) };
        let methods = quote! {
            #[doc = #doc]
            fn #name(&mut self, #ts: i64, #event: &#input_ty) {
                #body
            }
            #output_methods
        };
        return Stateful {
            fields,
            methods,
            timers: output_timer.into_iter().collect(),
            items,
        };
    };
    let wr = quote!(#rt::window::WindowEvent);
    let callback_uses = on_current.uses | on_expired.uses | on_reset.uses | on_flush.uses;
    let arms = [
        arm(quote!(#wr::Current), &on_current, 0),
        arm(quote!(#wr::Expired), &on_expired, 0),
        arm(quote!(#wr::Reset), &on_reset, 0),
        arm(quote!(#wr::Flush), &on_flush, 0),
    ];
    // A sliding window calls its callback once or twice per arrival, from one place per kind
    // of emission: inlined there (LLVM does not by itself once the callback emits a row), the
    // arms that cannot happen at that place disappear. Batch windows call it in loops over
    // their batch, which are not worth the code.
    let inline = (!w.kind().is_batch()).then(|| quote!(#[inline(always)]));
    let callback = quote!(#inline |__ef_emitted| match __ef_emitted { #(#arms)* });
    // Timers of a sliding window only expire events: their callback has no current rows
    // (which would read an arrival, or its moved attributes, there is none of).
    let timer_uses = if current_is_arrival {
        on_expired.uses | on_reset.uses | on_flush.uses
    } else {
        callback_uses
    };
    let timer_callback = if current_is_arrival {
        let [_, expired, reset, flush] = arms;
        let current = arm(quote!(#wr::Current), &Code::default(), 0);
        quote!(|__ef_emitted| match __ef_emitted { #current #expired #reset #flush })
    } else {
        callback.clone()
    };
    // The arriving event, for current rows.
    let arrival_binding = callback_uses.arrival.then(|| {
        if own_arrival {
            quote!(let mut __ef_arrival = ::core::option::Option::Some(event);)
        } else if owned {
            quote!(let __ef_arrival = &event;)
        } else {
            quote!(let __ef_arrival = event;)
        }
    });
    // The policy of an expression window's condition, for every insert below.
    let policy = retention.as_ref().map(|(field, _)| quote!(self.#field));
    let insert_of = |stored: &TokenStream| {
        insert_call_with_policy(
            &env,
            w,
            &quote!(__ef_window),
            stored,
            policy.as_ref(),
            &callback,
        )
    };
    let (insert, insert_uses) = env.track(|| insert_of(&window_event));
    // The insert runs the callback.
    let insert_uses = insert_uses | callback_uses;
    let now = (insert_uses.now || arrive.uses.now).then(|| quote!(let __ef_now = self.now;));
    let timed = wcode.as_ref().is_some_and(|w| w.timed);
    // Slotted: the event's group position, looked up (by borrowed key) before it enters.
    let (slot, slot_uses) = env.track(|| {
        (mode == Mode::Slotted).then(|| {
        let probe = key_probe(&env, q);
        let takes = moves.iter().map(|&a| {
            let f = super::stream::field(ctx, q.input, a);
            let local = super::ident::moved(a);
            if ctx.plan.streams[q.input].attrs[a].nullable {
                quote!(let mut #local = ::core::option::Option::Some(event.#f);)
            } else {
                quote!(let mut #local = ::core::option::Option::Some(::core::option::Option::Some(event.#f));)
            }
        });
        quote! {
            let __ef_slot = __ef_state.slot_of(&#probe);
            #(#takes)*
        }
        })
    });
    // The moved attributes are taken out of `event`.
    let slot_uses = slot_uses.with_input(0, slot.is_some() && !moves.is_empty());
    // On arrival: batches due by now close first (a time batch closing at `ts` does not
    // contain the event: the window's insert closes them before it counts the event), then
    // the event joins its group; a length batch counts the event after it joined its group
    // (a batch that it fills closes with it).
    // What the arrival code reads of `event` (input 0): the insert and its callback, what the
    // window keeps, the arrival's binding, the group lookup.
    let arrival_reads_event = insert_uses.input(0)
        || match mode {
            Mode::OnArrival => arrive.uses.input(0),
            _ => window_event_reads || arrival_binding.is_some() || slot_uses.input(0),
        };
    let arrival = if mode == Mode::OnArrival && timed {
        quote! {
            #insert;
            #arrive
        }
    } else if mode == Mode::OnArrival {
        quote!(#arrive #insert;)
    } else {
        if own_arrival {
            // What the window keeps is built before the arrival moves into `__ef_arrival`.
            let insert = insert_of(&quote!(__ef_stored));
            quote! {
                let __ef_stored = #window_event;
                #arrival_binding
                #insert;
            }
        } else {
            quote!(#slot #arrival_binding #insert;)
        }
    };
    let advance = super::ident::advance(&name);
    let advance_method = timed.then(|| {
        let now = timer_uses.now.then(|| quote!(let __ef_now = self.now;));
        quote! {
            /// Fires the window's timers due at or before `at`.
            fn #advance(&mut self, at: i64) {
                #now
                #rows
                {
                    let __ef_window = &mut self.#window_field;
                    #state_binding
                    #pendings
                    #rt::window::Window::advance(__ef_window, at, #timer_callback);
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
    let body = quote! {
        #observe
        #filter
        #now
        #rows
        {
            let __ef_window = &mut self.#window_field;
            #state_binding
            #pendings
            #arrival
        }
        #emit_rows
    };
    // A window keeping nothing of the events (e.g. for `count()`) does not read them.
    let event = if filter.uses.input(0) || arrival_reads_event {
        quote!(event)
    } else {
        quote!(_event)
    };
    let (name, by) = if owned {
        (super::query::owned_entry(q), quote!())
    } else {
        (name, quote!(&))
    };
    let items = match &retention {
        Some((_, item)) => quote!(#items #item),
        None => items,
    };
    let methods = quote! {
        #[doc = #doc]
        fn #name(&mut self, ts: i64, #event: #by #input_ty) {
            #body
        }
        #advance_method
        #output_methods
    };
    Stateful {
        fields,
        methods,
        timers: timer.into_iter().chain(output_timer).collect(),
        items,
    }
}
