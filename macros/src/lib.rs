//! The `eventflux!` proc-macro: a thin shim over `eventflux-compiler`.
//!
//! Use it through the `eventflux` facade crate:
//!
//! ```ignore
//! mod trading {
//!     eventflux::eventflux!(r#"
//!         CREATE STREAM Trades (symbol STRING, price DOUBLE);
//!         INSERT INTO Big SELECT symbol, price FROM Trades WHERE price > 100.0;
//!     "#);
//! }
//! ```

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

/// The macro's input: an inline application or `file = "path"`.
enum Input {
    Inline(LitStr),
    File(LitStr),
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return Ok(Input::Inline(input.parse()?));
        }
        let key: syn::Ident = input.parse()?;
        if key != "file" {
            return Err(syn::Error::new(
                key.span(),
                "expected a string literal or `file = \"path\"`",
            ));
        }
        input.parse::<Token![=]>()?;
        Ok(Input::File(input.parse()?))
    }
}

/// Compiles an EventFlux application into Rust items: a struct per stream, `Input`, the
/// `Output` trait and `App`. Write it inside a module of its own.
#[proc_macro]
pub fn eventflux(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as Input);
    match expand(input) {
        Ok(tokens) | Err(tokens) => tokens.into(),
    }
}

fn expand(input: Input) -> Result<proc_macro2::TokenStream, proc_macro2::TokenStream> {
    let (source, name, lit, track) = match &input {
        Input::Inline(lit) => (lit.value(), "<eventflux!>".to_string(), lit, None),
        Input::File(lit) => {
            let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
            let path = std::path::Path::new(&dir).join(lit.value());
            let source = std::fs::read_to_string(&path).map_err(|e| {
                let msg = format!("cannot read `{}`: {e}", path.display());
                syn::Error::new(lit.span(), msg).to_compile_error()
            })?;
            let abs = path.display().to_string();
            (
                source,
                lit.value(),
                lit,
                Some(quote!(
                    const _: &[u8] = include_bytes!(#abs);
                )),
            )
        }
    };
    let compiled = eventflux_compiler::compile(&source, &eventflux_compiler::Options::facade())
        .map_err(|e| {
            // Each error as the command renders it (`Diagnostic::render`: file:line:col, the
            // source line with a caret, help), attached to the macro's input.
            let errors = e.0.iter().filter(|d| d.is_error()).map(|d| {
                let rendered = d.render(&name, &source);
                let msg = rendered
                    .strip_prefix("error: ")
                    .unwrap_or(&rendered)
                    .trim_end();
                syn::Error::new(lit.span(), msg).to_compile_error()
            });
            quote!(#(#errors)*)
        })?;
    let tokens = compiled.tokens;
    Ok(quote! {
        #track
        #tokens
    })
}
