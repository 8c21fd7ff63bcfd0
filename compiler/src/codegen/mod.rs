//! Code generation: the plan becomes Rust tokens built with `quote!`, formatted with
//! prettyplease.
//!
//! Each part of the output has its own module: `stream` (a struct per stream, the `Input`
//! enum, the `Output` trait), `expr` (typed NULL-aware expressions), `query` (one method per
//! query running its fused operator chain) and `app` (the `App` struct, `send_*`, time, and
//! the `Application` impl used by the drivers). Generated paths are absolute and go through
//! [`Options::runtime`], so the same code works in a user crate (through the `eventflux`
//! facade) and in a standalone project (depending on `eventflux_runtime` directly).

mod aggregate;
mod app;
mod expr;
mod ident;
mod join;
pub use crate::names;
mod output;
mod partition;
mod pattern;
mod query;
mod selector;
mod stream;
mod table;
mod window;
mod workers;

use crate::plan::AppPlan;
use proc_macro2::{Ident, TokenStream};
use quote::quote;

/// Code generation settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Path of the runtime crate in generated code, e.g. `::eventflux::runtime`.
    pub runtime: syn::Path,
    /// Whether the app gets `snapshot()` and `restore()` (on by default). Their code, serde
    /// over every state type, is more than half of an app's build time: `eventflux run` and
    /// `eventflux bench`, which never persist state, leave it out.
    pub state: bool,
    /// Whether the app carries its gRPC service's layout (`Application::proto_schema`,
    /// DESIGN 8.3): `eventflux build --grpc`; an app with a `grpc` connector always does.
    pub grpc: bool,
}

impl Options {
    /// Generated code reaches the runtime through the `eventflux` facade crate.
    pub fn facade() -> Self {
        Options {
            runtime: syn::parse_quote!(::eventflux::runtime),
            state: true,
            grpc: false,
        }
    }

    /// Generated code depends on `eventflux_runtime` directly (standalone projects).
    pub fn standalone() -> Self {
        Options {
            runtime: syn::parse_quote!(::eventflux_runtime),
            state: true,
            grpc: false,
        }
    }

    /// The same options, with the gRPC service's layout.
    pub fn with_grpc(self) -> Self {
        Options { grpc: true, ..self }
    }

    /// The same options, without `snapshot()` and `restore()`.
    pub fn without_state(self) -> Self {
        Options {
            state: false,
            ..self
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::facade()
    }
}

/// The Rust names of one stream.
#[derive(Clone, Debug)]
pub(crate) struct StreamNames {
    /// Struct name.
    pub ty: Ident,
    /// snake_case base for method names.
    pub snake: String,
    /// Field identifiers, parallel to the attributes.
    pub fields: Vec<Ident>,
}

/// Everything generators share: the plan, the options and the names.
pub(crate) struct Ctx<'a> {
    pub plan: &'a AppPlan,
    pub rt: &'a syn::Path,
    /// Whether the app gets `snapshot()` and `restore()` ([`Options::state`]).
    pub state: bool,
    /// Whether `Application::proto_schema` is generated.
    pub grpc: bool,
    pub streams: Vec<StreamNames>,
}

impl<'a> Ctx<'a> {
    fn new(plan: &'a AppPlan, options: &'a Options) -> Self {
        // Inner streams of partitions (`#Name`) are named `inner_name` / `InnerName`.
        let renamed: Vec<String> = plan
            .streams
            .iter()
            .map(|s| match s.name.strip_prefix('#') {
                Some(inner) => format!("inner_{inner}"),
                None => s.name.clone(),
            })
            .collect();
        let stream_names: Vec<&str> = renamed.iter().map(String::as_str).collect();
        let tys = names::struct_names(&stream_names);
        let snakes = names::unique(&stream_names, names::method_base, &[]);
        let streams = plan
            .streams
            .iter()
            .zip(tys.iter().zip(snakes))
            .map(|(s, (ty, snake))| {
                let attr_names: Vec<&str> = s.attrs.iter().map(|a| a.name.as_str()).collect();
                let fields = names::field_idents(&attr_names);
                StreamNames {
                    ty: names::ident(ty),
                    snake,
                    fields,
                }
            })
            .collect();
        Ctx {
            plan,
            rt: &options.runtime,
            state: options.state,
            grpc: options.grpc || plan.connectors.iter().any(|c| c.extension == "grpc"),
            streams,
        }
    }
}

/// Generates the items of an application module as tokens.
pub fn generate_tokens(plan: &AppPlan, options: &Options) -> TokenStream {
    let ctx = Ctx::new(plan, options);
    let structs = stream::structs(&ctx);
    let input = stream::input_enum(&ctx);
    let crossing = workers::crossing_enum(&ctx);
    let fast = stream::fast_decode_impls(&ctx);
    let output = stream::output_trait(&ctx);
    let app = app::app(&ctx);
    quote::quote! {
        #structs
        #input
        #crossing
        #fast
        #output
        #app
    }
}

/// Generates the items of an application module as formatted Rust source.
pub fn generate(plan: &AppPlan, options: &Options) -> String {
    format(&generate_tokens(plan, options))
}

/// Formats generated items with prettyplease.
pub fn format(tokens: &TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        // Unreachable for well-formed generators; keep the raw tokens visible for debugging.
        Err(_) => tokens.to_string(),
    }
}

/// `Save` and `Load` (`state::persist`) of generated struct `ty` as its `fields` in order:
/// how snapshots write it (nothing when the app keeps no state).
pub(crate) fn persist_impls<'f>(
    ctx: &Ctx<'_>,
    ty: &TokenStream,
    fields: impl IntoIterator<Item = &'f Ident>,
) -> TokenStream {
    if !ctx.state {
        return TokenStream::new();
    }
    let rt = ctx.rt;
    let fields: Vec<&Ident> = fields.into_iter().collect();
    quote! {
        impl #rt::state::persist::Save for #ty {
            fn save(&self, __ef_w: &mut #rt::state::persist::Writer) {
                #(#rt::state::persist::Save::save(&self.#fields, __ef_w);)*
            }
        }

        impl #rt::state::persist::Load for #ty {
            fn load(
                __ef_r: &mut #rt::state::persist::Reader<'_>,
            ) -> ::core::result::Result<Self, #rt::state::StateError> {
                ::core::result::Result::Ok(#ty {
                    #(#fields: #rt::state::persist::Load::load(__ef_r)?,)*
                })
            }
        }
    }
}
