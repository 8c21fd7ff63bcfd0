//! The `App` struct: state, `send_*` entry points, stream fan-out, time and triggers, and the
//! `Application` impl the drivers use.

use super::query::{emits, entry, query_method};
use super::selector::stateful_query;
use super::Ctx;
use crate::plan::physical::Operator;
use crate::sema::ir::QueryKind;
use crate::syntax::ast::TriggerAt;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// A timer of the app: its state field, how to read its deadline and what firing does.
struct Timer {
    field: Option<TokenStream>,
    deadline: TokenStream,
    fire: TokenStream,
}

pub(crate) fn app(ctx: &Ctx<'_>) -> TokenStream {
    let mut timers = trigger_timers(ctx);
    let mut state_fields = Vec::new();
    let mut query_methods = Vec::new();
    let mut state_items = Vec::new();
    let mut partition_fields = vec![Vec::new(); ctx.plan.partitions.len()];
    let mut partition_timers = vec![Vec::new(); ctx.plan.partitions.len()];
    for q in ctx.plan.queries.iter().filter(|q| emits(ctx, q)) {
        if let Some(m) = super::table::statement(ctx, q) {
            query_methods.push(m);
            continue;
        }
        // The physical operator: a window aggregate, join or pattern keeps state.
        if !matches!(ctx.plan.physical_of(q).operator, Operator::FilterProject(_)) {
            let s = match &q.kind {
                QueryKind::Single => stateful_query(ctx, q),
                QueryKind::Join(j) => super::join::join_query(ctx, q, j),
                QueryKind::Pattern(p) => super::pattern::pattern_query(ctx, q, p),
            };
            // A query's fields restore together or not at all: the salt covers the structs
            // they hold (a window's events carry positions into the query's group map).
            let salt = format!("{}|{}", schema_salt(ctx, q), s.items);
            if let Some(p) = q.partition {
                partition_fields[p].extend(s.fields.iter().cloned());
                partition_timers[p].extend(s.timers.iter().cloned());
            } else {
                for (deadline, fire) in s.timers {
                    timers.push(Timer {
                        field: None,
                        deadline,
                        fire,
                    });
                }
            }
            // Layout hashes leave out the `__Ef` prefix of generated type names, which
            // earlier builds did not have: their snapshots still restore.
            state_fields.extend(s.fields.into_iter().map(|(n, t, i)| {
                let schema = fnv(&format!("{t}|{salt}").replace("__Ef", ""));
                (n, t, i, schema)
            }));
            query_methods.push(s.methods);
            state_items.push(s.items);
        } else {
            // A stateless query gets the by-reference method when events reach it through
            // `consume_<stream>`, and the by-value one when `send_<stream>` hands it events.
            if consume_needed(ctx, q.input) {
                query_methods.push(query_method(ctx, q));
            }
            if matches!(
                &ctx.plan.physical_of(q).operator,
                Operator::FilterProject(f) if f.takes_events
            ) {
                query_methods.push(super::query::query_method_owned(ctx, q));
            }
        }
    }
    // Partitions: the inner queries' fields are snapshot records (under their names) but live
    // in each partition's boxed active state, not in the `App` (see `partition::rebase`).
    let mut actives = Vec::new();
    let mut per_key = Vec::new();
    for (index, p) in ctx.plan.partitions.iter().enumerate() {
        let code = super::partition::partition(
            ctx,
            index,
            p,
            &partition_fields[index],
            &partition_timers[index],
            |stream| partition_calls(ctx, index, stream),
        );
        for (field, deadline, fire) in code.timers {
            timers.push(Timer {
                field: field.map(|f| quote!(#f)),
                deadline,
                fire,
            });
        }
        state_fields.extend(code.fields.into_iter().map(|(n, t, i)| {
            let schema = fnv(&t.to_string().replace("__Ef", ""));
            (n, t, i, schema)
        }));
        state_items.push(code.items);
        query_methods.push(code.methods);
        per_key.push((code.active.0.clone(), code.per_key));
        actives.push(code.active);
    }
    let tables = super::table::tables(ctx);
    state_fields.extend(tables.fields.into_iter().map(|(n, t, i)| {
        let schema = fnv(&t.to_string().replace("__Ef", ""));
        (n, t, i, schema)
    }));
    state_items.push(tables.items);
    query_methods.push(tables.methods);
    let snapshot_methods = ctx
        .state
        .then(|| snapshot_methods(ctx, &state_fields, &timers));
    state_fields.retain(|(n, _, _, _)| !per_key.iter().any(|(_, f)| f.contains(n)));
    // Redis tables are fields of the app but not of its snapshots: their rows live in Redis;
    // so are the partitions' active states (their fields are records of their own).
    state_fields.extend(tables.external.into_iter().map(|(n, t, i)| (n, t, i, 0)));
    state_fields.extend(actives.into_iter().map(|(n, t, i)| (n, t, i, 0)));
    let state_names: Vec<_> = state_fields.iter().map(|(n, _, _, _)| n).collect();
    let state_tys = state_fields.iter().map(|(_, t, _, _)| t);
    let state_inits = state_fields.iter().map(|(_, _, i, _)| i);
    let start_triggers = start_triggers(ctx);
    let timer_fields: Vec<_> = timers.iter().filter_map(|t| t.field.as_ref()).collect();
    let time_methods = time_methods(&timers);
    let periodic_starts = periodic_starts(ctx);
    let sends = sends(ctx);
    let emits_fns = emit_methods(ctx);
    let application = application_impl(ctx);
    let (cycle_fields, cycle_inits) = if ctx.plan.has_cycle {
        (
            quote!(depth: u32, cycle_reported: bool,),
            quote!(depth: 0, cycle_reported: false,),
        )
    } else {
        (quote!(), quote!())
    };
    // Rows of the streams crossing to worker 0, while the app hands them over (DESIGN 11).
    let (crossing_fields, crossing_inits) = if crate::plan::scale::crossing(ctx.plan).is_empty() {
        (quote!(), quote!())
    } else {
        (
            quote!(crossing: ::core::option::Option<::std::vec::Vec<(i64, Crossing)>>,),
            quote!(crossing: ::core::option::Option::None,),
        )
    };
    let mut methods = quote! {
        #time_methods

        #snapshot_methods
        #sends
        #emits_fns
        #(#query_methods)*
    };
    for (active, fields) in &per_key {
        methods = super::partition::rebase(methods, active, fields);
    }
    // `#[allow(dead_code)]` on the struct and its impl: the embedding API (`output()`,
    // `now()`, every `send_*`) is generated whole, and a given user calls only part of it.
    quote! {
        /// The compiled application: all state as typed fields, one `send_*` method per input
        /// stream, output through the sink it was made with.
        pub struct App<__EfO: Output> {
            output: __EfO,
            now: i64,
            started: bool,
            #(#timer_fields: ::core::option::Option<i64>,)*
            #(#state_names: #state_tys,)*
            #cycle_fields
            #crossing_fields
        }

        #[allow(dead_code)]
        impl<__EfO: Output> App<__EfO> {
            /// A fresh app sending its output to `output`.
            pub fn new(output: __EfO) -> Self {
                App {
                    output,
                    now: i64::MIN,
                    started: false,
                    #(#timer_fields: ::core::option::Option::None,)*
                    #(#state_names: #state_inits,)*
                    #cycle_inits
                    #crossing_inits
                }
            }

            /// The output sink.
            pub fn output(&self) -> &__EfO {
                &self.output
            }

            /// The output sink, mutably.
            pub fn output_mut(&mut self) -> &mut __EfO {
                &mut self.output
            }

            /// Consumes the app, returning its output sink.
            pub fn into_output(self) -> __EfO {
                self.output
            }

            /// The current time of the app's clock (ms).
            pub fn now(&self) -> i64 {
                self.now
            }

            /// Starts the clock at `ts`: fires `AT START` triggers and schedules periodic
            /// ones (`AT EVERY d` fires first at `ts + d`). Called by the first
            /// `send_*`/`advance_time` when not called explicitly.
            pub fn start(&mut self, ts: i64) {
                if self.started {
                    return;
                }
                self.started = true;
                self.now = ts;
                #periodic_starts
                #start_triggers
            }

            #methods
        }

        #(#state_items)*

        #application
    }
}

/// FNV-1a of `text`: stable layout hashes for snapshot records.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The schemas a query's state depends on (its inputs and its target), for layout hashes.
fn schema_salt(ctx: &Ctx<'_>, q: &crate::plan::QueryPlan) -> String {
    q.inputs
        .iter()
        .chain(std::iter::once(&q.target))
        .map(|&i| {
            let s = &ctx.plan.streams[i];
            let attrs: Vec<String> = s
                .attrs
                .iter()
                .map(|a| format!("{}:{}:{}", a.name, a.ty, a.nullable))
                .collect();
            format!("{}({})", s.name, attrs.join(","))
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// `snapshot()` and `restore()`: one record per state field, keyed by the field's name
/// (derived from the query's name, so stable across builds) and its layout hash.
fn snapshot_methods(
    ctx: &Ctx<'_>,
    fields: &[(proc_macro2::Ident, TokenStream, TokenStream, u64)],
    timers: &[Timer],
) -> TokenStream {
    let rt = ctx.rt;
    let mut names: Vec<String> = ctx
        .plan
        .streams
        .iter()
        .filter(|s| s.input)
        .map(|s| s.name.clone())
        .collect();
    names.sort();
    let app_hash = fnv(&names.join(","));
    let timer_fields: Vec<&TokenStream> = timers.iter().filter_map(|t| t.field.as_ref()).collect();
    let timer_count = proc_macro2::Literal::usize_unsuffixed(timer_fields.len());
    let ids: Vec<String> = fields.iter().map(|(n, _, _, _)| n.to_string()).collect();
    let names: Vec<&proc_macro2::Ident> = fields.iter().map(|(n, _, _, _)| n).collect();
    let schemas: Vec<u64> = fields.iter().map(|(_, _, _, h)| *h).collect();
    let restore_keys = restore_keys_method(ctx, fields, timers, app_hash);
    quote! {
        /// All state of the app (clock, triggers, windows, aggregates, rate limiters) as
        /// snapshot bytes: header, lz4-compressed records (`state::persist`), checksum.
        pub fn snapshot(&self) -> ::std::vec::Vec<u8> {
            let mut __ef_builder = #rt::state::SnapshotBuilder::new(#app_hash);
            let __ef_clock: (i64, bool, [::core::option::Option<i64>; #timer_count]) =
                (self.now, self.started, [#(self.#timer_fields),*]);
            __ef_builder.put("app/clock", 0, &__ef_clock);
            #(__ef_builder.put(#ids, #schemas, &self.#names);)*
            __ef_builder.finish()
        }

        /// Restores state taken by [`App::snapshot`] (of this or an earlier build of the
        /// app): every operator whose state layout is unchanged gets its state back; the
        /// others start fresh.
        pub fn restore(&mut self, bytes: &[u8]) -> ::core::result::Result<(), #rt::state::StateError> {
            let __ef_snapshot = #rt::state::Snapshot::decode(bytes, #app_hash)?;
            let mut __ef_clock: (i64, bool, [::core::option::Option<i64>; #timer_count]) =
                (self.now, self.started, [#(self.#timer_fields),*]);
            if __ef_snapshot.load_into("app/clock", 0, &mut __ef_clock)? {
                (self.now, self.started, [#(self.#timer_fields),*]) = __ef_clock;
            }
            #(__ef_snapshot.load_into(#ids, #schemas, &mut self.#names)?;)*
            ::core::result::Result::Ok(())
        }

        #restore_keys
    }
}

/// `restore_keys` of an app split across workers (DESIGN 11): worker 0's snapshot whole,
/// then each partition's keys gathered from every worker's snapshot, keeping the keys this
/// worker owns (hashed as `route` hashes them), and the partition's timer recomputed from
/// its keys. Nothing for any other app (the trait's default restores the first snapshot).
fn restore_keys_method(
    ctx: &Ctx<'_>,
    fields: &[(proc_macro2::Ident, TokenStream, TokenStream, u64)],
    timers: &[Timer],
    app_hash: u64,
) -> TokenStream {
    let rt = ctx.rt;
    if crate::plan::scale::scalable(ctx.plan).is_err() {
        return TokenStream::new();
    }
    let merges = ctx.plan.partitions.iter().enumerate().filter_map(|(i, p)| {
        let map = format_ident!("partition_{}", i);
        let (_, _, _, schema) = fields.iter().find(|(n, _, _, _)| *n == map)?;
        let id = map.to_string();
        let hash = if super::partition::string_keys(p) {
            quote!(#rt::scale::key_hash(&__ef_key.0.as_deref()))
        } else {
            quote!(#rt::scale::key_hash(&__ef_key))
        };
        let next = format_ident!("partition_{}_next", i);
        let has_next = timers
            .iter()
            .any(|t| t.field.as_ref().is_some_and(|f| next == f.to_string()));
        let recompute = has_next.then(|| {
            quote! {
                self.#next = self.#map.iter().filter_map(|(_, __ef_state)| __ef_state.next_deadline()).min();
            }
        });
        Some(quote! {
            {
                let mut __ef_merged = ::core::mem::take(&mut self.#map);
                __ef_merged.retain(|_, _| false);
                for __ef_bytes in snapshots {
                    let __ef_snapshot = #rt::state::Snapshot::decode(__ef_bytes, #app_hash)?;
                    let mut __ef_part = ::core::mem::take(&mut self.#map);
                    __ef_snapshot.load_into(#id, #schema, &mut __ef_part)?;
                    for (__ef_key, __ef_state) in __ef_part.into_pairs() {
                        if owns(#hash) {
                            __ef_merged.insert(__ef_key, __ef_state);
                        }
                    }
                }
                self.#map = __ef_merged;
                #recompute
            }
        })
    });
    quote! {
        /// Restores this worker's share of a checkpoint of several workers (see
        /// `Application::restore_keys`).
        pub fn restore_keys(
            &mut self,
            snapshots: &[::std::vec::Vec<u8>],
            owns: &dyn ::core::ops::Fn(u64) -> bool,
        ) -> ::core::result::Result<(), #rt::state::StateError> {
            if let ::core::option::Option::Some(__ef_first) = snapshots.first() {
                self.restore(__ef_first)?;
            }
            #(#merges)*
            ::core::result::Result::Ok(())
        }
    }
}

/// `advance_time`, `next_timer` and `fire_timers`.
fn time_methods(timers: &[Timer]) -> TokenStream {
    if timers.is_empty() {
        return quote! {
            /// Moves the clock to `ts` (this app has no timers).
            #[inline]
        pub fn advance_time(&mut self, ts: i64) {
                if !self.started {
                    self.start(ts);
                }
                self.now = self.now.max(ts);
            }

            /// The earliest pending timer (this app has none).
            pub fn next_timer(&self) -> ::core::option::Option<i64> {
                ::core::option::Option::None
            }
        };
    }
    let deadlines = timers.iter().map(|t| &t.deadline);
    let fires = timers.iter().map(|t| &t.fire);
    quote! {
        /// Moves the clock to `ts`, firing every timer due at or before it, in time order.
        #[inline]
        pub fn advance_time(&mut self, ts: i64) {
            if !self.started {
                self.start(ts);
            }
            while let ::core::option::Option::Some(at) = self.next_timer().filter(|&at| at <= ts) {
                self.now = self.now.max(at);
                self.fire_timers(at);
            }
            self.now = self.now.max(ts);
        }

        /// The earliest pending timer.
        pub fn next_timer(&self) -> ::core::option::Option<i64> {
            [#(#deadlines),*].into_iter().flatten().min()
        }

        /// Fires every timer due at `at`.
        fn fire_timers(&mut self, at: i64) {
            #(#fires)*
        }
    }
}

/// `(ts, event)` parameter names, underscored when the body does not use them.
fn params(used: bool) -> (proc_macro2::Ident, proc_macro2::Ident) {
    if used {
        (format_ident!("ts"), format_ident!("event"))
    } else {
        (format_ident!("_ts"), format_ident!("_event"))
    }
}

/// `send_<stream>` and `consume_<stream>` for every stream.
fn sends(ctx: &Ctx<'_>) -> TokenStream {
    let rt = ctx.rt;
    let crossing = crate::plan::scale::crossing(ctx.plan);
    let items = ctx.plan.streams.iter().zip(&ctx.streams).enumerate();
    let items = items.map(|(stream_index, (s, n))| {
        let ty = &n.ty;
        let consume = super::ident::consume(&n.snake);
        let mut calls: Vec<TokenStream> = Vec::new();
        // Of a stream whose rows cross to worker 0: the calls of queries inside its
        // partition, and those of queries outside partitions.
        let mut inside: Vec<TokenStream> = Vec::new();
        let mut outside: Vec<TokenStream> = Vec::new();
        let mut partitions_called: Vec<usize> = Vec::new();
        for &(i, input) in s
            .consumers
            .iter()
            .filter(|(i, _)| emits(ctx, &ctx.plan.queries[*i]))
        {
            let q = &ctx.plan.queries[i];
            match q.partition {
                // A partitioned stream enters the partition once, which runs its queries.
                Some(p) if is_key_stream(ctx, p, stream_index) => {
                    if !partitions_called.contains(&p) {
                        partitions_called.push(p);
                        let m = super::partition::entry(ctx, p, stream_index);
                        calls.push(quote!(self.#m(ts, event);));
                    }
                }
                _ => {
                    let m = entry(q, input);
                    calls.push(quote!(self.#m(ts, event);));
                    if q.partition.is_some() {
                        inside.push(quote!(self.#m(ts, event);));
                    } else {
                        outside.push(quote!(self.#m(ts, event);));
                    }
                }
            }
        }
        let (ts, event) = params(!calls.is_empty());
        let owned = owned_consumer(ctx, stream_index);
        let consume_fn = if crossing.contains(&stream_index) {
            // On a worker that hands the rows over (DESIGN 11), the queries outside
            // partitions run on worker 0, through `cross_<stream>`.
            let cross = super::ident::cross(&n.snake);
            let variant = &n.ty;
            quote! {
                #[inline]
                fn #consume(&mut self, ts: i64, event: &#ty) {
                    if let ::core::option::Option::Some(__ef_rows) = self.crossing.as_mut() {
                        __ef_rows.push((ts, Crossing::#variant(::core::clone::Clone::clone(event))));
                        #(#inside)*
                    } else {
                        #(#calls)*
                    }
                }

                fn #cross(&mut self, ts: i64, event: &#ty) {
                    #(#outside)*
                }
            }
        } else if consume_needed(ctx, stream_index) {
            quote! {
                #[inline]
                fn #consume(&mut self, #ts: i64, #event: &#ty) {
                    #(#calls)*
                }
            }
        } else {
            TokenStream::new()
        };
        let send = s.input.then(|| {
            let send = super::ident::send(&n.snake);
            let doc = format!(" Sends an event of `{}` at time `ts` (ms).", s.name);
            let deliver = match owned {
                // A partitioned query is reached through its partition's entry.
                Some(q) => {
                    let m = match ctx.plan.queries[q].partition {
                        Some(p) => super::partition::entry(ctx, p, stream_index),
                        None => owned_entry(ctx, q, stream_index),
                    };
                    quote!(self.#m(ts, event);)
                }
                None => quote!(self.#consume(ts, &event);),
            };
            // A fault stream with a sink hands every event to it (nothing else emits them).
            let echo = (s.output && s.name.starts_with('!')).then(|| {
                let on = super::ident::on(&n.snake);
                quote!(self.output.#on(ts, #rt::EventKind::Current, &event);)
            });
            quote! {
                #[doc = #doc]
                #[inline]
                pub fn #send(&mut self, ts: i64, event: #ty) {
                    self.advance_time(ts);
                    #echo
                    #deliver
                }
            }
        });
        quote!(#send #consume_fn)
    });
    quote!(#(#items)*)
}

/// The query that takes events sent to input stream `stream` by value (the physical
/// plan's [`StreamPhysical::owner`](crate::plan::physical::StreamPhysical::owner)).
fn owned_consumer(ctx: &Ctx<'_>, stream: usize) -> Option<usize> {
    ctx.plan.physical.streams[stream].owner
}

/// The method of query `q` (the [`owned_consumer`] of `stream`) taking its events by value.
fn owned_entry(ctx: &Ctx<'_>, q: usize, stream: usize) -> proc_macro2::Ident {
    let query = &ctx.plan.queries[q];
    match query.kind {
        QueryKind::Join(_) => {
            let side = query.inputs.iter().position(|&s| s == stream).unwrap_or(0);
            super::join::owned_entry(query, side)
        }
        QueryKind::Pattern(_) => {
            let input = query.inputs.iter().position(|&s| s == stream).unwrap_or(0);
            super::pattern::owned_entry(query, input)
        }
        _ => super::query::owned_entry(query),
    }
}

/// `true` when events reach `stream` through `consume_<stream>`.
fn consume_needed(ctx: &Ctx<'_>, stream: usize) -> bool {
    ctx.plan.physical.streams[stream].consumed
}

/// `true` when `stream` is one of the streams partition `p` splits by key.
fn is_key_stream(ctx: &Ctx<'_>, p: usize, stream: usize) -> bool {
    ctx.plan.partitions[p]
        .keys
        .iter()
        .any(|(s, _)| *s == stream)
}

/// The calls of partition `p`'s queries that read key stream `stream`, in source order.
fn partition_calls(ctx: &Ctx<'_>, p: usize, stream: usize) -> (Vec<TokenStream>, bool) {
    let owner = owned_consumer(ctx, stream);
    let calls = ctx.plan.streams[stream]
        .consumers
        .iter()
        .filter(|(i, _)| {
            ctx.plan.queries[*i].partition == Some(p) && emits(ctx, &ctx.plan.queries[*i])
        })
        .map(|&(i, input)| {
            let m = if owner == Some(i) {
                owned_entry(ctx, i, stream)
            } else {
                entry(&ctx.plan.queries[i], input)
            };
            quote!(self.#m(ts, event);)
        })
        .collect();
    (
        calls,
        owner.is_some_and(|i| ctx.plan.queries[i].partition == Some(p)),
    )
}

/// `emit_<stream>` for every stream that queries or triggers insert into.
fn emit_methods(ctx: &Ctx<'_>) -> TokenStream {
    let rt = ctx.rt;
    let items = ctx
        .plan
        .streams
        .iter()
        .zip(&ctx.streams)
        .enumerate()
        .filter(|(i, (s, _))| {
            // A fault stream's events come from outside only (`send_` hands them to its sink).
            let fault = s.name.starts_with('!');
            (s.output && !fault)
                || s.trigger.is_some()
                || ctx.plan.queries.iter().any(|q| q.target == *i)
        })
        .map(|(_, x)| x)
        .map(|(s, n)| {
            let ty = &n.ty;
            let name = &s.name;
            let emit = super::ident::emit(&n.snake);
            let consume = super::ident::consume(&n.snake);
            let sink = s.output.then(|| {
                let on = super::ident::on(&n.snake);
                quote!(self.output.#on(ts, kind, event);)
            });
            let kind = if s.output {
                format_ident!("kind")
            } else {
                format_ident!("_kind")
            };
            // With a cycle between streams, events could nest without end: bound the depth.
            let (enter, leave) = if ctx.plan.has_cycle {
                (
                    quote! {
                        if self.depth >= #rt::app::MAX_DEPTH {
                            #rt::app::report_cycle(&mut self.cycle_reported, #name);
                            return;
                        }
                        self.depth += 1;
                    },
                    quote!(self.depth -= 1;),
                )
            } else {
                (quote!(), quote!())
            };
            quote! {
                #[inline]
                fn #emit(&mut self, ts: i64, #kind: #rt::EventKind, event: &#ty) {
                    #enter
                    #sink
                    self.#consume(ts, event);
                    #leave
                }
            }
        });
    quote!(#(#items)*)
}

fn trigger_event(ctx: &Ctx<'_>, stream: usize, at: TokenStream) -> TokenStream {
    let rt = ctx.rt;
    let n = &ctx.streams[stream];
    let (ty, f, emit) = (&n.ty, &n.fields[0], super::ident::emit(&n.snake));
    quote!(self.#emit(#at, #rt::EventKind::Current, &#ty { #f: #at });)
}

fn trigger_timers(ctx: &Ctx<'_>) -> Vec<Timer> {
    ctx.plan
        .streams
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.trigger {
            Some(TriggerAt::Every(d)) => {
                let field = super::ident::trigger_next(&ctx.streams[i].snake);
                let period = d.millis;
                let event = trigger_event(ctx, i, quote!(at));
                Some(Timer {
                    field: Some(quote!(#field)),
                    deadline: quote!(self.#field),
                    fire: quote! {
                        if self.#field == ::core::option::Option::Some(at) {
                            self.#field = ::core::option::Option::Some(at + #period);
                            #event
                        }
                    },
                })
            }
            Some(TriggerAt::Cron(text, _)) => {
                let rt = ctx.rt;
                let field = super::ident::trigger_next(&ctx.streams[i].snake);
                let event = trigger_event(ctx, i, quote!(at));
                Some(Timer {
                    field: Some(quote!(#field)),
                    deadline: quote!(self.#field),
                    fire: quote! {
                        if self.#field == ::core::option::Option::Some(at) {
                            self.#field = #rt::window::CronSchedule::parse_or_never(#text).next_after(at);
                            #event
                        }
                    },
                })
            }
            _ => None,
        })
        .collect()
}

fn periodic_starts(ctx: &Ctx<'_>) -> TokenStream {
    let items = ctx
        .plan
        .streams
        .iter()
        .zip(&ctx.streams)
        .filter_map(|(s, n)| {
            let field = super::ident::trigger_next(&n.snake);
            match &s.trigger {
                // The first firing is one period after the start (docs/semantics.md#triggers, Siddhi's
                // periodic trigger).
                Some(TriggerAt::Every(d)) => {
                    let period = d.millis;
                    Some(quote!(self.#field = ::core::option::Option::Some(ts + #period);))
                }
                Some(TriggerAt::Cron(text, _)) => {
                    let rt = ctx.rt;
                    // The first firing is the first schedule time at or after the start.
                    Some(quote!(self.#field = #rt::window::CronSchedule::parse_or_never(#text).next_after(ts - 1);))
                }
                _ => None,
            }
        });
    quote!(#(#items)*)
}

fn start_triggers(ctx: &Ctx<'_>) -> TokenStream {
    let items = ctx
        .plan
        .streams
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.trigger, Some(TriggerAt::Start)))
        .map(|(i, _)| trigger_event(ctx, i, quote!(ts)));
    quote!(#(#items)*)
}

/// `impl Application for App<O>`.
fn application_impl(ctx: &Ctx<'_>) -> TokenStream {
    let rt = ctx.rt;
    let inputs: Vec<_> = ctx
        .plan
        .streams
        .iter()
        .zip(&ctx.streams)
        .filter(|(s, _)| s.input)
        .collect();
    let input_names = inputs.iter().map(|(s, _)| &s.name);
    let output_names = ctx
        .plan
        .streams
        .iter()
        .filter(|s| s.output)
        .map(|s| &s.name);
    let decodes = inputs.iter().map(|(s, n)| {
        let (name, ty) = (&s.name, &n.ty);
        quote!(#name => #rt::io::fast::decode::<#ty>(stream, data).map(Input::#ty))
    });
    let scanner = format_ident!("__ef_scanner");
    let fast_decodes = inputs.iter().map(|(s, n)| {
        let (name, ty) = (&s.name, &n.ty);
        quote! {
            #name => <#ty as #rt::io::fast::FastDecode>::fast_decode(#scanner)
                .map(Input::#ty)
        }
    });
    let sends = inputs.iter().map(|(_, n)| {
        let (ty, send) = (&n.ty, super::ident::send(&n.snake));
        quote!(Input::#ty(event) => self.#send(ts, event))
    });
    let endpoint_list = |list: &[(String, String)]| {
        let (names, paths): (Vec<&String>, Vec<&String>) = list.iter().map(|(n, p)| (n, p)).unzip();
        quote!(&[#((#names, #paths)),*])
    };
    let sources = (!ctx.plan.sources.is_empty()).then(|| {
        let list = endpoint_list(&ctx.plan.sources);
        quote! {
            fn sources() -> &'static [(&'static str, &'static str)] {
                #list
            }
        }
    });
    let sinks = (!ctx.plan.sinks.is_empty()).then(|| {
        let list = endpoint_list(&ctx.plan.sinks);
        quote! {
            fn sinks() -> &'static [(&'static str, &'static str)] {
                #list
            }
        }
    });
    let connectors = (!ctx.plan.connectors.is_empty()).then(|| {
        let descs = ctx.plan.connectors.iter().map(|c| {
            let stream = &c.stream;
            let extension = &c.extension;
            let direction = if c.source {
                quote!(#rt::connect::Direction::Source)
            } else {
                quote!(#rt::connect::Direction::Sink)
            };
            let (keys, values): (Vec<&String>, Vec<&String>) =
                c.options.iter().map(|(k, v)| (k, v)).unzip();
            quote! {
                #rt::connect::ConnectorDesc {
                    stream: #stream,
                    direction: #direction,
                    extension: #extension,
                    options: &[#((#keys, #values)),*],
                }
            }
        });
        quote! {
            fn connectors() -> &'static [#rt::connect::ConnectorDesc] {
                &[#(#descs),*]
            }
        }
    });
    let pipelines = (!ctx.plan.pipelines.is_empty()).then(|| {
        let descs = ctx.plan.pipelines.iter().map(|p| {
            let stream = &p.stream;
            let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            let (buffer, workers, batch_max) = (
                to_usize(p.buffer),
                to_usize(p.workers),
                to_usize(p.batch_max),
            );
            let backpressure = format_ident!(
                "{}",
                match p.backpressure.as_str() {
                    "drop" => "Drop",
                    "drop_oldest" => "DropOldest",
                    "backoff" => "Backoff",
                    _ => "Block",
                }
            );
            quote! {
                #rt::connect::PipelineDesc {
                    stream: #stream,
                    buffer: #buffer,
                    backpressure: #rt::connect::Backpressure::#backpressure,
                    workers: #workers,
                    batch_max: #batch_max,
                }
            }
        });
        quote! {
            fn pipelines() -> &'static [#rt::connect::PipelineDesc] {
                &[#(#descs),*]
            }
        }
    });
    // The attributes of the streams read as CSV (a record becomes a JSON array by type)
    // or having a fault stream.
    let csv_streams: Vec<&String> = {
        let mut list: Vec<&String> = ctx
            .plan
            .connectors
            .iter()
            .filter(|c| {
                c.source
                    && c.options
                        .iter()
                        .any(|(k, v)| k == "format" && v.eq_ignore_ascii_case("csv"))
            })
            .map(|c| &c.stream)
            .collect();
        // And those with a fault stream `!Name` (a bad message keeps what decodes).
        list.extend(ctx.plan.streams.iter().filter_map(|s| {
            let base = s.name.strip_prefix('!')?;
            ctx.plan
                .streams
                .iter()
                .map(|b| &b.name)
                .find(|n| *n == base)
        }));
        list.sort();
        list.dedup();
        list
    };
    let schema = (!csv_streams.is_empty()).then(|| {
        let arms = ctx
            .plan
            .streams
            .iter()
            .filter(|s| csv_streams.contains(&&s.name))
            .map(|s| {
                let name = &s.name;
                let (names, types): (Vec<&String>, Vec<String>) =
                    s.attrs.iter().map(|a| (&a.name, a.ty.to_string())).unzip();
                quote!(#name => &[#((#names, #types)),*])
            });
        quote! {
            fn schema(stream: &str) -> &'static [(&'static str, &'static str)] {
                match stream {
                    #(#arms,)*
                    _ => &[],
                }
            }
        }
    });
    // The gRPC service's layout, in the order of `eventflux proto` (crate::proto).
    let proto_schema = ctx.grpc.then(|| {
        let streams: Vec<&crate::plan::StreamPlan> = ctx
            .plan
            .streams
            .iter()
            .filter(|s| s.table.is_none() && (s.input || s.output))
            .collect();
        let list = |pick: fn(&crate::plan::StreamPlan) -> bool| {
            let items = streams.iter().filter(|s| pick(s)).map(|s| {
                let name = &s.name;
                let attrs = s.attrs.iter().map(|a| {
                    let (attr, ty, nullable) = (&a.name, a.ty.to_string(), a.nullable);
                    quote!((#attr, #ty, #nullable))
                });
                quote!(#rt::connect::protobuf::ProtoStream { name: #name, attrs: &[#(#attrs),*] })
            });
            quote!(&[#(#items),*])
        };
        let inputs = list(|s| s.input);
        let outputs = list(|s| s.output);
        // Input events straight from their protobuf messages (runtime `connect::protobuf`).
        let proto_decodes = streams.iter().filter(|s| s.input).filter_map(|s| {
            let (_, n) = ctx
                .plan
                .streams
                .iter()
                .zip(&ctx.streams)
                .find(|(p, _)| p.name == s.name)?;
            let (name, ty) = (&s.name, &n.ty);
            Some(quote!(#name => #rt::connect::protobuf::decode::<#ty>(stream, data).map(Input::#ty)))
        });
        let data = if streams.iter().any(|s| s.input) {
            format_ident!("data")
        } else {
            format_ident!("_data")
        };
        quote! {
            fn decode_proto(
                stream: &str,
                #data: #rt::connect::protobuf::ProtoData<'_>,
            ) -> ::core::result::Result<Input, #rt::DecodeError> {
                match stream {
                    #(#proto_decodes,)*
                    _ => ::core::result::Result::Err(#rt::DecodeError::UnknownStream(stream.to_owned())),
                }
            }

            fn proto_schema() -> ::core::option::Option<&'static #rt::connect::protobuf::ProtoSchema> {
                static __EF_PROTO: #rt::connect::protobuf::ProtoSchema = #rt::connect::protobuf::ProtoSchema {
                    inputs: #inputs,
                    outputs: #outputs,
                };
                ::core::option::Option::Some(&__EF_PROTO)
            }
        }
    });
    let scale = super::workers::application_items(ctx);
    let crossing_ty = if crate::plan::scale::crossing(ctx.plan).is_empty() {
        quote!(())
    } else {
        quote!(Crossing)
    };
    let restore_keys = crate::plan::scale::scalable(ctx.plan).is_ok().then(|| {
        quote! {
            fn restore_keys(
                &mut self,
                snapshots: &[::std::vec::Vec<u8>],
                owns: &dyn ::core::ops::Fn(u64) -> bool,
            ) -> ::core::result::Result<(), #rt::state::StateError> {
                App::restore_keys(self, snapshots, owns)
            }
        }
    });
    let endpoints = quote!(#sources #sinks #connectors #pipelines #schema #proto_schema #scale);
    let state = if ctx.state {
        quote! {
            fn snapshot(&self) -> ::std::vec::Vec<u8> {
                App::snapshot(self)
            }

            fn restore(&mut self, bytes: &[u8]) -> ::core::result::Result<(), #rt::state::StateError> {
                App::restore(self, bytes)
            }

            #restore_keys
        }
    } else {
        quote! {
            const KEEPS_STATE: bool = false;

            fn snapshot(&self) -> ::std::vec::Vec<u8> {
                ::std::vec::Vec::new()
            }

            fn restore(&mut self, _bytes: &[u8]) -> ::core::result::Result<(), #rt::state::StateError> {
                ::core::result::Result::Err(#rt::state::StateError::NotKept)
            }
        }
    };
    let failure = ctx
        .plan
        .streams
        .iter()
        .any(|s| s.table.as_ref().is_some_and(|k| k.external()))
        .then(|| {
            quote! {
                fn failure(&self) -> ::core::option::Option<::std::string::String> {
                    App::failure(self)
                }
            }
        });
    // With no input streams, `decode` and `send` never read their arguments.
    let (data, ts) = if inputs.is_empty() {
        (format_ident!("_data"), format_ident!("_ts"))
    } else {
        (format_ident!("data"), format_ident!("ts"))
    };
    quote! {
        impl<__EfO: Output> #rt::Application for App<__EfO> {
            type Input = Input;
            type Sink = __EfO;
            type Crossing = #crossing_ty;

            fn with_sink(sink: __EfO) -> Self {
                App::new(sink)
            }

            fn sink_mut(&mut self) -> &mut __EfO {
                &mut self.output
            }

            fn input_streams() -> &'static [&'static str] {
                &[#(#input_names),*]
            }

            fn output_streams() -> &'static [&'static str] {
                &[#(#output_names),*]
            }

            fn decode(stream: &str, #data: &str) -> ::core::result::Result<Input, #rt::DecodeError> {
                match stream {
                    #(#decodes,)*
                    _ => ::core::result::Result::Err(#rt::DecodeError::UnknownStream(stream.to_owned())),
                }
            }

            #[inline]
            fn fast_decode(
                stream: &str,
                #scanner: &mut #rt::io::fast::Scanner<'_>,
            ) -> ::core::option::Option<Input> {
                match stream {
                    #(#fast_decodes,)*
                    _ => ::core::option::Option::None,
                }
            }

            #[inline]
            fn send(&mut self, #ts: i64, event: Input) {
                match event {
                    #(#sends,)*
                }
            }

            fn advance_time(&mut self, ts: i64) {
                App::advance_time(self, ts);
            }

            fn next_timer(&self) -> ::core::option::Option<i64> {
                App::next_timer(self)
            }

            fn start(&mut self, ts: i64) {
                App::start(self, ts);
            }

            fn clock(&self) -> ::core::option::Option<i64> {
                self.started.then_some(self.now)
            }
            #endpoints

            #state
            #failure
        }
    }
}
