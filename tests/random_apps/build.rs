//! Generates `EVENTFLUX_RANDOM_APPS` (default 40) random apps from seed
//! `EVENTFLUX_RANDOM_SEED` (default 1) with `gen.rs`, compiles each with the compiler into
//! `$OUT_DIR/apps/app_<i>/` (its `app.eventflux`, `input.jsonl` and `app.rs`), and writes a
//! registry that puts them all into one test binary. An app the compiler rejects fails the
//! build with its text: every generated app is valid.

#[path = "gen.rs"]
mod gen;

use quote::{format_ident, quote};
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=gen.rs");
    println!("cargo:rerun-if-env-changed=EVENTFLUX_RANDOM_APPS");
    println!("cargo:rerun-if-env-changed=EVENTFLUX_RANDOM_SEED");
    let count: u64 = std::env::var("EVENTFLUX_RANDOM_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("EVENTFLUX_RANDOM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut modules = Vec::new();
    let mut entries = Vec::new();
    let mut rejected = Vec::new();
    for i in 0..count {
        let app = gen::app(seed, i);
        let dir = out_dir.join("apps").join(format!("app_{i}"));
        std::fs::create_dir_all(&dir).expect("create app dir");
        std::fs::write(dir.join("app.eventflux"), &app.text).expect("write app");
        std::fs::write(dir.join("input.jsonl"), &app.input).expect("write input");
        let compiled =
            match eventflux_compiler::compile(&app.text, &eventflux_compiler::Options::facade()) {
                Ok(c) => c,
                Err(e) => {
                    rejected.push(format!(
                        "app {i} (seed {seed}) is rejected:\n{}\n{}",
                        app.text,
                        e.render(&format!("app_{i}.eventflux"), &app.text)
                    ));
                    continue;
                }
            };
        let rs = dir.join("app.rs");
        std::fs::write(&rs, &compiled.rust).expect("write app.rs");
        let module = format_ident!("app_{}", i);
        let file = rs.display().to_string();
        modules.push(quote! {
            pub mod #module {
                include!(#file);
            }
        });
        let (text, input) = (&app.text, &app.input);
        let must = &app.must_output;
        entries.push(quote! {
            crate::RandomApp {
                index: #i,
                text: #text,
                input: #input,
                must_output: &[#(#must),*],
                whole: crate::run_app::<#module::App<::eventflux::runtime::io::CollectingSink>>,
                split: crate::run_app_split::<#module::App<::eventflux::runtime::io::CollectingSink>>,
            }
        });
    }
    if !rejected.is_empty() {
        panic!(
            "{} generated app(s) rejected by the compiler:\n\n{}",
            rejected.len(),
            rejected.join("\n\n")
        );
    }
    let registry = quote! {
        #(#modules)*

        /// The seed the apps were generated from.
        pub const SEED: u64 = #seed;

        /// Every generated app.
        pub static APPS: &[crate::RandomApp] = &[#(#entries),*];
    };
    let file = syn::parse2::<syn::File>(registry).expect("registry tokens parse");
    std::fs::write(out_dir.join("registry.rs"), prettyplease::unparse(&file))
        .expect("write registry");
}
