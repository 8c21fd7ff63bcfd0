//! Table access from generated code: the `App` field of a table, lookups by primary key or
//! index chosen from a condition's equalities ([`crate::plan::keys::table_lookup`]), row
//! ids and keys, and `IN table` in expressions. Shared by expressions, joins and the table
//! statements (`codegen::table`).

use super::{ExprEnv, Uses};
use crate::codegen::stream::value_type;
use crate::codegen::Ctx;
use crate::plan::keys::{conjuncts, table_lookup, Lookup};
use crate::sema::catalog::TableKeys;
use crate::sema::ir::TExpr;
use crate::sema::Type;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// The `App` field holding table `table` (a stream index of the plan).
pub(crate) fn field(ctx: &Ctx<'_>, table: usize) -> Ident {
    crate::codegen::ident::table(&ctx.streams[table].snake)
}

/// The plan index of the table named `name`.
pub(crate) fn index_of(ctx: &Ctx<'_>, name: &str) -> usize {
    ctx.plan
        .streams
        .iter()
        .position(|s| s.name == name)
        .unwrap_or(0)
}

pub(crate) fn keys<'a>(ctx: &'a Ctx<'_>, table: usize) -> &'a TableKeys {
    static NONE: TableKeys = TableKeys {
        primary_key: Vec::new(),
        indexes: Vec::new(),
        redis: None,
        postgres: None,
    };
    ctx.plan.streams[table].table.as_ref().unwrap_or(&NONE)
}

/// Whether `table`'s rows live outside the process (Redis or PostgreSQL): read as owned
/// `(id, Row)` values.
pub(crate) fn external(ctx: &Ctx<'_>, table: usize) -> bool {
    keys(ctx, table).external()
}

