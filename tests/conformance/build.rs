//! Compiles every `tests/cases/<name>/app.eventflux` with `eventflux_compiler::configure()`
//! (the build.rs entry point users have) into `$OUT_DIR/cases/`, and writes a registry that
//! puts them all into one test binary.

use quote::{format_ident, quote};
use std::path::{Path, PathBuf};

fn main() {
    let cases_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
    println!("cargo:rerun-if-changed={}", cases_dir.display());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let gen_dir = out_dir.join("cases");
    std::fs::create_dir_all(&gen_dir).expect("create OUT_DIR/cases");
    let mut names: Vec<String> = std::fs::read_dir(&cases_dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().join("app.eventflux").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut modules = Vec::new();
    let mut entries = Vec::new();
    for name in &names {
        let app = cases_dir.join(name).join("app.eventflux");
        println!("cargo:rerun-if-changed={}", app.display());
        let module = format_ident!("case_{}", name.replace(['-', '.'], "_"));
        let staging = gen_dir.join(name);
        std::fs::create_dir_all(&staging).expect("create case dir");
        let result = eventflux_compiler::configure()
            .out_dir(&staging)
            .emit_rerun_if_changed(false)
            .compile(&[&app]);
        match result {
            Ok(()) => {
                let file = staging.join("app.rs").display().to_string();
                modules.push(quote! {
                    pub mod #module {
                        include!(#file);
                    }
                });
                entries.push(quote! {
                    (#name, Ok(crate::Runners {
                        whole: crate::run_case::<#module::App<::eventflux::runtime::io::CollectingSink>>,
                        split: crate::run_case_split::<#module::App<::eventflux::runtime::io::CollectingSink>>,
                    }))
                });
            }
            Err(e) => {
                let message = e.to_string();
                entries.push(quote!((#name, Err(#message))));
            }
        }
    }
    let registry = quote! {
        #(#modules)*

        /// Every case: its name and its runner, or the compile error of its app.
        pub static CASES: &[(&str, Result<crate::Runners, &str>)] = &[#(#entries),*];
    };
    let file = syn::parse2::<syn::File>(registry).expect("registry tokens parse");
    std::fs::write(out_dir.join("registry.rs"), prettyplease::unparse(&file))
        .expect("write registry");
}
