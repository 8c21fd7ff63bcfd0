//! Golden tests: generated code and plans for the apps in `tests/codegen/`, and rendered
//! diagnostics for the apps in `tests/diagnostics/`.

use eventflux_compiler::{compile, Options};

#[test]
fn generated_code() {
    insta::glob!("codegen/*.eventflux", |path| {
        let source = std::fs::read_to_string(path).expect("read app");
        let compiled = compile(&source, &Options::standalone())
            .unwrap_or_else(|e| panic!("{}", e.render(&path.display().to_string(), &source)));
        insta::assert_snapshot!(compiled.rust);
    });
}

#[test]
fn plans() {
    insta::glob!("codegen/*.eventflux", |path| {
        let source = std::fs::read_to_string(path).expect("read app");
        let compiled = compile(&source, &Options::standalone()).expect("compiles");
        insta::assert_snapshot!(compiled.plan.explain());
    });
}

#[test]
fn diagnostics() {
    insta::glob!("diagnostics/*.eventflux", |path| {
        let source = std::fs::read_to_string(path).expect("read app");
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let err = compile(&source, &Options::standalone()).expect_err("the app has errors");
        insta::assert_snapshot!(err.render(&name, &source));
    });
}