/// Every row of `table` (held by `container`), borrowed, as an iterator of `(id, &Row)`.
pub(crate) fn all_rows(ctx: &Ctx<'_>, table: usize, container: &TokenStream) -> TokenStream {
    if external(ctx, table) {
        quote!(#container.scan().iter())
    } else {
        quote!(#container.iter())
    }
}

/// The generated enum of a table's secondary-index keys.
pub(crate) fn index_key_ty(ctx: &Ctx<'_>, table: usize) -> Ident {
    crate::codegen::ident::index_key_ty(&ctx.streams[table].ty)
}

/// `Total<(Option<V>, ...)>` for the columns `cols` of `table`.
pub(crate) fn key_ty(ctx: &Ctx<'_>, table: usize, cols: &[usize]) -> TokenStream {
    let rt = ctx.rt;
    let parts = cols.iter().map(|&c| {
        let v = value_type(rt, ctx.plan.streams[table].attrs[c].ty);
        quote!(::core::option::Option<#v>)
    });
    quote!(#rt::aggregate::Total<(#(#parts,)*)>)
}

/// `-0.0` and `0.0` are equal in a comparison: keys use `0.0` for both.
pub(crate) fn normalized(value: TokenStream, ty: Type) -> TokenStream {
    if matches!(ty, Type::Float | Type::Double) {
        quote!((#value).map(|__ef_v| __ef_v + 0.0))
    } else {
        value
    }
}

/// The key of `row` (an expression of the row struct) over columns `cols`.
pub(crate) fn row_key(
    ctx: &Ctx<'_>,
    table: usize,
    cols: &[usize],
    row: &TokenStream,
) -> TokenStream {
    let rt = ctx.rt;
    let parts = cols.iter().map(|&c| {
        let a = &ctx.plan.streams[table].attrs[c];
        let f = &ctx.streams[table].fields[c];
        let v = match (a.nullable, a.ty == Type::String) {
            (true, true) => quote!(#row.#f.clone()),
            (true, false) => quote!(#row.#f),
            (false, true) => quote!(::core::option::Option::Some(#row.#f.clone())),
            (false, false) => quote!(::core::option::Option::Some(#row.#f)),
        };
        normalized(v, a.ty)
    });
    quote!(#rt::aggregate::Total((#(#parts,)*)))
}

/// The key of the values `values` (computed in `env`).
pub(crate) fn probe_key(env: &ExprEnv<'_>, values: &[TExpr]) -> TokenStream {
    let rt = env.ctx.rt;
    let parts = values.iter().map(|v| normalized(env.owned(v), v.ty));
    quote!(#rt::aggregate::Total((#(#parts,)*)))
}

/// The rows of `table` (held by `container`, a `&Table`) that may satisfy `cond` (which reads
/// the row as input `row`; its other inputs are read through `env`), as an iterator of
/// `(RowId, &Row)`; for a Redis table, of `&(RedisKey, Row)`.
pub(crate) fn candidates(
    env: &ExprEnv<'_>,
    table: usize,
    cond: Option<&TExpr>,
    row: usize,
    container: &TokenStream,
) -> TokenStream {
    iterate(env, table, cond, row, container, quote!(iter))
}

/// [`lookup`], iterated with `method` (`iter` or `into_iter`) for a Redis table.
pub(crate) fn iterate(
    env: &ExprEnv<'_>,
    table: usize,
    cond: Option<&TExpr>,
    row: usize,
    container: &TokenStream,
    method: TokenStream,
) -> TokenStream {
    let rows = lookup(env, table, cond, row, container);
    if external(env.ctx, table) {
        quote!(#rows.#method())
    } else {
        rows
    }
}

/// [`candidates`], for statements that change the table: for a Redis table an iterator of
/// owned `(RedisKey, Row)`, so the table is free to change while they are visited.
pub(crate) fn candidates_owned(
    env: &ExprEnv<'_>,
    table: usize,
    cond: Option<&TExpr>,
    row: usize,
    container: &TokenStream,
) -> TokenStream {
    iterate(env, table, cond, row, container, quote!(into_iter))
}

/// The lookup call: an iterator for an in-memory table; for a Redis or PostgreSQL table an
/// `Option` (by primary key) or a `Vec` (by index, or a scan) of owned rows.
pub(crate) fn lookup(
    env: &ExprEnv<'_>,
    table: usize,
    cond: Option<&TExpr>,
    row: usize,
    container: &TokenStream,
) -> TokenStream {
    let ctx = env.ctx;
    let in_redis = external(ctx, table);
    match table_lookup(keys(ctx, table), cond, row) {
        Lookup::Primary(values) => {
            if in_redis {
                let key = probe_key(env, &values);
                quote!(#container.find(&#key))
            } else {
                let hash = borrowed_key_hash(env, &values);
                quote!(#container.find_by_hash(#hash))
            }
        }
        // (Redis keeps no secondary index: `table_lookup` scans it.) A PostgreSQL table
        // asks its server for the rows of the index key (a `Vec`).
        Lookup::Scan if in_redis => quote!(#container.scan()),
        Lookup::Index(n, values) => {
            let key = probe_key(env, &values);
            let (ty, variant) = (index_key_ty(ctx, table), format_ident!("I{}", n));
            quote!(#container.lookup(&#ty::#variant(#key)))
        }
        Lookup::Scan => quote!(#container.iter()),
    }
}

/// For a condition `cond` that fixes the primary key of in-memory `table`: the one row of
/// it (held by `container`, a `&Table`) satisfying `cond` (as `on`, reading the row as
/// `param`) and `filter` (the row's own filter, if any), as an `Option<&Row>`, found in one
/// probe; `None` for other conditions and Redis tables.
pub(crate) fn unique_row(
    env: &ExprEnv<'_>,
    table: usize,
    cond: Option<&TExpr>,
    row: usize,
    container: &TokenStream,
    (param, on, filter): (&TokenStream, TokenStream, Option<TokenStream>),
) -> Option<TokenStream> {
    let ctx = env.ctx;
    if external(ctx, table) {
        return None;
    }
    let Lookup::Primary(values) = table_lookup(keys(ctx, table), cond, row) else {
        return None;
    };
    if cond.is_some_and(|c| conjuncts(c).len() == values.len()) {
        // The condition is the key equality alone: a probe by a short key reads no row.
        let rt = ctx.rt;
        let parts = borrowed_key_values(env, &values);
        let filter = filter.map(|f| quote!(.filter(|&#param| #f)));
        return Some(quote! {
            #rt::table::probe(&(#(#parts,)*))
                .and_then(|__ef_key| #container.get_by_key(__ef_key, |#param| #on))
                #filter
        });
    }
    let hash = borrowed_key_hash(env, &values);
    let pred = match filter {
        Some(f) => quote!(#f && #on),
        None => on,
    };
    Some(quote!(#container.get_by_hash(#hash, |#param| #pred)))
}

/// The hash of the key with values `values` (computed in `env`), as `Table::find_by_hash`
/// takes it: the hash of the borrowed values, so the key is never built (nothing cloned).
pub(crate) fn borrowed_key_hash(env: &ExprEnv<'_>, values: &[TExpr]) -> TokenStream {
    let rt = env.ctx.rt;
    let parts = borrowed_key_values(env, values);
    quote!(#rt::table::key_hash(&(#(#parts,)*)))
}

/// The borrowed values `values` (computed in `env`) of a key, floats normalized.
pub(crate) fn borrowed_key_values(env: &ExprEnv<'_>, values: &[TExpr]) -> Vec<TokenStream> {
    values
        .iter()
        .map(|v| normalized(env.gen(v), v.ty))
        .collect()
}

/// The type of a row id of `table` (`RowId`, or `RedisKey` for a Redis table).
pub(crate) fn id_ty(ctx: &Ctx<'_>, table: usize) -> TokenStream {
    let rt = ctx.rt;
    if keys(ctx, table).postgres.is_some() {
        quote!(#rt::table::PgRowId)
    } else if external(ctx, table) {
        quote!(#rt::table::RedisKey)
    } else {
        quote!(#rt::table::RowId)
    }
}

/// How a method taking a row id is given the owned id `__ef_id`.
pub(crate) fn id_arg(ctx: &Ctx<'_>, table: usize) -> TokenStream {
    if external(ctx, table) {
        quote!(&__ef_id)
    } else {
        quote!(__ef_id)
    }
}

/// `IN table`: whether a row of `table` satisfies `cond` (which reads the row as input
/// `row`, after the inputs of `env`).
pub(crate) fn in_table(env: &ExprEnv<'_>, table: &str, row: usize, cond: &TExpr) -> TokenStream {
    let ctx = env.ctx;
    let rt = ctx.rt;
    let t = index_of(ctx, table);
    let f = field(ctx, t);
    let mut inputs = env.inputs.clone();
    inputs.truncate(row);
    inputs.resize(row, (quote!(__ef_unused), t));
    inputs.push((quote!(__ef_row), t));
    let mut optional = env.optional.clone();
    optional.resize(row + 1, false);
    optional[row] = false;
    let inner = ExprEnv {
        used: ::std::cell::Cell::default(),
        ctx,
        inputs,
        aggregates: env.aggregates.clone(),
        now: env.now.clone(),
        optional,
        keys: Vec::new(),
    };
    let c = inner.gen(cond);
    let container = quote!(self.#f);
    let pred = quote!(#rt::expr::holds(#c));
    let found = match unique_row(
        &inner,
        t,
        Some(cond),
        row,
        &container,
        (&quote!(__ef_row), pred.clone(), None),
    ) {
        Some(found) => quote!(#found.is_some()),
        None => {
            let rows = candidates(&inner, t, Some(cond), row, &container);
            quote!(#rows.any(|(_, __ef_row)| #pred))
        }
    };
    env.absorb(
        inner.uses()
            | Uses {
                tables: true,
                ..Uses::NONE
            },
        row,
    );
    quote!(::core::option::Option::Some(#found))
}
