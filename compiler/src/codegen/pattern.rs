//! Patterns and sequences: a generated state machine per pattern query.
//!
//! A pattern query becomes a `runtime::pattern::Nfa` (or, for a chain `EVERY e1=A -> e2=B
//! -> ...` of single events, a `runtime::pattern::Chain`, same methods) over a generated unit struct
//! implementing `runtime::pattern::Pattern`: the pattern's tree as a constant `Program`, and
//! a generated captures struct with one typed field per stream element (`Option<E>`, or a
//! `Collect<E, H, T>` keeping the first `H` and last `T` events of a counted element, sized
//! from the indexes the query reads). Each input stream gets an entry method that hands the
//! event to the state machine with three monomorphized closures: the element conditions
//! (typed predicates over the event and the captures), the capture, and the selector run on
//! each completed match. WITHIN and absence deadlines fire through the query's timer.

use super::expr::{Code, ExprEnv, Uses};
use super::query::{entry, method};
use super::selector::{projection, selector_over, Projection, SelectorCode, Stateful};
use super::Ctx;
use crate::plan::physical::{leaves_of, Operator, PatternShape};
use crate::plan::QueryPlan;
use crate::sema::ir::{BoundPattern, PatternNode};
use crate::sema::ir::{ExprKind, TExpr};
use crate::syntax::ast::EventIndex;
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

/// How one query input is stored in the captures struct.
enum Slot {
    /// A single event: `Option<E>`.
    Single(Ident),
    /// A counted element: `Collect<E, head, tail>`.
    Many(Ident, usize, usize),
    /// An absent element: nothing.
    None,
}

/// What the methods of one pattern query share.
struct Gen<'a> {
    ctx: &'a Ctx<'a>,
    q: &'a QueryPlan,
    p: &'a BoundPattern,
    slots: Vec<Slot>,
    /// The `App` field holding the state machine.
    nfa: Ident,
    captures_ty: Ident,
    /// Per input: the tokens reading its captures, and its stream.
    inputs: Vec<(TokenStream, usize)>,
    /// Per input: whether those tokens name an `Option<&Event>`.
    optional: Vec<bool>,
    /// Per input: what a partial match keeps of its event when not the whole event.
    kept: Vec<Option<Projection>>,
}

