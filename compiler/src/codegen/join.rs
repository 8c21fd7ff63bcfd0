//! Joins: each side's window, the probe of the other side, and the selector over joined rows.
//!
//! Semantics (docs/semantics.md#joins; Siddhi's `JoinProcessor` where the docs are silent):
//!
//! - Every event of a stream side passes the side's `[filter]` and enters its window (also on
//!   a side that does not trigger). What the window emits triggers the join when the side
//!   triggers: a `Current` emission is matched against the other side's current contents
//!   and gives current joined rows, an `Expired` one gives expired joined rows (stamped with
//!   the expiry time), a batch window's `Reset` resets the aggregates. A side's own contents
//!   are updated before its emission probes the other side.
//! - A side without a window keeps nothing: its event gives current joined rows, then (when
//!   the query emits expired events) the same rows as expired, then resets the aggregates —
//!   Siddhi's `lengthBatch(0)`, so aggregates over such a join are per arrival.
//! - A table side is read, never triggers; its rows are found by primary key or index when
//!   the ON condition fixes the key columns (`plan::keys::table_lookup`).
//! - When ON has equalities between the sides (`a.x = b.y`) and a side's window holds its
//!   events first-in-first-out ([`WindowKind::indexable`](crate::sema::ir::WindowKind::indexable)), the side keeps a runtime `JoinIndex` from
//!   the hash of its key to its events, updated from
//!   the window's emissions, and a probe visits only the events with the probing key (in the
//!   order they entered the window, which is the window's order). Otherwise it visits the
//!   window's contents (`Window::iter`). The whole ON is checked on every candidate.
//! - Outer joins: an event of a preserved side (the left of `LEFT`, the right of `RIGHT`,
//!   both of `FULL`) that matches nothing gives one row with the other side NULL.
//! - WHERE filters the joined rows (padded ones too); aggregation, HAVING and the output
//!   clauses run over them as over a sliding window: one output row per joined row.
//! - A self-join (`S AS a JOIN S AS b`): an event enters side 0 (and is matched against side
//!   1), then side 1 (and is matched against side 0, where it already is).
//! - More than two sources (`a JOIN b ... LEFT JOIN c ...`, `INNER` and `LEFT` steps): an
//!   arrival is matched against every combination of the other sides' contents by nested
//!   loops in input order ([`Join::probe_chain`]); no key index. With a `RIGHT` or `FULL`
//!   step the chain is evaluated step by step instead (`chain.rs`).

use super::expr::lookup::{candidates, unique_row};
use super::expr::{Code, ExprEnv, Uses};
use super::query::{entry, method};
use super::selector::{arm, selector_over, SelectorCode, Stateful};
use super::window::{insert_call, window_code};
use super::Ctx;
use crate::plan::keys::equi_pairs;
use crate::plan::physical::{self, SideStore};
use crate::plan::QueryPlan;
use crate::sema::ir::BoundJoin;
use crate::sema::ir::TExpr;
use crate::sema::Type;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

mod chain;

/// How the other side of a probe holds what it can match.
enum Contents {
    /// Nothing (a side without a window).
    None,
    /// A window, scanned.
    Window(Ident),
    /// A window with a key index (probed with the key `__ef_key` of the probing event).
    Index(Ident),
    /// A table, looked up by key.
    Table(Ident),
}

/// The generator of one join query.
struct Join<'a> {
    ctx: &'a Ctx<'a>,
    q: &'a QueryPlan,
    join: &'a BoundJoin,
    /// Keys `(side 0 expression, side 1 expression)` from ON's equalities.
    pairs: Vec<(TExpr, TExpr)>,
    sel: SelectorCode,
    /// The sides taking their events by value.
    owned: [bool; 2],
    /// The physical choices.
    phys: &'a physical::Join,
}

/// The method by which side `side` of join `q` takes its events by value.
pub(crate) fn owned_entry(q: &QueryPlan, side: usize) -> Ident {
    super::ident::owned(&entry(q, side))
}

/// Generates join query `q`.
pub(crate) fn join_query(ctx: &Ctx<'_>, q: &QueryPlan, join: &BoundJoin) -> Stateful {
    let inputs = (0..q.inputs.len())
        .map(|n| (input_token(n), q.inputs[n]))
        .collect();
    let optional = (0..q.inputs.len()).map(|n| join.optional(n)).collect();
    let Some(phys) = ctx.plan.physical.join(q.index) else {
        return Stateful::default();
    };
    let owned = [0, 1].map(|side| phys.sides.get(side).is_some_and(|s| s.takes_events));
    // Side 0's events taken by value for a table lookup: their movable STRING columns move
    // into the row.
    let sel = selector_over(ctx, q, inputs, optional, &phys.moves);
    let pairs = match join.steps.first().and_then(|s| s.on.as_ref()) {
        Some(on) if q.inputs.len() == 2 => equi_pairs(on, 0, 1),
        _ => Vec::new(),
    };
    let j = Join {
        ctx,
        q,
        join,
        pairs,
        sel,
        owned,
        phys,
    };
    j.generate()
}

