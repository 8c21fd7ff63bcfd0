//! Partitions: every key gets its own copy of the state of the queries inside.
//!
//! The queries inside a partition are generated as usual, as if their state were fields of the
//! `App` (`self.<field>`); the fields make up a `Partition<N>State` struct instead, and
//! [`rebase`] re-roots those paths at the App's one boxed active state,
//! `self.partition_<N>_active.<field>`. The partition keeps, per key, a boxed
//! `Partition<N>State` in a `runtime::partition::PartitionMap`; an event of a partitioned
//! stream looks its key up once, by its borrowed form (a STRING key is cloned only when it is
//! new), exchanges the active box with the key's (two pointer moves, whatever the state
//! holds), runs the inner queries (and, through inner `#streams`, the queries they feed), and
//! exchanges them back by slot. The queries' row buffers, empty between calls, are shared by
//! all keys: they stay fields of the `App`. Timers of inner queries fire per key the same
//! way; `PURGE AFTER` drops keys idle for longer than the given time.

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
    /// The App field holding the active state (name, type, init): not a snapshot record of
    /// its own (its fields are, under their names, as before partitions boxed them).
    pub active: (Ident, TokenStream, TokenStream),
    /// The inner queries' fields that live in the per-key state (see [`rebase`]).
    pub per_key: Vec<Ident>,
    /// The per-key state struct.
    pub items: TokenStream,
    /// Entry and swap methods.
    pub methods: TokenStream,
    /// App timers: their clock field, deadline and fire statement.
    pub timers: Vec<(Option<Ident>, TokenStream, TokenStream)>,
}

/// The method receiving events of stream `stream` for partition `index`.
pub(crate) fn entry(ctx: &Ctx<'_>, index: usize, stream: usize) -> Ident {
    super::ident::partition_stream(index, &ctx.streams[stream].snake)
}

