//! What the scale-out driver (`runtime::scale`, DESIGN 11) needs of an app that
//! [`scalable`](crate::plan::scale::scalable) splits across workers: `SCALABLE`, the route of
//! each input event (its partition key's hash, or worker 0) and `partition_started`, which
//! starts a `PURGE AFTER` timer at the time of the partition's first event on any worker,
//! and the hand-over of rows crossing from a partition to worker 0 (`CROSSING`).
//! Nothing here is on the event path of an app running on one worker.

use super::expr::ExprEnv;
use super::Ctx;
use crate::sema::ir::PartitionBy;
use crate::sema::Type;
use proc_macro2::TokenStream;
use quote::quote;

/// Items of `impl Application for App` for a scalable app; nothing for any other app.
pub(crate) fn application_items(ctx: &Ctx<'_>) -> TokenStream {
    if crate::plan::scale::scalable(ctx.plan).is_err() {
        return TokenStream::new();
    }
    let rt = ctx.rt;
    let arms: Vec<TokenStream> = ctx
        .plan
        .streams
        .iter()
        .zip(&ctx.streams)
        .enumerate()
        .filter(|(_, (s, _))| s.input)
        .map(|(i, (_, n))| {
            let ty = &n.ty;
            match key_of(ctx, i) {
                Some((p, by)) => {
                    let hash = key_hash(ctx, i, by);
                    quote! {
                        Input::#ty(event) => #rt::scale::Route::Key {
                            partition: #p,
                            hash: { #hash },
                        }
                    }
                }
                None => quote!(Input::#ty(_) => #rt::scale::Route::Worker0),
            }
        })
        .collect();
    let route = if arms.is_empty() {
        quote! {
            fn route(_event: &Input) -> #rt::scale::Route {
                #rt::scale::Route::Worker0
            }
        }
    } else {
        quote! {
            fn route(event: &Input) -> #rt::scale::Route {
                match event {
                    #(#arms,)*
                }
            }
        }
    };
    let purges: Vec<TokenStream> = ctx
        .plan
        .partitions
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let d = p.purge_after?;
            let field = super::ident::partition_purge(i);
            Some(quote! {
                #i => {
                    if self.#field.is_none() {
                        self.#field = ::core::option::Option::Some(ts + #d);
                    }
                }
            })
        })
        .collect();
    let started = (!purges.is_empty()).then(|| {
        quote! {
            fn partition_started(&mut self, partition: usize, ts: i64) {
                match partition {
                    #(#purges)*
                    _ => {}
                }
            }
        }
    });
    let crossing = crate::plan::scale::crossing(ctx.plan);
    let crossing = (!crossing.is_empty()).then(|| {
        let arms = crossing.iter().map(|&i| {
            let n = &ctx.streams[i];
            let (ty, cross) = (&n.ty, super::ident::cross(&n.snake));
            quote!(Crossing::#ty(__ef_row) => self.#cross(ts, &__ef_row))
        });
        quote! {
            const CROSSING: bool = true;

            fn hand_over_crossing(&mut self) {
                self.crossing = ::core::option::Option::Some(::std::vec::Vec::new());
            }

            fn take_crossing(&mut self, out: &mut ::std::vec::Vec<(i64, Crossing)>) {
                if let ::core::option::Option::Some(__ef_rows) = self.crossing.as_mut() {
                    out.append(__ef_rows);
                }
            }

            fn send_crossing(&mut self, ts: i64, row: Crossing) {
                match row {
                    #(#arms,)*
                }
            }
        }
    });
    quote! {
        const SCALABLE: bool = true;

        #route
        #started
        #crossing
    }
}

/// The partition splitting input stream `stream` by key and its key, when the stream is
/// read by a partition.
fn key_of<'a>(ctx: &'a Ctx<'_>, stream: usize) -> Option<(usize, &'a PartitionBy)> {
    let s = &ctx.plan.streams[stream];
    let p = s
        .consumers
        .iter()
        .find_map(|&(q, _)| ctx.plan.queries[q].partition)?;
    let by = ctx.plan.partitions[p]
        .keys
        .iter()
        .find(|(k, _)| *k == stream)
        .map(|(_, by)| by)?;
    Some((p, by))
}

/// Statements evaluating to the [`key_hash`](eventflux_runtime::scale::key_hash) of the
/// partition key of `event` (a `stream` event), hashed in the form the partition looks it
/// up by, so that equal keys of different streams of the partition go to the same worker.
fn key_hash(ctx: &Ctx<'_>, stream: usize, by: &PartitionBy) -> TokenStream {
    let rt = ctx.rt;
    let env = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: vec![(quote!(event), stream)],
        aggregates: Vec::new(),
        now: quote!(0i64),
        optional: Vec::new(),
        keys: Vec::new(),
    };
    match by {
        PartitionBy::Value(e) if matches!(e.ty, Type::String | Type::Null) => {
            let v = env.gen(e);
            quote! {
                let __ef_value = #v;
                #rt::scale::key_hash(&#rt::partition::str_probe(&__ef_value))
            }
        }
        PartitionBy::Value(e) => {
            let v = env.gen(e);
            // The key as the partition's map holds it (a NOT NULL attribute's value too is an
            // `Option`), so that equal keys of every stream of the partition hash alike.
            quote! {
                #rt::scale::key_hash(&#rt::aggregate::Total(
                    #rt::aggregate::KeyPart::to_owned_part(&(#v)),
                ))
            }
        }
        PartitionBy::Range(ranges) => {
            let arms = ranges.iter().map(|(c, label)| {
                let c = env.gen(c);
                quote!(if #rt::expr::holds(#c) { #label })
            });
            quote! {
                let __ef_label: &'static str = #(#arms else)* { return #rt::scale::Route::Worker0; };
                #rt::scale::key_hash(&::core::option::Option::Some(__ef_label))
            }
        }
    }
}

/// `enum Crossing`: one variant per stream whose rows cross from a partition to worker 0
/// (DESIGN 11), holding the row; nothing for an app without such a stream.
pub(crate) fn crossing_enum(ctx: &Ctx<'_>) -> TokenStream {
    let crossing = crate::plan::scale::crossing(ctx.plan);
    if crossing.is_empty() {
        return TokenStream::new();
    }
    let rt = ctx.rt;
    let serde_crate = format!("{}::serde", super::stream::path_string(rt));
    let variants = crossing.iter().map(|&i| {
        let ty = &ctx.streams[i].ty;
        quote!(#ty(#ty))
    });
    quote! {
        /// A row crossing from a partition to worker 0's queries outside partitions, when
        /// the app runs on several workers.
        #[derive(Clone, Debug, PartialEq, #rt::serde::Serialize, #rt::serde::Deserialize)]
        #[serde(crate = #serde_crate)]
        pub enum Crossing {
            #(#variants,)*
        }
    }
}