/// What `env` read, with its input `event` (the one named `event`, if any) as input 0 and
/// its other inputs (the other sides, the selector's `__ef_in<n>`) left out: the join's code
/// binds those itself.
fn event_uses(env: &ExprEnv<'_>, event: Option<usize>) -> Uses {
    let u = env.uses();
    u.without_inputs()
        .with_input(0, event.is_some_and(|e| u.input(e)))
}

/// The uses of the join's own code reading `event` (input 0).
fn reads_event() -> Uses {
    Uses::of_input(0)
}

/// The selector's name for input `n`: `__ef_in<n>`.
fn input_token(n: usize) -> TokenStream {
    let id = super::ident::input(n);
    quote!(#id)
}

impl Join<'_> {
    fn name(&self) -> Ident {
        method(self.q)
    }

    fn window_field(&self, side: usize) -> Ident {
        super::ident::side_window(&self.name(), side)
    }

    fn index_field(&self, side: usize) -> Ident {
        super::ident::side_index(&self.name(), side)
    }

    fn event_ty(&self, side: usize) -> TokenStream {
        let ty = &self.ctx.streams[self.q.inputs[side]].ty;
        quote!(#ty)
    }

    /// An environment where input `side` is `token` (the others are not read).
    fn env_for(&self, side: usize, token: TokenStream) -> ExprEnv<'_> {
        let inputs = (0..self.q.inputs.len())
            .map(|n| {
                let t = if n == side {
                    token.clone()
                } else {
                    quote!(__ef_unused)
                };
                (t, self.q.inputs[n])
            })
            .collect();
        ExprEnv {
            used: ::std::cell::Cell::default(),
            ctx: self.ctx,
            inputs,
            aggregates: Vec::new(),
            now: quote!(__ef_now),
            optional: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// The key expressions of `side` (its half of each equality).
    fn keys_of(&self, side: usize) -> Vec<TExpr> {
        self.pairs
            .iter()
            .map(|(a, b)| if side == 0 { a.clone() } else { b.clone() })
            .collect()
    }

    /// Whether `side` keeps a key index (its events in a `JoinStore` or not).
    fn indexed(&self, side: usize) -> bool {
        self.phys
            .sides
            .get(side)
            .is_some_and(|s| matches!(s.store, SideStore::Index | SideStore::Stored))
    }

    /// Whether indexed `side` keeps its events in a `JoinStore` (its window holding handles).
    fn stored(&self, side: usize) -> bool {
        self.phys
            .sides
            .get(side)
            .is_some_and(|s| s.store == SideStore::Stored)
    }

    /// Whether both sides keep their events in one runtime `JoinPair`.
    fn paired(&self) -> bool {
        self.phys.paired
    }

    /// The `JoinPair` field of a [`Join::paired`] join.
    fn pair_field(&self) -> Ident {
        super::ident::pair(&self.name())
    }

    /// The `JoinPair` methods of `side`: `(its view, add, take)`.
    fn pair_side(side: usize) -> (Ident, Ident, Ident) {
        let name = if side == 0 { "left" } else { "right" };
        (
            format_ident!("{}", name),
            format_ident!("add_{}", name),
            format_ident!("take_{}", name),
        )
    }

    /// The key hash of `side`'s event `token` as an `Option<u64>` (`None` when a part is
    /// NULL: such an event equals nothing). Hashes the values in place, cloning nothing.
    fn key_of(&self, side: usize) -> Code {
        let rt = self.ctx.rt;
        let env = self.env_for(side, quote!(event));
        let keys = self.keys_of(side);
        let values = keys.iter().map(|k| env.gen(k));
        let vars: Vec<Ident> = (0..keys.len()).map(super::ident::key_part).collect();
        let parts = keys.iter().zip(&vars).map(|(k, v)| match k.ty {
            Type::String => quote!(::core::convert::AsRef::<str>::as_ref(&#v)),
            // `-0.0 = 0.0` holds: both hash as `0.0`.
            Type::Float | Type::Double => quote!(#v + 0.0),
            _ => quote!(#v),
        });
        let values: Vec<TokenStream> = values.collect();
        Code::new(
            quote! {
                match (#(#values,)*) {
                    (#(::core::option::Option::Some(#vars),)*) => {
                        ::core::option::Option::Some(#rt::join::key_hash(&(#(#parts,)*)))
                    }
                    _ => ::core::option::Option::None,
                }
            },
            event_uses(&env, Some(side)),
        )
    }

    /// `let __ef_key = ...;` (the key of `side`'s `event`) when its index or a probe of the
    /// other side's index needs it.
    fn key_binding(&self, side: usize) -> Option<Code> {
        if self.q.inputs.len() != 2 {
            return None;
        }
        let probes =
            self.join.sides[side].triggers && matches!(self.contents(1 - side), Contents::Index(_));
        (self.indexed(side) || probes).then(|| {
            let key = self.key_of(side);
            Code::new(quote!(let __ef_key = #key;), key.uses | Uses::KEY)
        })
    }

    /// What the other side of a probe from `side` reads.
    fn contents(&self, other: usize) -> Contents {
        let s = &self.join.sides[other];
        if s.table {
            return Contents::Table(super::expr::lookup::field(self.ctx, self.q.inputs[other]));
        }
        match &s.window {
            None => Contents::None,
            Some(_) if self.indexed(other) => Contents::Index(self.index_field(other)),
            Some(_) => Contents::Window(self.window_field(other)),
        }
    }

    fn generate(self) -> Stateful {
        let rt = self.ctx.rt;
        let mut fields = Vec::new();
        let mut methods = Vec::new();
        let mut timers = Vec::new();
        for side in 0..self.q.inputs.len() {
            let s = &self.join.sides[side];
            if s.table {
                continue;
            }
            if let Some(w) = &s.window {
                let env = self.env_for(0, quote!(event));
                let env = ExprEnv {
                    used: ::std::cell::Cell::default(),
                    inputs: vec![(quote!(event), self.q.inputs[side])],
                    ..env
                };
                let held = if self.paired() {
                    quote!(#rt::join::PairHandle)
                } else if self.stored(side) {
                    quote!(#rt::join::JoinHandle)
                } else {
                    self.event_ty(side)
                };
                let code = window_code(&env, w, &held, true);
                fields.push((self.window_field(side), code.ty, code.init));
                if code.timed {
                    let (advance, timer) = self.advance(side);
                    methods.push(advance);
                    timers.push(timer);
                }
            }
            if self.indexed(side) && !self.paired() {
                let e = self.event_ty(side);
                let kind = if self.stored(side) {
                    quote!(JoinStore)
                } else {
                    quote!(JoinIndex)
                };
                fields.push((
                    self.index_field(side),
                    quote!(#rt::join::#kind<#e>),
                    quote!(#rt::join::#kind::new()),
                ));
            }
            methods.push(self.side_method(side));
        }
        if self.paired() {
            let (left, right) = (self.event_ty(0), self.event_ty(1));
            fields.push((
                self.pair_field(),
                quote!(#rt::join::JoinPair<#left, #right>),
                quote!(#rt::join::JoinPair::new()),
            ));
        }
        methods.extend(self.self_join_entries());
        fields.extend(self.sel.fields.iter().cloned());
        let output_methods = &self.sel.output_methods;
        let methods = quote!(#(#methods)* #output_methods);
        timers.extend(self.sel.output_timer.clone());
        Stateful {
            fields,
            methods,
            timers,
            items: self.sel.items.clone(),
        }
    }

    /// The method receiving side `side`'s events: `entry(q, side)` unless another side reads
    /// the same stream (a self-join), then a method the shared entry calls.
    fn side_method_name(&self, side: usize) -> Ident {
        if self.owned.get(side) == Some(&true) {
            return owned_entry(self.q, side);
        }
        let stream = self.q.inputs[side];
        if self.q.inputs.iter().filter(|&&s| s == stream).count() > 1 {
            super::ident::side_method(&self.name(), side)
        } else {
            entry(self.q, side)
        }
    }

    /// For a stream read by several sides: the entry of its first side, feeding every side
    /// in order.
    fn self_join_entries(&self) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for (first, &stream) in self.q.inputs.iter().enumerate() {
            let sides: Vec<usize> = (0..self.q.inputs.len())
                .filter(|&n| self.q.inputs[n] == stream)
                .collect();
            if sides.len() < 2 || sides[0] != first {
                continue;
            }
            let name = entry(self.q, first);
            let ty = self.event_ty(first);
            let calls = sides.iter().map(|&n| {
                let m = self.side_method_name(n);
                quote!(self.#m(ts, event);)
            });
            let doc = format!(
                " Query `{}`: an event of the stream all these sides read.",
                self.q.name
            );
            out.push(quote! {
                #[doc = #doc]
                fn #name(&mut self, ts: i64, event: &#ty) {
                    #(#calls)*
                }
            });
        }
        out
    }

    /// The statements binding the state an emission of `side` needs.
    fn bindings(&self, side: usize) -> TokenStream {
        let s = &self.join.sides[side];
        let window = s.window.as_ref().map(|_| {
            let f = self.window_field(side);
            quote!(let __ef_window = &mut self.#f;)
        });
        if self.paired() {
            let f = self.pair_field();
            let (state, pendings) = (&self.sel.state_binding, &self.sel.pendings);
            return quote!(#window let __ef_pair = &mut self.#f; #state #pendings);
        }
        let index = self.indexed(side).then(|| {
            let f = self.index_field(side);
            quote!(let __ef_index = &mut self.#f;)
        });
        let two = self.q.inputs.len() == 2;
        let other = (s.triggers && two).then(|| match self.contents(1 - side) {
            Contents::None => quote!(),
            Contents::Window(f) | Contents::Index(f) | Contents::Table(f) => {
                quote!(let __ef_other = &self.#f;)
            }
        });
        // More than two sides: every other side by number.
        let others = (s.triggers && !two).then(|| {
            let binds = (0..self.q.inputs.len()).filter(|&i| i != side).map(|i| {
                let var = super::ident::side(i);
                match self.contents(i) {
                    Contents::None => quote!(),
                    Contents::Window(f) | Contents::Index(f) | Contents::Table(f) => {
                        quote!(let #var = &self.#f;)
                    }
                }
            });
            quote!(#(#binds)*)
        });
        let state = &self.sel.state_binding;
        let pendings = &self.sel.pendings;
        quote!(#window #index #other #others #state #pendings)
    }

    /// What an emission of `side`'s window runs for a current event, an expired one and a
    /// batch reset: the probes of the other side with the selector's row code, or nothing
    /// for a side that does not trigger.
    fn side_rows(&self, side: usize) -> (Code, Code, Code) {
        if !self.join.sides[side].triggers {
            return (Code::default(), Code::default(), Code::default());
        }
        let reset = &self.sel.on_reset;
        (
            self.probe(side, &self.sel.on_current),
            self.probe(side, &self.sel.on_expired),
            Code::new(reset.tokens.clone(), reset.uses.without_inputs()),
        )
    }

    /// The window callback of `side`: keeps the index, probes the other side.
    fn callback(&self, side: usize) -> Code {
        if self.paired() {
            let (_, _, take) = Self::pair_side(side);
            return self.take_on_expiry(quote!(__ef_pair.#take));
        }
        if self.stored(side) {
            return self.stored_callback(side, false);
        }
        let rt = self.ctx.rt;
        let key = self.key_binding(side);
        let (add, remove) = if self.indexed(side) {
            (
                Code::new(
                    quote! {
                        if let ::core::option::Option::Some(__ef_key) = __ef_key {
                            __ef_index.insert(__ef_key, ts, event.clone());
                        }
                    },
                    Uses::KEY | Uses::TS | reads_event(),
                ),
                Code::new(
                    quote! {
                        if let ::core::option::Option::Some(__ef_key) = __ef_key {
                            __ef_index.remove(__ef_key, event);
                        }
                    },
                    Uses::KEY | reads_event(),
                ),
            )
        } else {
            (Code::default(), Code::default())
        };
        let (on_current, on_expired, on_reset) = self.side_rows(side);
        let wr = quote!(#rt::window::WindowEvent);
        // The event's key, bound when the body reads it.
        let keyed = |first: &Code, then: &Code| {
            let body = first.uses | then.uses;
            match &key {
                Some(k) if body.key => Code::new(quote!(#k #first #then), body | k.uses),
                _ => Code::new(quote!(#first #then), body),
            }
        };
        let bodies = [
            keyed(&on_current, &add),
            keyed(&remove, &on_expired),
            on_reset,
        ];
        let uses = bodies.iter().fold(Uses::NONE, |u, b| u | b.uses);
        let [current, expired, reset] = bodies;
        let arms = [
            arm(quote!(#wr::Current), &current, 0),
            arm(quote!(#wr::Expired), &expired, 0),
            arm(quote!(#wr::Reset), &reset, 0),
            arm(quote!(#wr::Flush), &Code::default(), 0),
        ];
        Code::new(
            quote!(|__ef_emitted| match __ef_emitted { #(#arms)* }),
            uses,
        )
    }

    /// The window callback of a side whose current rows are made on arrival, before the
    /// event is kept (see [`takes_events`]): a leaving event only goes, by `take` (e.g.
    /// `__ef_index.take`) of its handle.
    fn take_on_expiry(&self, take: TokenStream) -> Code {
        let rt = self.ctx.rt;
        Code::plain(quote! {
            |__ef_emitted| {
                if let #rt::window::WindowEvent::Expired { event: __ef_handle, .. } = __ef_emitted {
                    #take(*__ef_handle);
                }
            }
        })
    }

    /// The window callback of a side with a `JoinStore`: the window emits handles; a current
    /// one's event is read from the store (`arriving`: it is the arriving `event`, whose
    /// handle is `__ef_handle`), an expired one's taken out of it.
    fn stored_callback(&self, side: usize, arriving: bool) -> Code {
        let rt = self.ctx.rt;
        let (on_current, on_expired, on_reset) = self.side_rows(side);
        let uses = on_current.uses | on_expired.uses | on_reset.uses;
        let wr = quote!(#rt::window::WindowEvent);
        let key = |body: &Code| {
            body.uses
                .key
                .then(|| quote!(let __ef_key = __ef_handle.key();))
        };
        let ts = |body: &Code| body.uses.ts.then(|| quote!(ts,));
        let current = {
            let (k, t) = (key(&on_current), ts(&on_current));
            if arriving {
                quote!(#wr::Current { #t .. } => { #k #on_current })
            } else if on_current.uses.input(0) {
                quote! {
                    #wr::Current { #t event: __ef_handle, .. } => {
                        if let ::core::option::Option::Some(event) = __ef_index.event(*__ef_handle) {
                            #k
                            #on_current
                        }
                    }
                }
            } else {
                quote!(#wr::Current { #t .. } => { #on_current })
            }
        };
        let expired = {
            let (k, t) = (key(&on_expired), ts(&on_expired));
            let event = on_expired
                .uses
                .input(0)
                .then(|| quote!(let event = &__ef_gone;));
            if on_expired.tokens.is_empty() {
                quote!(#wr::Expired { event: __ef_handle, .. } => {
                    __ef_index.take(*__ef_handle);
                })
            } else {
                let gone = if event.is_some() {
                    quote!(__ef_gone)
                } else {
                    quote!(_)
                };
                quote! {
                    #wr::Expired { #t event: __ef_handle, .. } => {
                        if let ::core::option::Option::Some((_, #gone)) = __ef_index.take(*__ef_handle) {
                            #event
                            #k
                            #on_expired
                        }
                    }
                }
            }
        };
        Code::new(
            quote! {
                |__ef_emitted| match __ef_emitted {
                    #current
                    #expired
                    #wr::Reset { .. } => { #on_reset }
                    #wr::Flush { .. } => {}
                }
            },
            uses,
        )
    }

    /// Matches `event` (of `side`, at `ts`) against the other side; every joined row runs
    /// `row_code` (the selector's code for a current or an expired row).
    fn probe(&self, side: usize, row_code: &Code) -> Code {
        if row_code.tokens.is_empty() {
            return Code::default();
        }
        // The row code reads the joined row through `__ef_in<n>`, bound here from `event`.
        let row_uses = row_code.uses.without_inputs() | reads_event();
        if self.q.inputs.len() != 2 && self.pads_left() {
            return self.probe_outer_chain(side, row_code);
        }
        if self.q.inputs.len() != 2 {
            return self.probe_chain(side, row_code);
        }
        let rt = self.ctx.rt;
        let other = 1 - side;
        let n = self.q.inputs.len();
        let on_env = {
            let mut env = self.env_for(side, quote!(event));
            env.inputs[other].0 = quote!(__ef_c);
            env
        };
        let on = self.join.steps[0].on.as_ref().map(|c| {
            let c = on_env.gen(c);
            quote!(#rt::expr::holds(#c))
        });
        let mut body_uses = event_uses(&on_env, Some(side));
        let on = on.unwrap_or_else(|| quote!(true));
        let where_env = ExprEnv {
            used: ::std::cell::Cell::default(),
            ctx: self.ctx,
            inputs: (0..n).map(|i| (input_token(i), self.q.inputs[i])).collect(),
            aggregates: Vec::new(),
            now: quote!(__ef_now),
            optional: (0..n).map(|i| self.join.optional(i)).collect(),
            keys: Vec::new(),
        };
        // The row code, under WHERE when there is one.
        let filtered = match &self.q.post_filter {
            Some(c) => {
                let c = where_env.gen(c);
                quote!(if #rt::expr::holds(#c) { #row_code })
            }
            None => row_code.tokens.clone(),
        };
        let row_side = row_uses | event_uses(&where_env, None);
        let wrap = |i: usize, value: TokenStream| {
            let var = super::ident::input(i);
            if self.join.optional(i) {
                quote!(let #var = ::core::option::Option::Some(#value);)
            } else {
                quote!(let #var = #value;)
            }
        };
        let own = wrap(side, quote!(event));
        let matched_row = {
            let theirs = wrap(other, quote!(__ef_c));
            quote!({
                #own
                #theirs
                #filtered
            })
        };
        let padded = self.join.optional(other).then(|| {
            let none = super::ident::input(other);
            let ty = self.event_ty(other);
            quote!(if !__ef_matched {
                #own
                let #none = ::core::option::Option::<&#ty>::None;
                #filtered
            })
        });
        let track = padded.is_some().then(|| quote!(__ef_matched = true;));
        let matched = padded.is_some().then(|| {
            if matches!(self.contents(other), Contents::None) {
                quote!(let __ef_matched = false;)
            } else {
                quote!(let mut __ef_matched = false;)
            }
        });
        // A table side's `[filter]`, checked on its rows.
        let row_filter = match &self.join.sides[other].filter {
            Some(f) if self.join.sides[other].table => {
                let env = ExprEnv {
                    used: ::std::cell::Cell::default(),
                    inputs: vec![(quote!(__ef_c), self.q.inputs[other])],
                    ..self.env_for(0, quote!(__ef_c))
                };
                let f = env.gen(f);
                body_uses |= event_uses(&env, None);
                Some(quote!(#rt::expr::holds(#f)))
            }
            _ => None,
        };
        let table_filter = row_filter.as_ref().map(|f| quote!(if !#f { continue; }));
        let body = quote! {
            #table_filter
            if #on {
                #track
                #matched_row
            }
        };
        let scan = match self.contents(other) {
            Contents::None => quote!(),
            Contents::Window(_) => quote! {
                for (_, __ef_c) in #rt::window::Window::iter(__ef_other) {
                    #body
                }
            },
            Contents::Index(_) => {
                body_uses |= Uses::KEY;
                quote! {
                    if let ::core::option::Option::Some(__ef_probe) = __ef_key {
                        for (_, __ef_c) in __ef_other.get(__ef_probe) {
                            #body
                        }
                    }
                }
            }
            Contents::Table(_) => {
                let env = self.env_for(side, quote!(event));
                // ON fixes the primary key: one probe finds the only row that can match.
                let unique = unique_row(
                    &env,
                    self.q.inputs[other],
                    self.join.steps[0].on.as_ref(),
                    other,
                    &quote!(__ef_other),
                    (&quote!(__ef_c), on.clone(), row_filter.clone()),
                );
                if let Some(found) = unique {
                    return Code::new(
                        quote!({
                            #matched
                            if let ::core::option::Option::Some(__ef_c) = #found {
                                #track
                                #matched_row
                            }
                            #padded
                        }),
                        row_side | body_uses | event_uses(&env, Some(side)),
                    );
                }
                let rows = candidates(
                    &env,
                    self.q.inputs[other],
                    self.join.steps[0].on.as_ref(),
                    other,
                    &quote!(__ef_other),
                );
                body_uses |= event_uses(&env, Some(side));
                quote! {
                    for (_, __ef_c) in #rows {
                        #body
                    }
                }
            }
        };
        // The row code runs in the scan of the other side's events (none when it keeps
        // nothing) and for the padded row.
        let uses = match (self.contents(other), &padded) {
            (Contents::None, None) => Uses::NONE,
            (Contents::None, Some(_)) => row_side,
            _ => row_side | body_uses,
        };
        Code::new(
            quote!({
                #matched
                #scan
                #padded
            }),
            uses,
        )
    }

    /// The probe of a join of more than two sides (`INNER` and `LEFT` steps): nested loops
    /// over the sides in input order with `side` fixed to `event`; step `k`'s ON is checked
    /// once side `k + 1` is bound, and a `LEFT` step pads side `k + 1` with NULL when no
    /// event of it matches the sides before (unless it is the arriving side: a padded row
    /// would not contain the arrival).
    fn probe_chain(&self, side: usize, row_code: &Code) -> Code {
        let rt = self.ctx.rt;
        let n = self.q.inputs.len();
        let env = ExprEnv {
            used: ::std::cell::Cell::default(),
            ctx: self.ctx,
            inputs: (0..n).map(|i| (input_token(i), self.q.inputs[i])).collect(),
            aggregates: Vec::new(),
            now: quote!(__ef_now),
            optional: (0..n).map(|i| self.join.optional(i)).collect(),
            keys: Vec::new(),
        };
        // A condition, with what it reads.
        let holds = |c: Option<&TExpr>| {
            let (t, u) = env.track(|| {
                c.map(|c| {
                    let c = env.gen(c);
                    quote!(#rt::expr::holds(#c))
                })
                .unwrap_or_else(|| quote!(true))
            });
            (t, u.without_inputs())
        };
        // The code built so far, inside out, with what it reads.
        let (where_, where_uses) = holds(self.q.post_filter.as_ref());
        let mut code = quote!(if #where_ { #row_code });
        let mut code_uses = row_code.uses.without_inputs() | where_uses;
        for i in (0..n).rev() {
            let var = super::ident::input(i);
            let ty = self.event_ty(i);
            let optional = self.join.optional(i);
            let bind = |value: TokenStream| {
                if optional {
                    quote!(let #var = ::core::option::Option::Some(#value);)
                } else {
                    quote!(let #var = #value;)
                }
            };
            let (on, on_uses) = holds(
                i.checked_sub(1)
                    .and_then(|k| self.join.steps[k].on.as_ref()),
            );
            if i == side {
                let b = bind(quote!(event));
                code = quote!({ #b if #on { #code } });
                code_uses |= on_uses | reads_event();
                continue;
            }
            let mut filter_uses = Uses::NONE;
            let b = bind(quote!(__ef_c));
            let side_var = super::ident::side(i);
            let filter = match &self.join.sides[i].filter {
                Some(f) if self.join.sides[i].table => {
                    let fenv = ExprEnv {
                        used: ::std::cell::Cell::default(),
                        inputs: vec![(quote!(__ef_c), self.q.inputs[i])],
                        ..self.env_for(0, quote!(__ef_c))
                    };
                    let f = fenv.gen(f);
                    filter_uses |= event_uses(&fenv, None);
                    quote!(if !#rt::expr::holds(#f) { continue; })
                }
                _ => quote!(),
            };
            let rows = match self.contents(i) {
                Contents::None => None,
                Contents::Window(_) | Contents::Index(_) => {
                    Some(quote!(#rt::window::Window::iter(#side_var)))
                }
                Contents::Table(_) => Some(super::expr::lookup::all_rows(
                    self.ctx,
                    self.q.inputs[i],
                    &quote!(#side_var),
                )),
            };
            let left = i
                .checked_sub(1)
                .is_some_and(|k| self.join.steps[k].kind == crate::syntax::ast::JoinKind::Left);
            let track = left.then(|| quote!(__ef_matched = true;));
            let scan = rows.map(|rows| {
                quote! {
                    for (_, __ef_c) in #rows {
                        #filter
                        #b
                        if #on {
                            #track
                            #code
                        }
                    }
                }
            });
            // The scan runs the code for each event of the side (none when it keeps nothing);
            // a LEFT step also runs it for the padded row.
            let scan_uses = if scan.is_some() {
                filter_uses | on_uses | code_uses
            } else {
                Uses::NONE
            };
            code_uses = if left {
                scan_uses | code_uses
            } else {
                scan_uses
            };
            code = if left {
                let declare = if scan.is_some() {
                    quote!(let mut __ef_matched = false;)
                } else {
                    quote!(let __ef_matched = false;)
                };
                quote!({
                    #declare
                    #scan
                    if !__ef_matched {
                        let #var = ::core::option::Option::<&#ty>::None;
                        #code
                    }
                })
            } else {
                quote!({ #scan })
            };
        }
        Code::new(code, code_uses)
    }

    /// What an event of `side` does once it passed the side's filter.
    fn arrival(&self, side: usize) -> Code {
        let rt = self.ctx.rt;
        let s = &self.join.sides[side];
        match &s.window {
            Some(_) if self.paired() => {
                // One lookup of the key: the bucket where the other side's events with it
                // are probed and where the arriving event is kept.
                let key = self.key_of(side);
                let current = self.probe(side, &self.sel.on_current);
                let (_, add, _) = Self::pair_side(side);
                let (view, _, _) = Self::pair_side(1 - side);
                let callback = self.callback(side);
                Code::new(
                    quote! {
                        let __ef_bucket = __ef_pair.bucket(#key);
                        {
                            let __ef_other = __ef_pair.#view();
                            let __ef_key = ::core::option::Option::Some(__ef_bucket);
                            #current
                        }
                        let __ef_handle = __ef_pair.#add(__ef_bucket, ts, __ef_owned);
                        #rt::window::Insert::insert(__ef_window, ts, __ef_handle, #callback);
                    },
                    key.uses | current.uses | callback.uses | Uses::KEY | Uses::TS,
                )
            }
            Some(_) if self.stored(side) && self.owned.get(side) == Some(&true) => {
                // Probes with the arriving event, then moves it into the store: its window's
                // expiries only take events out (see `takes_events`).
                let key = self.key_of(side);
                let current = self.probe(side, &self.sel.on_current);
                let callback = self.take_on_expiry(quote!(__ef_index.take));
                Code::new(
                    quote! {
                        let __ef_key = #key;
                        #current
                        let __ef_handle = __ef_index.add(__ef_key, ts, __ef_owned);
                        #rt::window::Insert::insert(__ef_window, ts, __ef_handle, #callback);
                    },
                    key.uses | current.uses | Uses::KEY | Uses::TS,
                )
            }
            Some(_) if self.stored(side) => {
                let key = self.key_of(side);
                let callback = self.stored_callback(side, true);
                Code::new(
                    quote! {
                        let __ef_handle = __ef_index.add(#key, ts, ::core::clone::Clone::clone(event));
                        #rt::window::Insert::insert(__ef_window, ts, __ef_handle, #callback);
                    },
                    key.uses | callback.uses | Uses::TS | reads_event(),
                )
            }
            Some(w) => {
                let env = ExprEnv {
                    used: ::std::cell::Cell::default(),
                    inputs: vec![(quote!(event), self.q.inputs[side])],
                    ..self.env_for(0, quote!(event))
                };
                let callback = self.callback(side);
                let call = insert_call(
                    &env,
                    w,
                    &quote!(__ef_window),
                    &quote!(event.clone()),
                    &callback.tokens,
                );
                // The insert reads `ts` and stores a clone of `event`.
                Code::new(
                    quote!(#call;),
                    event_uses(&env, Some(0)) | callback.uses | Uses::TS | reads_event(),
                )
            }
            None if s.triggers => {
                // No window: current rows, expired rows when wanted, then a reset.
                let key = self.key_binding(side);
                let current = self.probe(side, &self.sel.on_current);
                let expired = if self.q.events != crate::syntax::ast::OutputEvents::Current {
                    self.probe(side, &self.sel.on_expired)
                } else {
                    Code::default()
                };
                let reset = &self.sel.on_reset;
                let probes = current.uses | expired.uses;
                let key = key.filter(|_| probes.key);
                let key_uses = key.as_ref().map_or(Uses::NONE, |k| k.uses);
                Code::new(
                    quote!(#key #current #expired #reset),
                    probes | key_uses | reset.uses.without_inputs(),
                )
            }
            None => Code::default(),
        }
    }

    /// The method of `side`'s events.
    fn side_method(&self, side: usize) -> TokenStream {
        let rt = self.ctx.rt;
        let name = self.side_method_name(side);
        let ty = self.event_ty(side);
        let mut filter_uses = Uses::NONE;
        let filter = self.join.sides[side].filter.as_ref().map(|f| {
            let env = ExprEnv {
                used: ::std::cell::Cell::default(),
                inputs: vec![(quote!(event), self.q.inputs[side])],
                now: quote!(self.now),
                ..self.env_for(0, quote!(event))
            };
            let c = env.gen(f);
            // Its clock is `self.now`, not `__ef_now`.
            filter_uses = Uses {
                now: false,
                ..event_uses(&env, Some(0))
            };
            quote!(if !#rt::expr::holds(#c) { return; })
        });
        let arrival = self.arrival(side);
        let bindings = self.bindings(side);
        let SelectorCode {
            emit_rows, observe, ..
        } = &self.sel;
        let now = arrival.uses.now.then(|| quote!(let __ef_now = self.now;));
        let doc = format!(
            " Query `{}`: an event of side {side} of the join.",
            self.q.name
        );
        let rows = self.sel.rows_binding(arrival.uses);
        let owned = self.owned.get(side) == Some(&true);
        // A stored side's event is read by reference until it moves into the store.
        let stored = owned && self.stored(side);
        let (param, keep) = if stored {
            (quote!(__ef_owned), Some(quote!(let event = &__ef_owned;)))
        } else {
            (quote!(event), None)
        };
        let by = if owned { quote!() } else { quote!(&) };
        // An arrival that does nothing (no side can match it) leaves no `{ {} }` behind.
        let nothing = |t: &TokenStream| {
            let trees: Vec<proc_macro2::TokenTree> = t.clone().into_iter().collect();
            match trees.as_slice() {
                [] => true,
                [proc_macro2::TokenTree::Group(g)] => {
                    g.delimiter() == proc_macro2::Delimiter::Brace && g.stream().is_empty()
                }
                _ => false,
            }
        };
        let block = if nothing(&bindings) && nothing(&arrival.tokens) {
            quote!()
        } else {
            quote! {
                {
                    #bindings
                    #arrival
                }
            }
        };
        let body = quote! {
            #keep
            #observe
            #filter
            #now
            #rows
            #block
            #emit_rows
        };
        // A side that triggers nothing (the other side is UNIDIRECTIONAL, or keeps no
        // window) reads neither its event nor the time.
        let reads = observe.uses | filter_uses | arrival.uses;
        let ts = if reads.ts { quote!(ts) } else { quote!(_ts) };
        let param = if stored || reads.input(0) {
            param
        } else {
            quote!(_event)
        };
        quote! {
            #[doc = #doc]
            fn #name(&mut self, #ts: i64, #param: #by #ty) {
                #body
            }
        }
    }

    /// The timer of `side`'s window: its advance method and `(deadline, fire)`.
    fn advance(&self, side: usize) -> (TokenStream, (TokenStream, TokenStream)) {
        let rt = self.ctx.rt;
        let f = self.window_field(side);
        let advance = super::ident::side_advance(&self.name(), side);
        let callback = self.callback(side);
        let bindings = self.bindings(side);
        let emit_rows = &self.sel.emit_rows;
        let now = callback.uses.now.then(|| quote!(let __ef_now = self.now;));
        let rows = self.sel.rows_binding(callback.uses);
        let method = quote! {
            /// Fires the side's window timers due at or before `at`.
            fn #advance(&mut self, at: i64) {
                #now
                #rows
                {
                    #bindings
                    #rt::window::Window::advance(__ef_window, at, #callback);
                }
                #emit_rows
            }
        };
        let timer = (
            quote!(#rt::window::Window::next_deadline(&self.#f)),
            quote! {
                if #rt::window::Window::next_deadline(&self.#f).is_some_and(|__ef_due| __ef_due <= at) {
                    self.#advance(at);
                }
            },
        );
        (method, timer)
    }
}
