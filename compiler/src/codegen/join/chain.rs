//! The probe of a join of more than two sources with a `RIGHT` or `FULL` step.
//!
//! A join of n sources is a left-deep chain of binary joins (docs/semantics.md#joins): step `k` joins
//! the rows of sides `0..=k` with side `k + 1`. Nested loops (`Join::probe_chain`) cannot
//! pad a right side, which needs to know whether *any* left row matched it, so here every
//! step is materialized: the rows so far are a `Vec` of tuples of `Option<&Event>` (one
//! per side, `None` for a NULL-padded side), and a step keeps
//!
//! - every pair of a left row and a right event that satisfies the step's ON;
//! - for `LEFT` and `FULL`, each left row that matched nothing, with the right side NULL;
//! - for `RIGHT` and `FULL`, each right event that matched nothing, with every left side
//!   NULL (after the left rows, in the right side's order).
//!
//! The arriving side holds only the arriving event; the other sides hold their current
//! contents (a table its rows, a side without a window nothing). Only joined rows that
//! contain the arriving event are emitted, as in a two-way outer join, where the unmatched
//! contents of the other side are not output again on each arrival.

use super::{input_token, Code, Contents, Join, Uses};
use crate::sema::ir::TExpr;
use crate::syntax::ast::JoinKind;
use proc_macro2::TokenStream;
use quote::quote;

