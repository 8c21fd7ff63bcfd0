//! Tables: the row store of each table (a runtime `Table` of the table's row struct), the
//! query output inserted or upserted into it, UPDATE and DELETE statements, `IN table`, and
//! lookups by primary key or index.
//!
//! A lookup is chosen from the condition's equalities on the row's columns
//! ([`crate::plan::keys::table_lookup`]); the whole condition is still checked on every row the
//! lookup returns. Rows are visited in insertion order.
//!
//! A table declared `WITH (extension = 'redis', ...)` is a runtime `RedisTable` instead: the
//! same statements, with rows read from Redis as owned values (a `Vec`/`Option` of
//! `(RedisKey, Row)` that the generated loops borrow), rows identified by their Redis key,
//! lookups by primary key or else a scan (an index lookup scans too), and no snapshot
//! record (the rows live in Redis).

use super::expr::lookup::{
    candidates, candidates_owned, external, field, id_arg, id_ty, index_key_ty, key_ty, keys,
    normalized, row_key,
};
use super::expr::ExprEnv;
use super::query::method;
use super::Ctx;
use crate::plan::keys::{conjuncts, table_lookup, Lookup};
use crate::plan::QueryPlan;
use crate::sema::catalog::TableKeys;
use crate::sema::ir::TableOp;
use crate::sema::ir::{ExprKind, TExpr};
use crate::sema::store::{PgStore, RedisStore};
use crate::sema::Type;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// What the tables add to the `App`.
pub(crate) struct TablesCode {
    /// One field per in-memory table: name, type, initial value (part of snapshots).
    pub fields: Vec<(Ident, TokenStream, TokenStream)>,
    /// One field per Redis table: name, type, initial value (not in snapshots: the rows
    /// live in Redis).
    pub external: Vec<(Ident, TokenStream, TokenStream)>,
    /// The methods receiving the rows of queries that insert or upsert into a table.
    pub methods: TokenStream,
    /// The `TableRow` impls and index key enums.
    pub items: TokenStream,
}