/// Generates pattern query `q`.
pub(crate) fn pattern_query(ctx: &Ctx<'_>, q: &QueryPlan, p: &BoundPattern) -> Stateful {
    let rt = ctx.rt;
    let Operator::Pattern(phys) = &ctx.plan.physical_of(q).operator else {
        return Stateful::default();
    };
    let chain = phys.shape == PatternShape::Chain;
    let name = method(q);
    let camel = super::names::generated_type(&name.to_string());
    let pattern_ty = super::ident::pattern_ty(&camel);
    let slots = slots(q, p);
    let kept = kept(ctx, q, p, chain, &slots, &camel);
    let (captured, optional): (Vec<TokenStream>, Vec<bool>) = slots
        .iter()
        .map(|slot| match slot {
            Slot::Single(f) => (quote!(__ef_m.#f.as_ref()), true),
            Slot::Many(f, ..) => (quote!(__ef_m.#f), false),
            Slot::None => (quote!(__ef_m), false),
        })
        .unzip();
    let g = Gen {
        ctx,
        q,
        p,
        slots,
        nfa: super::ident::pattern(&name),
        captures_ty: super::ident::captures_ty(&camel),
        inputs: captured.into_iter().zip(q.inputs.clone()).collect(),
        optional,
        kept,
    };
    let sel = selector_over(ctx, q, g.inputs.clone(), g.optional.clone(), &[]);
    let on_match = g.on_match(&sel.on_current);
    let mut methods = Vec::new();
    let mut seen = Vec::new();
    for (input, &stream) in q.inputs.iter().enumerate() {
        if !seen.contains(&stream) {
            seen.push(stream);
            // The stream's only reader takes its events by value (the physical plan's choice).
            let owned = phys.takes_events.get(input) == Some(&true);
            methods.push(if owned {
                g.owned_entry_method(input, stream, &sel, &on_match)
            } else {
                g.entry_method(input, stream, &sel, &on_match)
            });
        }
    }
    let advance = super::ident::advance(&name);
    methods.push(g.advance_method(&advance, &sel, &on_match));
    let nfa = &g.nfa;
    // The live partial-match count (an `EVERY` without `WITHIN` can grow without bound).
    // Inside a partition every key's state counts (between events the app's own field holds
    // no key's state).
    let count = super::ident::partial_matches(&name);
    let doc = format!(
        " The partial matches query `{}` holds now, over all partition keys (memory grows with them; `WITHIN` bounds them).",
        q.name
    );
    let total = match q.partition {
        None => quote!(self.#nfa.len()),
        Some(p) => {
            let map = super::ident::partition(p);
            quote!(self.#map.iter().map(|(_, __ef_state)| __ef_state.#nfa.len()).sum())
        }
    };
    methods.push(quote! {
        #[doc = #doc]
        pub fn #count(&self) -> usize {
            #total
        }
    });
    let timer = (
        quote!(self.#nfa.next_deadline()),
        quote! {
            if self.#nfa.next_deadline().is_some_and(|__ef_due| __ef_due <= at) {
                self.#advance(at);
            }
        },
    );
    let n_nodes = Literal::usize_unsuffixed(p.nodes.len());
    // `EVERY e1=A -> e2=B -> ...` runs as a chain of steps; other patterns walk the tree.
    let (machine, init) = if chain {
        (
            quote!(#rt::pattern::Chain<#pattern_ty>),
            quote!(#rt::pattern::Chain::new()),
        )
    } else {
        (
            quote!(#rt::pattern::Nfa<#pattern_ty, #n_nodes>),
            quote!(#rt::pattern::Nfa::new()),
        )
    };
    let mut fields = sel.fields;
    fields.insert(0, (nfa.clone(), machine, init));
    let pattern_items = pattern_items(ctx, q, p, &g.slots, &g.kept, &pattern_ty, &g.captures_ty);
    let (items, output_methods) = (sel.items, sel.output_methods);
    Stateful {
        fields,
        methods: quote!(#(#methods)* #output_methods),
        timers: std::iter::once(timer).chain(sel.output_timer).collect(),
        items: quote!(#pattern_items #items),
    }
}

impl Gen<'_> {
    /// An environment reading the captures (and `extra` inputs after them).
    fn env(&self, extra: Option<(TokenStream, usize)>) -> ExprEnv<'_> {
        let mut inputs = self.inputs.clone();
        let mut optional = self.optional.clone();
        if let Some(extra) = extra {
            inputs.push(extra);
            optional.push(false);
        }
        ExprEnv {
            used: ::std::cell::Cell::default(),
            ctx: self.ctx,
            inputs,
            aggregates: Vec::new(),
            now: quote!(__ef_now),
            optional,
            keys: Vec::new(),
        }
    }

    /// The closure receiving each completed match: WHERE, then the selector; what it reads
    /// of the code around it (the captures are its own).
    fn on_match(&self, on_current: &Code) -> Code {
        let rt = self.ctx.rt;
        let captures_ty = &self.captures_ty;
        let env = self.env(None);
        let post_filter = self.q.post_filter.as_ref().map(|f| {
            let c = env.gen(f);
            quote!(if !#rt::expr::holds(#c) { return; })
        });
        Code::new(
            quote!(|ts: i64, __ef_m: &#captures_ty| { #post_filter #on_current }),
            (on_current.uses | env.uses()).without_inputs(),
        )
    }

    /// The entry method of `stream` (first read by input `input`): every element reading
    /// the stream is handled by the one call to the state machine.
    fn entry_method(
        &self,
        input: usize,
        stream: usize,
        sel: &SelectorCode,
        on_match: &Code,
    ) -> TokenStream {
        let nfa = &self.nfa;
        let stream_id = Literal::u32_unsuffixed(stream as u32);
        let (accept, accept_reads_event) = self.accept(stream);
        let (capture, capture_reads_event) = self.capture(stream);
        let run = Code::new(
            quote! {
                self.#nfa.on_event(ts, #stream_id, #accept, #capture, #on_match);
            },
            accept.uses | on_match.uses,
        );
        let body = entry_body(sel, run);
        let ty = &self.ctx.streams[stream].ty;
        let doc = format!(
            " Query `{}`: an event of `{}`.",
            self.q.name, self.ctx.plan.streams[stream].name
        );
        // A stream read only by absences without a condition does not look at the event.
        let event = if accept_reads_event || capture_reads_event {
            format_ident!("event")
        } else {
            format_ident!("_event")
        };
        entry_fn(&entry(self.q, input), &doc, quote!(#event: &#ty), sel, body)
    }

    /// The entry method of `stream` taking its events by value (see [`takes_events`]): the
    /// chain's first element tests the event, and the partial match it starts moves what it
    /// keeps out of it.
    fn owned_entry_method(
        &self,
        input: usize,
        stream: usize,
        sel: &SelectorCode,
        on_match: &Code,
    ) -> TokenStream {
        let rt = self.ctx.rt;
        let nfa = &self.nfa;
        let captures_ty = &self.captures_ty;
        let ty = &self.ctx.streams[stream].ty;
        let accept = match leaves_of(self.q, self.p, stream).first().and_then(|l| l.2) {
            Some(filter) => {
                let env = self.env(Some((quote!(event), stream)));
                let f = env.gen(filter);
                // The first element's condition sees no capture yet (the captures are the
                // inputs before the event's).
                let reads_captures = (0..self.inputs.len()).any(|i| env.uses().input(i));
                let none = reads_captures.then(|| quote!(let __ef_m = &#captures_ty::default();));
                Code::new(
                    quote!(|event: &#ty| { #none #rt::expr::holds(#f) }),
                    env.uses().without_inputs(),
                )
            }
            None => Code::plain(quote!(|_: &#ty| true)),
        };
        let store = match (&self.slots[input], &self.kept[input]) {
            (Slot::Single(f), Some(k)) => {
                let ctor = &k.ctor_moving;
                quote!(__ef_m.#f = ::core::option::Option::Some(#ctor);)
            }
            (Slot::Single(f), None) => quote!(__ef_m.#f = ::core::option::Option::Some(event);),
            _ => quote!(),
        };
        let event_param = if store.is_empty() {
            quote!(_)
        } else {
            quote!(event)
        };
        let capture = quote!(|#event_param: #ty, __ef_m: &mut #captures_ty| { #store });
        let run = Code::new(
            quote! {
                self.#nfa.start(ts, event, #accept, #capture, #on_match);
            },
            accept.uses | on_match.uses,
        );
        let body = entry_body(sel, run);
        let doc = format!(
            " Query `{}`: an event of `{}`, taken by value.",
            self.q.name, self.ctx.plan.streams[stream].name
        );
        entry_fn(
            &owned_entry(self.q, input),
            &doc,
            quote!(event: #ty),
            sel,
            body,
        )
    }

    /// The method firing the pattern's timers.
    fn advance_method(&self, advance: &Ident, sel: &SelectorCode, on_match: &Code) -> TokenStream {
        let nfa = &self.nfa;
        let (state_binding, emit_rows) = (&sel.state_binding, &sel.emit_rows);
        let run = quote! {
            #state_binding
            self.#nfa.advance(at, #on_match);
        };
        let rows = sel.rows_binding(on_match.uses);
        let body = quote! {
            #rows
            { #run }
            #emit_rows
        };
        let now = on_match.uses.now.then(|| quote!(let __ef_now = self.now;));
        quote! {
            /// Fires the pattern's WITHIN and absence timers due at or before `at`.
            fn #advance(&mut self, at: i64) {
                #now
                #body
            }
        }
    }

    /// The closure testing an event of `stream` against the elements reading it (`true`
    /// for elements without a condition), with what it reads of the code around it and
    /// whether it reads the event. In a condition the tested event is one input past the
    /// captures.
    fn accept(&self, stream: usize) -> (Code, bool) {
        let rt = self.ctx.rt;
        let captures_ty = &self.captures_ty;
        let leaves = leaves_of(self.q, self.p, stream);
        let mut uses = Uses::NONE;
        let arms: Vec<(usize, TokenStream)> = leaves
            .iter()
            .filter_map(|&(leaf, _, filter)| {
                let env = self.env(Some((quote!(event), stream)));
                let f = env.gen(filter?);
                uses |= env.uses();
                Some((leaf, quote!(#rt::expr::holds(#f))))
            })
            .collect();
        let reads_event = uses.input(self.inputs.len());
        let code = match (arms.as_slice(), leaves.len()) {
            ([], _) => quote!(|_: usize, _: &#captures_ty| true),
            ([(_, test)], 1) => quote!(|_: usize, __ef_m: &#captures_ty| #test),
            _ => {
                let arms = arms.iter().map(|(leaf, test)| {
                    let leaf = Literal::usize_unsuffixed(*leaf);
                    quote!(#leaf => #test,)
                });
                quote! {
                    |__ef_leaf: usize, __ef_m: &#captures_ty| match __ef_leaf {
                        #(#arms)*
                        _ => true,
                    }
                }
            }
        };
        (Code::new(code, uses.without_inputs()), reads_event)
    }

    /// The closure storing an event of `stream` into the element that took it, and whether
    /// it reads the event.
    fn capture(&self, stream: usize) -> (TokenStream, bool) {
        let captures_ty = &self.captures_ty;
        let mut reads_event = false;
        let stores: Vec<(usize, TokenStream)> = leaves_of(self.q, self.p, stream)
            .into_iter()
            .filter_map(|(leaf, input, _)| match &self.slots[input] {
                Slot::Single(f) => {
                    let kept = match &self.kept[input] {
                        Some(k) => {
                            reads_event |= k.reads_event;
                            k.ctor.clone()
                        }
                        None => {
                            reads_event = true;
                            quote!(event.clone())
                        }
                    };
                    Some((
                        leaf,
                        quote!(__ef_m.#f = ::core::option::Option::Some(#kept)),
                    ))
                }
                Slot::Many(f, ..) => {
                    reads_event = true;
                    Some((leaf, quote!(__ef_m.#f.push(event.clone()))))
                }
                Slot::None => None,
            })
            .collect();
        let code = match stores.as_slice() {
            [] => quote!(|_: usize, _: &mut #captures_ty| {}),
            [(_, store)] => quote!(|_: usize, __ef_m: &mut #captures_ty| #store),
            _ => {
                let arms = stores.iter().map(|(leaf, store)| {
                    let leaf = Literal::usize_unsuffixed(*leaf);
                    quote!(#leaf => #store,)
                });
                quote! {
                    |__ef_leaf: usize, __ef_m: &mut #captures_ty| match __ef_leaf {
                        #(#arms)*
                        _ => {}
                    }
                }
            }
        };
        (code, reads_event)
    }
}

/// The body of an entry method running `run` (a call to the state machine) with the
/// selector's state and row buffer bound, then emitting the rows.
fn entry_body(sel: &SelectorCode, run: Code) -> Code {
    let (state_binding, emit_rows) = (&sel.state_binding, &sel.emit_rows);
    let rows = sel.rows_binding(run.uses);
    Code::new(
        quote! {
            #rows
            {
                #state_binding
                #run
            }
            #emit_rows
        },
        run.uses,
    )
}

/// Entry method `m` taking the event as `param` and running `body` (from [`entry_body`]).
fn entry_fn(
    m: &Ident,
    doc: &str,
    param: TokenStream,
    sel: &SelectorCode,
    body: Code,
) -> TokenStream {
    let observe = &sel.observe;
    let now = body.uses.now.then(|| quote!(let __ef_now = self.now;));
    quote! {
        #[doc = #doc]
        fn #m(&mut self, ts: i64, #param) {
            #observe
            #now
            #body
        }
    }
}

/// What the partial matches of chain pattern `p` keep of each captured event: the attributes
/// `q` reads of it (its columns, HAVING, GROUP BY, aggregates, ORDER BY, WHERE and the
/// element conditions), when fewer than the whole event. Other patterns keep whole events.
fn kept(
    ctx: &Ctx<'_>,
    q: &QueryPlan,
    p: &BoundPattern,
    chain: bool,
    slots: &[Slot],
    camel: &str,
) -> Vec<Option<Projection>> {
    let conditions = p.nodes.iter().filter_map(|n| match n {
        PatternNode::Stream { filter, .. } | PatternNode::Absent { filter, .. } => filter.as_ref(),
        _ => None,
    });
    let exprs: Vec<&TExpr> = q
        .columns
        .iter()
        .map(|c| &c.expr)
        .chain(q.having.as_ref())
        .chain(&q.group_by)
        .chain(q.aggregates.iter().filter_map(|a| a.arg.as_ref()))
        .chain(q.output.order_by.iter().map(|(e, _)| e))
        .chain(q.post_filter.as_ref())
        .chain(q.filter.as_ref())
        .chain(conditions)
        .collect();
    slots
        .iter()
        .enumerate()
        .map(|(input, slot)| {
            let (true, Slot::Single(f)) = (chain, slot) else {
                return None;
            };
            let mut read = std::collections::BTreeSet::new();
            for e in &exprs {
                e.visit(&mut |x| {
                    if let ExprKind::Attr { input: i, attr, .. } = x.kind {
                        if i == input {
                            read.insert(attr);
                        }
                    }
                });
            }
            let read: Vec<usize> = read.into_iter().collect();
            let stream = q.inputs[input];
            let doc = format!(
                " What a partial match of query `{}` keeps of its `{}` event (`{}`).",
                q.name, ctx.plan.streams[stream].name, f
            );
            let ty = super::ident::pattern_input_ty(camel, input);
            projection(ctx, stream, ty, &doc, &read, false)
        })
        .collect()
}

/// The storage of every input: counted elements keep as many first and last events as the
/// highest `e[k]` and `e[last - k]` the query reads.
fn slots(q: &QueryPlan, p: &BoundPattern) -> Vec<Slot> {
    let mut head = vec![0usize; q.inputs.len()];
    let mut tail = vec![0usize; q.inputs.len()];
    let mut note = |e: &TExpr| {
        e.visit(&mut |x| {
            if let ExprKind::IndexedAttr { input, index, .. } = &x.kind {
                if let Some(h) = head.get_mut(*input) {
                    match index {
                        EventIndex::At(k) => *h = (*h).max(*k as usize + 1),
                        EventIndex::Last(k) => tail[*input] = tail[*input].max(*k as usize + 1),
                    }
                }
            }
        })
    };
    for n in &p.nodes {
        if let PatternNode::Stream {
            filter: Some(f), ..
        }
        | PatternNode::Absent {
            filter: Some(f), ..
        } = n
        {
            note(f);
        }
    }
    q.post_filter.iter().for_each(&mut note);
    q.group_by.iter().for_each(&mut note);
    q.having.iter().for_each(&mut note);
    q.columns.iter().for_each(|c| note(&c.expr));
    q.aggregates
        .iter()
        .filter_map(|c| c.arg.as_ref())
        .for_each(&mut note);
    let names: Vec<String> = (0..q.inputs.len())
        .map(|i| {
            p.aliases[i]
                .clone()
                .unwrap_or_else(|| format!("{}_{}", "event", i))
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let fields = super::names::field_idents(&names);
    (0..q.inputs.len())
        .map(|i| {
            let f = fields[i].clone();
            match p.element(i) {
                None => Slot::None,
                Some((_, Some(1))) => Slot::Single(f),
                Some(_) => Slot::Many(f, head[i], tail[i]),
            }
        })
        .collect()
}

/// The method by which pattern `q` takes the events of its input `input` by value.
pub(crate) fn owned_entry(q: &QueryPlan, input: usize) -> Ident {
    super::ident::owned(&entry(q, input))
}

/// The captures struct and the `Pattern` impl.
fn pattern_items(
    ctx: &Ctx<'_>,
    q: &QueryPlan,
    p: &BoundPattern,
    slots: &[Slot],
    kept: &[Option<Projection>],
    pattern_ty: &Ident,
    captures_ty: &Ident,
) -> TokenStream {
    let rt = ctx.rt;
    let kept_items = kept.iter().flatten().map(|k| &k.item);
    let persist = super::persist_impls(
        ctx,
        &quote!(#captures_ty),
        slots.iter().filter_map(|slot| match slot {
            Slot::Single(f) | Slot::Many(f, ..) => Some(f),
            Slot::None => None,
        }),
    );
    let defs = slots
        .iter()
        .zip(kept)
        .zip(&q.inputs)
        .filter_map(|((slot, kept), &stream)| {
            let ty = &ctx.streams[stream].ty;
            let doc = format!(" Captured `{}` event(s).", ctx.plan.streams[stream].name);
            match slot {
                Slot::Single(f) => {
                    let ty = kept.as_ref().map_or_else(|| quote!(#ty), |k| k.ty.clone());
                    Some(quote!(#[doc = #doc] pub #f: ::core::option::Option<#ty>))
                }
                Slot::Many(f, h, t) => {
                    let (h, t) = (Literal::usize_unsuffixed(*h), Literal::usize_unsuffixed(*t));
                    Some(quote!(#[doc = #doc] pub #f: #rt::pattern::Collect<#ty, #h, #t>))
                }
                Slot::None => None,
            }
        });
    let clears: Vec<(Literal, TokenStream)> = p
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(leaf, n)| {
            let PatternNode::Stream { input, .. } = n else {
                return None;
            };
            let leaf = Literal::usize_unsuffixed(leaf);
            match &slots[*input] {
                Slot::Single(f) => Some((leaf, quote!(captures.#f = ::core::option::Option::None))),
                Slot::Many(f, ..) => Some((leaf, quote!(captures.#f.clear()))),
                Slot::None => None,
            }
        })
        .collect();
    let clear = match clears.as_slice() {
        [] => quote!(let _ = (leaf, captures);),
        [(leaf, c)] => quote!(if leaf == #leaf { #c; }),
        _ => {
            let arms = clears.iter().map(|(leaf, c)| quote!(#leaf => #c,));
            quote!(match leaf { #(#arms)* _ => {} })
        }
    };
    let nodes = p.nodes.iter().map(|n| node(rt, q, n));
    let root = Literal::usize_unsuffixed(p.root);
    let sequence = p.sequence;
    let within = match p.within {
        Some(w) => {
            let w = Literal::i64_unsuffixed(w);
            quote!(::core::option::Option::Some(#w))
        }
        None => quote!(::core::option::Option::None),
    };
    let doc = format!(
        " The events captured by a partial match of query `{}`.",
        q.name
    );
    let pdoc = format!(" The pattern of query `{}`.", q.name);
    quote! {
        #(#kept_items)*

        #[doc = #doc]
        #[derive(Clone, Debug, Default)]
        pub struct #captures_ty {
            #(#defs,)*
        }

        #persist

        #[doc = #pdoc]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct #pattern_ty;

        impl #rt::pattern::Pattern for #pattern_ty {
            type Captures = #captures_ty;

            fn program() -> &'static #rt::pattern::Program {
                const PROGRAM: #rt::pattern::Program = #rt::pattern::Program {
                    nodes: &[#(#nodes),*],
                    root: #root,
                    sequence: #sequence,
                    within: #within,
                };
                &PROGRAM
            }

            fn clear(leaf: usize, captures: &mut #captures_ty) {
                #clear
            }
        }
    }
}

/// One `runtime::pattern::Node`.
fn node(rt: &syn::Path, q: &QueryPlan, n: &PatternNode) -> TokenStream {
    let n_ = |x: &usize| Literal::usize_unsuffixed(*x);
    let opt = |x: Option<TokenStream>| match x {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    };
    match n {
        PatternNode::Stream {
            input, min, max, ..
        } => {
            let stream = Literal::u32_unsuffixed(q.inputs[*input] as u32);
            let max = opt(max.map(|m| {
                let m = Literal::u32_unsuffixed(m);
                quote!(#m)
            }));
            let min = Literal::u32_unsuffixed(*min);
            quote!(#rt::pattern::Node::Stream { stream: #stream, min: #min, max: #max })
        }
        PatternNode::Absent { input, wait, .. } => {
            let stream = Literal::u32_unsuffixed(q.inputs[*input] as u32);
            let wait = opt(wait.map(|w| {
                let w = Literal::i64_unsuffixed(w);
                quote!(#w)
            }));
            quote!(#rt::pattern::Node::Absent { stream: #stream, wait: #wait })
        }
        PatternNode::Then(a, b) => {
            let (a, b) = (n_(a), n_(b));
            quote!(#rt::pattern::Node::Then(#a, #b))
        }
        PatternNode::And(a, b) => {
            let (a, b) = (n_(a), n_(b));
            quote!(#rt::pattern::Node::And(#a, #b))
        }
        PatternNode::Or(a, b) => {
            let (a, b) = (n_(a), n_(b));
            quote!(#rt::pattern::Node::Or(#a, #b))
        }
        PatternNode::Every(x) => {
            let x = n_(x);
            quote!(#rt::pattern::Node::Every(#x))
        }
    }
}
