//! A struct per stream, the `Input` enum of input events and the `Output` trait of sinks.

use super::Ctx;
use crate::sema::{Attribute, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The Rust type of a value of `ty` (without the `Option`).
pub(crate) fn value_type(rt: &syn::Path, ty: Type) -> TokenStream {
    let _ = rt;
    match ty {
        Type::Int => quote!(i32),
        Type::Long => quote!(i64),
        Type::Float => quote!(f32),
        Type::Double => quote!(f64),
        Type::Bool => quote!(bool),
        Type::String | Type::Null => quote!(::std::sync::Arc<str>),
    }
}

/// The Rust type of a field holding attribute `a`.
pub(crate) fn field_type(rt: &syn::Path, a: &Attribute) -> TokenStream {
    let v = value_type(rt, a.ty);
    if a.nullable {
        quote!(::core::option::Option<#v>)
    } else {
        v
    }
}

/// One struct per stream.
pub(crate) fn structs(ctx: &Ctx<'_>) -> TokenStream {
    let rt = ctx.rt;
    let serde_crate = format!("{}::serde", path_string(rt));
    let items = ctx.plan.streams.iter().zip(&ctx.streams).map(|(s, n)| {
        let ty = &n.ty;
        let doc = format!(" An event of stream `{}`.", s.name);
        let fields = s.attrs.iter().zip(&n.fields).map(|(a, f)| {
            let fty = field_type(rt, a);
            let fdoc = format!(
                " `{}` ({}{}).",
                a.name,
                a.ty,
                if a.nullable { "" } else { " NOT NULL" }
            );
            let rename = (f.to_string().trim_start_matches("r#") != a.name).then(|| {
                let name = &a.name;
                quote!(#[serde(rename = #name)])
            });
            let default = a.nullable.then(|| quote!(#[serde(default)]));
            quote! {
                #[doc = #fdoc]
                #rename
                #default
                pub #f: #fty
            }
        });
        let persist = super::persist_impls(ctx, &quote!(#ty), &n.fields);
        // `#[allow(dead_code)]`: a field no query reads is still part of the stream's schema.
        quote! {
            #[doc = #doc]
            #[allow(dead_code)]
            #[derive(Clone, Debug, PartialEq, #rt::serde::Serialize, #rt::serde::Deserialize)]
            #[serde(crate = #serde_crate, deny_unknown_fields)]
            pub struct #ty {
                #(#fields,)*
            }

            #persist
        }
    });
    quote!(#(#items)*)
}

/// `impl FastDecode` for the struct of every input stream: the one-pass reader of its
/// `data` (`io::fast`), a match over the attribute names; serde_json decides whatever it
/// declines.
pub(crate) fn fast_decode_impls(ctx: &Ctx<'_>) -> TokenStream {
    let rt = ctx.rt;
    let impls = ctx
        .plan
        .streams
        .iter()
        .zip(&ctx.streams)
        .filter(|(s, _)| s.input)
        .map(|(s, n)| {
            let ty = &n.ty;
            let s_ = format_ident!("__ef_s");
            let read = |a: &Attribute| {
                let method = match a.ty {
                    Type::Int => format_ident!("i32"),
                    Type::Long => format_ident!("i64"),
                    Type::Float => format_ident!("f32"),
                    Type::Double => format_ident!("f64"),
                    Type::Bool => format_ident!("bool"),
                    Type::String | Type::Null => format_ident!("string"),
                };
                if a.nullable {
                    quote! {
                        if #s_.null() {
                            ::core::option::Option::None
                        } else {
                            ::core::option::Option::Some(#s_.#method()?)
                        }
                    }
                } else {
                    quote!(#s_.#method()?)
                }
            };
            let fields = &n.fields;
            let vars: Vec<_> = (0..s.attrs.len()).map(super::ident::decoded_value).collect();
            let reads: Vec<_> = s.attrs.iter().map(read).collect();
            let index: Vec<_> = (0..s.attrs.len()).collect();
            let names = s
                .attrs
                .iter()
                .map(|a| proc_macro2::Literal::byte_string(a.name.as_bytes()));
            let finish = s.attrs.iter().zip(&vars).map(|(a, v)| {
                if a.nullable {
                    quote!(#v.unwrap_or(::core::option::Option::None))
                } else {
                    quote!(#v?)
                }
            });
            quote! {
                impl #rt::io::fast::FastDecode for #ty {
                    #[inline]
                    fn fast_decode(#s_: &mut #rt::io::fast::Scanner<'_>) -> ::core::option::Option<Self> {
                        if !#s_.open()? {
                            #(
                                #s_.element(#index)?;
                                let #vars = #reads;
                            )*
                            #s_.close_array()?;
                            return ::core::option::Option::Some(Self { #(#fields: #vars),* });
                        }
                        #(let mut #vars = ::core::option::Option::None;)*
                        let __ef_member = |__ef_name: &[u8]| match __ef_name {
                            #(#names => ::core::option::Option::Some(#index),)*
                            _ => ::core::option::Option::None,
                        };
                        while let ::core::option::Option::Some(__ef_key) = #s_.key_by(__ef_member)? {
                            match __ef_key {
                                #(#index if #vars.is_none() => #vars = ::core::option::Option::Some(#reads),)*
                                _ => return ::core::option::Option::None,
                            }
                        }
                        ::core::option::Option::Some(Self { #(#fields: #finish),* })
                    }
                }
            }
        });
    quote!(#(#impls)*)
}

/// `enum Input`: one variant per stream that accepts events from outside.
pub(crate) fn input_enum(ctx: &Ctx<'_>) -> TokenStream {
    let rt = ctx.rt;
    let serde_crate = format!("{}::serde", path_string(rt));
    let variants = ctx
        .plan
        .streams
        .iter()
        .zip(&ctx.streams)
        .filter(|(s, _)| s.input)
        .map(|(s, n)| {
            let ty = &n.ty;
            let doc = format!(" An event of `{}`.", s.name);
            quote! {
                #[doc = #doc]
                #ty(#ty)
            }
        });
    quote! {
        /// An event of any input stream, as decoded by the JSON-lines drivers (serializable:
        /// the scale-out driver exchanges them between workers and processes).
        #[derive(Clone, Debug, PartialEq, #rt::serde::Serialize, #rt::serde::Deserialize)]
        #[serde(crate = #serde_crate)]
        pub enum Input {
            #(#variants,)*
        }
    }
}

/// `trait Output`: one method per output stream, and the impl for every runtime sink.
pub(crate) fn output_trait(ctx: &Ctx<'_>) -> TokenStream {
    let rt = ctx.rt;
    let outputs: Vec<_> = ctx
        .plan
        .streams
        .iter()
        .zip(&ctx.streams)
        .filter(|(s, _)| s.output)
        .collect();
    let methods = outputs.iter().map(|(s, n)| {
        let (ty, method) = (&n.ty, super::ident::on(&n.snake));
        let doc = format!(" Called for every event inserted into `{}`.", s.name);
        quote! {
            #[doc = #doc]
            fn #method(&mut self, ts: i64, kind: #rt::EventKind, event: &#ty) {
                let _ = (ts, kind, event);
            }
        }
    });
    let forwards = outputs.iter().map(|(s, n)| {
        let (ty, method, name) = (&n.ty, super::ident::on(&n.snake), &s.name);
        quote! {
            fn #method(&mut self, ts: i64, kind: #rt::EventKind, event: &#ty) {
                self.emit(#name, ts, kind, event);
            }
        }
    });
    quote! {
        /// Receives the app's output events. Every method defaults to doing nothing.
        pub trait Output {
            #(#methods)*
        }

        impl<__EfS: #rt::io::EventSink> Output for __EfS {
            #(#forwards)*
        }
    }
}

/// The path as text, for `#[serde(crate = "...")]`.
pub(crate) fn path_string(p: &syn::Path) -> String {
    let mut s = String::new();
    if p.leading_colon.is_some() {
        s.push_str("::");
    }
    let segs: Vec<String> = p.segments.iter().map(|seg| seg.ident.to_string()).collect();
    s.push_str(&segs.join("::"));
    s
}

/// The field identifier of attribute `attr` of stream `stream`.
pub(crate) fn field(ctx: &Ctx<'_>, stream: usize, attr: usize) -> proc_macro2::Ident {
    ctx.streams[stream].fields[attr].clone()
}