/// The fields, sink methods and items of every table of the app.
pub(crate) fn tables(ctx: &Ctx<'_>) -> TablesCode {
    let rt = ctx.rt;
    let mut fields = Vec::new();
    let mut external = Vec::new();
    let mut items = Vec::new();
    for (t, s) in ctx.plan.streams.iter().enumerate() {
        let Some(keys) = &s.table else { continue };
        let ty = &ctx.streams[t].ty;
        match (&keys.redis, &keys.postgres) {
            (Some(store), _) => external.push((
                field(ctx, t),
                quote!(#rt::table::RedisTable<#ty>),
                redis_init(ctx, &s.name, store),
            )),
            (None, Some(store)) => external.push((
                field(ctx, t),
                quote!(#rt::table::PgTable<#ty>),
                pg_init(ctx, t, keys, store),
            )),
            (None, None) => fields.push((
                field(ctx, t),
                quote!(#rt::table::Table<#ty>),
                quote!(#rt::table::Table::new()),
            )),
        }
        items.push(row_impl(ctx, t, keys));
    }
    let methods = ctx
        .plan
        .queries
        .iter()
        .filter(|q| {
            matches!(
                q.table_op.as_deref(),
                Some(TableOp::Insert | TableOp::Upsert { .. })
            )
        })
        .map(|q| sink_method(ctx, q));
    let failure = failure_method(&external);
    TablesCode {
        fields,
        external,
        methods: quote!(#(#methods)* #failure),
        items: quote!(#(#items)*),
    }
}

/// `RedisTable::new(RedisOptions::new("<table>")...)` with the table's options.
fn redis_init(ctx: &Ctx<'_>, table: &str, store: &RedisStore) -> TokenStream {
    let rt = ctx.rt;
    let RedisStore {
        host,
        port,
        db,
        password,
        prefix,
        fail,
        timeout_ms,
    } = store;
    let password = password.as_ref().map(|p| quote!(.password(#p)));
    let on_error = if *fail {
        quote!(#rt::table::OnError::Fail)
    } else {
        quote!(#rt::table::OnError::Log)
    };
    quote! {
        #rt::table::RedisTable::new(
            #rt::table::RedisOptions::new(#table)
                .host(#host)
                .port(#port)
                .db(#db)
                #password
                .prefix(#prefix)
                .on_error(#on_error)
                .timeout_ms(#timeout_ms),
        )
    }
}

/// `PgTable::new(PgOptions::new(...)...)` with table `t`'s columns, keys and options.
fn pg_init(ctx: &Ctx<'_>, t: usize, keys: &TableKeys, store: &PgStore) -> TokenStream {
    let rt = ctx.rt;
    let s = &ctx.plan.streams[t];
    let name = &s.name;
    let PgStore {
        url,
        table,
        cache,
        on_error,
    } = store;
    let columns = s.attrs.iter().map(|a| {
        let ty = match a.ty {
            Type::Int => quote!(Int),
            Type::Long => quote!(Long),
            Type::Float => quote!(Float),
            Type::Double => quote!(Double),
            Type::Bool => quote!(Bool),
            Type::String | Type::Null => quote!(Text),
        };
        let (col, nullable) = (&a.name, a.nullable);
        quote!(.column(#col, #rt::table::PgType::#ty, #nullable))
    });
    let pk = &keys.primary_key;
    let indexes = keys
        .indexes
        .iter()
        .map(|cols| quote!(.index(&[#(#cols),*])));
    let on_error = match on_error.as_str() {
        "log" => quote!(Log),
        "fail" => quote!(Fail),
        _ => quote!(Wait),
    };
    let cache = usize::try_from(*cache).unwrap_or(usize::MAX);
    quote! {
        #rt::table::PgTable::new(
            #rt::table::PgOptions::new(#name, #url, #table)
                #(#columns)*
                .primary_key(&[#(#pk),*])
                #(#indexes)*
                .on_error(#rt::table::PgOnError::#on_error)
                .cache(#cache),
        )
    }
}

/// `App::failure`, when the app has Redis or PostgreSQL tables: the first failure of one of them.
fn failure_method(external: &[(Ident, TokenStream, TokenStream)]) -> TokenStream {
    if external.is_empty() {
        return quote!();
    }
    let checks = external.iter().map(|(f, _, _)| {
        quote! {
            if let ::core::option::Option::Some(__ef_e) = self.#f.failure() {
                return ::core::option::Option::Some(::std::string::ToString::to_string(&__ef_e));
            }
        }
    });
    quote! {
        /// The failure that stops the app: the first error of a Redis table with
        /// `"redis.on_error" = 'fail'` (the drivers end the run with it).
        pub fn failure(&self) -> ::core::option::Option<::std::string::String> {
            #(#checks)*
            ::core::option::Option::None
        }
    }
}

/// `impl TableRow for <Row>` and the index key enum of table `t`.
fn row_impl(ctx: &Ctx<'_>, t: usize, keys: &TableKeys) -> TokenStream {
    let rt = ctx.rt;
    let ty = &ctx.streams[t].ty;
    let row = quote!(self);
    let same_key = (!keys.primary_key.is_empty()).then(|| same_key(ctx, t, &keys.primary_key));
    let (pk_ty, key) = if keys.primary_key.is_empty() {
        (quote!(()), quote!(::core::option::Option::None))
    } else {
        let k = row_key(ctx, t, &keys.primary_key, &row);
        (
            key_ty(ctx, t, &keys.primary_key),
            quote!(::core::option::Option::Some(#k)),
        )
    };
    let (index_ty, index_enum, index_keys) = if keys.indexes.is_empty() {
        (quote!(()), quote!(), quote!(let _ = __ef_out;))
    } else {
        let name = index_key_ty(ctx, t);
        let doc = format!(
            " The secondary-index keys of table `{}`.",
            ctx.plan.streams[t].name
        );
        let variants = keys.indexes.iter().enumerate().map(|(n, cols)| {
            let v = super::ident::index_variant(n);
            let kty = key_ty(ctx, t, cols);
            let names: Vec<&str> = cols
                .iter()
                .map(|&c| ctx.plan.streams[t].attrs[c].name.as_str())
                .collect();
            let vdoc = format!(" `INDEX ({})`.", names.join(", "));
            quote!(#[doc = #vdoc] #v(#kty))
        });
        let calls = keys.indexes.iter().enumerate().map(|(n, cols)| {
            let v = super::ident::index_variant(n);
            let k = row_key(ctx, t, cols, &row);
            quote!(__ef_out(#name::#v(#k));)
        });
        // A PostgreSQL table finds the rows of an index key with a query naming the
        // key's columns: it reads the key as JSON.
        let serialize = keys.postgres.is_some().then(|| {
            let serde_crate = format!("{}::serde", quote!(#rt).to_string().replace(' ', ""));
            quote! {
                #[derive(#rt::serde::Serialize)]
                #[serde(crate = #serde_crate)]
            }
        });
        (
            quote!(#name),
            quote! {
                #[doc = #doc]
                #[derive(Clone, Debug, PartialEq, Eq, Hash)]
                #serialize
                pub enum #name {
                    #(#variants,)*
                }
            },
            quote!(#(#calls)*),
        )
    };
    let out_param = if keys.indexes.is_empty() {
        quote!(__ef_out: impl FnMut(#index_ty))
    } else {
        quote!(mut __ef_out: impl FnMut(#index_ty))
    };
    quote! {
        #index_enum

        impl #rt::table::TableRow for #ty {
            type Key = #pk_ty;
            type IndexKey = #index_ty;

            fn primary_key(&self) -> ::core::option::Option<Self::Key> {
                #key
            }

            fn index_keys(&self, #out_param) {
                #index_keys
            }

            #same_key
        }
    }
}

/// `TableRow::same_key` of table `t` with primary key `cols`: the key columns compared in
/// place (floats normalized, as in the key).
fn same_key(ctx: &Ctx<'_>, t: usize, cols: &[usize]) -> TokenStream {
    let rt = ctx.rt;
    let part = |row: TokenStream, c: usize| {
        let a = &ctx.plan.streams[t].attrs[c];
        let f = &ctx.streams[t].fields[c];
        match (a.ty, a.nullable) {
            (Type::Float | Type::Double, true) => quote!(#row.#f.map(|__ef_v| __ef_v + 0.0)),
            (Type::Float | Type::Double, false) => quote!(#row.#f + 0.0),
            _ => quote!(&#row.#f),
        }
    };
    let mine = cols.iter().map(|&c| part(quote!(self), c));
    let theirs = cols.iter().map(|&c| part(quote!(__ef_other), c));
    quote! {
        #[inline]
        fn same_key(&self, __ef_other: &Self) -> bool {
            #rt::aggregate::Total((#(#mine,)*)) == #rt::aggregate::Total((#(#theirs,)*))
        }
    }
}

/// The method receiving the rows of `q`, which inserts or upserts into its target table.
fn sink_method(ctx: &Ctx<'_>, q: &QueryPlan) -> TokenStream {
    let rt = ctx.rt;
    let t = q.target;
    let (ty, f, name) = (&ctx.streams[t].ty, field(ctx, t), &ctx.plan.streams[t].name);
    let sink = super::query::emit_method(ctx, q);
    let doc = format!(" Query `{}`: its rows go into table `{name}`.", q.name);
    let insert = |row: TokenStream| {
        quote! {
            if self.#f.insert(#row).is_err() {
                #rt::table::report_duplicate(#name);
            }
        }
    };
    let body = match q.table_op.as_deref() {
        Some(TableOp::Upsert { cond }) => {
            let env = ExprEnv {
                used: ::std::cell::Cell::default(),
                ctx,
                inputs: vec![(quote!(__ef_row), t), (quote!(__ef_old), t)],
                aggregates: Vec::new(),
                now: quote!(self.now),
                optional: Vec::new(),
                keys: Vec::new(),
            };
            let c = env.gen(cond);
            if external(ctx, t) {
                // Redis: the matching rows are read (owned) first, then written.
                let rows = candidates_owned(&env, t, Some(cond), 1, &quote!(self.#f));
                let (id_ty, id) = (id_ty(ctx, t), id_arg(ctx, t));
                quote! {
                    let __ef_row = #rt::table::RowArg::row(&__ef_arg);
                    let __ef_ids: ::std::vec::Vec<#id_ty> = #rows
                        .filter(|(_, __ef_old)| #rt::expr::holds(#c))
                        .map(|(__ef_id, _)| __ef_id)
                        .collect();
                    if __ef_ids.is_empty() && self.#f.insert(__ef_row.clone()).is_err() {
                        #rt::table::report_duplicate(#name);
                    }
                    for __ef_id in __ef_ids {
                        if self.#f.update(#id, __ef_row.clone()).is_err() {
                            #rt::table::report_duplicate(#name);
                        }
                    }
                }
            } else if by_primary_key(keys(ctx, t), cond) {
                let hash = own_key_hash(ctx, t, &keys(ctx, t).primary_key);
                quote! {
                    let __ef_key = {
                        let __ef_row = #rt::table::RowArg::row(&__ef_arg);
                        #hash
                    };
                    if self.#f.replace_or_insert(__ef_arg, __ef_key).is_err() {
                        #rt::table::report_duplicate(#name);
                    }
                }
            } else {
                let rows = candidates(&env, t, Some(cond), 1, &quote!(__ef_table));
                let select = quote! {
                    #rows
                        .filter(|(_, __ef_old)| #rt::expr::holds(#c))
                        .map(|(__ef_id, _)| __ef_id)
                };
                // `self` is free in the closure unless the condition reads the app's clock
                // or another table.
                let reads_app = env.uses().now || env.uses().tables;
                if reads_app {
                    // The condition reads other state of the app (its clock, another table):
                    // collect the ids first.
                    let select = candidates(&env, t, Some(cond), 1, &quote!(self.#f));
                    let insert = insert(quote!(::core::clone::Clone::clone(__ef_row)));
                    quote! {
                        let __ef_row = #rt::table::RowArg::row(&__ef_arg);
                        let __ef_ids: ::std::vec::Vec<#rt::table::RowId> = #select
                            .filter(|(_, __ef_old)| #rt::expr::holds(#c))
                            .map(|(__ef_id, _)| __ef_id)
                            .collect();
                        if __ef_ids.is_empty() {
                            #insert
                        }
                        for __ef_id in __ef_ids {
                            if self.#f.update(__ef_id, __ef_row.clone()).is_err() {
                                #rt::table::report_duplicate(#name);
                            }
                        }
                    }
                } else {
                    quote! {
                        let __ef_upserted = self.#f.upsert_with(__ef_arg, |__ef_table, __ef_row, __ef_ids| {
                            __ef_ids.extend(#select);
                        });
                        if __ef_upserted.is_err() {
                            #rt::table::report_duplicate(#name);
                        }
                    }
                }
            }
        }
        _ => insert(quote!(#rt::table::RowArg::into_row(__ef_arg))),
    };
    quote! {
        #[doc = #doc]
        fn #sink(&mut self, _ts: i64, _kind: #rt::EventKind, __ef_arg: impl #rt::table::RowArg<#ty>) {
            #body
        }
    }
}

/// Whether UPSERT condition `cond` (reading the new row as input 0 and the table's row as
/// input 1) is exactly the primary-key equality `old.k = row.k` for every key column `k`, so
/// that it selects the one row with the new row's key.
fn by_primary_key(keys: &TableKeys, cond: &TExpr) -> bool {
    let Lookup::Primary(values) = table_lookup(keys, Some(cond), 1) else {
        return false;
    };
    conjuncts(cond).len() == keys.primary_key.len()
        && values
            .iter()
            .zip(&keys.primary_key)
            .all(|(v, col)| matches!(v.kind, ExprKind::Attr { input: 0, attr, .. } if attr == *col))
}

/// The `table::probe` of the primary key of `__ef_row` (a `&Row`
/// of table `t`, key columns `cols`): its hash, or `None` when a key column is NULL or NaN
/// (a key that equals no other).
fn own_key_hash(ctx: &Ctx<'_>, t: usize, cols: &[usize]) -> TokenStream {
    let rt = ctx.rt;
    let parts = cols.iter().map(|&c| {
        let a = &ctx.plan.streams[t].attrs[c];
        let f = &ctx.streams[t].fields[c];
        let v = match (a.nullable, a.ty == Type::String) {
            (true, true) => quote!(__ef_row.#f.as_ref()),
            (true, false) => quote!(__ef_row.#f),
            (false, true) => quote!(::core::option::Option::Some(&__ef_row.#f)),
            (false, false) => quote!(::core::option::Option::Some(__ef_row.#f)),
        };
        normalized(v, a.ty)
    });
    quote!(#rt::table::probe(&(#(#parts,)*)))
}

/// The method of an UPDATE or DELETE statement `q` (`None` for other queries): for each
/// event of its stream that passes the stream's filter, the matching rows of the table are
/// updated (every new value computed from the row before the update) or removed.
pub(crate) fn statement(ctx: &Ctx<'_>, q: &QueryPlan) -> Option<TokenStream> {
    let rt = ctx.rt;
    let (cond, sets) = match q.table_op.as_deref()? {
        TableOp::Update { sets, cond } => (cond.as_ref(), Some(sets)),
        TableOp::Delete { cond } => (cond.as_ref(), None),
        TableOp::Insert | TableOp::Upsert { .. } => return None,
    };
    let (t, s) = (q.target, q.input);
    let (f, name) = (field(ctx, t), &ctx.plan.streams[t].name);
    let env = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs: vec![(quote!(event), s), (quote!(__ef_row), t)],
        aggregates: Vec::new(),
        now: quote!(self.now),
        optional: Vec::new(),
        keys: Vec::new(),
    };
    let filter = q.filter.as_ref().map(|c| {
        let c = env.gen(c);
        quote!(if !#rt::expr::holds(#c) { return; })
    });
    let rows = candidates_owned(&env, t, cond, 1, &quote!(self.#f));
    let matches = cond.map(|c| {
        let c = env.gen(c);
        quote!(.filter(|(_, __ef_row)| #rt::expr::holds(#c)))
    });
    let in_redis = external(ctx, t);
    let (id_ty, id) = (id_ty(ctx, t), id_arg(ctx, t));
    let action = match sets {
        None => quote! {
            self.#f.remove(#id);
        },
        Some(sets) => {
            let values = sets.iter().enumerate().map(|(i, (_, v))| {
                let var = super::ident::value(i);
                let v = env.owned(v);
                quote!(let #var = #v;)
            });
            let assigns = sets.iter().enumerate().map(|(i, (col, _))| {
                let var = super::ident::value(i);
                let fld = &ctx.streams[t].fields[*col];
                if ctx.plan.streams[t].attrs[*col].nullable {
                    quote!(__ef_new.#fld = #var;)
                } else {
                    quote!(__ef_new.#fld = #var.unwrap_or_default();)
                }
            });
            // A Redis table's rows were read with their ids; an in-memory row is read by id.
            let read = (!in_redis).then(|| {
                quote! {
                    let ::core::option::Option::Some(__ef_row) = self.#f.get(__ef_id) else {
                        continue;
                    };
                }
            });
            let id = if in_redis { quote!(__ef_id) } else { id };
            quote! {
                #read
                #(#values)*
                let mut __ef_new = __ef_row.clone();
                #(#assigns)*
                if self.#f.update(#id, __ef_new).is_err() {
                    #rt::table::report_duplicate(#name);
                }
            }
        }
    };
    let body = if in_redis && sets.is_some() {
        let ty = &ctx.streams[t].ty;
        quote! {
            #filter
            let __ef_hits: ::std::vec::Vec<(#id_ty, #ty)> = #rows
                #matches
                .collect();
            for (__ef_id, __ef_row) in &__ef_hits {
                #action
            }
        }
    } else {
        quote! {
            #filter
            let __ef_ids: ::std::vec::Vec<#id_ty> = #rows
                #matches
                .map(|(__ef_id, _)| __ef_id)
                .collect();
            for __ef_id in __ef_ids {
                #action
            }
        }
    };
    let ts = if env.uses().ts {
        format_ident!("ts")
    } else {
        format_ident!("_ts")
    };
    let event = if env.uses().input(0) {
        format_ident!("event")
    } else {
        format_ident!("_event")
    };
    let (name_fn, ty) = (method(q), &ctx.streams[s].ty);
    let what = if sets.is_some() { "UPDATE" } else { "DELETE" };
    let doc = format!(" `{what}` statement `{}` on table `{name}`.", q.name);
    Some(quote! {
        #[doc = #doc]
        fn #name_fn(&mut self, #ts: i64, #event: &#ty) {
            #body
        }
    })
}