impl Join<'_> {
    /// `true` when the chain has a step that pads its left rows (`RIGHT` or `FULL`).
    pub(super) fn pads_left(&self) -> bool {
        self.join
            .steps
            .iter()
            .any(|s| matches!(s.kind, JoinKind::Right | JoinKind::Full))
    }

    /// Matches `event` (of `side`) against the other sides, step by step; every joined row
    /// containing it runs `row_code`.
    pub(super) fn probe_outer_chain(&self, side: usize, row_code: &Code) -> Code {
        // The arriving `event` is its side's source.
        let mut uses = row_code.uses.without_inputs() | Uses::of_input(0);
        let n = self.q.inputs.len();
        let tys: Vec<TokenStream> = (0..n).map(|i| self.event_ty(i)).collect();
        let acc = super::super::ident::joined_rows;
        let field = |i: usize| syn::Index::from(i);
        let first = acc(0);
        let (source0, u) = self.side_source(0, side);
        uses |= u;
        let ty0 = &tys[0];
        let mut steps = vec![quote! {
            let #first: ::std::vec::Vec<(::core::option::Option<&#ty0>,)> =
                #source0.map(|__ef_c| (::core::option::Option::Some(__ef_c),)).collect();
        }];
        for k in 0..n - 1 {
            let r = k + 1;
            let (prev, next) = (acc(k), acc(r));
            let ty_r = &tys[r];
            let row_tys = tys[..=r]
                .iter()
                .map(|t| quote!(::core::option::Option<&#t>));
            let left_fields: Vec<TokenStream> = (0..=k)
                .map(|i| {
                    let f = field(i);
                    quote!(__ef_l.#f)
                })
                .collect();
            let binds = (0..=k).map(|i| {
                let (v, f) = (input_token(i), field(i));
                quote!(let #v = __ef_l.#f;)
            });
            let later = (r + 1..n).map(|i| {
                let (v, t) = (input_token(i), &tys[i]);
                quote!(let #v = ::core::option::Option::<&#t>::None;)
            });
            let (on, u) = self.on_holds(k);
            uses |= u;
            let (source, u) = self.side_source(r, side);
            uses |= u;
            let kind = self.join.steps[k].kind;
            let pad_right = matches!(kind, JoinKind::Left | JoinKind::Full);
            let pad_left = matches!(kind, JoinKind::Right | JoinKind::Full);
            let (hit_decl, hit_set, right_pads) = if pad_left {
                let nones = (0..=k).map(|_| quote!(::core::option::Option::None));
                (
                    quote!(let mut __ef_hit = ::std::vec![false; __ef_right.len()];),
                    quote!(__ef_hit[__ef_j] = true;),
                    quote! {
                        for (__ef_j, __ef_r) in __ef_right.iter().enumerate() {
                            if !__ef_hit[__ef_j] {
                                #next.push((#(#nones,)* ::core::option::Option::Some(*__ef_r)));
                            }
                        }
                    },
                )
            } else {
                (quote!(), quote!(), quote!())
            };
            let (matched_decl, matched_set, left_pad) = if pad_right {
                (
                    quote!(let mut __ef_matched = false;),
                    quote!(__ef_matched = true;),
                    quote! {
                        if !__ef_matched {
                            #next.push((#(#left_fields,)* ::core::option::Option::None));
                        }
                    },
                )
            } else {
                (quote!(), quote!(), quote!())
            };
            let in_r = input_token(r);
            steps.push(quote! {
                let __ef_right: ::std::vec::Vec<&#ty_r> = #source.collect();
                #hit_decl
                let mut #next: ::std::vec::Vec<(#(#row_tys,)*)> = ::std::vec::Vec::new();
                for __ef_l in &#prev {
                    #matched_decl
                    for (__ef_j, __ef_r) in __ef_right.iter().enumerate() {
                        #(#binds)*
                        let #in_r = ::core::option::Option::Some(*__ef_r);
                        #(#later)*
                        if #on {
                            #matched_set
                            #hit_set
                            #next.push((#(#left_fields,)* #in_r));
                        }
                    }
                    #left_pad
                }
                #right_pads
            });
        }
        let last = acc(n - 1);
        let arrival = field(side);
        let binds = (0..n).map(|i| {
            let (v, f) = (input_token(i), field(i));
            if self.join.optional(i) {
                quote!(let #v = __ef_t.#f;)
            } else {
                quote!(let ::core::option::Option::Some(#v) = __ef_t.#f else { continue; };)
            }
        });
        let (where_, u) = self.where_holds();
        uses |= u;
        let code = quote!({
            #(#steps)*
            for __ef_t in &#last {
                if __ef_t.#arrival.is_none() {
                    continue;
                }
                #(#binds)*
                if #where_ {
                    #row_code
                }
            }
        });
        Code::new(code, uses)
    }

    /// The events side `i` offers to a probe from `side`, as an iterator of `&Event`, with
    /// what its table filter reads.
    fn side_source(&self, i: usize, side: usize) -> (TokenStream, Uses) {
        let rt = self.ctx.rt;
        let ty = self.event_ty(i);
        if i == side {
            return (quote!(::core::iter::once::<&#ty>(event)), Uses::NONE);
        }
        let side_var = super::super::ident::side(i);
        match self.contents(i) {
            Contents::None => (quote!(::core::iter::empty::<&#ty>()), Uses::NONE),
            Contents::Window(_) | Contents::Index(_) => (
                quote!(#rt::window::Window::iter(#side_var).map(|(_, __ef_c)| __ef_c)),
                Uses::NONE,
            ),
            Contents::Table(_) => {
                let mut uses = Uses::NONE;
                let filter = self.join.sides[i].filter.as_ref().map(|f| {
                    let env = super::ExprEnv {
                        used: ::std::cell::Cell::default(),
                        inputs: vec![(quote!(__ef_c), self.q.inputs[i])],
                        ..self.env_for(0, quote!(__ef_c))
                    };
                    let f = env.gen(f);
                    uses = env.uses().without_inputs();
                    quote!(.filter(|__ef_c| { let __ef_c: &#ty = __ef_c; #rt::expr::holds(#f) }))
                });
                (
                    quote!(#side_var.iter().map(|(_, __ef_c)| __ef_c) #filter),
                    uses,
                )
            }
        }
    }

    /// Step `k`'s ON over the inputs `__ef_in<i>` (every one an `Option<&Event>`).
    fn on_holds(&self, k: usize) -> (TokenStream, Uses) {
        self.holds_over_optional(self.join.steps[k].on.as_ref(), true)
    }

    /// WHERE over the joined row (inputs optional where the join pads them).
    fn where_holds(&self) -> (TokenStream, Uses) {
        self.holds_over_optional(self.q.post_filter.as_ref(), false)
    }

    fn holds_over_optional(&self, c: Option<&TExpr>, all_optional: bool) -> (TokenStream, Uses) {
        let rt = self.ctx.rt;
        let n = self.q.inputs.len();
        let Some(c) = c else {
            return (quote!(true), Uses::NONE);
        };
        let env = super::ExprEnv {
            used: ::std::cell::Cell::default(),
            ctx: self.ctx,
            inputs: (0..n).map(|i| (input_token(i), self.q.inputs[i])).collect(),
            aggregates: Vec::new(),
            now: quote!(__ef_now),
            optional: (0..n)
                .map(|i| all_optional || self.join.optional(i))
                .collect(),
            keys: Vec::new(),
        };
        let c = env.gen(c);
        (quote!(#rt::expr::holds(#c)), env.uses().without_inputs())
    }
}
