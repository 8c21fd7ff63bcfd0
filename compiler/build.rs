//! Generates the parser from `src/syntax/grammar.lalrpop` into `$OUT_DIR/syntax/grammar.rs`.

use std::path::PathBuf;

fn main() {
    // An absolute path, so LALRPOP strips its `src/` input root and writes `syntax/grammar.rs`.
    let manifest_dir =
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let grammar_dir = PathBuf::from(manifest_dir).join("src").join("syntax");
    lalrpop::Configuration::new()
        .emit_rerun_directives(true)
        .process_dir(grammar_dir)
        .expect("the LALRPOP grammar src/syntax/grammar.lalrpop failed to build");
}