/// Generates partition `index`. `inner_fields` are the state fields of its queries and
/// `inner_timers` their timers; `calls(stream)` gives the calls of the inner queries reading
/// a partitioned stream, and whether they take the event by value (then so does the entry).
pub(crate) fn partition(
    ctx: &Ctx<'_>,
    index: usize,
    p: &PartitionPlan,
    inner_fields: &[(Ident, TokenStream, TokenStream)],
    inner_timers: &[(TokenStream, TokenStream)],
    calls: impl Fn(usize) -> (Vec<TokenStream>, bool),
) -> PartitionCode {
    let rt = ctx.rt;
    let map = super::ident::partition(index);
    let swap = super::ident::partition_swap(index);
    let active = super::ident::partition_active(index);
    let state_ty = super::ident::partition_state_ty(index);
    let key_ty = key_type(ctx, p);
    let per_key: Vec<(Ident, TokenStream, TokenStream)> = inner_fields
        .iter()
        .filter(|(n, _, _)| !is_row_buffer(n))
        .cloned()
        .collect();
    let inner_fields = per_key.as_slice();
    let names: Vec<&Ident> = inner_fields.iter().map(|(n, _, _)| n).collect();
    // A key whose windows are all empty holds nothing a new key would not: it is dropped.
    let windows: Vec<Ident> = if p.drops_idle_keys {
        p.queries
            .iter()
            .filter(|&&q| ctx.plan.queries[q].window.is_some())
            .map(|&q| super::ident::window(&super::query::method(&ctx.plan.queries[q])))
            .collect()
    } else {
        Vec::new()
    };
    let items = state_struct(
        ctx,
        index,
        inner_fields,
        inner_timers,
        p.drops_idle_keys.then_some(&windows[..]),
    );
    let fields = vec![(
        map.clone(),
        quote!(#rt::partition::PartitionMap<#key_ty, #state_ty>),
        quote!(#rt::partition::PartitionMap::new()),
    )];
    let mut timers = Vec::new();
    let purge = p.purge_after.map(|d| {
        let field = super::ident::partition_purge(index);
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
            let __ef_state = self.#map.state(__ef_slot);
            __ef_state.last_seen = __ef_state.last_seen.max(ts);
        }
    });
    // A lower bound of the earliest timer of any key, kept without scanning the keys per
    // event: each event lowers it to its key's earliest timer; firing recomputes it.
    let next_field = super::ident::partition_next(index);
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
    // Keys whose timers emptied their windows go, highest slot first (removing a key moves
    // the last key into its slot, which is then above every slot still to visit).
    let drop_fired = p.drops_idle_keys.then(|| {
        quote! {
            for &__ef_slot in __ef_due.iter().rev() {
                if self.#map.state(__ef_slot).is_idle() {
                    self.#map.remove_slot(__ef_slot);
                }
            }
        }
    });
    if !inner_timers.is_empty() {
        let fires = inner_timers.iter().map(|(_, f)| f);
        // Slots stay valid while the fired queries run: they may add keys, never remove any.
        timers.push((
            Some(next_field.clone()),
            quote!(self.#next_field),
            quote! {
                if self.#next_field.is_some_and(|__ef_due| __ef_due <= at) {
                    let __ef_due: ::std::vec::Vec<usize> = self
                        .#map
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, __ef_state))| __ef_state.next_deadline().is_some_and(|__ef_d| __ef_d <= at))
                        .map(|(__ef_slot, _)| __ef_slot)
                        .collect();
                    for &__ef_slot in &__ef_due {
                        self.#swap(__ef_slot);
                        #(#fires)*
                        self.#swap(__ef_slot);
                    }
                    #drop_fired
                    self.#next_field = self.#map.iter().filter_map(|(_, __ef_state)| __ef_state.next_deadline()).min();
                }
            },
        ));
    }
    let drop_idle = p.drops_idle_keys.then(|| {
        quote! {
            if self.#map.state(__ef_slot).is_idle() {
                self.#map.remove_slot(__ef_slot);
            }
        }
    });
    let entries = p.keys.iter().map(|(stream, by)| {
        let method = entry(ctx, index, *stream);
        let ty = &ctx.streams[*stream].ty;
        let slot = key_slot(ctx, *stream, by, &map, &state_ty);
        let (calls, owned) = calls(*stream);
        let by = (!owned).then(|| quote!(&));
        let doc = format!(
            " Events of `{}` for partition {index}: run the inner queries with the key's state.",
            ctx.plan.streams[*stream].name
        );
        quote! {
            #[doc = #doc]
            fn #method(&mut self, ts: i64, event: #by #ty) {
                #slot
                #purge
                self.#swap(__ef_slot);
                #(#calls)*
                #track_next
                self.#swap(__ef_slot);
                #drop_idle
            }
        }
    });
    let methods = quote! {
        #(#entries)*

        /// Exchanges the active state of the partition's queries with the state in `slot`.
        #[inline]
        fn #swap(&mut self, slot: usize) {
            self.#map.exchange(slot, &mut self.#active);
        }
    };
    PartitionCode {
        fields,
        active: (
            active,
            quote!(::std::boxed::Box<#state_ty>),
            quote!(::std::boxed::Box::new(#state_ty::new())),
        ),
        per_key: names.into_iter().cloned().collect(),
        items,
        methods,
        timers,
    }
}

/// Re-roots the paths `self.<field>` of `tokens` (the App's methods) at the active state
/// of a partition, `self.<active>.<field>`, for every `field` of `per_key` (the inner
/// queries' state: field names derived from query names, unique in the App). A method call
/// `self.<name>(...)` is left alone.
pub(crate) fn rebase(tokens: TokenStream, active: &Ident, per_key: &[Ident]) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    for (i, tt) in tokens.iter().enumerate() {
        match tt {
            TokenTree::Group(g) => {
                let mut inner = Group::new(g.delimiter(), rebase(g.stream(), active, per_key));
                inner.set_span(g.span());
                out.push(TokenTree::Group(inner));
            }
            TokenTree::Ident(field)
                if per_key.contains(field)
                    && is_self_dot(&tokens[..i])
                    && !matches!(tokens.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == proc_macro2::Delimiter::Parenthesis) =>
            {
                out.extend(quote!(#active .));
                out.push(tt.clone());
            }
            _ => out.push(tt.clone()),
        }
    }
    out.into_iter().collect()
}

/// `true` when `before` ends with `self .` (and the `.` is not part of `..`).
fn is_self_dot(before: &[proc_macro2::TokenTree]) -> bool {
    use proc_macro2::{Spacing, TokenTree};
    match before {
        [.., TokenTree::Ident(s), TokenTree::Punct(p)] => {
            s == "self" && p.as_char() == '.' && p.spacing() == Spacing::Alone
        }
        _ => false,
    }
}

/// `true` for a query's output row buffer (`<query>_rows`, see `selector.rs`): it is empty
/// between calls (taken at the start of a call, drained and put back at its end), so every
/// key shares the `App`'s one buffer instead of swapping in a buffer of its own, which would
/// touch one more cold allocation per event.
fn is_row_buffer(field: &Ident) -> bool {
    field.to_string().ends_with("_rows")
}

/// `true` when the keys of the partition are STRING values (or range labels).
pub(crate) fn string_keys(p: &PartitionPlan) -> bool {
    match p.keys.first().map(|(_, k)| k) {
        Some(PartitionBy::Value(e)) => matches!(e.ty, Type::String | Type::Null),
        _ => true,
    }
}

/// The key type of the partition's map.
fn key_type(ctx: &Ctx<'_>, p: &PartitionPlan) -> TokenStream {
    let rt = ctx.rt;
    let value = match p.keys.first().map(|(_, k)| k) {
        Some(PartitionBy::Value(e)) if !string_keys(p) => value_type(rt, e.ty),
        _ => quote!(::std::sync::Arc<str>),
    };
    quote!(#rt::aggregate::Total<::core::option::Option<#value>>)
}

/// Statements that set `__ef_slot` to the slot of the key of `event` (a `stream` event),
/// creating the key's state on first sight; an event that falls in no range returns.
fn key_slot(
    ctx: &Ctx<'_>,
    stream: usize,
    by: &PartitionBy,
    map: &Ident,
    state_ty: &Ident,
) -> TokenStream {
    let rt = ctx.rt;
    let env = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: vec![(quote!(event), stream)],
        aggregates: Vec::new(),
        now: quote!(self.now),
        optional: Vec::new(),
        keys: Vec::new(),
    };
    let slot = |probe: TokenStream| {
        quote! {
            let __ef_slot = self.#map.slot_of(&#probe, #state_ty::new);
        }
    };
    match by {
        PartitionBy::Value(e) if matches!(e.ty, Type::String | Type::Null) => {
            let v = env.gen(e);
            let slot = slot(quote!(#rt::partition::str_probe(&__ef_value)));
            quote! {
                let __ef_value = #v;
                #slot
            }
        }
        PartitionBy::Value(e) => {
            let v = env.gen(e);
            slot(v)
        }
        PartitionBy::Range(ranges) => {
            let arms = ranges.iter().map(|(c, label)| {
                let c = env.gen(c);
                quote!(if #rt::expr::holds(#c) { #label })
            });
            let slot = slot(quote!(::core::option::Option::Some(__ef_label)));
            quote! {
                let __ef_label: &'static str = #(#arms else)* { return; };
                #slot
            }
        }
    }
}

/// The per-key state struct of partition `index`.
fn state_struct(
    ctx: &Ctx<'_>,
    index: usize,
    inner_fields: &[(Ident, TokenStream, TokenStream)],
    inner_timers: &[(TokenStream, TokenStream)],
    windows: Option<&[Ident]>,
) -> TokenStream {
    let rt = ctx.rt;
    let is_idle = windows.map(|windows| {
        quote! {
            /// Whether every window of this key is empty (the key's state is then a new key's).
            fn is_idle(&self) -> bool {
                true #(&& #rt::window::Window::is_empty(&self.#windows))*
            }
        }
    });
    let state_ty = super::ident::partition_state_ty(index);
    let names: Vec<&Ident> = inner_fields.iter().map(|(n, _, _)| n).collect();
    let tys = inner_fields.iter().map(|(_, t, _)| t);
    let inits = inner_fields.iter().map(|(_, _, i)| i);
    let deadlines = inner_timers.iter().map(|(d, _)| d);
    let last_seen = format_ident!("last_seen");
    let persist = super::persist_impls(
        ctx,
        &quote!(#state_ty),
        std::iter::once(&last_seen).chain(names.iter().copied()),
    );
    let doc = format!(" The state one key of partition {index} keeps.");
    let next_deadline = (!inner_timers.is_empty()).then(|| {
        quote! {
            /// The earliest timer of this key's queries.
            fn next_deadline(&self) -> ::core::option::Option<i64> {
                [#(#deadlines),*].into_iter().flatten().min()
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Clone)]
        pub struct #state_ty {
            last_seen: i64,
            #(#names: #tys,)*
        }

        #persist

        impl #state_ty {
            fn new() -> Self {
                #state_ty {
                    last_seen: i64::MIN,
                    #(#names: #inits,)*
                }
            }

            #next_deadline
            #is_idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_reroots_field_paths_only() {
        let active = quote::format_ident!("partition_0_active");
        let fields = [
            quote::format_ident!("q_window"),
            quote::format_ident!("q_groups"),
        ];
        let code = quote! {
            fn f(&mut self) {
                let w = &mut self.q_window;
                if let Some(x) = self.q_groups.get(0) { self.q_window(x); }
                other.q_window;
                self.q_rows;
                (self.now, self.started) = (0, true);
            }
        };
        let expected = quote! {
            fn f(&mut self) {
                let w = &mut self.partition_0_active.q_window;
                if let Some(x) = self.partition_0_active.q_groups.get(0) { self.q_window(x); }
                other.q_window;
                self.q_rows;
                (self.now, self.started) = (0, true);
            }
        };
        assert_eq!(
            rebase(code, &active, &fields).to_string(),
            expected.to_string()
        );
    }
}
